import type { CommandFunction } from "./options.ts";
import { ToolError } from "../src/errors.ts";

/** Placeholder until the command lands. */
export const purgeCommand: CommandFunction = () => {
  return Promise.reject(new ToolError("This command is not implemented yet"));
};

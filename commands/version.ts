import type { CommandFunction } from "./options.ts";
import { VERSION } from "../src/version.ts";

/** Prints the program version (tooltool.py's `--version` is a record annotation). */
export const versionCommand: CommandFunction = (_args, _options, ctx) => {
  ctx.output.data(`tooltool ${VERSION} (deno ${Deno.version.deno})`);
  return Promise.resolve();
};

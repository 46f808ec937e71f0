import type { CommandFunction } from "./options.ts";
import { runWhoami } from "../src/workflows/whoami.ts";

/** `whoami`: the clientId and ToolTool scopes the server sees (see `src/workflows/whoami.ts`). */
export const whoamiCommand: CommandFunction = async (_args, options, ctx) => {
  await runWhoami({ urls: options.urls, authenticationFile: options.authenticationFile }, ctx);
};

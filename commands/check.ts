import type { CommandFunction } from "./options.ts";
import { checkServers, finishCheck } from "../src/workflows/server_check.ts";

/** `check`: probes each server's health, one line per probe (see `src/workflows/server_check.ts`). */
export const checkCommand: CommandFunction = async (_args, options, ctx) => {
  const report = await checkServers({
    urls: options.urls,
    publicDigest: options.publicDigest,
    internalDigest: options.internalDigest,
  }, ctx);
  finishCheck(report, ctx);
};

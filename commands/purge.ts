import type { CommandFunction } from "./options.ts";
import { runPurge } from "../src/workflows/purge/run.ts";

/** `purge -c CACHE [-s GB] [--max-size GB] [--max-age DAYS]` (see `src/workflows/purge/run.ts`). */
export const purgeCommand: CommandFunction = async (_args, options, ctx) => {
  await runPurge({
    cacheFolder: options.cacheFolder,
    sizeGb: options.sizeGb,
    maxSizeGb: options.maxSizeGb,
    maxAgeDays: options.maxAgeDays,
  }, ctx);
};

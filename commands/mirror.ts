import type { CommandFunction } from "./options.ts";
import { renderMirrorReport, runMirror } from "../src/workflows/mirror.ts";

/**
 * `mirror [MANIFEST...] --to DIR`: the manifests' files (or -m's) into `DIR/sha512/<digest>`,
 * public ones only unless `--include-internal` (see `src/workflows/mirror.ts`).
 */
export const mirrorCommand: CommandFunction = async (args, options, ctx) => {
  const started = performance.now();
  const outcomes = await runMirror({
    manifests: args.length > 0 ? args : [options.manifest],
    to: options.mirrorTo,
    urls: options.urls,
    cacheFolder: options.cacheFolder,
    authenticationFile: options.authenticationFile,
    includeInternal: options.includeInternal,
    jobs: options.jobs,
    limits: options.limits,
  }, ctx);
  renderMirrorReport(outcomes, (performance.now() - started) / 1000, ctx);
};

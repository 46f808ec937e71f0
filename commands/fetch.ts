import type { CommandFunction } from "./options.ts";
import { renderFetchReport } from "../src/workflows/fetch/report.ts";
import { renderFetchPlan } from "../src/workflows/fetch/plan.ts";
import { type FetchRequest, planFetch, runFetch } from "../src/workflows/fetch/run.ts";

/**
 * `fetch [FILE...]`: the manifest's files (or only FILEs) into the working directory,
 * through the cache when `-c` names one (see `src/workflows/fetch/run.ts`). Exit 0 when every file is
 * in place and valid; otherwise each failure is printed and the command fails. With
 * `--dry-run`, only the plan (`src/workflows/fetch/plan.ts`).
 */
export const fetchCommand: CommandFunction = async (args, options, ctx) => {
  const request: FetchRequest = {
    manifest: options.manifest,
    filenames: args,
    urls: options.urls,
    mirrors: options.mirrors,
    mirrorAuthFile: options.mirrorAuthFile,
    cacheFolder: options.cacheFolder,
    authenticationFile: options.authenticationFile,
    region: options.region,
    jobs: options.jobs,
    rehash: options.rehash,
    noTreeCache: options.noTreeCache,
    limits: options.limits,
    distdirs: options.distdirs,
    offline: options.offline,
  };
  if (options.dryRun) return renderFetchPlan(await planFetch(request, ctx), ctx);
  renderFetchReport(await runFetch(request, ctx), ctx);
};

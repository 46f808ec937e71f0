import type { CommandFunction } from "./options.ts";
import { finishUpload, uploadManifest } from "../src/workflows/upload/run.ts";

/**
 * `upload`: sends the manifest's files to the server (see `src/workflows/upload/run.ts`).
 * `TOOLTOOL_HEARTBEAT_MS` (as for `fetch`) sets how often a log hears about the wait for
 * verification (default 10000).
 */
export const uploadCommand: CommandFunction = async (_args, options, ctx) => {
  const heartbeatMs = Number(ctx.env("TOOLTOOL_HEARTBEAT_MS"));
  const report = await uploadManifest({
    manifest: options.manifest,
    message: options.message,
    urls: options.urls,
    region: options.region,
    authenticationFile: options.authenticationFile,
    tuning: Number.isFinite(heartbeatMs) && heartbeatMs > 0 ? { heartbeatMs } : {},
  }, ctx);
  finishUpload(report, ctx);
};

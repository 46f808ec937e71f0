/**
 * The download step of a record's fetch: from a `--distdir` if one holds the file, else from
 * the network through `downloadVerified`, with the run's log and progress told what happens.
 * Storage's CDN headers are logged when a transfer went wrong or was slow, for whoever runs
 * the CDN.
 *
 * @module
 */

import { errorMessage, ToolError } from "../../errors.ts";
import { removeIfPresent } from "../../fs_util.ts";
import { formatBytes, formatDuration } from "../../format.ts";
import { tryLock } from "../../lock.ts";
import type { FileRecord } from "../../manifest/manifest.ts";
import type { FileProgress } from "../../progress.ts";
import { tempPathBeside } from "../../temp_names.ts";
import { type CdnHeaders, cdnHeaders, formatCdnHeaders } from "../../transport/cdn_headers.ts";
import { downloadVerified } from "../../transport/download.ts";
import { type DownloadSource, isMirrorMiss } from "../../transport/download_source.ts";
import { rememberCdnHeaders } from "./cdn_log.ts";
import { copyFromDistdirs } from "./distdir.ts";
import type { FetchLog, FetchOptions, FetchSource, Obtained } from "./types.ts";

/** Default of `slowTransferMs`. */
const DEFAULT_SLOW_TRANSFER_MS = 60_000;

/** Without a cache: a temporary file beside the destination, renamed once verified. */
export async function downloadBeside(
  record: FileRecord,
  destination: string,
  file: FileProgress,
  options: FetchOptions,
): Promise<Obtained> {
  const temp = tempPathBeside(destination);
  // Held until the rename, so that a later run can tell this file from a dead run's debris.
  using writing = await tryLock(temp, { exclusive: true });
  try {
    const result = await downloadRecord(record, temp, file, options, {
      resume: false,
      handle: writing?.writableFile,
    });
    Deno.renameSync(temp, destination);
    return downloaded(result);
  } catch (error) {
    await removeIfPresent(temp).catch(() => {});
    throw error;
  }
}

/** What `downloadRecord` says, as the `Obtained` of the record. */
export function downloaded(
  result: { from: FetchSource; received: number; attempts: number },
): Obtained {
  return { source: result.from, bytes: result.received, attempts: result.attempts };
}

/**
 * Fetches the record's file into `path`: from a `--distdir` that holds it, else from its
 * sources (`resume`: keep the bytes a killed run left in `path`; `handle`: the lock's open
 * handle on `path`, written through rather than opening it again). Throws when it cannot
 * be had (offline, or every source failed), and the signal's reason when interrupted.
 */
export async function downloadRecord(
  record: FileRecord,
  path: string,
  file: FileProgress,
  options: FetchOptions,
  target: { readonly resume: boolean; readonly handle?: Deno.FsFile | undefined },
): Promise<{ from: FetchSource; received: number; attempts: number }> {
  const { resume, handle } = target;
  const { model, log } = options;
  const local = await copyFromDistdirs(record, options.distdirs ?? [], path, {
    signal: options.signal,
    warn: log.warn,
  });
  if (local !== undefined) {
    log.debug(`${record.filename}: copied from ${local}`);
    return { from: "distdir", received: 0, attempts: 0 };
  }
  if (options.offline) {
    throw new ToolError(
      `Cannot fetch "${record.filename}" offline: it is not in the working directory, the cache${
        options.distdirs?.length ? " or a --distdir" : ""
      }`,
      { hint: "fetch it once with the network, or add a --distdir that holds it" },
    );
  }
  model.setState(file, "downloading");
  options.changed?.();
  const sources = options.sources(record);
  log.info(
    `Downloading ${record.filename} (${formatBytes(record.size)}) from ${sources[0]?.name ?? "?"}`,
  );
  let resumed = false;
  let lastSource: DownloadSource | undefined;
  let cdn: CdnHeaders | undefined;
  const started = performance.now();
  try {
    const result = await downloadVerified(path, {
      filename: record.filename,
      digest: record.digest,
      size: record.size,
      sources,
      fetch: options.fetch,
      signal: options.signal,
      resume,
      file: handle,
      stallTimeoutMs: options.stallTimeoutMs,
      limits: options.limits,
      attempts: options.attempts,
      backoff: options.backoff,
      onReceived: (bytes) => model.received(file, bytes),
      onPosition: (position) => {
        if (!resumed && position > 0 && file.received === 0) {
          resumed = true;
          log.info(
            `${record.filename}: resuming an interrupted download at ${formatBytes(position)}`,
          );
        }
        model.setPosition(file, position);
      },
      onStorageResponse: (headers) => cdn = cdnHeaders(headers),
      onAttempt: (attempt, source) => {
        cdn = undefined;
        file.attempt = attempt;
        if (source !== lastSource && lastSource !== undefined) {
          // After a mirror's miss, going on is the plan, not news.
          const say = lastSource.kind === "mirror" ? log.debug : log.info;
          say(`${record.filename}: trying ${source.name}`);
        }
        lastSource = source;
      },
      onSourceFailed: (error, source) => {
        if (source.kind !== "mirror") return;
        if (isMirrorMiss(source, error)) {
          log.debug(`${record.filename}: not on the mirror ${source.name}`);
        } else {
          // A mirror that serves wrong or broken data needs its operator's attention.
          log.warn(`Mirror refused: ${errorMessage(error)}; trying the next source`);
        }
      },
      onRetry: (error, next, delayMs, resumeAt) => {
        const when = delayMs > 0 ? `in ${formatDuration(delayMs / 1000)}` : "now";
        const from = resumeAt > 0 ? `, resuming at ${formatBytes(resumeAt)}` : "";
        log.info(`${errorMessage(error)}; retrying ${when}${from} (attempt ${next})`);
        logCdnHeaders(file, record, cdn, "retried", log);
      },
    });
    if (performance.now() - started > (options.slowTransferMs ?? DEFAULT_SLOW_TRANSFER_MS)) {
      logCdnHeaders(file, record, cdn, "slow", log);
    }
    const from = result.kind === "mirror" ? "mirror" : "network";
    return { from, received: result.received, attempts: result.attempts };
  } catch (error) {
    if (options.signal.aborted) throw options.signal.reason;
    logCdnHeaders(file, record, cdn, "failed", log);
    throw error;
  }
}

/** Logs (and keeps, for the report) the CDN headers of the response a transfer went wrong on. */
function logCdnHeaders(
  file: FileProgress,
  record: FileRecord,
  cdn: CdnHeaders | undefined,
  why: "retried" | "failed" | "slow",
  log: FetchLog,
): void {
  if (cdn === undefined) return;
  rememberCdnHeaders(file, cdn);
  log.info(`${record.filename}: storage CDN headers (${why}): ${formatCdnHeaders(cdn)}`);
}

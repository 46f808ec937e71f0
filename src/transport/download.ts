/**
 * Downloading one artifact from storage, verified in the same pass: every byte goes once
 * through the size count and SHA-512 on its way to a file, and the file is only declared
 * good when both match the manifest. Network chunks are gathered into 1 MiB buffers; each
 * buffer is hashed (off the main thread, with libcrypto) and written at the same time, while
 * the next one fills (`hashing_sink.ts`).
 *
 * This module is the loop over attempts and sources; one attempt (its redirects, its body)
 * is `download_attempt.ts`. Failures are retried with exponential backoff and jitter, as
 * `isRetriable` says: connection errors, timeouts, stalls (no byte for `stallTimeoutMs`),
 * 5xx, 429 (after its `Retry-After`), truncated bodies, digest mismatches. A download cut
 * short resumes with a `Range` request from the bytes it has, asking the API for a fresh
 * signed URL first (they expire after 60 s); a server that answers 200 instead of 206 is
 * read from the start. A bad digest starts over from byte 0. Each base URL is tried in order.
 *
 * @module
 */

import { formatWait } from "../format.ts";
import {
  HttpError,
  IntegrityError,
  isRetriable,
  NetworkError,
  ToolError,
  UnsafeUrlError,
} from "../errors.ts";
import { type BackoffPolicy, DEFAULT_BACKOFF, retryDelayMs } from "./retry.ts";
import { sleep } from "../sleep.ts";
import { attemptDownload, type AttemptOptions, StorageHttpError } from "./download_attempt.ts";
import { type DownloadSource, givesUpMirror, type NetworkSourceKind } from "./download_source.ts";
import { BUFFER_SIZE, HashingSink } from "./hashing_sink.ts";
import { DEFAULT_RETRY_MAX_TIME_MS } from "./transfer_limits.ts";

/** Default: give up on a base URL after this many failed attempts in a row without progress. */
export const DEFAULT_ATTEMPTS = 5;

/** Whatever happens, no more than this many attempts per base URL. */
const MAX_ATTEMPTS_PER_SOURCE = 25;

/** What `downloadVerified` needs: what one attempt needs, plus the sources and the retries. */
export interface DownloadOptions extends AttemptOptions {
  /** Tried in order. */
  readonly sources: readonly DownloadSource[];
  /** Keep the bytes already in the file (a download a killed process left) and go on. */
  readonly resume?: boolean | undefined;
  /**
   * An open, writable handle on the file at `path` to write through (one a lock holder
   * already has), instead of opening the file again; the caller keeps it open.
   */
  readonly file?: Deno.FsFile | undefined;
  /** Failed attempts in a row, without progress, before moving to the next base URL. */
  readonly attempts?: number | undefined;
  readonly backoff?: BackoffPolicy | undefined;
  readonly random?: (() => number) | undefined;
  /** An attempt is about to start (1-based). */
  readonly onAttempt?: ((attempt: number, source: DownloadSource) => void) | undefined;
  /** The source is given up (a mirror's miss included); the next one, if any, is tried. */
  readonly onSourceFailed?: ((error: unknown, source: DownloadSource) => void) | undefined;
  /** An attempt failed and another will follow after `delayMs`. */
  readonly onRetry?:
    | ((error: unknown, nextAttempt: number, delayMs: number, resumeAt: number) => void)
    | undefined;
}

/** How a download went. */
export interface DownloadResult {
  /** Bytes received from the network, restarts included. */
  readonly received: number;
  readonly attempts: number;
  /** Bytes that were already in the file and were kept. */
  readonly resumedFrom: number;
  /** The base URL that delivered the last byte. */
  readonly source: string;
  /** The kind of that source. */
  readonly kind: NetworkSourceKind;
}

/**
 * Downloads the file into `path` (created if missing) and returns once its content has the
 * manifest's size and digest; the file is closed. Throws the last error when every attempt
 * at every source failed, and the signal's reason when aborted. The file is left as it is
 * on failure: the caller removes it (or keeps it to resume later).
 */
export async function downloadVerified(
  path: string,
  options: DownloadOptions,
): Promise<DownloadResult> {
  const maxTimeMs = options.limits?.maxTimeMs;
  if (maxTimeMs === undefined || maxTimeMs <= 0) return await downloadOnce(path, options);
  // The whole download, retries and fallbacks included, runs under one deadline.
  const deadline = AbortSignal.timeout(maxTimeMs);
  try {
    return await downloadOnce(path, {
      ...options,
      signal: AbortSignal.any([options.signal, deadline]),
    });
  } catch (error) {
    options.signal.throwIfAborted();
    if (!deadline.aborted) throw error;
    throw new NetworkError(
      `Cannot fetch "${options.filename}": not done within ${formatWait(maxTimeMs)} (--max-time)${
        error instanceof ToolError ? `; last error: ${error.message}` : ""
      }`,
      { cause: error },
    );
  }
}

async function downloadOnce(path: string, options: DownloadOptions): Promise<DownloadResult> {
  using opened = options.file === undefined
    ? Deno.openSync(path, { read: true, write: true, create: true, truncate: !options.resume })
    : undefined;
  const file = opened ?? options.file as Deno.FsFile;
  if (opened === undefined) {
    // A handle's position is its owner's: the sink writes from byte 0 (or adopts from it).
    if (!options.resume) file.truncateSync(0);
    file.seekSync(0, Deno.SeekMode.Start);
  }
  using sink = new HashingSink(
    file,
    options.filename,
    Math.min(BUFFER_SIZE, Math.max(1, options.size)),
  );
  let resumedFrom = 0;
  if (options.resume) resumedFrom = await sink.adoptExisting(options.size, options.signal);
  options.onPosition?.(sink.position);
  let attempts = 0;
  let received = 0;
  let lastError: unknown;
  const maxFailures = options.attempts ?? DEFAULT_ATTEMPTS;
  const retryMaxTimeMs = options.limits?.retryMaxTimeMs ?? DEFAULT_RETRY_MAX_TIME_MS;
  for (const source of options.sources) {
    let lastProgressAt = Date.now();
    let failures = 0;
    let attemptsHere = 0;
    let renewedExpiredUrl = false;
    for (;;) {
      attempts++;
      attemptsHere++;
      options.onAttempt?.(attempts, source);
      const before = sink.position;
      const receivedBefore = sink.received;
      try {
        await attemptDownload(sink, source, options);
        received += sink.received - receivedBefore;
        return {
          received,
          attempts,
          resumedFrom,
          source: source.name,
          kind: source.kind ?? "service",
        };
      } catch (error) {
        received += sink.received - receivedBefore;
        options.signal.throwIfAborted();
        if (!isTransferError(error)) throw error;
        lastError = error;
        if (givesUpMirror(source, error)) {
          options.onSourceFailed?.(error, source);
          break;
        }
        if (
          error instanceof StorageHttpError && error.status === 403 && !renewedExpiredUrl &&
          source.kind !== "mirror"
        ) {
          // Most likely the signed URL expired before it was used: ask for a new one now.
          renewedExpiredUrl = true;
          options.onRetry?.(error, attempts + 1, 0, sink.position);
          continue;
        }
        if (!isRetriable(error)) {
          options.onSourceFailed?.(error, source);
          break;
        }
        if (sink.position > before) lastProgressAt = Date.now();
        failures = sink.position > before ? 1 : failures + 1;
        if (failures >= maxFailures || attemptsHere >= MAX_ATTEMPTS_PER_SOURCE) {
          options.onSourceFailed?.(error, source);
          break;
        }
        const delay = retryDelayMs(
          error,
          failures - 1,
          options.backoff ?? DEFAULT_BACKOFF,
          options.random,
        );
        // A server that has made no progress for this long gets no further attempt.
        if (Date.now() + delay - lastProgressAt > retryMaxTimeMs) {
          options.onSourceFailed?.(error, source);
          break;
        }
        options.onRetry?.(error, attempts + 1, delay, sink.position);
        await sleep(delay, options.signal);
      }
    }
  }
  throw lastError ??
    new NetworkError(`Cannot fetch "${options.filename}": no server to fetch from`);
}

/** Errors that concern one attempt at one source; anything else (a full disk) stops at once. */
function isTransferError(error: unknown): boolean {
  return error instanceof HttpError || error instanceof NetworkError ||
    error instanceof IntegrityError || error instanceof UnsafeUrlError;
}

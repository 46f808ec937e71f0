/**
 * One attempt at one source: ask it for a storage URL, GET it, and stream the body into the
 * sink, checking the answer's range and length as it comes and the digest at the end. What
 * goes wrong is thrown as an error `download.ts` decides on (retry, next source, give up).
 *
 * Storage requests carry no credentials: the API's signed redirect is the authorization.
 * Redirects are followed here, hop by hop, never by `fetch`: only http(s), never from https
 * to http, at most `MAX_STORAGE_REDIRECTS` (see `url_policy.ts`); a source that breaks
 * these rules is given up at once (`UnsafeUrlError`), and the next base URL is tried.
 *
 * @module
 */

import { s3ErrorFields, s3ErrorSummary } from "./s3_error.ts";
import { formatWait } from "../format.ts";
import {
  HttpError,
  IntegrityError,
  NetworkError,
  networkReason,
  ToolError,
  UnsafeUrlError,
} from "../errors.ts";
import { withoutUserinfo } from "../display.ts";
import { MAX_ERROR_BODY_BYTES, readBoundedText } from "../bounded_read.ts";
import { followableUrl, MAX_STORAGE_REDIRECTS } from "./url_policy.ts";
import { parseRetryAfter } from "./retry.ts";
import { USER_AGENT } from "../version.ts";
import type { Sha512 } from "../sha512.ts";
import type { DownloadSource } from "./download_source.ts";
import type { HashingSink } from "./hashing_sink.ts";
import { bodyReader, directBody, discardBody, LANDING_SIZE } from "./body_reader.ts";
import { type Expiry, type Watchdog, watchdog } from "./watchdog.ts";
import {
  DEFAULT_SPEED_LIMIT,
  DEFAULT_SPEED_TIME_MS,
  DEFAULT_STALL_TIMEOUT_MS,
  type TransferLimits,
} from "./transfer_limits.ts";

/** What one attempt needs: the part of `DownloadOptions` that is not about retrying. */
export interface AttemptOptions {
  /** For messages: `Cannot fetch "<filename>" from ...`. */
  readonly filename: string;
  readonly digest: Sha512;
  readonly size: number;
  readonly fetch: typeof globalThis.fetch;
  readonly signal: AbortSignal;
  readonly stallTimeoutMs?: number | undefined;
  readonly limits?: TransferLimits | undefined;
  /** Bytes arrived from the network. */
  readonly onReceived?: ((bytes: number) => void) | undefined;
  /** The number of bytes in the file changed (grew, or went back to 0 on a restart). */
  readonly onPosition?: ((position: number) => void) | undefined;
  /** A storage response arrived (after redirects), whatever its status: for its CDN headers. */
  readonly onStorageResponse?: ((headers: Headers) => void) | undefined;
  /** Watches the time limits; the process's own by default (tests give their own). */
  readonly watchdog?: Watchdog | undefined;
}

/** An error status from the storage origin (where a 403 may just be an expired URL). */
export class StorageHttpError extends HttpError {}

/**
 * Makes one attempt at `source`: returns once the sink holds the whole file with the right
 * digest, or throws why not (the sink keeps what arrived, for a resume).
 */
export async function attemptDownload(
  sink: HashingSink,
  source: DownloadSource,
  options: AttemptOptions,
): Promise<void> {
  const { filename, size } = options;
  // A resolver may not heed the signal: a deadline must not wait for its own timeout.
  const url = await untilAborted(source.resolve(options.signal), options.signal);
  options.signal.throwIfAborted();
  // Aborted by the run's signal or by the watchdog: one controller, no `AbortSignal.any`.
  const transfer = new AbortController();
  const onRunAbort = () => transfer.abort(options.signal.reason);
  options.signal.addEventListener("abort", onRunAbort, { once: true });
  const stallMs = options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
  const origin = `${url.origin}/`;
  const speedLimit = options.limits?.speedLimit ?? DEFAULT_SPEED_LIMIT;
  const speedTimeMs = options.limits?.speedTimeMs ?? DEFAULT_SPEED_TIME_MS;
  let expired: Expiry | undefined;
  // A trickle of a byte now and then is no stall, but the average over each window of
  // --speed-time must reach --speed-limit, as in curl.
  const watch = (options.watchdog ?? watchdog).watch(
    { stallMs, speedLimit, speedTimeMs },
    (why) => {
      expired = why;
      transfer.abort();
    },
  );
  const signal = transfer.signal;
  const stalled = () =>
    new NetworkError(
      expired === "slow"
        ? `Cannot fetch "${filename}" from ${origin}: slower than ${speedLimit} bytes/s for ${
          formatWait(speedTimeMs)
        } (--speed-limit, --speed-time)`
        : `Cannot fetch "${filename}" from ${origin}: no data for ${formatWait(stallMs)}`,
    );
  const offset = sink.position;
  const headers = new Headers({ "User-Agent": USER_AGENT, "Accept-Encoding": "identity" });
  if (offset > 0) headers.set("Range", `bytes=${offset}-`);
  try {
    let response: Response;
    try {
      response = await fetchFollowing(url, { headers, signal }, options, source.headers);
    } catch (error) {
      options.signal.throwIfAborted();
      if (expired !== undefined) throw stalled();
      if (error instanceof ToolError) throw error;
      throw new NetworkError(
        `Cannot fetch "${filename}" from ${origin}: ${networkReason(error)}`,
        { cause: error },
      );
    }
    options.onStorageResponse?.(response.headers);
    if (response.status === 416 && offset > 0) {
      await discardBody(response);
      await sink.restart();
      options.onPosition?.(0);
      throw new NetworkError(
        `Cannot fetch "${filename}" from ${origin}: the server refused to resume at byte ${offset}`,
      );
    }
    if (response.status !== 200 && response.status !== 206) {
      throw await storageError(filename, origin, response);
    }
    let expected = size;
    if (response.status === 206) {
      const range = parseContentRange(response.headers.get("Content-Range"));
      if (range === undefined || range.start !== offset || range.end !== size - 1) {
        await discardBody(response);
        await sink.restart();
        options.onPosition?.(0);
        throw new NetworkError(
          `Cannot fetch "${filename}" from ${origin}: the server sent the wrong range (${
            response.headers.get("Content-Range") ?? "none"
          } for bytes ${offset}-)`,
        );
      }
      if (range.total !== undefined && range.total !== size) {
        await discardBody(response);
        throw sizeMismatch(filename, origin, range.total, size);
      }
      expected = size - offset;
    } else if (offset > 0) {
      // The server ignored the Range: take the whole body from the start.
      await sink.restart();
      options.onPosition?.(0);
    }
    const declared = response.headers.get("Content-Length");
    if (declared !== null && Number(declared) !== expected) {
      await discardBody(response);
      const total = response.status === 206 ? Number(declared) + offset : Number(declared);
      throw sizeMismatch(filename, origin, total, size);
    }
    // Taken before `body` is looked at: asking for the stream gives the body to it.
    const direct = directBody(response);
    if (direct === undefined && response.body === null) {
      throw new NetworkError(`Cannot fetch "${filename}" from ${origin}: the response has no body`);
    }
    // A small file needs no more than its size (plus the byte that would reveal a longer body).
    const body = direct ??
      bodyReader(response.body!, Math.min(LANDING_SIZE, size - offset + 1));
    try {
      for (;;) {
        let chunk: Uint8Array | null;
        try {
          // One byte more than the manifest allows, so that a longer body is noticed.
          chunk = await body.read(size - sink.accepted + 1);
        } catch (error) {
          options.signal.throwIfAborted();
          if (expired !== undefined) throw stalled();
          throw new NetworkError(
            `Cannot fetch "${filename}" from ${origin}: the connection broke after ${sink.accepted} of ${size} bytes (${
              networkReason(error)
            })`,
            { cause: error },
          );
        }
        if (chunk === null) break;
        if (sink.accepted + chunk.length > size) {
          await body.cancel();
          await sink.restart();
          options.onPosition?.(0);
          throw new IntegrityError(
            `Cannot fetch "${filename}" from ${origin}: the server sent more than the ${size} bytes the manifest lists`,
          );
        }
        options.onReceived?.(chunk.length);
        await sink.push(chunk);
        options.onPosition?.(sink.position);
        watch.progress(chunk.length);
      }
    } finally {
      body.release();
      // Whatever arrived is good to keep for a resume: hash and write it before leaving.
      await sink.flush();
      options.onPosition?.(sink.position);
    }
    if (sink.position < size) {
      throw new NetworkError(
        `Cannot fetch "${filename}" from ${origin}: the body ended after ${sink.position} of ${size} bytes`,
      );
    }
    const digest = sink.finish();
    if (digest !== options.digest) {
      await sink.restart();
      options.onPosition?.(0);
      throw new IntegrityError(
        `Cannot fetch "${filename}" from ${origin}: the downloaded bytes do not match the manifest's sha512 (got ${
          digest.slice(0, 16)
        }…)`,
      );
    }
  } finally {
    watch.stop();
    options.signal.removeEventListener("abort", onRunAbort);
  }
}

/** `promise`, or the signal's reason as soon as it aborts (the promise is left to settle). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** Statuses whose `Location` a storage GET follows. */
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * A storage GET that follows redirects itself rather than letting `fetch` do it, so that
 * every hop is checked (`followableUrl`: http(s) only, never https to http) and counted
 * (`MAX_STORAGE_REDIRECTS`). The same headers (no ToolTool credentials, ever) go to every
 * hop; a source's own headers only to its first origin.
 */
async function fetchFollowing(
  url: URL,
  init: { readonly headers: Headers; readonly signal: AbortSignal },
  options: AttemptOptions,
  ownHeaders: Readonly<Record<string, string>> = {},
): Promise<Response> {
  let current = url;
  for (let hops = 0;; hops++) {
    // A mirror's token is for the mirror: a redirect elsewhere (a CDN, a bucket) gets none.
    const headers = new Headers(init.headers);
    if (current.origin === url.origin) {
      for (const [name, value] of Object.entries(ownHeaders)) headers.set(name, value);
    }
    const response = await options.fetch(current, {
      headers,
      signal: init.signal,
      redirect: "manual",
    });
    const location = response.headers.get("Location");
    if (!REDIRECT_STATUSES.has(response.status) || location === null) return response;
    await discardBody(response);
    const what = `Cannot fetch "${options.filename}" from ${current.origin}/`;
    if (hops >= MAX_STORAGE_REDIRECTS) {
      throw new UnsafeUrlError(
        `${what}: storage redirected more than ${MAX_STORAGE_REDIRECTS} times`,
      );
    }
    current = withoutUserinfo(followableUrl(location, current, what));
  }
}

/**
 * An error status from storage, worded from S3's XML error (`AccessDenied: Request has
 * expired`) rather than quoting the document.
 */
async function storageError(
  filename: string,
  origin: string,
  response: Response,
): Promise<StorageHttpError> {
  const { text } = await readBoundedText(response, MAX_ERROR_BODY_BYTES);
  const detail = s3ErrorSummary(s3ErrorFields(text));
  const status = `${response.status}${response.statusText ? ` ${response.statusText}` : ""}`;
  return new StorageHttpError(
    `Cannot fetch "${filename}" from ${origin}: storage returned ${status}${
      detail ? ` (${detail})` : ""
    }`,
    {
      status: response.status,
      url: origin,
      retryAfterMs: parseRetryAfter(response.headers.get("Retry-After"), Date.now()),
    },
  );
}

function sizeMismatch(filename: string, origin: string, got: number, want: number): IntegrityError {
  return new IntegrityError(
    `Cannot fetch "${filename}" from ${origin}: the server has ${got} bytes, the manifest lists ${want}`,
    { retriable: false },
  );
}

/** A parsed `Content-Range: bytes start-end/total`. */
export interface ContentRange {
  readonly start: number;
  readonly end: number;
  readonly total: number | undefined;
}

/** Parses a `Content-Range` header of a 206 answer; undefined when malformed. Pure. */
export function parseContentRange(value: string | null): ContentRange | undefined {
  if (value === null) return undefined;
  const match = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(value);
  if (match === null) return undefined;
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (end < start) return undefined;
  return { start, end, total: match[3] === "*" ? undefined : Number(match[3]) };
}

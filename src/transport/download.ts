/**
 * Downloading one artifact from storage, verified in the same pass: every byte goes once
 * through the size count and SHA-512 on its way to a file, and the file is only declared
 * good when both match the manifest. Network chunks are gathered into 1 MiB buffers; each
 * buffer is hashed (off the main thread, with libcrypto) and written at the same time, while
 * the next one fills.
 *
 * Failures are retried with exponential backoff and jitter, as `isRetriable` says:
 * connection errors, timeouts, stalls (no byte for `stallTimeoutMs`), 5xx, 429 (after its
 * `Retry-After`), truncated bodies, digest mismatches. A download cut short resumes with a
 * `Range` request from the bytes it has, asking the API for a fresh signed URL first (they
 * expire after 60 s); a server that answers 200 instead of 206 is read from the start. A
 * bad digest starts over from byte 0. Each base URL is tried in order.
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
import { createSha512, type Sha512Hasher } from "../digest.ts";
import {
  HttpError,
  IntegrityError,
  isRetriable,
  NetworkError,
  networkReason,
  ToolError,
  UnsafeUrlError,
} from "../errors.ts";
import { withoutUserinfo } from "../display.ts";
import { describeFsError } from "../fs_error.ts";
import { MAX_ERROR_BODY_BYTES, readBoundedText } from "../bounded_read.ts";
import { followableUrl, MAX_STORAGE_REDIRECTS } from "./url_policy.ts";
import { type BackoffPolicy, DEFAULT_BACKOFF, parseRetryAfter, retryDelayMs } from "./retry.ts";
import { sleep } from "../sleep.ts";
import { USER_AGENT } from "../version.ts";
import type { Sha512 } from "../sha512.ts";

/** Network chunks are gathered into buffers this large before hashing and writing. */
const BUFFER_SIZE = 1 << 20;

/** Default: a body that sends nothing for this long has stalled. */
export const DEFAULT_STALL_TIMEOUT_MS = 30_000;

/**
 * Bounds on time, curl style. Each has a default; `--speed-limit`, `--speed-time`,
 * `--max-time` and `--retry-max-time` change them.
 */
export interface TransferLimits {
  /** Bytes per second below which an attempt is too slow (`--speed-limit`, default 1024). */
  readonly speedLimit?: number | undefined;
  /** How long the speed may stay below `speedLimit` (`--speed-time`, default 30 s). */
  readonly speedTimeMs?: number | undefined;
  /** The most one file may take, all attempts and servers included (`--max-time`; none). */
  readonly maxTimeMs?: number | undefined;
  /** No new attempt at a server once this long passed without progress (default 120 s). */
  readonly retryMaxTimeMs?: number | undefined;
}

/** Default low-speed limit: fewer than this many bytes per second ... */
export const DEFAULT_SPEED_LIMIT = 1024;

/** ... for this long ends an attempt, as too slow (a retriable failure). */
export const DEFAULT_SPEED_TIME_MS = 30_000;

/** Default: no new attempt at a server after this long without progress. */
export const DEFAULT_RETRY_MAX_TIME_MS = 120_000;

/** Default: give up on a base URL after this many failed attempts in a row without progress. */
export const DEFAULT_ATTEMPTS = 5;

/** Whatever happens, no more than this many attempts per base URL. */
const MAX_ATTEMPTS_PER_SOURCE = 25;

/**
 * The kinds of servers a file is downloaded from: the ToolTool API (which redirects to
 * storage) or a content-addressed mirror. Open to more: a dry run reports whichever it is.
 */
export type NetworkSourceKind = "service" | "mirror";

/**
 * One place to download from: an API base URL that redirects to storage, or a
 * content-addressed mirror (`<base>/sha512/<digest>`).
 */
export interface DownloadSource {
  /** The base URL, for messages. */
  readonly name: string;
  /** Asks for a fresh signed storage URL; called at the start of every attempt. */
  readonly resolve: (signal: AbortSignal) => Promise<URL>;
  /**
   * `"mirror"`: a static copy that may lack the file or hold a bad one. Its 404 is a miss
   * and a wrong body is not asked for again: both go straight on to the next source.
   * Default `"service"` (the ToolTool API). Plans and reports name it.
   */
  readonly kind?: NetworkSourceKind | undefined;
  /**
   * Extra request headers (a private mirror's `Authorization`), sent only to the origin of
   * the URL `resolve` gave, never along a redirect to another origin.
   */
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

/** What `downloadVerified` needs. */
export interface DownloadOptions {
  /** For messages: `Cannot fetch "<filename>" from ...`. */
  readonly filename: string;
  readonly digest: Sha512;
  readonly size: number;
  /** Tried in order. */
  readonly sources: readonly DownloadSource[];
  readonly fetch: typeof globalThis.fetch;
  readonly signal: AbortSignal;
  /** Keep the bytes already in the file (a download a killed process left) and go on. */
  readonly resume?: boolean | undefined;
  readonly stallTimeoutMs?: number | undefined;
  readonly limits?: TransferLimits | undefined;
  /** Failed attempts in a row, without progress, before moving to the next base URL. */
  readonly attempts?: number | undefined;
  readonly backoff?: BackoffPolicy | undefined;
  readonly random?: (() => number) | undefined;
  /** Bytes arrived from the network. */
  readonly onReceived?: ((bytes: number) => void) | undefined;
  /** The number of bytes in the file changed (grew, or went back to 0 on a restart). */
  readonly onPosition?: ((position: number) => void) | undefined;
  /** An attempt is about to start (1-based). */
  readonly onAttempt?: ((attempt: number, source: DownloadSource) => void) | undefined;
  /** A storage response arrived (after redirects), whatever its status: for its CDN headers. */
  readonly onStorageResponse?: ((headers: Headers) => void) | undefined;
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

/** An error status from the storage origin (where a 403 may just be an expired URL). */
class StorageHttpError extends HttpError {}

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
  using file = Deno.openSync(path, {
    read: true,
    write: true,
    create: true,
    truncate: !options.resume,
  });
  const sink = new HashingSink(
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
        await attemptOnce(sink, source, options);
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

/**
 * A mirror serves one static, content-addressed object: when it is missing (404) or its
 * bytes are wrong, asking again brings the same answer, so the next source is tried at once.
 */
function givesUpMirror(source: DownloadSource, error: unknown): boolean {
  if (source.kind !== "mirror") return false;
  return error instanceof IntegrityError ||
    (error instanceof HttpError && (error.status === 404 || error.status === 410));
}

/** Whether `error` is a mirror's 404 (or 410): the mirror lacks the file, nothing is wrong. */
export function isMirrorMiss(source: DownloadSource, error: unknown): boolean {
  return source.kind === "mirror" && error instanceof HttpError &&
    (error.status === 404 || error.status === 410);
}

/** Errors that concern one attempt at one source; anything else (a full disk) stops at once. */
function isTransferError(error: unknown): boolean {
  return error instanceof HttpError || error instanceof NetworkError ||
    error instanceof IntegrityError || error instanceof UnsafeUrlError;
}

async function attemptOnce(
  sink: HashingSink,
  source: DownloadSource,
  options: DownloadOptions,
): Promise<void> {
  const { filename, size } = options;
  // A resolver may not heed the signal: a deadline must not wait for its own timeout.
  const url = await untilAborted(source.resolve(options.signal), options.signal);
  const stall = new AbortController();
  const signal = AbortSignal.any([options.signal, stall.signal]);
  const stallMs = options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => stall.abort(), stallMs);
  };
  const origin = `${url.origin}/`;
  const speedLimit = options.limits?.speedLimit ?? DEFAULT_SPEED_LIMIT;
  const speedTimeMs = options.limits?.speedTimeMs ?? DEFAULT_SPEED_TIME_MS;
  let tooSlow = false;
  // curl's --speed-limit/--speed-time: a trickle of a byte now and then keeps re-arming the
  // stall timer, so the average over each window is what ends it.
  let windowStart = sink.received;
  const speedWatch = speedLimit > 0 && speedTimeMs > 0
    ? setInterval(() => {
      if (sink.received - windowStart < speedLimit * speedTimeMs / 1000) {
        tooSlow = true;
        stall.abort();
      }
      windowStart = sink.received;
    }, speedTimeMs)
    : undefined;
  const stalled = () =>
    new NetworkError(
      tooSlow
        ? `Cannot fetch "${filename}" from ${origin}: slower than ${speedLimit} bytes/s for ${
          formatWait(speedTimeMs)
        } (--speed-limit, --speed-time)`
        : `Cannot fetch "${filename}" from ${origin}: no data for ${formatWait(stallMs)}`,
    );
  const offset = sink.position;
  const headers = new Headers({ "User-Agent": USER_AGENT, "Accept-Encoding": "identity" });
  if (offset > 0) headers.set("Range", `bytes=${offset}-`);
  arm();
  try {
    let response: Response;
    try {
      response = await fetchFollowing(url, { headers, signal }, options, source.headers);
    } catch (error) {
      options.signal.throwIfAborted();
      if (stall.signal.aborted) throw stalled();
      if (error instanceof ToolError) throw error;
      throw new NetworkError(
        `Cannot fetch "${filename}" from ${origin}: ${networkReason(error)}`,
        { cause: error },
      );
    }
    options.onStorageResponse?.(response.headers);
    if (response.status === 416 && offset > 0) {
      await response.body?.cancel();
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
        await response.body?.cancel();
        await sink.restart();
        options.onPosition?.(0);
        throw new NetworkError(
          `Cannot fetch "${filename}" from ${origin}: the server sent the wrong range (${
            response.headers.get("Content-Range") ?? "none"
          } for bytes ${offset}-)`,
        );
      }
      if (range.total !== undefined && range.total !== size) {
        await response.body?.cancel();
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
      await response.body?.cancel();
      const total = response.status === 206 ? Number(declared) + offset : Number(declared);
      throw sizeMismatch(filename, origin, total, size);
    }
    if (response.body === null) {
      throw new NetworkError(`Cannot fetch "${filename}" from ${origin}: the response has no body`);
    }
    // A small file needs no more than its size (plus the byte that would reveal a longer body).
    const body = bodyReader(response.body, Math.min(LANDING_SIZE, size - offset + 1));
    try {
      for (;;) {
        let chunk: Uint8Array | null;
        try {
          // One byte more than the manifest allows, so that a longer body is noticed.
          chunk = await body.read(size - sink.accepted + 1);
        } catch (error) {
          options.signal.throwIfAborted();
          if (stall.signal.aborted) throw stalled();
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
        arm();
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
    clearTimeout(timer);
    clearInterval(speedWatch);
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
  options: DownloadOptions,
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
    await response.body?.cancel();
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

/** Reads a response body chunk by chunk. */
interface BodyReader {
  /** The next bytes (at most `limit`), or null at the end; valid until the next call. */
  read(limit: number): Promise<Uint8Array | null>;
  cancel(): Promise<void>;
  release(): void;
}

/** How much one BYOB read may bring (Deno's fetch gives up to ~256 KiB at a time). */
const LANDING_SIZE = 256 * 1024;

/**
 * A BYOB reader when the body is a byte stream (Deno's fetch bodies are): every read lands
 * in one reused buffer instead of a freshly allocated chunk, which keeps the garbage — and
 * so the peak RSS — of a multi-GB download small. Its bytes are copied on into the sink at
 * once, so a failed read (which takes its buffer with it) loses nothing already received.
 * Other streams are read chunk by chunk.
 */
function bodyReader(stream: ReadableStream<Uint8Array>, landingSize: number): BodyReader {
  let byob: ReadableStreamBYOBReader | undefined;
  try {
    byob = stream.getReader({ mode: "byob" });
  } catch {
    // Not a byte stream.
  }
  if (byob !== undefined) {
    const reader = byob;
    let landing: Uint8Array = new Uint8Array(landingSize);
    return {
      async read(limit) {
        const view = landing.subarray(0, Math.max(1, Math.min(limit, landing.length)));
        let result: ReadableStreamReadResult<Uint8Array>;
        try {
          result = await reader.read(view);
        } catch (error) {
          landing = new Uint8Array(landingSize);
          throw error;
        }
        // The read transferred the buffer: keep using it under its new identity.
        landing = result.value === undefined
          ? new Uint8Array(landingSize)
          : new Uint8Array(result.value.buffer);
        if (result.done || result.value === undefined) return null;
        return result.value;
      },
      cancel: () => reader.cancel().catch(() => {}),
      release: () => reader.releaseLock(),
    };
  }
  const reader = stream.getReader();
  return {
    async read() {
      const result = await reader.read();
      return result.done ? null : result.value;
    },
    cancel: () => reader.cancel().catch(() => {}),
    release: () => reader.releaseLock(),
  };
}

/** A buffer this small, with nothing else in flight, is hashed and written on the spot. */
const INLINE_BYTES = 256 * 1024;

/** Buffers a download may have in flight: one filling, the others being hashed or written. */
const RING_SIZE = 3;

/**
 * The file being downloaded plus the running hash of exactly the bytes in it. Chunks are
 * gathered into 1 MiB buffers. A full buffer is handed to two ordered chains — SHA-512 (off
 * the main thread, with libcrypto) and the file writes — and the next buffer of a ring of
 * three fills meanwhile, so the network, the hash of one buffer and the write of another all
 * proceed at once; a buffer is reused only once both its hash and its write are done.
 */
class HashingSink {
  readonly #file: Deno.FsFile;
  readonly #filename: string;
  #hasher: Sha512Hasher = createSha512();
  readonly #bufferSize: number;
  /** The ring; buffers are made as they are first needed (a small file needs one). */
  readonly #ring: Uint8Array[] = [];
  /** Per ring slot: the hash and write of what it last held. */
  readonly #done: (Promise<void> | undefined)[] = [];
  #slot = 0;
  #fill = 0;
  #hashTail: Promise<void> = Promise.resolve();
  #writeTail: Promise<void> = Promise.resolve();
  /** Settles once everything handed over so far is hashed and written (or failed). */
  #last: Promise<void> | undefined;
  /** Bytes written and hashed. */
  #position = 0;
  /** Bytes in the file, the hash or on their way there: `position` plus what is buffered. */
  #accepted = 0;
  /** Bytes accepted from the network so far (all attempts). */
  received = 0;

  /** `bufferSize`: 1 MiB, or the file's size when smaller (many small files stay cheap). */
  constructor(file: Deno.FsFile, filename: string, bufferSize: number) {
    this.#file = file;
    this.#filename = filename;
    this.#bufferSize = bufferSize;
    this.#ring.push(new Uint8Array(bufferSize));
  }

  /** Bytes safely in the file and in the hash. */
  get position(): number {
    return this.#position;
  }

  /** Bytes taken for the file so far, including those still buffered. */
  get accepted(): number {
    return this.#accepted;
  }

  get #buffer(): Uint8Array {
    return this.#ring[this.#slot] as Uint8Array;
  }

  /** Keeps what the file already holds (up to `size`), hashing it; returns its length. */
  async adoptExisting(size: number, signal: AbortSignal): Promise<number> {
    const length = this.#file.statSync().size;
    if (length === 0) return 0;
    if (length >= size) {
      // A complete-looking file that failed before: start clean.
      await this.restart();
      return 0;
    }
    await this.#file.seek(0, Deno.SeekMode.Start);
    const buffer = this.#buffer;
    let done = 0;
    while (done < length) {
      signal.throwIfAborted();
      const read = await this.#file.read(
        buffer.subarray(0, Math.min(this.#bufferSize, length - done)),
      );
      if (read === null) break;
      await this.#hasher.updateAsync(buffer.subarray(0, read));
      done += read;
    }
    await this.#file.truncate(done);
    await this.#file.seek(done, Deno.SeekMode.Start);
    this.#position = done;
    this.#accepted = done;
    return done;
  }

  /** Empties the file and the hash: the next byte is byte 0. */
  async restart(): Promise<void> {
    await this.#settle().catch(() => {});
    this.#fill = 0;
    this.#hasher = createSha512();
    this.#hashTail = Promise.resolve();
    this.#writeTail = Promise.resolve();
    this.#position = 0;
    this.#accepted = 0;
    await this.#file.truncate(0);
    await this.#file.seek(0, Deno.SeekMode.Start);
  }

  /** Copies a chunk in. */
  async push(chunk: Uint8Array): Promise<void> {
    this.received += chunk.length;
    this.#accepted += chunk.length;
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(chunk.length - offset, this.#bufferSize - this.#fill);
      this.#buffer.set(chunk.subarray(offset, offset + take), this.#fill);
      this.#fill += take;
      offset += take;
      if (this.#fill === this.#bufferSize) await this.#rotate();
    }
  }

  /** Hashes and writes everything accepted so far. */
  async flush(): Promise<void> {
    if (this.#fill > 0) {
      // Nothing else arrives before this settles, so the slot needs no rotation.
      this.#start(this.#buffer.subarray(0, this.#fill));
      this.#fill = 0;
    }
    await this.#settle();
  }

  /** The digest of everything written; the sink cannot take more bytes after this. */
  finish(): Sha512 {
    return this.#hasher.digest();
  }

  /** Hands the full buffer over and moves to the next slot once that slot is free again. */
  async #rotate(): Promise<void> {
    this.#start(this.#buffer.subarray(0, this.#fill));
    this.#fill = 0;
    this.#slot = (this.#slot + 1) % RING_SIZE;
    const previous = this.#done[this.#slot];
    if (previous !== undefined) await previous;
    if (this.#ring[this.#slot] === undefined) {
      this.#ring[this.#slot] = new Uint8Array(this.#bufferSize);
    }
  }

  /** Queues `full` on both chains; its slot is busy until both are done. */
  #start(full: Uint8Array): void {
    if (full.length <= INLINE_BYTES && this.#last === undefined) {
      // A small file's only buffer: hashing (~0.2 ms) and writing it right here costs less
      // than the four thread hand-offs of doing both in the background (200 files of
      // 100 KiB: 15% faster).
      try {
        this.#hasher.update(full);
        let written = 0;
        while (written < full.length) written += this.#file.writeSync(full.subarray(written));
        this.#position += full.length;
      } catch (error) {
        const failed = Promise.reject(writeError(this.#filename, error));
        failed.catch(() => {});
        this.#last = failed;
      }
      return;
    }
    const hasher = this.#hasher;
    const hashed = this.#hashTail.then(() => hasher.updateAsync(full));
    const written = this.#writeTail.then(() => this.#writeAll(full));
    this.#hashTail = hashed;
    this.#writeTail = written;
    // allSettled, not all: the buffer must not be reused while the hash still reads it,
    // even when the write has already failed.
    const done = Promise.allSettled([hashed, written]).then(([hash, write]) => {
      if (write.status === "rejected") throw write.reason;
      if (hash.status === "rejected") throw hash.reason;
      this.#position += full.length;
    });
    // Its failure is rethrown where it is awaited (a later rotation, or the flush); until
    // then it must not count as an unhandled rejection, which would end the process.
    done.catch(() => {});
    hashed.catch(() => {});
    written.catch(() => {});
    this.#done[this.#slot] = done;
    this.#last = done;
  }

  /** Waits until everything handed over is hashed and written; throws the first failure. */
  async #settle(): Promise<void> {
    const last = this.#last;
    if (last === undefined) return;
    try {
      // Both chains are ordered, so the last buffer is done only after all earlier ones.
      await last;
    } finally {
      this.#last = undefined;
      this.#done.fill(undefined);
    }
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    try {
      let written = 0;
      while (written < bytes.length) written += await this.#file.write(bytes.subarray(written));
    } catch (error) {
      throw writeError(this.#filename, error);
    }
  }
}

/** A failed write, worded for the user; a full disk is not worth retrying. */
export function writeError(filename: string, error: unknown): ToolError {
  return new ToolError(`Cannot write "${filename}": ${describeFsError(error)}`, { cause: error });
}

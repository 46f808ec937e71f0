/**
 * One PUT of a file to a signed storage URL (S3 presigned, or anything that speaks HTTP/1.1
 * like it): the body streamed from disk with a `Content-Length`, and no credentials.
 *
 * Why not `fetch`: Deno's fetch drops a `Content-Length` given with a stream body and sends
 * it chunked, which S3 refuses on a presigned PUT (411 MissingContentLength); a fixed-length
 * body would mean the whole file in memory. Why not `node:http`: in Deno its write
 * callbacks do not say when a chunk has left, so every chunk needs a fresh buffer and the
 * garbage of a 1 GiB upload pushed the process near 150 MiB. Here each chunk is written
 * with `Deno.Conn.write`, whose promise settles once the bytes are in the kernel, so two
 * buffers are reused for the whole file: memory stays flat whatever the file size.
 *
 * The request is `Connection: close`, so the answer's end is the connection's end at the
 * latest; the answer is read while the body is still being sent, since storage may refuse
 * (expired URL, bad signature) before it has read the body.
 *
 * @module
 */

import { createSha512 } from "../digest.ts";
import { NetworkError, networkReason, ToolError } from "../errors.ts";
import { USER_AGENT } from "../version.ts";
import type { Sha512 } from "../sha512.ts";

/** What storage answered to a PUT. */
export interface StorageAnswer {
  readonly status: number;
  readonly statusText: string;
  /** The start of the body (S3 errors are short XML documents). */
  readonly body: string;
  /** The `Retry-After` header, if any. */
  readonly retryAfter: string | null;
}

/** What storage answered to a PUT, and what the PUT sent. */
export interface PutAnswer extends StorageAnswer {
  /**
   * The sha512 of the body exactly as it was sent (hashed as it was read from disk), or
   * `null` when storage answered before the whole body had gone out. The caller compares it
   * with the manifest: a file rewritten during the upload must not count as uploaded.
   */
  readonly sentDigest: Sha512 | null;
}

/** How one PUT is sent. */
export interface PutOptions {
  /** The file name, for messages. */
  readonly target: string;
  readonly signal: AbortSignal;
  /** Abandon the PUT when no byte moved either way for this long. */
  readonly stallTimeoutMs: number;
  /** Told how many bytes went out, as they go. */
  readonly onBytes: (count: number) => void;
}

/** Sends `size` bytes of the file at `path` to a signed storage URL. */
export type StoragePut = (
  url: URL,
  path: string,
  size: number,
  options: PutOptions,
) => Promise<PutAnswer>;

/** Size of each write; two buffers of it per file in flight. */
const CHUNK_BYTES = 256 * 1024;

/** Most of an answer kept (head and body); storage answers to PUTs are tiny. */
const MAX_ANSWER_BYTES = 64 * 1024;

const encoder = new TextEncoder();

/**
 * PUTs `size` bytes of the file at `path` to `url` with `Content-Length` and
 * `Content-Type: application/octet-stream` (what the URL was signed for). The next chunk
 * is read from disk while the current one is sent. Resolves with whatever status storage
 * answers, also when it answers before the body is sent (e.g. 403 for an expired URL);
 * rejects with `NetworkError` when the connection fails or stalls, `ToolError` when the
 * file is shorter than `size`, and the signal's reason when it aborts. Every byte sent is
 * hashed on its way out (`sentDigest`).
 */
export async function putFile(
  url: URL,
  path: string,
  size: number,
  options: PutOptions,
): Promise<PutAnswer> {
  options.signal.throwIfAborted();
  const where = `${url.origin}/`;
  const networkError = (reason: string, cause?: unknown) =>
    new NetworkError(
      `Cannot upload "${options.target}" to ${where}: ${reason}`,
      cause === undefined ? {} : { cause },
    );
  using file = await Deno.open(path, { read: true });
  const conn = await connect(url, options).catch((error) => {
    options.signal.throwIfAborted();
    throw error instanceof NetworkError ? error : networkError(networkReason(error), error);
  });

  let failure: unknown;
  let closed = false;
  const close = (reason?: unknown) => {
    failure ??= reason;
    if (closed) return;
    closed = true;
    try {
      conn.close();
    } catch {
      // Already closed by a failed operation.
    }
  };
  const onAbort = () => close(options.signal.reason);
  options.signal.addEventListener("abort", onAbort, { once: true });
  let lastProgress = Date.now();
  const watchdog = setInterval(() => {
    if (Date.now() - lastProgress < options.stallTimeoutMs) return;
    close(networkError(`no progress for ${options.stallTimeoutMs / 1000} s`));
  }, Math.min(1_000, Math.max(10, options.stallTimeoutMs / 4)));

  let answered = false;
  const answer = readAnswer(conn, () => lastProgress = Date.now());
  answer.then(() => answered = true, () => {});
  try {
    const head = `PUT ${url.pathname}${url.search} HTTP/1.1\r\n` +
      `Host: ${url.host}\r\n` +
      `Content-Length: ${size}\r\n` +
      "Content-Type: application/octet-stream\r\n" +
      `User-Agent: ${USER_AGENT}\r\n` +
      "Connection: close\r\n\r\n";
    let current = new Uint8Array(Math.min(CHUNK_BYTES, Math.max(1, size)));
    let spare = new Uint8Array(current.length);
    let remaining = size;
    const hasher = createSha512();
    try {
      await writeAll(conn, encoder.encode(head), answer);
      let filled = remaining > 0 ? await file.read(current.subarray(0, remaining)) : null;
      while (filled !== null && !answered) {
        remaining -= filled;
        const next = remaining > 0
          ? file.read(spare.subarray(0, Math.min(spare.length, remaining)))
          : Promise.resolve(null);
        next.catch(() => {});
        // The bytes hashed are the very bytes written: a file changing on disk meanwhile
        // shows in the digest, whatever the manifest said when the upload began.
        const hashing = hasher.updateAsync(current.subarray(0, filled));
        hashing.catch(() => {});
        // Storage may answer (and stop reading) before the body is sent.
        await writeAll(conn, current.subarray(0, filled), answer);
        await hashing;
        lastProgress = Date.now();
        if (!answered) options.onBytes(filled);
        [current, spare] = [spare, current];
        filled = await next;
      }
    } catch (error) {
      // A connection storage closed after answering early: the answer is what counts.
      if (failure === undefined && !(error instanceof ToolError)) {
        const early = await answer.catch(() => undefined);
        if (early !== undefined) return { ...early, sentDigest: null };
      }
      throw error;
    }
    if (!answered && remaining > 0) {
      throw new ToolError(
        `Cannot upload "${options.target}" to ${where}: the file became shorter while it was being uploaded`,
      );
    }
    const sentDigest = remaining === 0 ? hasher.digest() : null;
    return { ...await answer, sentDigest };
  } catch (error) {
    options.signal.throwIfAborted();
    if (failure instanceof ToolError) throw failure;
    if (error instanceof ToolError) throw error;
    throw networkError(networkReason(error), error);
  } finally {
    clearInterval(watchdog);
    options.signal.removeEventListener("abort", onAbort);
    close();
    // The reader ends with the connection; wait for it so no operation outlives the call.
    await answer.catch(() => {});
  }
}

/** Opens the connection, TLS for https, within the stall timeout. */
async function connect(url: URL, options: PutOptions): Promise<Deno.Conn> {
  const https = url.protocol === "https:";
  if (!https && url.protocol !== "http:") {
    throw new NetworkError(`Cannot upload "${options.target}": unsupported URL scheme`);
  }
  const port = url.port !== "" ? Number(url.port) : https ? 443 : 80;
  // URL keeps the brackets of an IPv6 literal; sockets want the bare address.
  const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const opening = https
    ? Deno.connectTls({ hostname, port, alpnProtocols: ["http/1.1"] })
    : Deno.connect({ hostname, port });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new NetworkError(
            `Cannot upload "${options.target}" to ${url.origin}/: no connection within ${
              options.stallTimeoutMs / 1000
            } s`,
          ),
        ),
      options.stallTimeoutMs,
    );
  });
  try {
    return await Promise.race([opening, timeout]);
  } catch (error) {
    // A connection that opens after all must not be left behind.
    opening.then((conn) => conn.close(), () => {});
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** Writes every byte, unless the answer arrives first (then the rest is not needed). */
async function writeAll(conn: Deno.Conn, bytes: Uint8Array, answer: Promise<unknown>) {
  const answered = answer.then(() => true, () => false);
  let offset = 0;
  while (offset < bytes.length) {
    const writing = conn.write(bytes.subarray(offset));
    writing.catch(() => {});
    const written = await Promise.race([writing, answered.then(() => -1)]);
    if (written === -1) {
      if (await answered) return;
      offset += await writing;
    } else {
      offset += written as number;
    }
  }
}

/**
 * Reads an HTTP/1.1 answer from `conn`: 1xx heads skipped, the body by Content-Length,
 * chunked, or to the end of the connection, kept up to `MAX_ANSWER_BYTES`.
 */
async function readAnswer(conn: Deno.Conn, onData: () => void): Promise<StorageAnswer> {
  let data = new Uint8Array(0);
  const buffer = new Uint8Array(16 * 1024);
  let ended = false;
  for (;;) {
    const parsed = parseAnswer(data, ended);
    if (parsed !== undefined) return parsed;
    if (ended) throw new Error("the connection closed before a complete answer");
    const count = await conn.read(buffer);
    if (count === null) {
      ended = true;
      continue;
    }
    onData();
    if (data.length < MAX_ANSWER_BYTES * 2) {
      const grown = new Uint8Array(data.length + count);
      grown.set(data);
      grown.set(buffer.subarray(0, count), data.length);
      data = grown;
    } else {
      // Enough to report: stop reading a body nobody needs.
      const capped = parseAnswer(data, true);
      if (capped !== undefined) return capped;
    }
  }
}

/**
 * Parses a complete answer from the bytes received so far, or returns undefined when more
 * are needed. `ended`: the connection has closed, so a body without a length ends here.
 */
export function parseAnswer(data: Uint8Array, ended: boolean): StorageAnswer | undefined {
  let start = 0;
  for (;;) {
    const headEnd = indexOf(data, "\r\n\r\n", start);
    if (headEnd === -1) {
      if (ended && start < data.length) throw new Error("the answer's head is incomplete");
      return undefined;
    }
    const head = latin1(data.subarray(start, headEnd)).split("\r\n");
    const statusLine = /^HTTP\/\d(?:\.\d)? (\d{3})(?: (.*))?$/.exec(head[0] ?? "");
    if (statusLine === null) throw new Error(`not an HTTP answer: ${(head[0] ?? "").slice(0, 80)}`);
    const status = Number(statusLine[1]);
    const headers = new Map<string, string>();
    for (const line of head.slice(1)) {
      const colon = line.indexOf(":");
      if (colon > 0) {
        headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
    }
    const bodyStart = headEnd + 4;
    if (status >= 100 && status < 200) {
      start = bodyStart;
      continue;
    }
    const answer = (body: Uint8Array): StorageAnswer => ({
      status,
      statusText: statusLine[2] ?? "",
      body: new TextDecoder().decode(body.subarray(0, MAX_ANSWER_BYTES)),
      retryAfter: headers.get("retry-after") ?? null,
    });
    const rest = data.subarray(bodyStart);
    if (/chunked/i.test(headers.get("transfer-encoding") ?? "")) {
      const body = dechunk(rest);
      if (body !== undefined) return answer(body);
      return ended || rest.length >= MAX_ANSWER_BYTES ? answer(rest) : undefined;
    }
    const length = headers.get("content-length");
    if (length !== undefined && /^\d+$/.test(length)) {
      const wanted = Math.min(Number(length), MAX_ANSWER_BYTES);
      if (rest.length >= wanted) return answer(rest.subarray(0, Number(length)));
      if (ended) throw new Error("the connection closed in the middle of the answer");
      return undefined;
    }
    if (status === 204 || status === 304) return answer(new Uint8Array(0));
    return ended || rest.length >= MAX_ANSWER_BYTES ? answer(rest) : undefined;
  }
}

/** The body of a complete chunked encoding, or undefined while its last chunk is missing. */
function dechunk(data: Uint8Array): Uint8Array | undefined {
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = indexOf(data, "\r\n", offset);
    if (lineEnd === -1) return undefined;
    const size = parseInt(latin1(data.subarray(offset, lineEnd)).split(";")[0] ?? "", 16);
    if (Number.isNaN(size)) throw new Error("a malformed chunk in the answer");
    if (size === 0) break;
    const chunkStart = lineEnd + 2;
    if (data.length < chunkStart + size + 2) return undefined;
    parts.push(data.subarray(chunkStart, chunkStart + size));
    offset = chunkStart + size + 2;
  }
  const body = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    body.set(part, at);
    at += part.length;
  }
  return body;
}

function indexOf(data: Uint8Array, text: string, from: number): number {
  const pattern = encoder.encode(text);
  outer: for (let i = from; i <= data.length - pattern.length; i++) {
    for (let j = 0; j < pattern.length; j++) if (data[i + j] !== pattern[j]) continue outer;
    return i;
  }
  return -1;
}

function latin1(bytes: Uint8Array): string {
  return new TextDecoder("latin1").decode(bytes);
}

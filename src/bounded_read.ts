/**
 * Every read of untrusted input has a bound: what a server sends (error bodies, JSON
 * answers) and the files the tool reads whole (manifests, credentials, the boot id). A few
 * kilobytes on the wire must never turn into gigabytes in memory (a `Content-Encoding:
 * gzip` body is counted after decoding), a device like `/dev/zero` must never be read to
 * the end, and a FIFO must never hang the process before it can answer Ctrl-C.
 *
 * Also the bound on what is echoed: `clipText` shortens server-given text for a message.
 *
 * @module
 */

/** Most of an error body read (problem documents, S3 XML errors are a few hundred bytes). */
export const MAX_ERROR_BODY_BYTES = 64 * 1024;

/** Most of a JSON answer read unless the request says otherwise. */
export const DEFAULT_MAX_JSON_BYTES = 4 * 1024 * 1024;

/** Most characters of server-given text (a problem `detail`) a message quotes. */
export const MAX_ECHOED_CHARS = 500;

/** What `readBoundedText` read. */
export interface BoundedText {
  readonly text: string;
  /** The body had more than `limit` bytes; `text` holds the first `limit`. */
  readonly truncated: boolean;
}

/**
 * Reads at most `limit` bytes of a response body (decoded bytes, as `fetch` hands them
 * over after any `Content-Encoding`), then cancels the rest. Never throws for a body that
 * breaks off: what arrived is returned.
 */
export async function readBoundedText(response: Response, limit: number): Promise<BoundedText> {
  if (response.body === null) return { text: "", truncated: false };
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let total = 0;
  let truncated = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const room = limit - total;
      if (value.length > room) {
        text += decoder.decode(value.subarray(0, room), { stream: true });
        truncated = true;
        break;
      }
      total += value.length;
      text += decoder.decode(value, { stream: true });
    }
  } catch {
    // A body cut short: keep what came.
  } finally {
    await reader.cancel().catch(() => {});
  }
  return { text: text + decoder.decode(), truncated };
}

/**
 * `text` cut to `max` characters, with `… (N more bytes)` saying how much was left out,
 * so one server-given string cannot flood a terminal or a CI log.
 */
export function clipText(text: string, max: number = MAX_ECHOED_CHARS): string {
  if (text.length <= max) return text;
  const kept = text.slice(0, max);
  const rest = new TextEncoder().encode(text.slice(max)).length;
  return `${kept}… (${rest} more bytes)`;
}

/** What kind of file `readBoundedFile` accepts. */
export type FileKinds = "regular" | "regular-or-pipe";

/** Options for `readBoundedFile`. */
export interface BoundedFileOptions {
  /** More than this many bytes is an error. */
  readonly limit: number;
  /**
   * `regular`: only a regular file (credentials: a FIFO, a device or a directory is
   * refused before it is opened, so it cannot block or stream forever). `regular-or-pipe`:
   * a FIFO or pipe too (`-m <(cmd)`), still bounded by `limit`.
   */
  readonly kinds: FileKinds;
}

/** A file `readBoundedFile` refuses; its message is the detail for the caller's error. */
export class UnreadableFileError extends Error {}

/**
 * Reads a whole file of at most `options.limit` bytes. The type is checked on the path
 * before opening (so a FIFO is never opened where only regular files are wanted, and
 * cannot hang the open) and again on the opened file (so a swap in between is caught).
 * Throws Deno's errors for a missing or unreadable file, `UnreadableFileError` for a file
 * of the wrong kind or too large.
 */
export async function readBoundedFile(
  path: string,
  options: BoundedFileOptions,
): Promise<Uint8Array> {
  checkKind(Deno.statSync(path), options.kinds);
  // Opened asynchronously: a FIFO swapped in after the check would block the open until a
  // writer comes, and that must not be the main thread's open (Ctrl-C would go unheard).
  using file = await Deno.open(path, { read: true });
  const info = file.statSync();
  checkKind(info, options.kinds);
  if (info.isFile && info.size > options.limit) throw tooLarge(options.limit);
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    // A regular file in one read (and a small one more to see its end); /proc files say 0.
    const size = info.isFile && chunks.length === 0
      ? Math.min(Math.max(info.size + 1, CHUNK), options.limit + 1)
      : CHUNK;
    const chunk = new Uint8Array(size);
    // A regular file is read synchronously: these files are read at start-up, when nothing
    // else runs, and each asynchronous read costs two thread hand-offs. A pipe is read
    // asynchronously: a writer that never ends must not leave Ctrl-C unheard.
    const count = info.isFile ? file.readSync(chunk) : await file.read(chunk);
    if (count === null) break;
    total += count;
    if (total > options.limit) throw tooLarge(options.limit);
    chunks.push(chunk.subarray(0, count));
  }
  if (chunks.length === 1) return chunks[0]!;
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

const CHUNK = 64 * 1024;

function checkKind(info: Deno.FileInfo, kinds: FileKinds): void {
  if (info.isFile) return;
  if (info.isDirectory) throw new Deno.errors.IsADirectory("is a directory");
  if (info.isFifo && kinds === "regular-or-pipe") return;
  throw new UnreadableFileError(`it is ${kindOf(info)}, not a regular file`);
}

function kindOf(info: Deno.FileInfo): string {
  if (info.isFifo) return "a FIFO (named pipe)";
  if (info.isCharDevice) return "a character device";
  if (info.isBlockDevice) return "a block device";
  if (info.isSocket) return "a socket";
  return "a special file";
}

function tooLarge(limit: number): UnreadableFileError {
  const size = limit >= 1024 * 1024 ? `${limit / 1024 / 1024} MiB` : `${limit / 1024} KiB`;
  return new UnreadableFileError(`the file is larger than ${size}`);
}

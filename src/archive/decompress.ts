/**
 * Turns a compressed tar file into a stream of tar bytes, choosing per format what is
 * fastest on this machine and always having an in-process way that needs no other program:
 *
 * | format  | preferred                                   | fallback (always works)       |
 * | ------- | ------------------------------------------- | ----------------------------- |
 * | gzip    | `node:zlib` gunzip (in-process)             | —                             |
 * | zstd    | `node:zlib` zstd (in-process)               | —                             |
 * | xz      | `xz -dc -T2` child process                  | `xz-decompress` (WebAssembly) |
 * | bzip2   | `lbzip2` / `pbzip2` (parallel) when present | `./bzip2.ts` (TypeScript)     |
 *
 * gzip and zstd are faster in-process than through a pipe. xz is 1.3x faster as the native
 * program, which also decompresses on another core while this process writes files. For
 * bzip2 the plain `bzip2` program is *not* used: our decoder decompresses the benchmark at the
 * same speed as libbz2, and reading `bzip2`'s output (it writes 4 KiB at a time: 48,000 pipe
 * reads for 210 MB) made the piped path 1.4-1.7x slower end to end; only the parallel
 * implementations win. A child process only ever decompresses: the tar stream it produces
 * is parsed and checked here, never by an external `tar`. Numbers: docs/unpack.md.
 *
 * @module
 */

import { Readable } from "node:stream";
import * as zlib from "node:zlib";
import { decompressBzip2 } from "./bzip2.ts";
import { yielding } from "./yielder.ts";
import { EntryProblem } from "./safety.ts";

/** The compressions a tar file may have. */
export type Compression = "none" | "gzip" | "bzip2" | "xz" | "zstd";

/** How to decompress. */
export interface DecompressOptions {
  readonly signal?: AbortSignal | undefined;
  /** Use `xz`, `lbzip2` or `pbzip2` when they are installed (default true). */
  readonly preferExternalTools?: boolean | undefined;
}

/** Read size for archive files: large enough that syscalls do not show in a profile. */
const readSize = 1 << 20;
/** Read size when the reads feed a decompressor (smaller pieces keep the allocator from hoarding). */
const compressedReadSize = 1 << 18;
/**
 * Output chunk size for in-process decompressors. 64 KiB rather than 256 KiB took peak RSS
 * from about 130 to about 105 MB at the same speed: pieces under glibc's 128 KiB mmap
 * threshold are recycled by malloc instead of piling up until V8 collects them.
 */
const zlibChunkSize = 1 << 16;

/**
 * The programs tried, in order, for each compression. xz gets two threads: xz 5.4+ then
 * decompresses multi-block files in parallel (older versions ignore the flag), and memory
 * stays near two blocks (about 160 MB for `-6`) instead of growing with the cores as `-T0`.
 */
const externalTools: Partial<Record<Compression, readonly { program: string; args: string[] }[]>> =
  {
    xz: [{ program: "xz", args: ["-dc", "-T2"] }],
    bzip2: [
      { program: "lbzip2", args: ["-dc", "-n", "2"] },
      { program: "pbzip2", args: ["-dc", "-p2"] },
    ],
  };

/**
 * The tar bytes of the archive at `path`, as chunks that are valid until the next one is
 * requested. Throws an {@link EntryProblem} when the data is corrupt or truncated.
 */
export async function* decompressedChunks(
  path: string,
  compression: Compression,
  options: DecompressOptions = {},
): AsyncGenerator<Uint8Array> {
  if (options.preferExternalTools ?? true) {
    for (const tool of externalTools[compression] ?? []) {
      const child = spawnTool(tool.program, [...tool.args, "--", path]);
      if (child === undefined) continue;
      yield* childOutput(child, tool.program, options.signal);
      return;
    }
  }
  const file = await Deno.open(path);
  try {
    // In-process decoders may run on buffered input for long: let signals through.
    yield* yielding(inProcessChunks(file, compression, options.signal), options.signal);
  } catch (error) {
    throw corruptData(compression, error, options.signal);
  } finally {
    try {
      file.close();
    } catch {
      // A web stream that was read to its end closes the file itself.
    }
  }
}

async function* inProcessChunks(
  file: Deno.FsFile,
  compression: Compression,
  signal: AbortSignal | undefined,
): AsyncGenerator<Uint8Array> {
  switch (compression) {
    case "none":
      yield* fileChunks(file, signal);
      return;
    case "gzip":
      yield* nodeTransform(file, zlib.createGunzip({ chunkSize: zlibChunkSize }), signal);
      return;
    case "zstd":
      yield* nodeTransform(
        file,
        zlib.createZstdDecompress({ chunkSize: zlibChunkSize }),
        signal,
      );
      return;
    case "xz": {
      // Loaded on first use: the WebAssembly module costs 10 MB that gzip and zstd never need.
      const { default: xz } = await import("xz-decompress");
      yield* webStream(new xz.XzReadableStream(fileStream(file)), signal);
      return;
    }
    case "bzip2":
      yield* decompressBzip2(freshFileChunks(file, signal));
      return;
  }
}

/** Reads the file into one reused buffer: the consumer is done with a chunk before the next. */
async function* fileChunks(file: Deno.FsFile, signal: AbortSignal | undefined) {
  const buffer = new Uint8Array(readSize);
  for (;;) {
    signal?.throwIfAborted();
    const n = await file.read(buffer);
    if (n === null) return;
    yield buffer.subarray(0, n);
  }
}

/** Like {@link fileChunks} but each chunk is new, for decompressors that keep their input. */
async function* freshFileChunks(file: Deno.FsFile, signal: AbortSignal | undefined) {
  for (;;) {
    signal?.throwIfAborted();
    const buffer = new Uint8Array(compressedReadSize);
    const n = await file.read(buffer);
    if (n === null) return;
    yield n === compressedReadSize ? buffer : buffer.subarray(0, n);
  }
}

function fileStream(file: Deno.FsFile): ReadableStream<Uint8Array> {
  return ReadableStream.from(freshFileChunks(file, undefined));
}

async function* nodeTransform(
  file: Deno.FsFile,
  transform: zlib.Gunzip | zlib.ZstdDecompress,
  signal: AbortSignal | undefined,
): AsyncGenerator<Uint8Array> {
  const source = Readable.from(freshFileChunks(file, signal), { objectMode: false });
  source.on("error", (error) => transform.destroy(error));
  source.pipe(transform);
  try {
    for await (const chunk of transform) yield chunk as Uint8Array;
  } finally {
    source.destroy();
    transform.destroy();
  }
}

async function* webStream(stream: ReadableStream<Uint8Array>, signal: AbortSignal | undefined) {
  const reader = stream.getReader();
  try {
    for (;;) {
      signal?.throwIfAborted();
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

/** Starts a decompressor; `undefined` when the program is not installed. */
function spawnTool(program: string, args: string[]): Deno.ChildProcess | undefined {
  try {
    return new Deno.Command(program, { args, stdin: "null", stdout: "piped", stderr: "piped" })
      .spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.PermissionDenied) {
      return undefined;
    }
    throw error;
  }
}

async function* childOutput(
  child: Deno.ChildProcess,
  program: string,
  signal: AbortSignal | undefined,
): AsyncGenerator<Uint8Array> {
  const stderr = new Response(child.stderr).text();
  const onAbort = () => killQuietly(child);
  signal?.addEventListener("abort", onAbort, { once: true });
  let finished = false;
  try {
    yield* webStream(child.stdout, signal);
    // Killed on abort, the child's output ends like a normal end: the abort must win.
    signal?.throwIfAborted();
    finished = true;
  } finally {
    signal?.removeEventListener("abort", onAbort);
    // Stopped early (a refused member, an abort): the rest of the output is not wanted.
    if (!finished) killQuietly(child);
    const [status, message] = await Promise.all([child.status, stderr.catch(() => "")]);
    if (finished && !status.success) {
      const detail = message.trim().split("\n").at(-1) ?? "";
      // deno-lint-ignore no-unsafe-finally
      throw new EntryProblem(
        undefined,
        `${program} failed with exit code ${status.code}${detail ? `: ${detail}` : ""}`,
      );
    }
  }
}

function killQuietly(child: Deno.ChildProcess): void {
  try {
    child.kill("SIGTERM");
  } catch {
    // It already exited.
  }
}

/** Errors from a decompressor mean the data is bad; file system errors and aborts pass through. */
function corruptData(compression: Compression, error: unknown, signal: AbortSignal | undefined) {
  if (error instanceof EntryProblem || signal?.aborted) return error;
  if (Object.values(Deno.errors).some((type) => error instanceof type)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new EntryProblem(undefined, `corrupt ${compression} data: ${message}`);
}

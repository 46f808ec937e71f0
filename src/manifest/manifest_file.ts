/**
 * Manifests on disk: reading one into records with errors that name the file, and writing
 * records back atomically, so a command that fails never leaves a half-written or changed
 * manifest behind. The format itself lives in `manifest.ts`.
 *
 * @module
 */

import type { FileLock } from "../lock.ts";
import { readBoundedFile } from "../bounded_read.ts";
import { ManifestError } from "../errors.ts";
import { describeFsError } from "../fs_error.ts";
import { dirname, resolve } from "../paths.ts";
import { type FileRecord, parseManifest, serializeManifest } from "./manifest.ts";

/** Where relative manifest paths are resolved; messages keep the path as given. */
export interface ManifestFileOptions {
  /** Base for a relative `path` (normally `ctx.cwd`); the process's own when absent. */
  readonly cwd?: string;
}

/** Options for `readManifest`. */
export interface ReadManifestOptions extends ManifestFileOptions {
  /** Return no records instead of failing when the file does not exist (for `add`). */
  readonly allowMissing?: boolean;
}

/**
 * Manifests are a few KiB (the largest known, 239k records, ~60 MiB); anything larger is the
 * wrong file, not a manifest, and is refused rather than read into memory.
 */
export const MAX_MANIFEST_BYTES = 256 * 1024 * 1024;

/**
 * Reads and parses a manifest. Throws a `ManifestError` for a file that cannot be read
 * (`Cannot read manifest "m.tt": file not found`), is not UTF-8, or does not parse (see
 * `parseManifest`); its `problems` always has at least one entry, with line and column 0
 * when the problem is the file rather than a place in it.
 */
export async function readManifest(
  path: string,
  options: ReadManifestOptions = {},
): Promise<FileRecord[]> {
  const text = await readManifestText(path, options);
  return text === undefined ? [] : parseManifest(text, path);
}

/**
 * Reads a manifest's text, checking only that it can be read and is UTF-8 (a byte order
 * mark is kept, for the parser to report). Errors as for `readManifest`; `undefined` when
 * the file is missing and `allowMissing` is set.
 */
export async function readManifestText(
  path: string,
  options: ReadManifestOptions = {},
): Promise<string | undefined> {
  let bytes: Uint8Array;
  try {
    // A pipe stays allowed (`-m <(generate)`, as tooltool.py reads it), bounded all the same.
    bytes = await readBoundedFile(resolvePath(path, options), {
      limit: MAX_MANIFEST_BYTES,
      kinds: "regular-or-pipe",
    });
  } catch (error) {
    if (options.allowMissing && error instanceof Deno.errors.NotFound) return undefined;
    throw fileProblem(path, "Cannot read manifest", describeFsError(error), error);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    const badOffset = firstInvalidUtf8(bytes);
    const before = new TextDecoder("utf-8", { ignoreBOM: true }).decode(
      bytes.subarray(0, badOffset),
    );
    const lines = before.split("\n");
    const problem = {
      path,
      line: lines.length,
      column: [...lines[lines.length - 1]!].length + 1,
      message: `the file is not valid UTF-8: bad byte 0x${
        bytes[badOffset]!.toString(16).padStart(2, "0")
      } at offset ${badOffset}`,
    };
    throw new ManifestError(
      `Cannot parse manifest "${path}": line ${problem.line}, column ${problem.column}: ` +
        problem.message,
      [problem],
    );
  }
}

/**
 * Writes records as tooltool.py formats them (`serializeManifest`), atomically: the old
 * manifest stays whole until the new one is complete on disk, and keeps its file mode.
 * Throws a `ManifestError` such as `Cannot write manifest "m.tt": permission denied`.
 */
export async function writeManifest(
  path: string,
  records: readonly FileRecord[],
  options: ManifestFileOptions = {},
): Promise<void> {
  const text = serializeManifest(records);
  try {
    // Loaded here: reading a manifest (`validate --schema-only`) never writes one.
    const { writeFileAtomic } = await import("../atomic_file.ts");
    await writeFileAtomic(resolvePath(path, options), text);
  } catch (error) {
    const detail = error instanceof Deno.errors.PermissionDenied &&
        error.message.endsWith("the file is read-only")
      ? "the file is read-only"
      : describeFsError(error);
    throw fileProblem(path, "Cannot write manifest", detail, error);
  }
}

/** Options for `lockManifest`. */
export interface LockManifestOptions extends ManifestFileOptions {
  readonly signal?: AbortSignal | undefined;
  /** Called once when another process holds the lock, for a "waiting" message. */
  readonly onWait?: (() => void) | undefined;
}

/**
 * Takes the exclusive right to read, change and write the manifest at `path`, waiting for
 * other holders: an `flock` on the directory that holds the manifest (the real one, when
 * `path` is a symbolic link). Not on the manifest itself, which every write replaces by a
 * rename — a second writer would lock the new inode while the first still holds the old.
 * Not on a lock file beside it either: that file would be left in the user's tree by a
 * killed run, and removing it races with waiters. A directory needs no file at all, its
 * inode never changes, and the kernel drops the lock when the holder dies. The cost: two
 * manifests in one directory are written one after the other, which takes milliseconds.
 * `undefined` when the directory cannot be opened (missing: the write will say why).
 */
export async function lockManifest(
  path: string,
  options: LockManifestOptions = {},
): Promise<FileLock | undefined> {
  const { acquireLock } = await import("../lock.ts");
  const resolved = resolvePath(path, options);
  const directory = await Deno.realPath(resolved).then(
    (real) => dirname(real),
    () => dirname(resolved),
  );
  try {
    return await acquireLock(directory, {
      exclusive: true,
      create: false,
      signal: options.signal,
      onWait: options.onWait,
    });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.PermissionDenied) {
      return undefined;
    }
    throw error;
  }
}

/** `path` against `options.cwd`, when there is one. */
function resolvePath(path: string, options: ManifestFileOptions): string {
  return options.cwd === undefined ? path : resolve(options.cwd, path);
}

function fileProblem(path: string, action: string, detail: string, cause: unknown): ManifestError {
  return new ManifestError(
    `${action} "${path}": ${detail}`,
    [{ path, line: 0, column: 0, message: `${action.toLowerCase()}: ${detail}` }],
    { cause },
  );
}

/**
 * Where the first invalid UTF-8 sequence starts. Bisects on "decodes in streaming mode",
 * which is monotone because a sequence cut off at the end still streams; then, if that
 * prefix ends inside an incomplete sequence, the culprit is that sequence's lead byte.
 */
function firstInvalidUtf8(bytes: Uint8Array): number {
  let low = 0;
  let high = bytes.length;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    try {
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, middle), {
        stream: true,
      });
      low = middle;
    } catch {
      high = middle - 1;
    }
  }
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, low));
    return low;
  } catch {
    let start = low;
    while (start > 0 && (bytes[start - 1]! & 0xc0) === 0x80) start--;
    return start - 1;
  }
}

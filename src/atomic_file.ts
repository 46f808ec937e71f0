/**
 * Writing a file so that readers see either the old content or the new, never a mix, and
 * a failure (full disk, Ctrl-C, a crash) leaves the old file as it was: the data goes to a
 * temporary file beside the target, is flushed to disk, and is renamed over the target.
 *
 * @module
 */

import { basename, dirname, join } from "./paths.ts";
import { hiddenName } from "./temp_names.ts";
import { writeAll } from "./write_all.ts";

/** Options for `writeFileAtomic`. */
export interface WriteFileAtomicOptions {
  /**
   * Permission bits for a file that does not exist yet (the umask applies), default
   * `0o666`. A file that exists keeps its own mode.
   */
  readonly mode?: number;
  /** Checked before the rename: an aborted write leaves nothing behind. */
  readonly signal?: AbortSignal;
}

const encoder = new TextEncoder();

/**
 * Replaces `path`'s content with `data` atomically: a temporary file in the same directory
 * (so the rename cannot cross file systems) is written, fsynced, given the original file's
 * mode, and renamed over `path`; the directory is then fsynced so the rename survives a
 * crash. If `path` is a symbolic link, the file it points to is replaced and the link
 * kept. A read-only file (no write bit at all) is refused with `PermissionDenied`, as a
 * plain write would be. On any failure the temporary file is removed and the error (a
 * `Deno.errors.*`) is rethrown, with `path` untouched.
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  options: WriteFileAtomicOptions = {},
): Promise<void> {
  const target = await resolveSymlink(path);
  const existingMode = await modeOf(target);
  // A rename would succeed over a read-only file; a plain write would not. Keep that refusal.
  if (existingMode !== undefined && (existingMode & 0o222) === 0) {
    throw new Deno.errors.PermissionDenied(`Cannot write "${path}": the file is read-only`);
  }
  const directory = dirname(target);
  const temp = join(
    directory,
    hiddenName(basename(target), `.${crypto.randomUUID().slice(0, 8)}.tmp`),
  );
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  let file: Deno.FsFile | undefined;
  try {
    file = await Deno.open(temp, {
      write: true,
      createNew: true,
      mode: existingMode ?? options.mode ?? 0o666,
    });
    await writeAll(file, bytes);
    await file.sync();
    file.close();
    file = undefined;
    // The umask applied at creation may have cleared bits the old file had.
    if (existingMode !== undefined) await Deno.chmod(temp, existingMode);
    options.signal?.throwIfAborted();
    await Deno.rename(temp, target);
  } catch (error) {
    file?.close();
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
  await syncDirectory(directory);
}

async function resolveSymlink(path: string): Promise<string> {
  try {
    if ((await Deno.lstat(path)).isSymlink) return await Deno.realPath(path);
  } catch {
    // Missing or dangling: write to the path itself.
  }
  return path;
}

/** The permission bits of `path`, or undefined when it does not exist or modes do not apply. */
async function modeOf(path: string): Promise<number | undefined> {
  try {
    const mode = (await Deno.stat(path)).mode;
    return mode === null ? undefined : mode & 0o7777;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

async function syncDirectory(directory: string): Promise<void> {
  if (Deno.build.os === "windows") return;
  try {
    using handle = await Deno.open(directory, { read: true });
    await handle.sync();
  } catch {
    // Best effort: some file systems refuse to fsync a directory; the data is already safe.
  }
}

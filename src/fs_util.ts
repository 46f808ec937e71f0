/**
 * Small file-system helpers for paths that may legitimately be gone (another job removed
 * them, or they were never made).
 *
 * @module
 */

import { probeName } from "./libc.ts";

/**
 * `Deno.statSync`, or undefined when the path cannot be stat'ed. With `likelyMissing` (a
 * path usually absent: a distdir candidate, a dry run's cache entry), a missing name is told
 * by `probeName`, without the error a failed stat builds; for a path usually there, that
 * probe would be one more call for nothing.
 */
export function statOrUndefined(
  path: string,
  options: { readonly likelyMissing?: boolean } = {},
): Deno.FileInfo | undefined {
  if (options.likelyMissing && probeName(path) === false) return undefined;
  try {
    return Deno.statSync(path);
  } catch {
    return undefined;
  }
}

/** True only when nothing (not even a dangling symlink) has this name; other errors: false. */
export function isAbsent(path: string): boolean {
  const exists = probeName(path);
  if (exists !== undefined) return !exists;
  try {
    Deno.lstatSync(path);
    return false;
  } catch (error) {
    return error instanceof Deno.errors.NotFound;
  }
}

/** Removes a file; one that is already gone counts as removed. */
export async function removeIfPresent(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/** The entries of a folder, none when the folder does not exist. */
export async function* readDirIfPresent(path: string): AsyncIterable<Deno.DirEntry> {
  try {
    yield* Deno.readDir(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

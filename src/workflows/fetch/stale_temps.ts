/**
 * Cleaning up after a fetch that was killed: its temporary files and unpack folders in the
 * working directory.
 *
 * @module
 */

import { basename, join } from "../../paths.ts";
import { describeFsError } from "../../fs_error.ts";
import { removeIfPresent } from "../../fs_util.ts";
import { tryLock } from "../../lock.ts";
import { isTempName, isUnpackTempName } from "../../temp_names.ts";
import type { FetchLog } from "./types.ts";

/**
 * Removes temporary files and unpack folders a killed run left in the working directory. A
 * live run holds a lock on each of them, so only dead ones can be locked here.
 */
export async function removeStaleTempFiles(cwd: string, log: FetchLog): Promise<void> {
  let entries: Deno.DirEntry[];
  try {
    // Synchronous: a working directory is listed once, before any transfer starts.
    entries = [...Deno.readDirSync(cwd)];
  } catch {
    return;
  }
  for (const entry of entries) {
    if (entry.isDirectory && isUnpackTempName(entry.name)) {
      await removeAbandonedUnpack(join(cwd, entry.name), log);
      continue;
    }
    if (!entry.isFile || !isTempName(entry.name)) continue;
    const path = join(cwd, entry.name);
    const lock = await tryLock(path, { exclusive: true }).catch(() => undefined);
    if (lock === undefined) continue;
    try {
      await removeIfPresent(path);
      log.debug(`Removed ${entry.name}, left behind by an interrupted run`);
    } finally {
      lock.release();
    }
  }
}

/** Removes an unpack folder whose unpacker is gone (its lock is free), or leaves it. */
async function removeAbandonedUnpack(path: string, log: FetchLog): Promise<void> {
  const lock = await tryLock(path, { exclusive: true, create: false }).catch(() => undefined);
  if (lock === undefined) return;
  try {
    await Deno.remove(path, { recursive: true });
    log.debug(`Removed ${basename(path)}, left behind by an interrupted unpack`);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      log.warn(`Cannot remove "${path}", left by an interrupted unpack: ${describeFsError(error)}`);
    }
  } finally {
    lock.release();
  }
}

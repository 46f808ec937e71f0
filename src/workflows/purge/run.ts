/**
 * One `purge` run (`tooltool purge -c CACHE [-s GB] [--max-size GB] [--max-age DAYS]`):
 * deletes cache entries, least recently used first (the plan is `plan.ts`'s). Only
 * digest-named regular files are entries; anything else in the folder is left alone (listed
 * with `-v`). Returns normally when the purge did what it was asked (tooltool.py exits 1
 * even then), or when the folder holds no cache (nothing is created in it); a folder that
 * does not exist fails, as in tooltool.py.
 *
 * @module
 */

import { statfsSync } from "node:fs";
import { join, resolve } from "../../paths.ts";
import { Cache, type ForeignItem, STATE_DIR } from "../../cache/cache.ts";
import type { Context } from "../../context.ts";
import { ToolError } from "../../errors.ts";
import { describeFsError } from "../../fs_error.ts";
import { formatBytes } from "../../format.ts";
import { statOrUndefined } from "../../fs_util.ts";
import { isFullPurge, purgeCache, type PurgeResult } from "./plan.ts";

/** What the command line asks of a purge. */
export interface PurgeRequest {
  /** `-c`, as given. */
  readonly cacheFolder: string | undefined;
  /** `-s`: GB that must be free afterwards. */
  readonly sizeGb: number;
  readonly maxSizeGb: number | undefined;
  readonly maxAgeDays: number | undefined;
}

/**
 * Purges the cache folder and tells what it did: lines as it goes, then the summary and
 * the `--json` report.
 */
export async function runPurge(options: PurgeRequest, ctx: Context): Promise<void> {
  const folder = options.cacheFolder;
  if (folder === undefined || folder === "") {
    throw new ToolError("Cannot purge: no cache folder given", {
      hint: "name the cache with -c/--cache-folder",
    });
  }
  const root = resolve(ctx.cwd, folder);
  using cache = await openFolder(root, folder);
  // A folder with neither entries nor our state folder is no cache (a mistyped -c, say):
  // say so and leave it exactly as it is, without even a lock file.
  if (!statOrUndefined(join(root, STATE_DIR))?.isDirectory) {
    const { entries, foreign } = await cache.list();
    if (entries.length === 0) {
      for (const item of foreign) ctx.output.debug(`Left ${item.name}: ${whyForeign(item)}`);
      ctx.output.info(`Nothing to purge in "${folder}": it holds no cache entries`);
      if (ctx.output.json) ctx.output.report(emptyReport(folder, foreign));
      return;
    }
  }
  const policy = {
    freeGb: options.sizeGb,
    maxSizeGb: options.maxSizeGb,
    maxAgeDays: options.maxAgeDays,
  };
  const result = await purgeCache(cache, {
    policy,
    freeSpace,
    onRemove: (item) =>
      ctx.output.debug(`Removed ${item.name} (${formatBytes(item.size)}, ${item.reason})`),
  });
  for (const item of result.inUse) {
    ctx.output.info(`Kept ${item.name}: another process is using it`);
  }
  for (const item of result.ignored) ctx.output.debug(`Left ${item.name}: ${whyForeign(item)}`);
  if (result.spaceAlreadyFree) {
    ctx.output.info(`No need to clean up: ${formatBytes(result.freeBytes ?? 0)} free`);
  }
  const required = options.sizeGb * 1024 ** 3;
  if (required > 0 && result.freeBytes !== undefined && result.freeBytes < required) {
    ctx.output.warn(
      `Only ${
        formatBytes(result.freeBytes)
      } free after purging, short of the ${options.sizeGb} GB asked for`,
    );
  }
  ctx.output.info(describe(result, folder, isFullPurge(policy)));
  if (ctx.output.json) ctx.output.report(toReport(result, folder));
}

/**
 * The cache folder, opened to delete from: nothing is created in it (a tooltool.py cache
 * gets no `.tooltool/`). A folder that does not exist fails, as it does in tooltool.py.
 */
async function openFolder(root: string, folder: string): Promise<Cache> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(root);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new ToolError(`Cannot purge "${folder}": the folder does not exist`, {
        hint: "check the path given to -c/--cache-folder",
      });
    }
    throw new ToolError(`Cannot purge "${folder}": ${describeFsError(error)}`);
  }
  if (!info.isDirectory) throw new ToolError(`Cannot purge "${folder}": not a directory`);
  const cache = await Cache.peek(root);
  if (cache === undefined) throw new ToolError(`Cannot purge "${folder}": it was just removed`);
  return cache;
}

function freeSpace(path: string): number | undefined {
  try {
    const stats = statfsSync(path);
    return Number(stats.bavail) * Number(stats.bsize);
  } catch {
    return undefined;
  }
}

function whyForeign(item: ForeignItem): string {
  switch (item.reason) {
    case "name":
      return "not a cache entry";
    case "directory":
      return "not a cache entry (a directory)";
    case "symlink":
      return "not a cache entry (a symbolic link)";
    case "other":
      return "not a cache entry (not a regular file)";
  }
}

function describe(result: PurgeResult, folder: string, full: boolean): string {
  const what = full ? "Purged everything" : "Purged";
  const free = result.freeBytes === undefined ? "" : `; ${formatBytes(result.freeBytes)} free`;
  const linked = result.removedBytes > result.freedBytes
    ? ` (${formatBytes(result.freedBytes)} freed; the rest is still linked from working trees)`
    : "";
  return `${what} in "${folder}": removed ${result.removed.length} entr${
    result.removed.length === 1 ? "y" : "ies"
  }, ${formatBytes(result.removedBytes)}${linked}; ${result.entriesLeft} left, ${
    formatBytes(result.bytesLeft)
  }${free}`;
}

function toReport(result: PurgeResult, folder: string) {
  const items = (list: PurgeResult["removed"]) =>
    list.map((item) => ({
      name: item.name,
      size: item.size,
      lastUsed: new Date(item.lastUsedMs).toISOString(),
      reason: item.reason,
    }));
  return {
    cacheFolder: folder,
    removed: items(result.removed),
    inUse: items(result.inUse),
    ignored: result.ignored.map((item) => item.name),
    removedBytes: result.removedBytes,
    freedBytes: result.freedBytes,
    freeBytes: result.freeBytes ?? null,
    entriesLeft: result.entriesLeft,
    bytesLeft: result.bytesLeft,
  };
}

function emptyReport(folder: string, foreign: readonly ForeignItem[]) {
  return {
    cacheFolder: folder,
    removed: [],
    inUse: [],
    ignored: foreign.map((item) => item.name),
    removedBytes: 0,
    freedBytes: 0,
    freeBytes: null,
    entriesLeft: 0,
    bytesLeft: 0,
  };
}

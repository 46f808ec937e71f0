/**
 * `tooltool purge -c CACHE [-s GB] [--max-size GB] [--max-age DAYS]`: deletes cache entries,
 * least recently used first (see `src/purge.ts`). Only digest-named regular files are
 * entries; anything else in the folder is left alone (listed with `-v`). Exits 0 when the purge did what it was
 * asked (tooltool.py exits 1 even then).
 *
 * @module
 */

import { statfsSync } from "node:fs";
import { resolve } from "node:path";
import type { CommandFunction } from "./options.ts";
import { Cache, type ForeignItem } from "../src/cache/cache.ts";
import { ToolError } from "../src/errors.ts";
import { describeFsError } from "../src/fs_error.ts";
import { formatBytes } from "../src/format.ts";
import { isFullPurge, purgeCache, type PurgeResult } from "../src/purge.ts";

/** Purges the cache folder; see the module documentation. */
export const purgeCommand: CommandFunction = async (_args, options, ctx) => {
  if (options.cacheFolder === undefined || options.cacheFolder === "") {
    throw new ToolError("Cannot purge: no cache folder given", {
      hint: "name the cache with -c/--cache-folder",
    });
  }
  const root = resolve(ctx.cwd, options.cacheFolder);
  try {
    if (!(await Deno.stat(root)).isDirectory) {
      throw new ToolError(`Cannot purge "${options.cacheFolder}": not a directory`);
    }
  } catch (error) {
    if (error instanceof ToolError) throw error;
    if (!(error instanceof Deno.errors.NotFound)) {
      throw new ToolError(`Cannot purge "${options.cacheFolder}": ${describeFsError(error)}`);
    }
    ctx.output.info(`Nothing to purge: "${options.cacheFolder}" does not exist`);
    if (ctx.output.json) ctx.output.report(emptyReport(options.cacheFolder));
    return;
  }
  const cache = await Cache.open(root);
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
  ctx.output.info(describe(result, options.cacheFolder, isFullPurge(policy)));
  if (ctx.output.json) ctx.output.report(toReport(result, options.cacheFolder));
};

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

function emptyReport(folder: string) {
  return {
    cacheFolder: folder,
    removed: [],
    inUse: [],
    ignored: [],
    removedBytes: 0,
    freedBytes: 0,
    freeBytes: null,
    entriesLeft: 0,
    bytesLeft: 0,
  };
}

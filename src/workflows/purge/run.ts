/**
 * One `purge` run (`tooltool purge -c CACHE [-s GB] [--max-size GB] [--max-age DAYS]`):
 * deletes cache entries, least recently used first (the plan is `plan.ts`'s). Only
 * digest-named regular files are entries; anything else in the folder is left alone (listed
 * with `-v`). Returns normally when the purge did what it was asked (tooltool.py exits 1
 * even then).
 *
 * @module
 */

import { statfsSync } from "node:fs";
import { resolve } from "node:path";
import { Cache, type ForeignItem } from "../../cache/cache.ts";
import type { Context } from "../../context.ts";
import { ToolError } from "../../errors.ts";
import { describeFsError } from "../../fs_error.ts";
import { formatBytes } from "../../format.ts";
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
  try {
    if (!(await Deno.stat(root)).isDirectory) {
      throw new ToolError(`Cannot purge "${folder}": not a directory`);
    }
  } catch (error) {
    if (error instanceof ToolError) throw error;
    if (!(error instanceof Deno.errors.NotFound)) {
      throw new ToolError(`Cannot purge "${folder}": ${describeFsError(error)}`);
    }
    ctx.output.info(`Nothing to purge: "${folder}" does not exist`);
    if (ctx.output.json) ctx.output.report(emptyReport(folder));
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
  ctx.output.info(describe(result, folder, isFullPurge(policy)));
  if (ctx.output.json) ctx.output.report(toReport(result, folder));
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

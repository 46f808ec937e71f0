/**
 * `purge`: shrinking the cache folder, least recently used entries first.
 *
 * tooltool.py's rules, kept: `-s GB` deletes entries until GB are free on the cache's file
 * system (re-measured after each deletion), and no `-s` (or `-s 0`) deletes everything.
 * Added: `--max-size GB` (delete until the entries total at most GB) and `--max-age DAYS`
 * (delete entries unused for longer); with either of them, `-s 0` no longer means "all".
 *
 * Unlike tooltool.py, which deletes every top-level file, only entries are ever deleted:
 * regular files named by a sha512 digest (`Cache.list`), and the cache's own `.tooltool/`
 * state. Whatever else a user keeps in the folder they named (a manifest, after
 * `purge -c .`) is reported and left, so even `purge -c /` can remove nothing but
 * digest-named files.
 *
 * Safe while other jobs run: each entry is deleted under its exclusive lock, taken without
 * waiting, so an entry being checked or placed (or just admitted) is skipped and reported,
 * never pulled from under a reader; partial downloads are only removed when their writer is
 * gone. Working-tree files hard-linked to an entry keep their
 * content; their disk space is only freed once the last link goes, which is why the report
 * tells removed bytes from freed bytes.
 *
 * @module
 */

import type { Cache, CacheEntryInfo, ForeignItem } from "../../cache/cache.ts";
import { TreeStore } from "../../cache/trees.ts";

const GIB = 1024 ** 3;
const DAY_MS = 24 * 60 * 60 * 1000;

/** What to purge. */
export interface PurgePolicy {
  /** `-s`: GB that must be free afterwards; 0 = no such requirement. */
  readonly freeGb: number;
  /** `--max-size`: GB the entries may total afterwards. */
  readonly maxSizeGb?: number | undefined;
  /** `--max-age`: days an entry may go unused. */
  readonly maxAgeDays?: number | undefined;
}

/** Why an entry is deleted. */
export type PurgeReason = "all" | "age" | "size" | "space";

/** One entry the purge considered deleting. */
export interface PurgeItem {
  readonly name: string;
  readonly size: number;
  readonly lastUsedMs: number;
  readonly reason: PurgeReason;
}

/** What a purge did. */
export interface PurgeResult {
  readonly removed: readonly PurgeItem[];
  /** Entries that were due but in use by another process, so kept. */
  readonly inUse: readonly PurgeItem[];
  /** Top-level names that are not cache entries, left alone whatever the policy. */
  readonly ignored: readonly ForeignItem[];
  /** Bytes of the removed entries. */
  readonly removedBytes: number;
  /** Bytes returned to the file system (entries with no other link), plus stale temp files. */
  readonly freedBytes: number;
  /** Free bytes on the cache's file system afterwards, when known. */
  readonly freeBytes: number | undefined;
  readonly entriesLeft: number;
  readonly bytesLeft: number;
  /** `-s` was already satisfied before anything was deleted. */
  readonly spaceAlreadyFree: boolean;
}

/** Whether the policy is tooltool.py's full purge (no `-s`, `--max-size` or `--max-age`). */
export function isFullPurge(policy: PurgePolicy): boolean {
  return policy.freeGb === 0 && policy.maxSizeGb === undefined && policy.maxAgeDays === undefined;
}

/**
 * The entries `--max-age`, `--max-size` or a full purge delete, oldest use first, before
 * any free-space rule (which depends on the disk, measured as deletions go). Pure.
 */
export function planPurge(
  entries: readonly CacheEntryInfo[],
  policy: PurgePolicy,
  now: number,
): { due: PurgeItem[]; rest: CacheEntryInfo[] } {
  const byAge = [...entries].sort((a, b) =>
    a.lastUsedMs - b.lastUsedMs || a.name.localeCompare(b.name)
  );
  if (isFullPurge(policy)) {
    return { due: byAge.map((entry) => item(entry, "all")), rest: [] };
  }
  const due: PurgeItem[] = [];
  let rest = byAge;
  if (policy.maxAgeDays !== undefined) {
    const cutoff = now - policy.maxAgeDays * DAY_MS;
    due.push(...rest.filter((entry) => entry.lastUsedMs < cutoff).map((e) => item(e, "age")));
    rest = rest.filter((entry) => entry.lastUsedMs >= cutoff);
  }
  if (policy.maxSizeGb !== undefined) {
    const limit = policy.maxSizeGb * GIB;
    let total = rest.reduce((sum, entry) => sum + entry.size, 0);
    while (total > limit && rest.length > 0) {
      const [oldest, ...others] = rest;
      if (oldest === undefined) break;
      due.push(item(oldest, "size"));
      total -= oldest.size;
      rest = others;
    }
  }
  return { due, rest };
}

function item(entry: CacheEntryInfo, reason: PurgeReason): PurgeItem {
  return { name: entry.name, size: entry.size, lastUsedMs: entry.lastUsedMs, reason };
}

/** What `purgeCache` needs besides the cache. */
export interface PurgeOptions {
  readonly policy: PurgePolicy;
  readonly now?: (() => number) | undefined;
  /** Free bytes on the file system holding `path` (statvfs). */
  readonly freeSpace: (path: string) => number | undefined;
  /** Told about each deletion, for `-v`. */
  readonly onRemove?: ((item: PurgeItem) => void) | undefined;
}

/** Purges `cache` as the policy says; see the module documentation. */
export async function purgeCache(cache: Cache, options: PurgeOptions): Promise<PurgeResult> {
  const { policy } = options;
  const now = options.now?.() ?? Date.now();
  const swept = await cache.sweep();
  const trees = new TreeStore(cache.root);
  await trees.removeAbandonedBuilds();
  const listing = await cache.list();
  const { foreign } = listing;
  // A tree counts with its archive: the two are one item, evicted together.
  const entries = listing.entries.map((entry) => ({
    ...entry,
    size: entry.size + trees.sizeOf(entry.name),
  }));
  const { due, rest } = planPurge(entries, policy, now);
  const removed: PurgeItem[] = [];
  const inUse: PurgeItem[] = [];
  let freedBytes = swept.bytes + await removeOrphanTrees(trees, entries);
  const remove = async (candidate: PurgeItem): Promise<boolean> => {
    const freed = await removeEntry(cache, trees, candidate);
    if (freed === undefined) {
      inUse.push(candidate);
      return false;
    }
    removed.push(candidate);
    freedBytes += freed;
    options.onRemove?.(candidate);
    return true;
  };
  for (const candidate of due) await remove(candidate);

  const required = policy.freeGb * GIB;
  const initiallyFree = options.freeSpace(cache.root);
  const spaceAlreadyFree = required > 0 && initiallyFree !== undefined &&
    initiallyFree >= required && due.length === 0;
  if (required > 0 && !spaceAlreadyFree) {
    // tooltool.py's rule: oldest first, measuring the disk after each deletion.
    for (const entry of rest) {
      const free = options.freeSpace(cache.root);
      if (free !== undefined && free >= required) break;
      await remove(item(entry, "space"));
    }
  }
  if (removed.length > 0) await cache.compact();
  const removedNames = new Set(removed.map((entry) => entry.name));
  const left = entries.filter((entry) => !removedNames.has(entry.name));
  return {
    removed,
    inUse,
    ignored: foreign,
    removedBytes: removed.reduce((sum, entry) => sum + entry.size, 0),
    freedBytes,
    freeBytes: options.freeSpace(cache.root),
    entriesLeft: left.length,
    bytesLeft: left.reduce((sum, entry) => sum + entry.size, 0),
    spaceAlreadyFree,
  };
}

/** Removes trees whose archive is gone (another tool purged it) unless a fetch uses them. */
async function removeOrphanTrees(
  trees: TreeStore,
  entries: readonly CacheEntryInfo[],
): Promise<number> {
  const names = new Set(entries.map((entry) => entry.name));
  let freed = 0;
  for (const digest of await trees.digests()) {
    if (names.has(digest)) continue;
    const lock = await trees.tryLockTree(digest);
    if (lock !== "busy" && lock !== "none") freed += await trees.remove(digest, lock);
  }
  return freed;
}

/**
 * Deletes one cache entry under its exclusive lock, taken only if free at once (undefined
 * when another process is reading or placing it). Returns the bytes given back to the file
 * system (0 when other links keep the data).
 */
async function removeEntry(
  cache: Cache,
  trees: TreeStore,
  candidate: PurgeItem,
): Promise<number | undefined> {
  const lock = await cache.tryLockEntry(candidate.name, true);
  if (lock === "busy") return undefined;
  if (lock === undefined) return 0;
  try {
    // A fetch placing or building the tree holds its lock: keep both, whole.
    const treeLock = await trees.tryLockTree(candidate.name);
    if (treeLock === "busy") return undefined;
    const freedTree = treeLock === "none" ? 0 : await trees.remove(candidate.name, treeLock);
    return freedTree + await unlinkCounting(cache.entryPath(candidate.name));
  } finally {
    lock.release();
  }
}

async function unlinkCounting(path: string): Promise<number> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch {
    return 0;
  }
  // Replaced by something else since it was listed: not an entry any more, so not ours.
  if (!info.isFile) return 0;
  try {
    await Deno.remove(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return 0;
    throw error;
  }
  return info.nlink === null || info.nlink <= 1 ? info.size : 0;
}

/**
 * The tree cache: each `unpack` archive is extracted once per machine, into the cache, and a
 * warm fetch materialises that tree in the working directory instead of extracting again.
 *
 * Layout, under the cache's state folder (tooltool.py's purge only deletes top-level files):
 *
 * ```
 * .tooltool/trees/<digest>.lock        flock: shared while placing, exclusive to build/remove
 * .tooltool/trees/<digest>/tree/       the extracted tree; its files read-only
 * .tooltool/trees/<digest>/items.json  every entry: kind, mode, mtime, and stat stamp of files
 * .tooltool/trees/<digest>/meta.json   written last: format, totals, boot id
 * .tooltool/trees/.build-XXXX/         a build in progress (its builder locks the folder)
 * ```
 *
 * A tree is built in a locked `.build-` folder and renamed to its digest name once complete:
 * that rename is the commit point, so a build killed at any moment leaves only a `.build-`
 * folder, unlocked, which the next build or purge removes. A hard-linked working tree shares
 * inodes with the cached tree, so every file's stamp (device, inode, size, mtime, still
 * read-only, same boot) is checked before each placement; any difference means something
 * wrote through a link, and the tree is rebuilt from the archive, never placed.
 *
 * @module
 */

import { statfsSync } from "node:fs";
import { join } from "../paths.ts";
import { acquireLock, type FileLock, tryLock } from "../lock.ts";
import { readDirIfPresent, statOrUndefined } from "../fs_util.ts";
import { readBootId } from "./stamps.ts";
import { STATE_DIR } from "./cache.ts";
import {
  ArchiveError,
  extractArchiveInto,
  makeLockedTempDir,
  removeTree,
  unpackArchive,
  type UnpackOptions,
} from "../archive/unpack.ts";
import type { ExtractStats } from "../archive/extract.ts";

/** How a tree was put in the working directory. */
export type TreeMethod = "hardlink" | "reflink" | "copy";

/** How an unpack through the tree cache went: its totals, the method, and the tree's story. */
export interface TreeUnpackResult {
  readonly entries: number;
  readonly bytes: number;
  /** `extract` when the tree cache could not serve (the archive was extracted as usual). */
  readonly method: TreeMethod | "extract";
  /** `built` (first use), `rebuilt` (the cached tree had changed), `reused`, or `none`. */
  readonly tree: "built" | "rebuilt" | "reused" | "none";
  /** Why the tree was rebuilt or could not be used, for `-v`. */
  readonly note?: string | undefined;
}

/** How the store places trees. */
export interface TreeStoreOptions {
  /**
   * `auto` (default): reflinked copies where the file system clones (btrfs, XFS, bcachefs),
   * else hard links; `copy`: always copies, so working files never share an inode.
   */
  readonly mode?: "auto" | "copy" | undefined;
  /** The boot id stamps are tied to; read from the kernel when absent. */
  readonly boot?: string | undefined;
}

type Item =
  | { readonly k: "d"; readonly p: string; readonly mode: number; readonly mtime: number }
  | { readonly k: "l"; readonly p: string; readonly target: string }
  | {
    readonly k: "f";
    readonly p: string;
    readonly mode: number;
    readonly mtime: number;
    readonly size: number;
    readonly dev: number;
    readonly ino: number;
    /** Index of an earlier item that is the same file (a hard link inside the archive). */
    readonly same?: number;
  };

interface Meta {
  readonly version: 1;
  readonly boot: string;
  readonly entries: number;
  readonly bytes: number;
  /** Bytes of the files of the tree on disk (each inode once), for `purge`. */
  readonly treeBytes: number;
}

interface Loaded {
  readonly meta: Meta;
  readonly items: readonly Item[];
}

const TREES_DIR = "trees";
const BUILD_PREFIX = ".build-";
/** statfs magic numbers of file systems whose copy_file_range clones (reflinks) data. */
const CLONING_FILE_SYSTEMS = new Set([0x9123683e, 0x58465342, 0xca451a4e]);

/** The trees of one cache folder. */
export class TreeStore {
  /** `<cache>/.tooltool/trees`. */
  readonly dir: string;
  readonly #mode: "auto" | "copy";
  readonly #boot: string | undefined;

  constructor(cacheRoot: string, options: TreeStoreOptions = {}) {
    this.dir = join(cacheRoot, STATE_DIR, TREES_DIR);
    this.#mode = options.mode ?? "auto";
    this.#boot = options.boot;
  }

  /** Where the tree of `digest` lives once built. */
  treePath(digest: string): string {
    return join(this.dir, digest);
  }

  #lockPath(digest: string): string {
    return join(this.dir, `${digest}.lock`);
  }

  /**
   * Unpacks `archivePath` (verified to hold `digest`) into `workDir` exactly as
   * `unpackArchive` would, but from the cached tree, building it first when it is missing
   * or changed. When the cache cannot hold the tree (full, read-only) the archive is
   * extracted as usual; a bad archive fails as it would without the tree cache.
   */
  async unpack(
    digest: string,
    archivePath: string,
    workDir: string,
    options: UnpackOptions & { onWait?: () => void } = {},
  ): Promise<TreeUnpackResult> {
    let outcome: Omit<TreeUnpackResult, "entries" | "bytes"> = { method: "extract", tree: "none" };
    const fill = async (temporary: string): Promise<ExtractStats> => {
      try {
        const placed = await this.#placeInto(digest, archivePath, temporary, options);
        outcome = placed;
        return placed;
      } catch (error) {
        if (error instanceof ArchiveError || options.signal?.aborted) throw error;
        // The tree cache is an optimisation: a cache that cannot take the tree must not fail
        // an unpack that can succeed without it.
        removeContents(temporary);
        outcome = { method: "extract", tree: "none", note: String(error) };
        return await extractArchiveInto(archivePath, temporary, options);
      }
    };
    const result = await unpackArchive(archivePath, workDir, { ...options, fill });
    return { entries: result.entries, bytes: result.bytes, ...outcome };
  }

  async #placeInto(
    digest: string,
    archivePath: string,
    temporary: string,
    options: UnpackOptions & { onWait?: () => void },
  ): Promise<TreeUnpackResult> {
    const boot = this.#boot ?? await readBootId();
    let story: "built" | "rebuilt" | "reused" = "reused";
    let note: string | undefined;
    for (let round = 0;; round++) {
      {
        using _shared = await acquireLock(this.#lockPath(digest), {
          exclusive: false,
          signal: options.signal,
          onWait: options.onWait,
        });
        const state = this.#check(digest, boot);
        if (state.kind === "ok") {
          const method = materialise(
            state.loaded.items,
            join(this.treePath(digest), "tree"),
            temporary,
            this.#preferredMethod(),
          );
          const { entries, bytes } = state.loaded.meta;
          return { entries, bytes, method, tree: story, note };
        }
        if (round >= 3) throw new Error("the cached tree keeps changing");
      }
      using _exclusive = await acquireLock(this.#lockPath(digest), {
        exclusive: true,
        signal: options.signal,
        onWait: options.onWait,
      });
      // Another job may have built (or rebuilt) it while this one waited.
      const again = this.#check(digest, boot);
      if (again.kind === "ok") continue;
      story = again.kind === "missing" ? "built" : "rebuilt";
      note = again.kind === "changed" ? again.reason : undefined;
      await this.#build(digest, archivePath, boot, options.signal);
    }
  }

  /**
   * Whether the tree of `digest` is built and unchanged, so that an unpack would place it
   * rather than extract the archive. Reads only: no lock is taken and nothing is created,
   * for `fetch --dry-run` (a fetch checks again, under the lock, before it places).
   */
  async isReady(digest: string): Promise<boolean> {
    const boot = this.#boot ?? await readBootId();
    return this.#check(digest, boot).kind === "ok";
  }

  #preferredMethod(): TreeMethod {
    if (clones(this.dir)) return "reflink";
    return this.#mode === "copy" ? "copy" : "hardlink";
  }

  /** Whether the tree of `digest` is complete and unchanged since it was built. */
  #check(
    digest: string,
    boot: string,
  ): { kind: "ok"; loaded: Loaded } | { kind: "missing" } | { kind: "changed"; reason: string } {
    const loaded = readTree(this.treePath(digest));
    if (loaded === undefined) return { kind: "missing" };
    if (loaded.meta.boot !== boot) {
      return { kind: "changed", reason: "the machine restarted since it was built" };
    }
    const root = join(this.treePath(digest), "tree");
    for (const item of loaded.items) {
      const problem = itemProblem(root, item);
      if (problem !== undefined) return { kind: "changed", reason: `"${item.p}" ${problem}` };
    }
    return { kind: "ok", loaded };
  }

  /** Builds the tree of `digest` from the archive (call holding the exclusive lock). */
  async #build(
    digest: string,
    archivePath: string,
    boot: string,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    Deno.mkdirSync(this.dir, { recursive: true });
    await this.removeAbandonedBuilds();
    const { path: temporary, lock } = await makeLockedTempDir(this.dir, BUILD_PREFIX);
    try {
      const root = join(temporary, "tree");
      Deno.mkdirSync(root);
      const result = await extractArchiveInto(archivePath, root, signal ? { signal } : {});
      const { items, treeBytes } = sealTree(root);
      Deno.writeTextFileSync(join(temporary, "items.json"), JSON.stringify(items));
      const meta: Meta = {
        version: 1,
        boot,
        entries: result.entries,
        bytes: result.bytes,
        treeBytes,
      };
      Deno.writeTextFileSync(join(temporary, "meta.json"), JSON.stringify(meta));
      removeTree(this.treePath(digest));
      Deno.renameSync(temporary, this.treePath(digest));
    } finally {
      try {
        removeTree(temporary);
      } catch {
        // Best effort: an unlocked leftover is removed by the next build or purge.
      }
      lock.release();
    }
  }

  /** Removes `.build-` folders whose builder is gone (their lock is free). */
  async removeAbandonedBuilds(): Promise<number> {
    let removed = 0;
    for await (const item of readDirIfPresent(this.dir)) {
      if (!item.isDirectory || !item.name.startsWith(BUILD_PREFIX)) continue;
      const path = join(this.dir, item.name);
      const lock = await tryLock(path, { exclusive: true, create: false }).catch(() => undefined);
      if (lock === undefined) continue;
      try {
        removeTree(path);
        removed++;
      } finally {
        lock.release();
      }
    }
    return removed;
  }

  /** Bytes the tree of `digest` takes on disk (0 when there is none). */
  sizeOf(digest: string): number {
    try {
      const meta = JSON.parse(Deno.readTextFileSync(join(this.treePath(digest), "meta.json")));
      return typeof meta.treeBytes === "number" ? meta.treeBytes : 0;
    } catch {
      return 0;
    }
  }

  /**
   * Takes the exclusive lock of the tree of `digest` if it is free at once (`"busy"` when a
   * fetch is placing or building it). Hold it while removing the tree with {@link remove}.
   * `"none"` when the cache has no trees folder at all: no tree to lock or remove, and no
   * folder or lock file is made (a purge creates nothing in a cache without trees).
   */
  async tryLockTree(digest: string): Promise<FileLock | "busy" | "none"> {
    if (!statOrUndefined(this.dir)?.isDirectory) return "none";
    return await tryLock(this.#lockPath(digest), { exclusive: true }) ?? "busy";
  }

  /**
   * Removes the tree of `digest`, whole (call holding {@link tryLockTree}'s lock, which is
   * then released and its file removed). Returns the bytes given back to the file system:
   * files still hard-linked from a working tree keep theirs.
   */
  async remove(digest: string, lock: FileLock): Promise<number> {
    const path = this.treePath(digest);
    let freed = 0;
    try {
      freed = unlinkedBytes(join(path, "tree"));
      // The marker goes first: a tree whose removal is interrupted is never taken as whole.
      Deno.removeSync(join(path, "meta.json"));
    } catch {
      // No tree, or no marker: the rest goes all the same.
    }
    removeTree(path);
    await lock.removeFile();
    return freed;
  }

  /** Digests with a tree (built or not), for `purge` to find trees whose archive is gone. */
  async digests(): Promise<string[]> {
    const found: string[] = [];
    for await (const item of readDirIfPresent(this.dir)) {
      if (item.isDirectory && /^[0-9a-f]{128}$/.test(item.name)) found.push(item.name);
    }
    return found;
  }
}

function readTree(path: string): Loaded | undefined {
  let meta: Meta;
  try {
    meta = JSON.parse(Deno.readTextFileSync(join(path, "meta.json")));
  } catch {
    return undefined;
  }
  if (meta?.version !== 1) return undefined;
  try {
    return { meta, items: JSON.parse(Deno.readTextFileSync(join(path, "items.json"))) };
  } catch {
    return undefined;
  }
}

/** What is wrong with an item of a cached tree, or `undefined` when it is as built. */
function itemProblem(root: string, item: Item): string | undefined {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(join(root, item.p));
  } catch {
    return "is missing";
  }
  switch (item.k) {
    case "d":
      return info.isDirectory ? undefined : "is no longer a directory";
    case "l":
      if (!info.isSymlink) return "is no longer a symbolic link";
      return Deno.readLinkSync(join(root, item.p)) === item.target ? undefined : "was relinked";
    case "f":
      if (!info.isFile || info.ino !== item.ino || info.dev !== item.dev) return "was replaced";
      if (info.size !== item.size || info.mtime?.getTime() !== item.mtime) return "was modified";
      if (info.mode === null || (info.mode & 0o222) !== 0) return "was made writable";
      return undefined;
  }
}

/**
 * Makes every file of a freshly extracted tree read-only and describes the tree, parents
 * before children, files with their stamps. The modes recorded are the extracted ones, the
 * working tree's when a tree is copied.
 */
function sealTree(root: string): { items: Item[]; treeBytes: number } {
  const items: Item[] = [];
  const seen = new Map<string, number>();
  let treeBytes = 0;
  const walk = (relative: string) => {
    const names = [...Deno.readDirSync(join(root, relative))].map((entry) => entry.name).sort();
    for (const name of names) {
      const p = relative === "" ? name : `${relative}/${name}`;
      const path = join(root, p);
      const info = Deno.lstatSync(path);
      const mode = (info.mode ?? 0) & 0o7777;
      const mtime = info.mtime?.getTime() ?? 0;
      if (info.isSymlink) {
        items.push({ k: "l", p, target: Deno.readLinkSync(path) });
      } else if (info.isDirectory) {
        items.push({ k: "d", p, mode, mtime });
        walk(p);
      } else {
        const key = `${info.dev}:${info.ino}`;
        const same = seen.get(key);
        if (same === undefined) {
          seen.set(key, items.length);
          treeBytes += info.size;
          if ((mode & 0o222) !== 0) Deno.chmodSync(path, mode & ~0o222);
        }
        items.push({
          k: "f",
          p,
          mode,
          mtime,
          size: info.size,
          dev: info.dev ?? 0,
          ino: info.ino ?? 0,
          ...(same === undefined ? {} : { same }),
        });
      }
    }
  };
  walk("");
  // A file linked twice in the archive was seen writable the first time only.
  for (const item of items) {
    if (item.k === "f" && item.same !== undefined) {
      const first = items[item.same];
      if (first?.k === "f") (item as { mode: number }).mode = first.mode;
    }
  }
  return { items, treeBytes };
}

/**
 * Recreates the tree described by `items` (under `from`) in the empty directory `to`, by
 * `preferred` method, falling back to copies where hard links are impossible (another file
 * system). Directory modes and times are applied last, deepest first, as the extractor does.
 */
function materialise(
  items: readonly Item[],
  from: string,
  to: string,
  preferred: TreeMethod,
): TreeMethod {
  let method = preferred;
  for (const item of items) {
    const target = join(to, item.p);
    if (item.k === "d") {
      Deno.mkdirSync(target);
    } else if (item.k === "l") {
      Deno.symlinkSync(item.target, target);
    } else if (method === "hardlink" && linked(join(from, item.p), target)) {
      continue;
    } else {
      if (method === "hardlink") method = "copy";
      const first = item.same === undefined ? undefined : items[item.same];
      if (first !== undefined) {
        Deno.linkSync(join(to, first.p), target);
        continue;
      }
      Deno.copyFileSync(join(from, item.p), target);
      Deno.chmodSync(target, item.mode);
      Deno.utimeSync(target, new Date(item.mtime), new Date(item.mtime));
    }
  }
  for (let index = items.length - 1; index >= 0; index--) {
    const item = items[index];
    if (item?.k !== "d") continue;
    const target = join(to, item.p);
    Deno.chmodSync(target, item.mode);
    Deno.utimeSync(target, new Date(item.mtime), new Date(item.mtime));
  }
  return method;
}

/** Hard-links `source` at `target`; false when links are impossible here (copy instead). */
function linked(source: string, target: string): boolean {
  try {
    Deno.linkSync(source, target);
    return true;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (
      code === "EXDEV" || code === "EPERM" || code === "EMLINK" || code === "ENOTSUP" ||
      error instanceof Deno.errors.NotSupported || error instanceof Deno.errors.PermissionDenied
    ) return false;
    throw error;
  }
}

/** Whether copies on the file system holding `path` are clones (copy_file_range reflinks). */
function clones(path: string): boolean {
  try {
    return CLONING_FILE_SYSTEMS.has(Number(statfsSync(path).type));
  } catch {
    return false;
  }
}

/** Bytes of the files under `path` with no other link, i.e. what removing them frees. */
function unlinkedBytes(path: string): number {
  let bytes = 0;
  for (const entry of Deno.readDirSync(path)) {
    const child = join(path, entry.name);
    if (entry.isDirectory) {
      bytes += unlinkedBytes(child);
    } else if (entry.isFile) {
      const info = Deno.lstatSync(child);
      if (info.nlink === null || info.nlink <= 1) bytes += info.size;
    }
  }
  return bytes;
}

function removeContents(directory: string): void {
  for (const entry of Deno.readDirSync(directory)) removeTree(join(directory, entry.name));
}

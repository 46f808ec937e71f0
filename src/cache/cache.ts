/**
 * The content-addressed cache folder, shared by every job on a machine.
 *
 * Layout (see docs/cache.md): entries are flat files `<cache>/<sha512>`, exactly as
 * tooltool.py keeps them, so either tool uses a cache the other filled. Everything else
 * lives under `<cache>/.tooltool/`, a folder tooltool.py's `purge` leaves alone (it only
 * deletes files at the top level):
 *
 * - `tmp/<digest>.part`: the download in progress. Its writer holds an exclusive lock on it,
 *   so a job killed with SIGKILL leaves a partial file that the next writer resumes.
 * - `journal`: an append-only log of stat stamps (files known to hold a digest) and uses
 *   (for the least-recently-used order of `purge`), one JSON object per line.
 *
 * Locks (`flock`, see `lock.ts`) are taken on the files themselves, so there are no lock
 * files to create or clean up: readers hold a shared lock on the entry while they check and
 * place it; a writer holds an exclusive lock on the part file, and keeps it through the
 * rename that turns the part file into the entry; eviction and purge take the entry's
 * exclusive lock. Entries are verified before they are admitted (the download hashed every
 * byte), made read-only, and renamed into place, so no partial or unverified file is ever
 * visible under a digest name.
 *
 * A cache hit is not re-hashed when a stat stamp vouches for the entry (see
 * `stampVouches`); it is placed in the working tree by a hard link when the cache is on the
 * same file system, else copied.
 *
 * @module
 */

import { join } from "../paths.ts";
import { hashFile } from "../digest.ts";
import { acquireLock, type FileLock, tryLock } from "../lock.ts";
import type { Sha512 } from "../sha512.ts";
import { isAbsent, readDirIfPresent, removeIfPresent, statOrUndefined } from "../fs_util.ts";
import { Journal } from "./journal.ts";
import { tempPathBeside } from "../temp_names.ts";
import { isRacy, readBootId, stampOf, stampVouches, type StatStamp } from "./stamps.ts";

/** The folder inside the cache that holds this tool's own state. */
export const STATE_DIR = ".tooltool";

/** What the cache holds for a digest. */
export type EntryState =
  | { readonly kind: "valid"; readonly checked: "stamp" | "hash" }
  | { readonly kind: "missing" }
  | { readonly kind: "invalid"; readonly reason: string };

/** How a cached file was put in the working tree. */
export type Placement = "link" | "copy";

/** How a cache behaves. */
export interface CacheOptions {
  /** Place files by hard link when the file system allows it (default); else always copy. */
  readonly links?: boolean | undefined;
  /** The clock, for stamps and use times. */
  readonly now?: (() => number) | undefined;
  /** The boot id stamps are tied to; read from the kernel when absent. */
  readonly boot?: string | undefined;
}

/** One entry of a cache folder (a regular file named by its sha512), as `purge` sees it. */
export interface CacheEntryInfo {
  readonly name: string;
  readonly path: string;
  readonly size: number;
  /** Last use: the newest of the file's mtime (tooltool.py touches it) and our use records. */
  readonly lastUsedMs: number;
}

/** A top-level name in a cache folder that is not the cache's, so never deleted. */
export interface ForeignItem {
  readonly name: string;
  /** Why it is not an entry: its name, or its type (a digest-named directory or symlink). */
  readonly reason: "name" | "directory" | "symlink" | "other";
}

/** What a cache folder holds at its top level. */
export interface CacheListing {
  readonly entries: CacheEntryInfo[];
  /** Everything else except the state folder: left alone by purge. */
  readonly foreign: ForeignItem[];
}

const DIGEST_NAME = /^[0-9a-f]{128}$/;

/** Options for waiting on a lock. */
export interface WaitOptions {
  readonly signal?: AbortSignal | undefined;
  /** Called once if the lock is not free at once. */
  readonly onWait?: (() => void) | undefined;
}

/**
 * A cache folder. Open it with `Cache.open`; dispose of it (`using`) when done, which closes
 * the journal it appends to.
 */
export class Cache implements Disposable {
  readonly root: string;
  readonly links: boolean;
  readonly #now: () => number;
  readonly #boot: string;
  readonly #journal: Journal;

  private constructor(root: string, links: boolean, now: () => number, boot: string) {
    this.root = root;
    this.links = links;
    this.#now = now;
    this.#boot = boot;
    this.#journal = new Journal(join(root, STATE_DIR));
  }

  /** Opens (creating when missing) the cache folder and its state folder. */
  static async open(root: string, options: CacheOptions = {}): Promise<Cache> {
    // tooltool.py creates the cache as 0700; the state folder follows the cache's own mode.
    // Synchronous, as are the other calls of opening: nothing else runs yet at start-up,
    // and an asynchronous call costs two thread hand-offs.
    Deno.mkdirSync(join(root, STATE_DIR, "tmp"), { recursive: true, mode: 0o700 });
    const cache = new Cache(
      root,
      options.links ?? true,
      options.now ?? Date.now,
      options.boot ?? await readBootId(),
    );
    await cache.#journal.compactIfLarge((digest) => cache.#hasEntry(digest));
    return cache;
  }

  /**
   * A cache opened without creating anything (nothing is created, compacted or locked by
   * opening it); `undefined` when the folder does not exist. A dry run uses only `entryPath`
   * and `vouches` on it; `purge` also deletes from it, which creates no state folder where
   * there is none (a tooltool.py cache).
   */
  static async peek(root: string, options: CacheOptions = {}): Promise<Cache | undefined> {
    if (!statOrUndefined(root)?.isDirectory) return undefined;
    return new Cache(
      root,
      options.links ?? true,
      options.now ?? Date.now,
      options.boot ?? await readBootId(),
    );
  }

  [Symbol.dispose](): void {
    this.#journal.close();
  }

  /** Where the entry for `digest` lives: `<cache>/<digest>`, as in tooltool.py. */
  entryPath(digest: string): string {
    return join(this.root, digest);
  }

  /** Where a download of `digest` is written before it is admitted. */
  partPath(digest: string): string {
    return join(this.root, STATE_DIR, "tmp", `${digest}.part`);
  }

  /**
   * Locks the entry of `digest` — shared to read or place it, exclusive to delete it —
   * waiting for other holders. `undefined` when there is no entry.
   */
  async lockEntry(
    digest: string,
    options: WaitOptions & { exclusive: boolean },
  ): Promise<FileLock | undefined> {
    // Asked first: a missing entry (every file of a cold fetch) would otherwise cost the
    // error the open throws.
    if (isAbsent(this.entryPath(digest))) return undefined;
    try {
      return await acquireLock(this.entryPath(digest), { ...options, create: false });
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
  }

  /** Locks the entry of `digest` if that can be done at once (`"busy"` otherwise). */
  async tryLockEntry(digest: string, exclusive: boolean): Promise<FileLock | "busy" | undefined> {
    if (isAbsent(this.entryPath(digest))) return undefined;
    try {
      return await tryLock(this.entryPath(digest), { exclusive, create: false }) ?? "busy";
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
  }

  /**
   * Takes the right to write `digest`: the exclusive lock on its part file (created when
   * missing), waiting for another writer to finish. Whatever the file holds is a download
   * a dead process left, safe to resume.
   */
  lockPart(digest: string, options: WaitOptions = {}): Promise<FileLock> {
    return acquireLock(this.partPath(digest), { ...options, exclusive: true });
  }

  /**
   * Checks the entry of `digest` (call with a lock on it): missing, valid (by a stamp, or
   * by hashing it when no stamp vouches or `rehash` is set), or invalid. An entry found
   * valid by hashing is made read-only and stamped, so the next check is a `stat`.
   */
  async checkEntry(
    digest: Sha512,
    size: number,
    options: { rehash?: boolean; signal?: AbortSignal | undefined } = {},
  ): Promise<EntryState> {
    const path = this.entryPath(digest);
    if (isAbsent(path)) return { kind: "missing" };
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return { kind: "missing" };
      throw error;
    }
    if (!info.isFile) return { kind: "invalid", reason: "not a regular file" };
    if (info.size !== size) {
      return { kind: "invalid", reason: `${info.size} bytes instead of ${size}` };
    }
    if (!options.rehash && await this.vouches(path, digest, info)) {
      return { kind: "valid", checked: "stamp" };
    }
    const hashed = await hashFile(path, { signal: options.signal, expectedSize: size, info });
    if (hashed.digest !== digest || hashed.size !== size) {
      return { kind: "invalid", reason: "its sha512 does not match" };
    }
    if (info.mode !== null && (info.mode & 0o222) !== 0) {
      try {
        Deno.chmodSync(path, info.mode & ~0o222 & 0o7777);
      } catch {
        // A read-only cache still serves its entries; it only cannot vouch for them by stamp.
        return { kind: "valid", checked: "hash" };
      }
    }
    this.#stampAfterHash(path, digest, info, "entry");
    return { kind: "valid", checked: "hash" };
  }

  /**
   * Deletes the entry of `digest`, waiting for readers to let go of it. The unlink is
   * atomic; a process that has the file open keeps its bytes.
   */
  async evict(digest: string, options: WaitOptions = {}): Promise<void> {
    const lock = await this.lockEntry(digest, { ...options, exclusive: true });
    if (lock === undefined) return;
    try {
      await removeIfPresent(this.entryPath(digest));
    } finally {
      lock.release();
    }
  }

  /**
   * Admits a verified download (call holding `lockPart`, whose lock then stays on the
   * entry until released): makes it read-only, renames it to its digest name, stamps it.
   */
  admit(verifiedPath: string, digest: Sha512): void {
    // Metadata calls are synchronous in this module: microseconds on a local disk, where an
    // asynchronous call costs two thread hand-offs (a third of the time of 200 small files).
    Deno.chmodSync(verifiedPath, 0o444);
    const path = this.entryPath(digest);
    Deno.renameSync(verifiedPath, path);
    const info = Deno.statSync(path);
    const stamp = stampOf(info, "entry", this.#boot, this.#now());
    if (stamp !== undefined) {
      this.#journal.append({ type: "stamp", digest, stamp }, {
        type: "use",
        digest,
        at: this.#now(),
      });
    }
  }

  /**
   * Puts the entry of `digest` at `destination` (call with a lock on it, entry checked):
   * a hard link when possible, else a copy through a temporary file beside it. Either way
   * the name appears at once with the whole content. An existing file is replaced.
   */
  async place(digest: Sha512, destination: string): Promise<Placement> {
    const entry = this.entryPath(digest);
    if (this.links) {
      try {
        Deno.linkSync(entry, destination);
        return "link";
      } catch (error) {
        if (error instanceof Deno.errors.AlreadyExists) {
          if (await this.#linkOver(entry, destination)) return "link";
        } else if (!cannotLink(error)) {
          throw error;
        }
      }
    }
    const temp = tempPathBeside(destination);
    // Held while the copy is written, so a later run can tell a live temp file from debris.
    using _writing = await tryLock(temp, { exclusive: true });
    try {
      await Deno.copyFile(entry, temp);
      // A copy is the working tree's own file: writable, unlike the entry it came from.
      await Deno.chmod(temp, 0o644);
      await Deno.rename(temp, destination);
    } catch (error) {
      await removeIfPresent(temp);
      throw error;
    }
    const info = Deno.statSync(destination);
    const stamp = stampOf(info, "file", this.#boot, this.#now());
    if (stamp !== undefined) this.#journal.append({ type: "stamp", digest, stamp });
    return "copy";
  }

  async #linkOver(entry: string, destination: string): Promise<boolean> {
    const temp = tempPathBeside(destination);
    try {
      Deno.linkSync(entry, temp);
    } catch (error) {
      if (cannotLink(error)) return false;
      throw error;
    }
    try {
      Deno.renameSync(temp, destination);
      return true;
    } catch (error) {
      await removeIfPresent(temp);
      throw error;
    }
  }

  /**
   * Whether a recorded stamp proves that the file at `path` (described by `info`) holds
   * `digest`: the entry itself, a hard link to it, or a copy this tool verified.
   */
  async vouches(path: string, digest: string, info?: Deno.FileInfo): Promise<boolean> {
    const current = info ?? statOrUndefined(path);
    if (current === undefined) return false;
    const matches = (stamps: readonly StatStamp[]) =>
      stamps.some((stamp) => stampVouches(stamp, current, this.#boot));
    if (matches(await this.#journal.stamps(digest))) return true;
    // Another process may have stamped it since the journal was read. The stamps are looked
    // at again even when this read found nothing new: a concurrent lookup's read may have
    // taken in the lines since this one got its stamps.
    await this.#journal.refresh();
    return matches(await this.#journal.stamps(digest));
  }

  /**
   * Records that the file at `path` was just hashed and holds `digest` (a file already in
   * the working tree). `before` is its metadata from before hashing: if it changed during
   * the hash, or so recently that a stamp could be fooled, nothing is recorded.
   */
  recordVerified(path: string, digest: Sha512, before: Deno.FileInfo): void {
    const kind = this.#isEntryInode(digest, before) ? "entry" : "file";
    this.#stampAfterHash(path, digest, before, kind);
  }

  #isEntryInode(digest: string, info: Deno.FileInfo): boolean {
    // A file linked from the cache has a second name and no write bit: anything else is
    // answered without a stat, whose failure (no entry yet, as for every file of a first
    // run) costs ~20 µs for the error Deno builds.
    if (info.mode === null || (info.mode & 0o222) !== 0 || (info.nlink ?? 2) < 2) return false;
    const entry = statOrUndefined(this.entryPath(digest));
    return entry !== undefined && entry.ino === info.ino && entry.dev === info.dev;
  }

  #stampAfterHash(
    path: string,
    digest: string,
    before: Deno.FileInfo,
    kind: StatStamp["kind"],
  ): void {
    const after = statOrUndefined(path);
    if (after === undefined || after.size !== before.size) return;
    if (after.ino !== before.ino || after.mtime?.getTime() !== before.mtime?.getTime()) return;
    const now = this.#now();
    if (isRacy(after, now)) return;
    const stamp = stampOf(after, kind, this.#boot, now);
    if (stamp !== undefined) this.#journal.append({ type: "stamp", digest, stamp });
  }

  /** Notes that `digest` was used now, for the least-recently-used order of `purge`. */
  markUsed(digest: string): void {
    this.#journal.append({ type: "use", digest, at: this.#now() });
  }

  /**
   * The cache's entries with their size and last use, and what else lies at its top level.
   * Only a regular file named by a sha512 digest is an entry: a cache folder may be any
   * folder a user names (`-c .`), and nothing else in it is ours to delete. Names are
   * `lstat`ed, so a symlink (even one named like a digest) is never followed out of the cache.
   */
  async list(): Promise<CacheListing> {
    const uses = await this.#journal.uses();
    const entries: CacheEntryInfo[] = [];
    const foreign: ForeignItem[] = [];
    for await (const item of Deno.readDir(this.root)) {
      if (item.name === STATE_DIR) continue;
      const path = join(this.root, item.name);
      const info = await Deno.lstat(path).catch(() => undefined);
      if (info === undefined) continue;
      if (!DIGEST_NAME.test(item.name)) {
        foreign.push({ name: item.name, reason: "name" });
      } else if (!info.isFile) {
        const reason = info.isDirectory ? "directory" : info.isSymlink ? "symlink" : "other";
        foreign.push({ name: item.name, reason });
      } else {
        const lastUsedMs = Math.max(info.mtime?.getTime() ?? 0, uses.get(item.name) ?? 0);
        entries.push({ name: item.name, path, size: info.size, lastUsedMs });
      }
    }
    foreign.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    return { entries, foreign };
  }

  /**
   * Removes partial downloads no live process is writing (their writer holds a lock) and
   * old debris under `.tooltool/`, then compacts the journal to the entries that remain.
   * Returns what it removed.
   */
  async sweep(): Promise<{ files: number; bytes: number }> {
    let files = 0;
    let bytes = 0;
    const tmp = join(this.root, STATE_DIR, "tmp");
    for await (const item of readDirIfPresent(tmp)) {
      const path = join(tmp, item.name);
      const info = await Deno.lstat(path).catch(() => undefined);
      if (info === undefined || !info.isFile) continue;
      if (item.name.endsWith(".part")) {
        const lock = await tryLock(path, { exclusive: true, create: false }).catch(() => undefined);
        if (lock === undefined) continue;
        try {
          await removeIfPresent(path);
        } finally {
          lock.release();
        }
      } else if (this.#now() - (info.mtime?.getTime() ?? 0) > 3_600_000) {
        await removeIfPresent(path);
      } else {
        continue;
      }
      files++;
      bytes += info.size;
    }
    await this.compact();
    return { files, bytes };
  }

  /** Rewrites the journal with only what concerns entries still in the cache. */
  async compact(): Promise<void> {
    // No state folder (a tooltool.py cache, opened with `peek`): no journal, nothing to make.
    if (!statOrUndefined(join(this.root, STATE_DIR))?.isDirectory) return;
    await this.#journal.compact((digest) => this.#hasEntry(digest));
  }

  #hasEntry(digest: string): Promise<boolean> {
    return Deno.stat(this.entryPath(digest)).then(() => true, () => false);
  }
}

/** Whether a hard link failed because links are impossible here (so copy instead). */
function cannotLink(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === "EXDEV" || code === "EPERM" || code === "EMLINK" || code === "ENOTSUP" ||
    code === "EOPNOTSUPP" || error instanceof Deno.errors.NotSupported ||
    error instanceof Deno.errors.PermissionDenied;
}

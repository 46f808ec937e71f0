/**
 * The content-addressed cache folder, shared by every job on a machine.
 *
 * Layout (see docs/cache.md): entries are flat files `<cache>/<sha512>`, exactly as
 * tooltool.py keeps them, so either tool uses a cache the other filled. Everything else
 * lives under `<cache>/.tooltool/`, a folder tooltool.py's `purge` leaves alone (it only
 * deletes files at the top level):
 *
 * - `locks/<digest>`: the per-digest lock. Shared while an entry is read or placed,
 *   exclusive while it is downloaded, admitted, evicted or purged.
 * - `tmp/<digest>.part`: the download in progress (only the exclusive holder writes it, so
 *   a job killed with SIGKILL leaves a partial file that the next holder resumes).
 * - `stamps/<digest>.json`: stat stamps of files known to hold this digest.
 * - `used/<digest>`: touched on every use; its mtime is the entry's last use, for purge.
 *
 * Entries are verified before they are admitted (the download hashed every byte), made
 * read-only, and renamed into place, so no partial or unverified file is ever visible under
 * a digest name. A cache hit is not re-hashed when a stat stamp vouches for the entry (see
 * `stampVouches`); it is placed in the working tree by a hard link when the cache is on the
 * same file system, else copied.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { hashFile } from "./digest.ts";
import { acquireLock, type FileLock, tryLock } from "./lock.ts";
import type { Sha512 } from "./manifest.ts";

/** The folder inside the cache that holds this tool's own state. */
export const STATE_DIR = ".tooltool";

/** Recent stamps kept per digest (the entry and the copies in working trees). */
const MAX_STAMPS = 16;

/**
 * A file modified this recently may still be being written within the clock's resolution,
 * so a stamp taken now could miss the next write (git's "racy" entries). Such files are
 * hashed again next time rather than stamped. Two seconds also covers file systems that
 * keep times in whole seconds.
 */
const RACY_MARGIN_MS = 2_000;

/**
 * What a file's metadata looked like when its content was verified, git-index style.
 *
 * `entry` stamps describe a read-only cache entry and its hard links. Their ctime is not
 * compared, because every link and unlink of the inode (placing a file in a working tree,
 * `rm -rf` of an old one) changes it; content cannot change without moving mtime, and a
 * writable entry is never trusted. `file` stamps describe any other file (a copy in a
 * working tree) and compare everything.
 */
export interface StatStamp {
  readonly kind: "entry" | "file";
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  /**
   * The boot the stamp was taken in. Data written without fsync may not survive a crash,
   * so a stamp only vouches within the boot that took it; after a reboot files are hashed
   * once more.
   */
  readonly boot: string;
  /** When the stamp was recorded (epoch ms); the most recent stamps are kept. */
  readonly recordedAt: number;
}

/** The stamps file of one digest. */
interface StampFile {
  readonly version: 1;
  readonly size: number;
  readonly stamps: readonly StatStamp[];
}

/**
 * A stamp for a file as `info` describes it, or `undefined` when the platform gives no
 * inode or times to stamp with. Pure.
 */
export function stampOf(
  info: Deno.FileInfo,
  kind: StatStamp["kind"],
  boot: string,
  now: number,
): StatStamp | undefined {
  if (info.ino === null || info.dev === null || info.mtime === null) return undefined;
  return {
    kind,
    dev: info.dev,
    ino: info.ino,
    size: info.size,
    mtimeMs: info.mtime.getTime(),
    ctimeMs: info.ctime?.getTime() ?? 0,
    boot,
    recordedAt: now,
  };
}

/**
 * Whether `stamp` proves that the file `info` describes still has the content that was
 * verified: same device, inode, size and mtime, same boot; for an `entry` stamp the file
 * must also still be read-only, for a `file` stamp the ctime must match too. Pure.
 */
export function stampVouches(stamp: StatStamp, info: Deno.FileInfo, boot: string): boolean {
  if (!info.isFile || stamp.boot !== boot) return false;
  if (info.dev !== stamp.dev || info.ino !== stamp.ino || info.size !== stamp.size) return false;
  if (info.mtime === null || info.mtime.getTime() !== stamp.mtimeMs) return false;
  if (stamp.kind === "entry") return info.mode !== null && (info.mode & 0o222) === 0;
  return (info.ctime?.getTime() ?? 0) === stamp.ctimeMs;
}

/**
 * Whether a file's content changed so recently that a stamp taken now could be fooled.
 * Only mtime counts: every content write moves it, while ctime also moves for changes that
 * leave the content alone (the chmod that makes an entry read-only). Pure.
 */
export function isRacy(info: Deno.FileInfo, now: number): boolean {
  return now - (info.mtime?.getTime() ?? now) < RACY_MARGIN_MS;
}

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

/** One top-level file of a cache folder, as `purge` sees it. */
export interface CacheEntryInfo {
  readonly name: string;
  readonly path: string;
  readonly size: number;
  /** Last use: the newest of the file's mtime (tooltool.py touches it) and our use marker. */
  readonly lastUsedMs: number;
  /** Whether the name is a sha512 digest (other files are tooltool.py-era debris). */
  readonly isDigest: boolean;
}

const DIGEST_NAME = /^[0-9a-f]{128}$/;

/** A cache folder. Open it with `Cache.open`. */
export class Cache {
  readonly root: string;
  readonly links: boolean;
  readonly #now: () => number;
  readonly #boot: string;

  private constructor(root: string, links: boolean, now: () => number, boot: string) {
    this.root = root;
    this.links = links;
    this.#now = now;
    this.#boot = boot;
  }

  /** Opens (creating when missing) the cache folder and its state folders. */
  static async open(root: string, options: CacheOptions = {}): Promise<Cache> {
    // tooltool.py creates the cache as 0700; the state folders follow the cache's own mode.
    await Deno.mkdir(root, { recursive: true, mode: 0o700 });
    for (const sub of ["locks", "tmp", "stamps", "used"]) {
      await Deno.mkdir(join(root, STATE_DIR, sub), { recursive: true });
    }
    return new Cache(
      root,
      options.links ?? true,
      options.now ?? Date.now,
      options.boot ?? await readBootId(),
    );
  }

  /** Where the entry for `digest` lives: `<cache>/<digest>`, as in tooltool.py. */
  entryPath(digest: string): string {
    return join(this.root, digest);
  }

  /** Where a download of `digest` is written before it is admitted. */
  partPath(digest: string): string {
    return join(this.root, STATE_DIR, "tmp", `${digest}.part`);
  }

  /** The lock file of `digest`. */
  lockPath(digest: string): string {
    return join(this.root, STATE_DIR, "locks", digest);
  }

  #stampPath(digest: string): string {
    return join(this.root, STATE_DIR, "stamps", `${digest}.json`);
  }

  #usedPath(digest: string): string {
    return join(this.root, STATE_DIR, "used", digest);
  }

  /** Takes the lock of `digest`, waiting for other holders. */
  lock(
    digest: string,
    options: { exclusive: boolean; signal?: AbortSignal | undefined; onWait?: () => void },
  ): Promise<FileLock> {
    return acquireLock(this.lockPath(digest), options);
  }

  /** Takes the lock of `digest` if it is free. */
  tryLock(digest: string, exclusive: boolean): Promise<FileLock | undefined> {
    return tryLock(this.lockPath(digest), { exclusive });
  }

  /**
   * Checks the entry of `digest` (call with its lock held): missing, valid (by a stamp, or
   * by hashing it when no stamp vouches or `rehash` is set), or invalid. An entry found
   * valid by hashing is made read-only and stamped, so the next check is a `stat`.
   */
  async checkEntry(
    digest: Sha512,
    size: number,
    options: { rehash?: boolean; signal?: AbortSignal | undefined } = {},
  ): Promise<EntryState> {
    const path = this.entryPath(digest);
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
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
    const hashed = await hashFile(path, { signal: options.signal });
    if (hashed.digest !== digest || hashed.size !== size) {
      return { kind: "invalid", reason: "its sha512 does not match" };
    }
    if (info.mode !== null && (info.mode & 0o222) !== 0) {
      await Deno.chmod(path, info.mode & ~0o222 & 0o7777);
    }
    await this.#stampAfterHash(path, digest, info, "entry");
    return { kind: "valid", checked: "hash" };
  }

  /**
   * Deletes the entry of `digest` and its stamps (call with the exclusive lock held). The
   * unlink is atomic; a reader that has the file open keeps its bytes.
   */
  async evict(digest: string): Promise<void> {
    await removeIfPresent(this.entryPath(digest));
    await removeIfPresent(this.#stampPath(digest));
  }

  /**
   * Admits a verified download (call with the exclusive lock held): makes it read-only,
   * renames it to its digest name and stamps it.
   */
  async admit(verifiedPath: string, digest: Sha512): Promise<void> {
    await Deno.chmod(verifiedPath, 0o444);
    const path = this.entryPath(digest);
    await Deno.rename(verifiedPath, path);
    const info = await Deno.stat(path);
    await this.#addStamp(digest, info.size, stampOf(info, "entry", this.#boot, this.#now()));
  }

  /**
   * Puts the entry of `digest` at `destination` (call with its lock held, entry checked):
   * a hard link when possible, else a copy through a temporary file beside it. Either way
   * the name appears at once with the whole content. An existing file at `destination` is
   * replaced.
   */
  async place(digest: Sha512, destination: string): Promise<Placement> {
    const entry = this.entryPath(digest);
    if (this.links) {
      try {
        await Deno.link(entry, destination);
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
    const info = await Deno.stat(destination);
    const size = info.size;
    await this.#addStamp(digest, size, stampOf(info, "file", this.#boot, this.#now()));
    return "copy";
  }

  async #linkOver(entry: string, destination: string): Promise<boolean> {
    const temp = tempPathBeside(destination);
    try {
      await Deno.link(entry, temp);
    } catch (error) {
      if (cannotLink(error)) return false;
      throw error;
    }
    try {
      await Deno.rename(temp, destination);
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
    const stamps = await this.#readStamps(digest);
    if (stamps === undefined || stamps.stamps.length === 0) return false;
    const current = info ?? await Deno.stat(path).catch(() => undefined);
    if (current === undefined) return false;
    return stamps.stamps.some((stamp) => stampVouches(stamp, current, this.#boot));
  }

  /**
   * Records that the file at `path` was just hashed and holds `digest` (a file already in
   * the working tree). `before` is its metadata from before hashing: if it changed during
   * the hash, or so recently that a stamp could be fooled, nothing is recorded.
   */
  async recordVerified(path: string, digest: Sha512, before: Deno.FileInfo): Promise<void> {
    const kind = await this.#isEntryInode(digest, before) ? "entry" : "file";
    await this.#stampAfterHash(path, digest, before, kind);
  }

  async #isEntryInode(digest: string, info: Deno.FileInfo): Promise<boolean> {
    const entry = await Deno.stat(this.entryPath(digest)).catch(() => undefined);
    return entry !== undefined && entry.ino === info.ino && entry.dev === info.dev &&
      info.mode !== null && (info.mode & 0o222) === 0;
  }

  async #stampAfterHash(
    path: string,
    digest: string,
    before: Deno.FileInfo,
    kind: StatStamp["kind"],
  ): Promise<void> {
    const after = await Deno.stat(path).catch(() => undefined);
    if (after === undefined || after.size !== before.size) return;
    if (after.ino !== before.ino || after.mtime?.getTime() !== before.mtime?.getTime()) return;
    const now = this.#now();
    if (isRacy(after, now)) return;
    await this.#addStamp(digest, after.size, stampOf(after, kind, this.#boot, now));
  }

  /** Notes that `digest` was used now, for the least-recently-used order of `purge`. */
  async markUsed(digest: string): Promise<void> {
    const path = this.#usedPath(digest);
    const now = new Date(this.#now());
    try {
      await Deno.utime(path, now, now);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) return;
      await Deno.writeFile(path, new Uint8Array(0)).catch(() => {});
    }
  }

  /** Removes what this tool keeps about `digest` besides the entry (call when purging it). */
  async forget(digest: string): Promise<void> {
    await removeIfPresent(this.#stampPath(digest));
    await removeIfPresent(this.#usedPath(digest));
    await removeIfPresent(this.partPath(digest));
  }

  /** Every top-level file of the cache folder, with its size and last use. */
  async entries(): Promise<CacheEntryInfo[]> {
    const found: CacheEntryInfo[] = [];
    for await (const item of Deno.readDir(this.root)) {
      if (!item.isFile) continue;
      const path = join(this.root, item.name);
      const info = await Deno.stat(path).catch(() => undefined);
      if (info === undefined || !info.isFile) continue;
      const isDigest = DIGEST_NAME.test(item.name);
      let lastUsedMs = info.mtime?.getTime() ?? 0;
      if (isDigest) {
        const used = await Deno.stat(this.#usedPath(item.name)).catch(() => undefined);
        lastUsedMs = Math.max(lastUsedMs, used?.mtime?.getTime() ?? 0);
      }
      found.push({ name: item.name, path, size: info.size, lastUsedMs, isDigest });
    }
    return found;
  }

  /**
   * Files under `.tooltool/` that no live process owns: partial downloads, use markers and
   * stamps of digests whose entry is gone, and lock files nobody holds. Each is removed
   * under its digest's exclusive lock, so nothing in use is touched. Returns bytes freed.
   */
  async sweep(): Promise<{ files: number; bytes: number }> {
    let files = 0;
    let bytes = 0;
    const digests = new Set<string>();
    for (const sub of ["tmp", "stamps", "used", "locks"]) {
      for await (const item of readDirIfPresent(join(this.root, STATE_DIR, sub))) {
        const digest = digestOfStateFile(sub, item.name);
        if (digest !== undefined) {
          digests.add(digest);
          continue;
        }
        // A temp file of an interrupted stamp write, or debris: removed once clearly old.
        const path = join(this.root, STATE_DIR, sub, item.name);
        const info = await Deno.lstat(path).catch(() => undefined);
        if (info?.isFile && this.#now() - (info.mtime?.getTime() ?? 0) > 3_600_000) {
          await removeIfPresent(path);
          files++;
          bytes += info.size;
        }
      }
    }
    for (const digest of digests) {
      const lock = await this.tryLock(digest, true);
      if (lock === undefined) continue;
      try {
        const part = await Deno.stat(this.partPath(digest)).catch(() => undefined);
        if (part !== undefined) {
          await removeIfPresent(this.partPath(digest));
          files++;
          bytes += part.size;
        }
        const entry = await Deno.stat(this.entryPath(digest)).catch(() => undefined);
        if (entry === undefined) {
          await removeIfPresent(this.#stampPath(digest));
          await removeIfPresent(this.#usedPath(digest));
          await lock.removeFile();
        }
      } finally {
        lock.release();
      }
    }
    return { files, bytes };
  }

  async #readStamps(digest: string): Promise<StampFile | undefined> {
    let text: string;
    try {
      text = await Deno.readTextFile(this.#stampPath(digest));
    } catch {
      return undefined;
    }
    try {
      const parsed = JSON.parse(text) as StampFile;
      if (parsed.version !== 1 || !Array.isArray(parsed.stamps)) return undefined;
      return parsed;
    } catch {
      // A damaged stamps file only means hashing again.
      return undefined;
    }
  }

  async #addStamp(digest: string, size: number, stamp: StatStamp | undefined): Promise<void> {
    if (stamp === undefined) return;
    const existing = await this.#readStamps(digest);
    const others = (existing?.size === size ? existing.stamps : []).filter((old) =>
      !(old.dev === stamp.dev && old.ino === stamp.ino) && old.boot === stamp.boot
    );
    const stamps = [stamp, ...others].slice(0, MAX_STAMPS);
    const file: StampFile = { version: 1, size, stamps };
    // Stamps are a hint, not data: a lost or stale one only costs a hash, so no fsync, and
    // two writers racing simply leave one of the two versions.
    const path = this.#stampPath(digest);
    const temp = `${path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
    try {
      await Deno.writeTextFile(temp, JSON.stringify(file));
      await Deno.rename(temp, path);
    } catch {
      await removeIfPresent(temp);
    }
  }
}

/**
 * A fresh temporary name beside `path`, hidden, recognisable as ours (`.NAME.tooltool-XXXX.part`)
 * so leftovers of a killed run can be found and removed.
 */
export function tempPathBeside(path: string): string {
  return join(dirname(path), `.${basename(path)}.tooltool-${crypto.randomUUID().slice(0, 8)}.part`);
}

/** Whether a file name is one of our temporary files (see `tempPathBeside`). */
export function isTempName(name: string): boolean {
  return /^\..+\.tooltool-[0-9a-f]{8}\.part$/.test(name);
}

/** The digest a file under `.tooltool/<sub>/` belongs to, if it is one of ours. */
function digestOfStateFile(sub: string, name: string): string | undefined {
  const suffix = sub === "tmp" ? ".part" : sub === "stamps" ? ".json" : "";
  if (!name.endsWith(suffix)) return undefined;
  const digest = name.slice(0, name.length - suffix.length);
  return DIGEST_NAME.test(digest) ? digest : undefined;
}

/** Whether a hard link failed because links are impossible here (so copy instead). */
function cannotLink(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === "EXDEV" || code === "EPERM" || code === "EMLINK" || code === "ENOTSUP" ||
    code === "EOPNOTSUPP" || error instanceof Deno.errors.NotSupported ||
    error instanceof Deno.errors.PermissionDenied;
}

async function removeIfPresent(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

async function* readDirIfPresent(path: string): AsyncIterable<Deno.DirEntry> {
  try {
    yield* Deno.readDir(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

let bootId: string | undefined;

/** The kernel's id of the current boot (Linux); "" where there is none. */
export async function readBootId(): Promise<string> {
  if (bootId !== undefined) return bootId;
  try {
    bootId = (await Deno.readTextFile("/proc/sys/kernel/random/boot_id")).trim();
  } catch {
    bootId = "";
  }
  return bootId;
}

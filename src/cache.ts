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

import { readBoundedFile } from "./bounded_read.ts";
import { basename, dirname, join } from "node:path";
import { hashFile } from "./digest.ts";
import { acquireLock, type FileLock, tryLock } from "./lock.ts";
import type { Sha512 } from "./manifest.ts";

/** The folder inside the cache that holds this tool's own state. */
export const STATE_DIR = ".tooltool";

/** Recent stamps kept per digest (the entry and the copies in working trees). */
const MAX_STAMPS = 16;

/** The journal is compacted once it grows past this. */
const JOURNAL_COMPACT_BYTES = 4 * 1024 * 1024;

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

/** One line of the journal. */
type JournalRecord =
  | { readonly type: "stamp"; readonly digest: string; readonly stamp: StatStamp }
  | { readonly type: "use"; readonly digest: string; readonly at: number };

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

/** A cache folder. Open it with `Cache.open`. */
export class Cache {
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
    await Deno.mkdir(join(root, STATE_DIR, "tmp"), { recursive: true, mode: 0o700 });
    const cache = new Cache(
      root,
      options.links ?? true,
      options.now ?? Date.now,
      options.boot ?? await readBootId(),
    );
    await cache.#journal.compactIfLarge((digest) => cache.#hasEntry(digest));
    return cache;
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
    try {
      return await acquireLock(this.entryPath(digest), { ...options, create: false });
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
  }

  /** Locks the entry of `digest` if that can be done at once (`"busy"` otherwise). */
  async tryLockEntry(digest: string, exclusive: boolean): Promise<FileLock | "busy" | undefined> {
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
    const hashed = await hashFile(path, { signal: options.signal });
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
    // Another process may have stamped it since the journal was read.
    return await this.#journal.refresh() && matches(await this.#journal.stamps(digest));
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
    const entry = statOrUndefined(this.entryPath(digest));
    return entry !== undefined && entry.ino === info.ino && entry.dev === info.dev &&
      info.mode !== null && (info.mode & 0o222) === 0;
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
    await this.#journal.compact((digest) => this.#hasEntry(digest));
  }

  #hasEntry(digest: string): Promise<boolean> {
    return Deno.stat(this.entryPath(digest)).then(() => true, () => false);
  }
}

/**
 * The append-only log of stamps and uses under `.tooltool/`. Appends are single `write`s
 * to a file opened with `O_APPEND`, so lines from concurrent processes do not interleave;
 * reading picks up where it left off, and a half-written last line is left for later.
 * Stamps are a hint, not data: a lost line only costs a hash, so nothing is fsynced.
 */
class Journal {
  readonly #dir: string;
  readonly #path: string;
  #stamps = new Map<string, StatStamp[]>();
  #uses = new Map<string, number>();
  /** Bytes of the current journal file already read, and that file's inode. */
  #offset = 0;
  #ino: number | null = null;
  /** The first read, shared by everyone who asks before it is done. */
  #initial: Promise<boolean> | undefined;
  /** Reads run one after the other: each continues from where the previous one stopped. */
  #tail: Promise<unknown> = Promise.resolve();

  constructor(dir: string) {
    this.#dir = dir;
    this.#path = join(dir, "journal");
  }

  async stamps(digest: string): Promise<readonly StatStamp[]> {
    await (this.#initial ??= this.refresh());
    return this.#stamps.get(digest) ?? [];
  }

  async uses(): Promise<ReadonlyMap<string, number>> {
    await this.refresh();
    return this.#uses;
  }

  append(...records: JournalRecord[]): void {
    for (const record of records) this.#remember(record);
    const text = records.map((record) => JSON.stringify(record) + "\n").join("");
    try {
      using file = Deno.openSync(this.#path, { append: true, create: true });
      // One write, so that concurrent appenders' lines never interleave.
      file.writeSync(new TextEncoder().encode(text));
    } catch {
      // A read-only cache, say: only the speed-up is lost.
    }
  }

  /** Reads what was appended since the last read; true when there was anything new. */
  refresh(): Promise<boolean> {
    const next = this.#tail.then(() => this.#read());
    this.#tail = next.catch(() => {});
    return next;
  }

  async #read(): Promise<boolean> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(this.#path, { read: true });
    } catch {
      return false;
    }
    try {
      const info = await file.stat();
      if (info.ino !== this.#ino || info.size < this.#offset) {
        // Compacted (a new file) since the last read: start over.
        this.#ino = info.ino;
        this.#offset = 0;
        this.#stamps = new Map();
        this.#uses = new Map();
      }
      if (info.size === this.#offset) return false;
      await file.seek(this.#offset, Deno.SeekMode.Start);
      const bytes = new Uint8Array(info.size - this.#offset);
      let filled = 0;
      while (filled < bytes.length) {
        const read = await file.read(bytes.subarray(filled));
        if (read === null) break;
        filled += read;
      }
      const text = new TextDecoder().decode(bytes.subarray(0, filled));
      const end = text.lastIndexOf("\n");
      if (end < 0) return false;
      for (const line of text.slice(0, end).split("\n")) {
        const record = parseRecord(line);
        if (record !== undefined) this.#remember(record);
      }
      this.#offset += new TextEncoder().encode(text.slice(0, end + 1)).length;
      return true;
    } finally {
      file.close();
    }
  }

  /** Rewrites the journal keeping the recent stamps and last use of digests still wanted. */
  async compact(keep: (digest: string) => Promise<boolean>): Promise<void> {
    // One compaction at a time; a busy lock means another process is doing it.
    using lock = await tryLock(join(this.#dir, "journal.lock"), { exclusive: true });
    if (lock === undefined) return;
    await this.refresh();
    const lines: string[] = [];
    const digests = new Set([...this.#stamps.keys(), ...this.#uses.keys()]);
    for (const digest of digests) {
      if (!(await keep(digest))) continue;
      for (const stamp of this.#stamps.get(digest) ?? []) {
        lines.push(JSON.stringify({ type: "stamp", digest, stamp }));
      }
      const at = this.#uses.get(digest);
      if (at !== undefined) lines.push(JSON.stringify({ type: "use", digest, at }));
    }
    const temp = `${this.#path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
    try {
      await Deno.writeTextFile(temp, lines.map((line) => line + "\n").join(""));
      await Deno.rename(temp, this.#path);
    } catch {
      await removeIfPresent(temp).catch(() => {});
    }
    this.#ino = null;
    this.#offset = 0;
    await this.refresh();
  }

  /** Compacts when the journal has grown large (called on open by fetch). */
  async compactIfLarge(keep: (digest: string) => Promise<boolean>): Promise<void> {
    const size = await Deno.stat(this.#path).then((info) => info.size, () => 0);
    if (size > JOURNAL_COMPACT_BYTES) await this.compact(keep);
  }

  #remember(record: JournalRecord): void {
    if (record.type === "use") {
      this.#uses.set(record.digest, Math.max(record.at, this.#uses.get(record.digest) ?? 0));
      return;
    }
    const { stamp } = record;
    const others = (this.#stamps.get(record.digest) ?? []).filter((old) =>
      !(old.dev === stamp.dev && old.ino === stamp.ino)
    );
    this.#stamps.set(record.digest, [stamp, ...others].slice(0, MAX_STAMPS));
  }
}

function parseRecord(line: string): JournalRecord | undefined {
  try {
    const value = JSON.parse(line) as JournalRecord;
    if (typeof value.digest !== "string") return undefined;
    if (value.type === "use" && typeof value.at === "number") return value;
    if (value.type === "stamp" && typeof value.stamp?.ino === "number") return value;
  } catch {
    // A torn line (a writer killed mid-append): skip it.
  }
  return undefined;
}

/**
 * A fresh temporary name beside `path`, hidden, recognisable as ours
 * (`.NAME.tooltool-XXXXXXXX.part`) so leftovers of a killed run can be found and removed.
 */
export function tempPathBeside(path: string): string {
  return join(dirname(path), `.${basename(path)}.tooltool-${crypto.randomUUID().slice(0, 8)}.part`);
}

/** Whether a file name is one of our temporary files (see `tempPathBeside`). */
export function isTempName(name: string): boolean {
  return /^\..+\.tooltool-[0-9a-f]{8}\.part$/.test(name);
}

/**
 * The prefix of the folder an unpack extracts into, in the working directory
 * (`.tooltool-unpack-XXXX`). Its unpacker holds an exclusive lock on the folder itself while
 * it exists, so a later run can tell a killed unpack's leftover from a live one.
 */
export const UNPACK_TEMP_PREFIX = ".tooltool-unpack-";

/** Whether a name is an unpack's temporary folder (see `UNPACK_TEMP_PREFIX`). */
export function isUnpackTempName(name: string): boolean {
  return name.startsWith(UNPACK_TEMP_PREFIX) && name.length > UNPACK_TEMP_PREFIX.length;
}

/** Whether a hard link failed because links are impossible here (so copy instead). */
function cannotLink(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === "EXDEV" || code === "EPERM" || code === "EMLINK" || code === "ENOTSUP" ||
    code === "EOPNOTSUPP" || error instanceof Deno.errors.NotSupported ||
    error instanceof Deno.errors.PermissionDenied;
}

function statOrUndefined(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.statSync(path);
  } catch {
    return undefined;
  }
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
    const bytes = await readBoundedFile("/proc/sys/kernel/random/boot_id", {
      limit: 4096,
      kinds: "regular",
    });
    bootId = new TextDecoder().decode(bytes).trim();
  } catch {
    bootId = "";
  }
  return bootId;
}

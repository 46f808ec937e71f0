/**
 * Advisory locks between processes: `flock(2)` through `Deno.FsFile.tryLock`, shared or
 * exclusive. Mostly taken on what is being protected (a cache entry, its part file, the
 * manifest's directory, an unpack's temporary folder); a separate lock file only where no
 * such file exists (the journal's compaction).
 *
 * Why flock: the kernel drops the lock when its holder dies, SIGKILL included, so a killed
 * job never leaves a stale lock behind — no PID files, no timeouts to guess. Locks belong to
 * an open file description: two opens of one file conflict even within one process, which
 * is what lets several downloads of one process coordinate exactly like several processes.
 *
 * Waiting polls `tryLock` (10 ms doubling to 250 ms) instead of blocking in `lock()`, so a
 * waiter can be interrupted by Ctrl-C and can say that it is waiting.
 *
 * A lock file may be removed by whoever holds it exclusively (`removeFile`): after taking a
 * lock, the taker checks that the path still names the inode it locked and starts again if
 * not, so a lock taken on a file that was just unlinked is never mistaken for the real one.
 *
 * @module
 */

import { dirname } from "./paths.ts";
import { sleep } from "./sleep.ts";

/** How long a waiter sleeps between tries: from the first to the last value, doubling. */
const POLL_FIRST_MS = 10;
const POLL_MAX_MS = 250;

/** A held lock; release it with `release()` or `using`. */
export class FileLock implements Disposable {
  /** The lock file. */
  readonly path: string;
  readonly exclusive: boolean;
  #file: Deno.FsFile | undefined;
  readonly #writable: boolean;

  constructor(path: string, exclusive: boolean, file: Deno.FsFile, writable = false) {
    this.path = path;
    this.exclusive = exclusive;
    this.#file = file;
    this.#writable = writable;
  }

  /** Whether the lock is still held. */
  get held(): boolean {
    return this.#file !== undefined;
  }

  /**
   * The locked file's open handle when it was opened for writing (and the lock is held),
   * so that the holder writes through it instead of opening the file a second time. It
   * stays the lock's: closing it would release the lock.
   */
  get writableFile(): Deno.FsFile | undefined {
    return this.#writable ? this.#file : undefined;
  }

  /** Releases the lock (closing the file releases it). Safe to call twice. */
  release(): void {
    const file = this.#file;
    this.#file = undefined;
    try {
      file?.close();
    } catch {
      // Already closed.
    }
  }

  /**
   * Deletes the lock file while the lock is still held, then releases it. Only an exclusive
   * holder may do this; waiters notice the inode changed and retry with a fresh file.
   */
  async removeFile(): Promise<void> {
    if (!this.exclusive) throw new Error("Only an exclusive lock may remove its file");
    await Deno.remove(this.path).catch(() => {});
    this.release();
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

/** Options for taking a lock. */
export interface LockOptions {
  /** Exclusive (one holder) or shared (any number of shared holders, no exclusive one). */
  readonly exclusive: boolean;
  /**
   * Create the file (and its folder) when missing (default). With `false` the file must
   * exist — it is locked read-only, as is, and `Deno.errors.NotFound` is thrown otherwise.
   */
  readonly create?: boolean | undefined;
}

/**
 * Takes the lock at once, or returns `undefined` when another holder has it in a
 * conflicting mode. Creates the lock file (and its directory) when missing, unless
 * `create` is false.
 */
export function tryLock(path: string, options: LockOptions): Promise<FileLock | undefined> {
  try {
    return Promise.resolve(tryLockNow(path, options));
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * `tryLock`'s work, with synchronous calls: opening, locking without waiting and two
 * `stat`s take microseconds on a local disk, while each asynchronous call costs two thread
 * hand-offs — which added up to a third of the time of fetching 200 small files.
 */
function tryLockNow(path: string, options: LockOptions): FileLock | undefined {
  for (;;) {
    const { file, writable } = options.create === false
      ? { file: Deno.openSync(path, { read: true }), writable: false }
      : openLockFile(path);
    let locked = false;
    try {
      locked = file.tryLockSync(options.exclusive);
      if (locked && namesSameFile(path, file)) {
        return new FileLock(path, options.exclusive, file, writable);
      }
    } catch (error) {
      file.close();
      throw error;
    }
    file.close();
    if (!locked) return undefined;
    // Locked an inode that had just been removed from the path: take the new one.
  }
}

/** Options for `acquireLock`. */
export interface AcquireLockOptions extends LockOptions {
  /** Stops waiting; the promise then rejects with the signal's reason. */
  readonly signal?: AbortSignal | undefined;
  /** Called once, when the lock is not free at the first try (for "waiting for ..." output). */
  readonly onWait?: (() => void) | undefined;
}

/** Takes the lock, waiting for as long as another holder keeps it. */
export async function acquireLock(path: string, options: AcquireLockOptions): Promise<FileLock> {
  let pause = POLL_FIRST_MS;
  let told = false;
  for (;;) {
    options.signal?.throwIfAborted();
    const lock = await tryLock(path, options);
    if (lock !== undefined) return lock;
    if (!told) {
      told = true;
      options.onWait?.();
    }
    await sleep(pause, options.signal);
    pause = Math.min(POLL_MAX_MS, pause * 2);
  }
}

function openLockFile(path: string): { file: Deno.FsFile; writable: boolean } {
  const open = () => ({
    file: Deno.openSync(path, { read: true, write: true, create: true, mode: 0o666 }),
    writable: true,
  });
  try {
    return open();
  } catch (error) {
    // flock needs no write access: an existing read-only file (another user's lock file,
    // a read-only cache entry) can still be locked.
    if (error instanceof Deno.errors.PermissionDenied) {
      return { file: Deno.openSync(path, { read: true }), writable: false };
    }
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    Deno.mkdirSync(dirname(path), { recursive: true });
    return open();
  }
}

function namesSameFile(path: string, file: Deno.FsFile): boolean {
  const held = file.statSync();
  let named: Deno.FileInfo;
  try {
    named = Deno.statSync(path);
  } catch {
    return false;
  }
  // Windows has no inode numbers; its files cannot be removed while open anyway.
  if (held.ino === null || named.ino === null) return true;
  return held.ino === named.ino && held.dev === named.dev;
}

/**
 * Where a download's bytes go: the file and the running SHA-512 of exactly the bytes in it,
 * so that each byte is hashed once, on its way to disk, and a resume can go on from the hash
 * of what is already there.
 *
 * @module
 */

import { giveBack, takeBuffer } from "../buffer_pool.ts";
import { createSha512, type Sha512Hasher } from "../digest.ts";
import type { ToolError } from "../errors.ts";
import { writeError } from "../fs_error.ts";
import type { Sha512 } from "../sha512.ts";
import { writeAllSync } from "../write_all.ts";

/** Network chunks are gathered into buffers this large before hashing and writing. */
export const BUFFER_SIZE = 1 << 20;

/** A buffer this small, with nothing else in flight, is hashed and written on the spot. */
const INLINE_BYTES = 256 * 1024;

/** Buffers a download may have in flight: one filling, the others being hashed or written. */
const RING_SIZE = 3;

/**
 * The file being downloaded plus the running hash of exactly the bytes in it. Chunks are
 * gathered into 1 MiB buffers. A full buffer's SHA-512 is queued on an ordered chain off the
 * main thread (libcrypto), then the buffer is written right here, on the calling thread,
 * while that hash runs; the next buffer of a ring of three fills meanwhile. A buffer is
 * reused only once both its hash and its write are done.
 *
 * Why the write blocks: each async `FsFile.write` is a hop to Deno's blocking pool and back
 * that cost 100–250 µs here, eight of them per buffer (writes are capped at 128 KiB, see
 * write_all.ts): a 400 MiB download spent more time in hops than in the kernel's copy. A
 * blocking 128 KiB write into the page cache takes ~25 µs, and the main thread was idle half
 * of a big fetch anyway; writing here made a 1 GB cold fetch 15% faster (docs/performance.md).
 */
export class HashingSink implements Disposable {
  readonly #file: Deno.FsFile;
  readonly #filename: string;
  #hasher: Sha512Hasher = createSha512();
  readonly #bufferSize: number;
  /** The ring; buffers are made as they are first needed (a small file needs one). */
  readonly #ring: Uint8Array[] = [];
  /** Per ring slot: the hash and write of what it last held. */
  readonly #done: (Promise<void> | undefined)[] = [];
  #slot = 0;
  #fill = 0;
  #hashTail: Promise<void> = Promise.resolve();
  #hashesPending = 0;
  /** The first write that failed since the last restart: later buffers are not written. */
  #writeFailure: ToolError | undefined;
  /** Settles once everything handed over so far is hashed and written (or failed). */
  #last: Promise<void> | undefined;
  /** Bytes written and hashed. */
  #position = 0;
  /** Bytes in the file, the hash or on their way there: `position` plus what is buffered. */
  #accepted = 0;
  /** Bytes accepted from the network so far (all attempts). */
  received = 0;

  /** `bufferSize`: 1 MiB, or the file's size when smaller (many small files stay cheap). */
  constructor(file: Deno.FsFile, filename: string, bufferSize: number) {
    this.#file = file;
    this.#filename = filename;
    this.#bufferSize = bufferSize;
    this.#ring.push(takeBuffer(bufferSize));
  }

  /** Bytes safely in the file and in the hash. */
  get position(): number {
    return this.#position;
  }

  /** Bytes taken for the file so far, including those still buffered. */
  get accepted(): number {
    return this.#accepted;
  }

  get #buffer(): Uint8Array {
    return this.#ring[this.#slot] as Uint8Array;
  }

  /** Keeps what the file already holds (up to `size`), hashing it; returns its length. */
  async adoptExisting(size: number, signal: AbortSignal): Promise<number> {
    const length = this.#file.statSync().size;
    if (length === 0) return 0;
    if (length >= size) {
      // A complete-looking file that failed before: start clean.
      await this.restart();
      return 0;
    }
    await this.#file.seek(0, Deno.SeekMode.Start);
    const buffer = this.#buffer;
    let done = 0;
    while (done < length) {
      signal.throwIfAborted();
      const read = await this.#file.read(
        buffer.subarray(0, Math.min(this.#bufferSize, length - done)),
      );
      if (read === null) break;
      await this.#hasher.updateAsync(buffer.subarray(0, read));
      done += read;
    }
    await this.#file.truncate(done);
    await this.#file.seek(done, Deno.SeekMode.Start);
    this.#position = done;
    this.#accepted = done;
    return done;
  }

  /** Empties the file and the hash: the next byte is byte 0. */
  async restart(): Promise<void> {
    await this.#settle().catch(() => {});
    this.#fill = 0;
    this.#hasher = createSha512();
    this.#hashTail = Promise.resolve();
    this.#writeFailure = undefined;
    this.#position = 0;
    this.#accepted = 0;
    await this.#file.truncate(0);
    await this.#file.seek(0, Deno.SeekMode.Start);
  }

  /** Copies a chunk in. */
  async push(chunk: Uint8Array): Promise<void> {
    this.received += chunk.length;
    this.#accepted += chunk.length;
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(chunk.length - offset, this.#bufferSize - this.#fill);
      // Made when first needed: a file that fills its one buffer exactly never needs a second.
      this.#ring[this.#slot] ??= takeBuffer(this.#bufferSize);
      this.#buffer.set(chunk.subarray(offset, offset + take), this.#fill);
      this.#fill += take;
      offset += take;
      if (this.#fill === this.#bufferSize) await this.#rotate();
    }
  }

  /** Hashes and writes everything accepted so far. */
  async flush(): Promise<void> {
    if (this.#fill > 0) {
      // Nothing else arrives before this settles, so the slot needs no rotation.
      this.#start(this.#buffer.subarray(0, this.#fill));
      this.#fill = 0;
    }
    await this.#settle();
  }

  /**
   * Hands the buffers back for reuse (`buffer_pool.ts`) once nothing hashes or writes from
   * them any more; the sink takes no bytes after this. With work still in flight (a failed
   * attempt that was not flushed) they are left to the garbage collector.
   */
  [Symbol.dispose](): void {
    if (this.#last !== undefined) return;
    for (const buffer of this.#ring) if (buffer !== undefined) giveBack(buffer);
    this.#ring.length = 0;
  }

  /** The digest of everything written; the sink cannot take more bytes after this. */
  finish(): Sha512 {
    return this.#hasher.digest();
  }

  /** Hands the full buffer over and moves to the next slot once that slot is free again. */
  async #rotate(): Promise<void> {
    this.#start(this.#buffer.subarray(0, this.#fill));
    this.#fill = 0;
    this.#slot = (this.#slot + 1) % RING_SIZE;
    const previous = this.#done[this.#slot];
    if (previous !== undefined) await previous;
  }

  /** Queues `full`'s hash and writes it; its slot is busy until both are done. */
  #start(full: Uint8Array): void {
    if (full.length <= INLINE_BYTES && this.#last === undefined) {
      // A small file's only buffer: hashing it right here (~0.2 ms) costs no more than
      // handing it to another thread and waiting (200 files of 100 KiB: the same time).
      try {
        this.#hasher.update(full);
        writeAllSync(this.#file, full);
        this.#position += full.length;
      } catch (error) {
        const failed = Promise.reject(writeError(this.#filename, error));
        failed.catch(() => {});
        this.#last = failed;
      }
      return;
    }
    const hasher = this.#hasher;
    // Started before the write below when the chain is idle, so the two overlap.
    const hashed = this.#hashesPending === 0
      ? hasher.updateAsync(full)
      : this.#hashTail.then(() => hasher.updateAsync(full));
    this.#hashesPending++;
    this.#hashTail = hashed;
    hashed.then(() => this.#hashesPending--, () => this.#hashesPending--);
    const written = this.#write(full);
    // allSettled, not all: the buffer must not be reused while the hash still reads it,
    // even when the write has already failed.
    const done = Promise.allSettled([hashed, written]).then(([hash, write]) => {
      if (write.status === "rejected") throw write.reason;
      if (hash.status === "rejected") throw hash.reason;
      this.#position += full.length;
    });
    // Its failure is rethrown where it is awaited (a later rotation, or the flush); until
    // then it must not count as an unhandled rejection, which would end the process.
    done.catch(() => {});
    hashed.catch(() => {});
    written.catch(() => {});
    this.#done[this.#slot] = done;
    this.#last = done;
  }

  /** Waits until everything handed over is hashed and written; throws the first failure. */
  async #settle(): Promise<void> {
    const last = this.#last;
    if (last === undefined) return;
    try {
      // Both chains are ordered, so the last buffer is done only after all earlier ones.
      await last;
    } finally {
      this.#last = undefined;
      this.#done.fill(undefined);
    }
  }

  /** Writes `bytes` now, unless an earlier write failed (the file has a gap then). */
  #write(bytes: Uint8Array): Promise<void> {
    if (this.#writeFailure === undefined) {
      try {
        writeAllSync(this.#file, bytes);
        return Promise.resolve();
      } catch (error) {
        this.#writeFailure = writeError(this.#filename, error);
      }
    }
    return Promise.reject(this.#writeFailure);
  }
}

/**
 * Streaming SHA-512, behind one interface so the backend can change.
 *
 * Hashing is this tool's main CPU cost. Deno's `node:crypto` hashes SHA-512 at about 75%
 * of OpenSSL's speed here, so when the system's libcrypto can be loaded (every Linux CI
 * image has one) the hasher calls it through FFI and runs at OpenSSL's own speed; otherwise
 * it falls back to `node:crypto`, which always works. `forceNodeBackend()` (main.ts calls it
 * for `TOOLTOOL_SHA512_BACKEND=node`) forces the fallback. Memory stays constant: files are read in 1 MiB chunks, never whole.
 *
 * `node:crypto` is loaded only when the fallback is needed: loading it costs ~20 ms of
 * start-up, a fifth of a small `validate`.
 *
 * `updateAsync` hashes off the main thread (libcrypto only), so several files or downloads
 * in flight do not serialize on one core. The fallback hashes on the calling thread.
 *
 * @module
 */

import { hashWorkers, WorkerUnavailableError } from "./hash_pool.ts";
import { loadNodeCrypto } from "./node_crypto.ts";
import { statOrUndefined } from "./fs_util.ts";
import { readSmallFileSync } from "./nonblocking_read.ts";
import { forEachConcurrently } from "./pool.ts";
import type { Sha512 } from "./sha512.ts";

/** An incremental SHA-512 computation. */
export interface Sha512Hasher {
  /** Adds bytes on the calling thread. */
  update(chunk: Uint8Array): void;
  /**
   * Adds bytes, off the calling thread when the backend allows it. The chunk must not be
   * modified until the promise settles. Calls must not overlap.
   */
  updateAsync(chunk: Uint8Array): Promise<void>;
  /** Finishes and returns the lowercase hex digest; the hasher cannot be used after. */
  digest(): Sha512;
}

/** Which implementation computes SHA-512 in this process. */
export type Sha512Backend = "libcrypto" | "node";

/** A file's digest and byte count, computed in one pass. */
export interface FileDigest {
  readonly digest: Sha512;
  readonly size: number;
}

const CHUNK_SIZE = 1 << 20;

const LIBCRYPTO_NAMES: Record<string, readonly string[]> = {
  linux: ["libcrypto.so.3", "libcrypto.so.1.1", "libcrypto.so"],
  darwin: [
    "/opt/homebrew/opt/openssl@3/lib/libcrypto.3.dylib",
    "/usr/local/opt/openssl@3/lib/libcrypto.3.dylib",
  ],
};

const LIBCRYPTO_SYMBOLS = {
  EVP_MD_CTX_new: { parameters: [], result: "pointer" },
  EVP_MD_CTX_free: { parameters: ["pointer"], result: "void" },
  EVP_sha512: { parameters: [], result: "pointer" },
  EVP_DigestInit_ex: { parameters: ["pointer", "pointer", "pointer"], result: "i32" },
  EVP_DigestUpdate: { parameters: ["pointer", "buffer", "usize"], result: "i32" },
  EVP_DigestFinal_ex: { parameters: ["pointer", "buffer", "pointer"], result: "i32" },
  OPENSSL_init_crypto: { parameters: ["u64", "pointer"], result: "i32", optional: true },
  EVP_DigestUpdateNonblocking: {
    name: "EVP_DigestUpdate",
    parameters: ["pointer", "buffer", "usize"],
    result: "i32",
    nonblocking: true,
  },
} as const;

/** OpenSSL 1.1.1b and later: do not register the cleanup at exit. */
const OPENSSL_INIT_NO_ATEXIT = 0x00080000n;

type Libcrypto = Deno.DynamicLibrary<typeof LIBCRYPTO_SYMBOLS>["symbols"];

let loaded: { backend: Sha512Backend; libcrypto?: Libcrypto } | undefined;

function loadBackend(): { backend: Sha512Backend; libcrypto?: Libcrypto } {
  if (loaded !== undefined) return loaded;
  loaded = { backend: "node" };
  for (const name of LIBCRYPTO_NAMES[Deno.build.os] ?? []) {
    try {
      const library = Deno.dlopen(name, LIBCRYPTO_SYMBOLS);
      // Before any other call: otherwise OpenSSL frees its state in an atexit handler,
      // which can run while a hash worker or blocking-pool thread is still inside
      // EVP_DigestUpdate (an interrupted command exits without waiting for them). The OS
      // reclaims that memory anyway.
      library.symbols.OPENSSL_init_crypto?.(OPENSSL_INIT_NO_ATEXIT, null);
      loaded = { backend: "libcrypto", libcrypto: library.symbols };
      break;
    } catch {
      // Not there, or no FFI permission: the next name, then node:crypto.
    }
  }
  return loaded;
}

/** Makes every later hasher of this process use `node:crypto` (the fallback, for tests). */
export function forceNodeBackend(): void {
  loaded = { backend: "node" };
}

/** The backend `createSha512` uses in this process. */
export function sha512Backend(): Sha512Backend {
  return loadBackend().backend;
}

const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));

function toHex(bytes: Uint8Array): string {
  let hex = "";
  for (const byte of bytes) hex += HEX[byte];
  return hex;
}

class LibcryptoHasher implements Sha512Hasher {
  readonly #lib: Libcrypto;
  #context: Deno.PointerValue;

  constructor(lib: Libcrypto) {
    this.#lib = lib;
    this.#context = lib.EVP_MD_CTX_new();
    if (
      this.#context === null || lib.EVP_DigestInit_ex(this.#context, lib.EVP_sha512(), null) !== 1
    ) {
      throw new Error("libcrypto could not start a SHA-512 computation");
    }
  }

  update(chunk: Uint8Array): void {
    if (this.#lib.EVP_DigestUpdate(this.#live(), chunk, BigInt(chunk.byteLength)) !== 1) {
      throw new Error("libcrypto failed to hash a chunk");
    }
  }

  async updateAsync(chunk: Uint8Array): Promise<void> {
    const context = this.#live();
    // Small chunks cost more to hand to another thread than to hash here.
    if (chunk.byteLength < 64 * 1024) return this.update(chunk);
    const ok = await this.#lib.EVP_DigestUpdateNonblocking(
      context,
      chunk,
      BigInt(chunk.byteLength),
    );
    if (ok !== 1) throw new Error("libcrypto failed to hash a chunk");
  }

  digest(): Sha512 {
    const context = this.#live();
    const out = new Uint8Array(64);
    const ok = this.#lib.EVP_DigestFinal_ex(context, out, null);
    this.#lib.EVP_MD_CTX_free(context);
    this.#context = null;
    if (ok !== 1) throw new Error("libcrypto failed to finish a SHA-512 computation");
    return toHex(out) as Sha512;
  }

  #live(): NonNullable<Deno.PointerValue> {
    if (this.#context === null) throw new Error("SHA-512 hasher used after digest()");
    return this.#context;
  }
}

class NodeHasher implements Sha512Hasher {
  readonly #hash = loadNodeCrypto().createHash("sha512");

  update(chunk: Uint8Array): void {
    this.#hash.update(chunk);
  }

  updateAsync(chunk: Uint8Array): Promise<void> {
    this.#hash.update(chunk);
    return Promise.resolve();
  }

  digest(): Sha512 {
    return this.#hash.digest("hex") as Sha512;
  }
}

/** Starts a SHA-512 computation with the fastest backend this process can load. */
export function createSha512(backend: Sha512Backend = sha512Backend()): Sha512Hasher {
  const { libcrypto } = loadBackend();
  if (backend === "libcrypto" && libcrypto !== undefined) return new LibcryptoHasher(libcrypto);
  return new NodeHasher();
}

/** SHA-512 of bytes already in memory (small inputs only: tests, payloads). */
export function sha512Hex(data: Uint8Array | string): Sha512 {
  const hasher = createSha512();
  hasher.update(typeof data === "string" ? new TextEncoder().encode(data) : data);
  return hasher.digest();
}

/**
 * Hashes one file in a single streaming pass. The next chunk is read while the current one
 * is hashed, so disk and CPU overlap. Inside `hashWorkers.open()`, a file the caller expects
 * to be big (`expectedSize`) is hashed on a worker thread instead (see `hash_pool.ts`).
 */
export async function hashFile(
  path: string,
  options: {
    signal?: AbortSignal | undefined;
    expectedSize?: number | undefined;
    /** The file's `stat` from a moment ago, when the caller has one: spares another. */
    info?: Deno.FileInfo | undefined;
  } = {},
): Promise<FileDigest> {
  if (hashWorkers.takes(options.expectedSize)) {
    try {
      return await hashWorkers.hash(path, { signal: options.signal, backend: sha512Backend() });
    } catch (error) {
      if (!(error instanceof WorkerUnavailableError)) throw error;
    }
  }
  const hasher = createSha512();
  let current = borrowBuffer();
  // A small regular file in one read and one hash, on this thread: handing the open, the
  // read and the hash to other threads took longer than doing them (200 files of 100 KiB),
  // most of all with a core kept busy by something else, where each hand-off waits for it.
  const before = options.info ?? statOrUndefined(path);
  if (before?.isFile && before.size < current.length) {
    const filled = readSmallFileSync(path, before, current);
    if (filled !== undefined) {
      options.signal?.throwIfAborted();
      hasher.update(current.subarray(0, filled));
      returnBuffer(current);
      return { digest: hasher.digest(), size: filled };
    }
  }
  using file = await Deno.open(path, { read: true });
  const info = file.statSync();
  if (info.isFile && info.size < current.length) {
    let size = 0;
    for (let filled = file.readSync(current); filled !== null; filled = file.readSync(current)) {
      options.signal?.throwIfAborted();
      hasher.update(current.subarray(0, filled));
      size += filled;
    }
    returnBuffer(current);
    return { digest: hasher.digest(), size };
  }
  let spare = borrowBuffer();
  let size = 0;
  let filled = await file.read(current);
  while (filled !== null) {
    options.signal?.throwIfAborted();
    const pending = file.read(spare);
    await hasher.updateAsync(current.subarray(0, filled));
    size += filled;
    [current, spare] = [spare, current];
    filled = await pending;
  }
  // Only now, with no read or hash still writing or reading them, may others use them; on
  // a failure they are dropped instead.
  returnBuffer(current);
  returnBuffer(spare);
  return { digest: hasher.digest(), size };
}

/**
 * Read buffers kept between files: allocating (and zeroing) two fresh buffers per file cost
 * more than hashing a 100 KiB file. Bounded, so a burst of lanes does not pin memory.
 */
const spareBuffers: Uint8Array[] = [];
const MAX_SPARE_BUFFERS = 16;

function borrowBuffer(): Uint8Array {
  return spareBuffers.pop() ?? new Uint8Array(CHUNK_SIZE);
}

function returnBuffer(buffer: Uint8Array): void {
  if (spareBuffers.length < MAX_SPARE_BUFFERS) spareBuffers.push(buffer);
}

/**
 * Hashes many files at once. Results come back in input order; a file that cannot be read
 * is returned as the `Error` in its slot, so one bad file does not hide the others.
 *
 * Big files go to the hash workers, small ones are hashed chunk by chunk on Deno's
 * blocking-thread pool; largest files start first so a big one does not start last and
 * leave a core idle at the end.
 */
export async function hashFiles(
  paths: readonly string[],
  options: { signal?: AbortSignal | undefined; concurrency?: number | undefined } = {},
): Promise<(FileDigest | Error)[]> {
  // More files in flight than cores: with small files the time goes to I/O round trips,
  // not hashing, and with large ones extra lanes cost nothing.
  const concurrency = Math.max(
    1,
    options.concurrency ?? 2 * Math.max(2, navigator.hardwareConcurrency ?? 1),
  );
  // Synchronous: a stat never waits on a FIFO, and 200 hand-offs to other threads cost more.
  const sizes = paths.map((path) => statOrUndefined(path)?.size ?? 0);
  const order = paths.map((_, index) => index).sort((a, b) => (sizes[b] ?? 0) - (sizes[a] ?? 0));
  const results: (FileDigest | Error)[] = new Array(paths.length);
  await hashWorkers.open(() =>
    forEachConcurrently(order, concurrency, async (index) => {
      options.signal?.throwIfAborted();
      results[index] = await hashFile(paths[index] ?? "", {
        signal: options.signal,
        expectedSize: sizes[index],
      }).catch(asError);
    })
  );
  return results;
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

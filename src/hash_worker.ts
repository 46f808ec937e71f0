/**
 * Worker thread of `hash_pool.ts`: hashes one whole file per message, reading and hashing on
 * this thread with synchronous calls, so no chunk waits for the main thread (see the pool's
 * module comment for why that matters).
 *
 * Message in: `{ path, backend }`. Message out: `{ digest, size }`, or `{ error: { name, message,
 * code } }` for a file that cannot be read (the pool rebuilds the error).
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { createSha512, forceNodeBackend, type Sha512Backend } from "./digest.ts";

/** The same chunk as the main-thread reader: constant memory, one read per MiB. */
const buffer = new Uint8Array(1 << 20);

self.onmessage = (event: MessageEvent<{ path: string; backend?: Sha512Backend }>) => {
  // TOOLTOOL_SHA512_BACKEND=node is applied on the main thread only; without this a worker
  // would still load libcrypto (and use it) for every big file.
  if (event.data.backend === "node") forceNodeBackend();
  try {
    using file = Deno.openSync(event.data.path, { read: true });
    const hasher = createSha512();
    let size = 0;
    for (let read = file.readSync(buffer); read !== null; read = file.readSync(buffer)) {
      hasher.update(buffer.subarray(0, read));
      size += read;
    }
    self.postMessage({ digest: hasher.digest(), size });
  } catch (error) {
    const { name, message, code } = error as { name?: unknown; message?: unknown; code?: unknown };
    self.postMessage({ error: { name: String(name), message: String(message), code } });
  }
};

/**
 * `node:crypto`, loaded on first use rather than imported: loading it costs about 20 ms of
 * start-up, and most runs never need it (hashing goes through libcrypto; only signed
 * requests and the fallback hasher use it).
 *
 * @module
 */

type NodeCrypto = typeof import("node:crypto");

let nodeCrypto: NodeCrypto | undefined;

/** The `node:crypto` module, loaded synchronously the first time it is asked for. */
export function loadNodeCrypto(): NodeCrypto {
  const process = (globalThis as unknown as {
    process: { getBuiltinModule(id: string): unknown };
  }).process;
  return nodeCrypto ??= process.getBuiltinModule("node:crypto") as NodeCrypto;
}

/**
 * The cache step of a record's fetch: place the cache's entry (under a shared lock on the
 * digest), or download into the cache under the exclusive lock, admit the entry and place
 * it. A write into the cache that fails for the file system's sake is a `CacheWriteFailure`,
 * which the engine answers by fetching without the cache.
 *
 * @module
 */

import type { Cache } from "../../cache/cache.ts";
import { ToolError } from "../../errors.ts";
import { describeFsError } from "../../fs_error.ts";
import type { FileRecord } from "../../manifest/manifest.ts";
import type { FileProgress } from "../../progress.ts";
import { writeError } from "../../fs_error.ts";
import { downloadStep } from "./lazy_steps.ts";
import type { FetchOptions, Obtained, RunState } from "./types.ts";

/** A write into the cache folder failed; the file can still be fetched without it. */
export class CacheWriteFailure extends Error {
  readonly reason: string;

  constructor(reason: string, cause: unknown) {
    super(`Cannot write to the cache: ${reason}`, { cause });
    this.reason = reason;
  }
}

/** Errors of a write that say the cache's file system cannot take it, not the network. */
const CACHE_WRITE_CODES = new Set([
  "ENOSPC",
  "EDQUOT",
  "EROFS",
  "EACCES",
  "EPERM",
  "EIO",
  "EFBIG",
  "ENOTDIR",
  "ENOENT",
]);

/**
 * Runs a step that writes into the cache, turning a file-system failure (the error itself
 * or its cause, as `writeError` wraps it) into a `CacheWriteFailure`. Anything else (the
 * network, a digest mismatch, an abort) passes through unchanged.
 */
async function inCache<T>(step: () => T | Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    const reason = cacheWriteReason(error);
    if (reason === undefined) throw error;
    throw new CacheWriteFailure(reason, error);
  }
}

function cacheWriteReason(error: unknown): string | undefined {
  let current = error;
  for (let depth = 0; current instanceof Error && depth < 3; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && CACHE_WRITE_CODES.has(code)) {
      if (code === "ENOSPC") return "no space left on device";
      if (code === "EDQUOT") return "disk quota exceeded";
      if (code === "EROFS") return "read-only file system";
      return describeFsError(current);
    }
    current = current.cause;
  }
  return undefined;
}

/**
 * Puts the record's file in place through the cache: its entry when valid, else a download
 * into the cache that is admitted and then placed. Throws `CacheWriteFailure` when a write
 * into the cache fails for the file system's sake.
 */
export async function viaCache(
  cache: Cache,
  record: FileRecord,
  destination: string,
  file: FileProgress,
  options: FetchOptions,
  run: RunState,
): Promise<Obtained> {
  const { digest, size } = record;
  const { signal, model } = options;
  let told = false;
  const onWait = () => {
    model.setState(file, "waiting");
    if (!told) {
      options.log.info(`${record.filename}: waiting for another process that is fetching it`);
    }
    told = true;
    options.changed?.();
  };
  // Rarely more than one round: only when the entry vanishes (a purge) between steps.
  for (let round = 0;; round++) {
    const found = await fromCache(cache, record, destination, file, options, onWait);
    if (found !== "absent" && found !== "damaged") return found;
    // Hits are still served from a cache that cannot be written; misses skip it.
    if (run.cacheBroken !== undefined) {
      return await (await downloadStep()).downloadBeside(record, destination, file, options);
    }
    using part = await inCache(() => cache.lockPart(digest, { signal, onWait }));
    // Another job may have filled (or fixed) the entry while this one waited.
    const state = await cache.checkEntry(digest, size, { rehash: options.rehash, signal });
    if (state.kind === "valid" && round < 3) {
      await part.removeFile();
      continue;
    }
    if (state.kind === "invalid") {
      options.log.warn(
        `The cached copy of "${record.filename}" (${
          cache.entryPath(digest)
        }) is damaged (${state.reason}): removing it and fetching the file again`,
      );
      await inCache(() => cache.evict(digest, { signal }));
    }
    const steps = await downloadStep();
    let result;
    try {
      result = await inCache(() =>
        steps.downloadRecord(record, part.path, file, options, {
          resume: true,
          handle: part.writableFile,
        })
      );
      // The lock stays with the file through the rename: readers wait until it is placed.
      await inCache(() => cache.admit(part.path, digest));
    } catch (error) {
      await part.removeFile().catch(() => {});
      throw error;
    }
    model.setState(file, "placing");
    await placeOrExplain(cache, record, destination);
    return steps.downloaded(result);
  }
}

/** The entry placed from the cache, or why not. */
async function fromCache(
  cache: Cache,
  record: FileRecord,
  destination: string,
  file: FileProgress,
  options: FetchOptions,
  onWait: () => void,
): Promise<Obtained | "absent" | "damaged"> {
  using entry = await cache.lockEntry(record.digest, {
    exclusive: false,
    signal: options.signal,
    onWait,
  });
  if (entry === undefined) return "absent";
  const state = await cache.checkEntry(record.digest, record.size, {
    rehash: options.rehash,
    signal: options.signal,
  });
  if (state.kind === "missing") return "absent";
  if (state.kind === "invalid") return "damaged";
  return await placeFromCache(cache, record, destination, file, options);
}

async function placeFromCache(
  cache: Cache,
  record: FileRecord,
  destination: string,
  file: FileProgress,
  options: FetchOptions,
): Promise<Obtained> {
  options.model.setState(file, "placing");
  const how = await placeOrExplain(cache, record, destination);
  options.log.debug(`${record.filename}: ${how === "link" ? "linked" : "copied"} from the cache`);
  options.cache?.markUsed(record.digest);
  return { source: "cache", bytes: 0, attempts: 0 };
}

async function placeOrExplain(
  cache: Cache,
  record: FileRecord,
  destination: string,
): Promise<"link" | "copy"> {
  try {
    return await cache.place(record.digest, destination);
  } catch (error) {
    if (error instanceof ToolError) throw error;
    throw writeError(record.filename, error);
  }
}

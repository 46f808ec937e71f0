/**
 * `fetch`: puts every file of a manifest in the working directory, verified, as fast as the
 * machine allows, and reports how each one got there.
 *
 * For each record, in parallel (`jobs` at once, largest first): a file already present is
 * kept when a stat stamp vouches for it or its hash matches, and removed otherwise; then the
 * cache is asked (a shared lock on the digest; the entry checked by stamp or hash) and the
 * entry placed by hard link or copy; otherwise the file is downloaded under the digest's
 * exclusive lock — after checking the cache again, since another job may have just
 * downloaded it — into the cache's temp folder, admitted, and placed. Without a cache the
 * download goes to a temporary file beside its destination. Either way, the destination
 * name only ever appears with verified content. Archives marked `unpack` are then extracted
 * in manifest order.
 *
 * Every failure is collected; the run goes on with the other files and the caller decides
 * the exit code from the outcomes. Ctrl-C (the signal) stops every transfer and removes its
 * temporary files before this returns.
 *
 * @module
 */

import { basename, join, resolve } from "node:path";
import { Cache } from "../../cache/cache.ts";
import { isTempName, isUnpackTempName, tempPathBeside } from "../../temp_names.ts";
import { removeIfPresent } from "../../fs_util.ts";
import { hashFile } from "../../digest.ts";
import { hashWorkers } from "../../hash_pool.ts";
import { errorMessage, ToolError } from "../../errors.ts";
import { describeFsError } from "../../fs_error.ts";
import { tryLock } from "../../lock.ts";
import type { FileRecord } from "../../manifest/manifest.ts";
import { formatBytes, formatDuration, formatRate } from "../../format.ts";
import type { FileProgress, ProgressModel } from "../../progress.ts";
import { downloadVerified } from "../../transport/download.ts";
import { type DownloadSource, isMirrorMiss } from "../../transport/download_source.ts";
import { writeError } from "../../transport/hashing_sink.ts";
import type { TransferLimits } from "../../transport/transfer_limits.ts";
import type { BackoffPolicy } from "../../transport/retry.ts";
import { forEachConcurrently } from "../../pool.ts";
import { copyFromDistdirs } from "./distdir.ts";
import { type CdnHeaders, cdnHeaders, formatCdnHeaders } from "../../transport/cdn_headers.ts";

/** Where a file in place came from (`network`: the ToolTool service). */
export type FetchSource = "present" | "cache" | "distdir" | "mirror" | "network";

/** What happened to one record; the `--json` report has one per record. */
export interface FileOutcome {
  readonly filename: string;
  readonly digest: string | null;
  readonly size: number | null;
  /** `null` when the file could not be put in place. */
  readonly source: FetchSource | null;
  /** Bytes received from the network for it. */
  readonly bytes: number;
  /** Download attempts (0 when it was not downloaded). */
  readonly attempts: number;
  readonly seconds: number;
  /** `true` once unpacked, `false` if unpacking failed, `null` when not to be unpacked. */
  readonly unpacked: boolean | null;
  /**
   * How the archive's tree got into place: `extract`ed, or from the tree cache by
   * `hardlink`, `reflink` or `copy`; `null` when not unpacked.
   */
  readonly unpackMethod?: UnpackMethod | null;
  /** Why the file is not in place (or not unpacked); `null` on success. */
  readonly error: string | null;
  /** Storage's CDN headers, when they were logged (a retry, a failure, a slow transfer). */
  readonly cdn?: CdnHeaders | undefined;
  /** The error itself, for the caller's report. */
  readonly cause?: unknown;
}

/** The messages a fetch run prints, already levelled (see `src/output.ts`). */
export interface FetchLog {
  info(message: string): void;
  debug(message: string): void;
  warn(message: string): void;
}

/** How an unpacked tree got into the working directory (see `src/cache/trees.ts`). */
export type UnpackMethod = "extract" | "hardlink" | "reflink" | "copy";

/**
 * Extracts an archive into a directory (see `src/archive/unpack.ts`), or places the tree
 * the cache keeps for its digest (`src/cache/trees.ts`).
 */
export type Unpacker = (
  archivePath: string,
  workDir: string,
  options: {
    signal?: AbortSignal;
    /** Paths the unpack must not remove or replace, with how to name each. */
    protect?: readonly { readonly path: string; readonly label: string }[];
    onRemoveBase?: (base: string) => void;
    /** The archive's verified digest, which keys its cached tree. */
    digest?: string;
  },
) => Promise<{
  readonly entries: number;
  readonly bytes: number;
  readonly method?: UnpackMethod;
  /** What the tree cache did: `built`, `rebuilt`, `reused` (or `none`: not used). */
  readonly tree?: string;
  readonly note?: string | undefined;
}>;

/** The manifest a fetch reads, which nothing the fetch writes may replace. */
export interface ManifestInUse {
  /** Absolute path. */
  readonly path: string;
  /** As the user named it, for messages. */
  readonly display: string;
}

/** What `fetchRecords` needs. */
export interface FetchOptions {
  /** Where the files go. */
  readonly cwd: string;
  readonly cache?: Cache | undefined;
  /** Files handled at once. */
  readonly jobs: number;
  /** Ignore stat stamps: hash every present file and cache entry. */
  readonly rehash: boolean;
  /** Where to download a record from, in order of preference. */
  readonly sources: (record: FileRecord) => readonly DownloadSource[];
  readonly fetch: typeof globalThis.fetch;
  readonly signal: AbortSignal;
  readonly stallTimeoutMs?: number | undefined;
  readonly limits?: TransferLimits | undefined;
  readonly attempts?: number | undefined;
  readonly backoff?: BackoffPolicy | undefined;
  readonly model: ProgressModel;
  readonly log: FetchLog;
  /** Called when a file starts or finishes, so a live display can redraw. */
  readonly changed?: (() => void) | undefined;
  /** Loads the unpacker when a record needs it. */
  readonly unpacker: () => Promise<Unpacker>;
  /** The manifest being fetched: no record or archive member may overwrite it. */
  readonly manifest?: ManifestInUse | undefined;
  /** Local folders searched (see `distdir.ts`) before `sources`. */
  readonly distdirs?: readonly string[] | undefined;
  /** No download at all: a file not present, cached or in a distdir fails. */
  readonly offline?: boolean | undefined;
  /** A download that takes longer than this is slow: its CDN headers are logged. */
  readonly slowTransferMs?: number | undefined;
}

/** Default of `slowTransferMs`. */
const DEFAULT_SLOW_TRANSFER_MS = 60_000;

/** The CDN headers logged for each file (keyed by its progress entry, one per run). */
const loggedCdnHeaders = new WeakMap<FileProgress, CdnHeaders>();

interface Obtained {
  readonly source: FetchSource;
  readonly bytes: number;
  readonly attempts: number;
}

/** What one `fetchRecords` run learns as it goes, shared by its files. */
interface RunState {
  /** Why the cache cannot be written, once a write into it failed: the run stops trying. */
  cacheBroken: string | undefined;
}

/**
 * Fetches `records` into `options.cwd` and returns one outcome per record, in order. Never
 * throws for a file that fails (its outcome says why); throws the signal's reason when
 * interrupted, after every temporary file is removed.
 */
export async function fetchRecords(
  records: readonly FileRecord[],
  options: FetchOptions,
): Promise<FileOutcome[]> {
  using _workers = hashWorkers.scope();
  const { model } = options;
  const run: RunState = { cacheBroken: undefined };
  await removeStaleTempFiles(options.cwd, options.log);
  const progress = records.map((record) => model.add(record.filename, record.size));
  const outcomes: FileOutcome[] = records.map((record) => ({
    filename: record.filename,
    digest: record.digest,
    size: record.size,
    source: null,
    bytes: 0,
    attempts: 0,
    seconds: 0,
    unpacked: null,
    error: "not fetched",
  }));
  const order = records.map((_, index) => index).sort((a, b) =>
    (records[b]?.size ?? 0) - (records[a]?.size ?? 0)
  );
  await forEachConcurrently(order, Math.max(1, options.jobs), async (index) => {
    const record = records[index] as FileRecord;
    const file = progress[index] as FileProgress;
    const started = performance.now();
    try {
      options.signal.throwIfAborted();
      const obtained = await obtain(record, file, options, run);
      model.setState(file, "done");
      outcomes[index] = {
        ...outcomes[index] as FileOutcome,
        ...obtained,
        seconds: (performance.now() - started) / 1000,
        error: null,
        ...cdnOf(file),
      };
      reportObtained(record, obtained, model.elapsedMs(file), options.log);
    } catch (error) {
      model.setState(file, "failed");
      outcomes[index] = {
        ...outcomes[index] as FileOutcome,
        bytes: file.received,
        attempts: file.attempt,
        seconds: (performance.now() - started) / 1000,
        error: error instanceof ToolError
          ? error.message
          : `Cannot fetch "${record.filename}": ${describeFsError(error)}`,
        cause: error,
        ...cdnOf(file),
      };
    }
    options.changed?.();
  });
  options.signal.throwIfAborted();
  await unpackAll(records, outcomes, progress, options);
  return outcomes;
}

async function obtain(
  record: FileRecord,
  file: FileProgress,
  options: FetchOptions,
  run: RunState,
): Promise<Obtained> {
  const { model } = options;
  const destination = join(options.cwd, record.filename);
  if (options.manifest !== undefined && isSameFile(destination, options.manifest.path)) {
    throw new ToolError(
      `Cannot fetch "${record.filename}": it would overwrite the manifest in use ("${options.manifest.display}")`,
    );
  }
  model.setState(file, "checking");
  options.changed?.();
  const present = await checkPresent(record, destination, options);
  if (present === "valid") return { source: "present", bytes: 0, attempts: 0 };
  if (present === "invalid") {
    options.log.info(`${record.filename} is present but does not match the manifest: replacing it`);
    await removeIfPresent(destination);
  }
  const { cache } = options;
  if (cache === undefined) return await downloadBeside(record, destination, file, options);
  try {
    return await viaCache(cache, record, destination, file, options, run);
  } catch (error) {
    if (!(error instanceof CacheWriteFailure)) throw error;
    // The cache is an optimisation: a full or read-only one must not fail a fetch that can
    // succeed without it (tooltool.py warns and goes on too).
    if (run.cacheBroken === undefined) {
      run.cacheBroken = error.reason;
      options.log.warn(
        `Cannot write to the cache folder "${cache.root}": ${error.reason}; fetching into the working directory without the cache for the rest of this run`,
      );
    }
    return await downloadBeside(record, destination, file, options);
  }
}

/** A write into the cache folder failed; the file can still be fetched without it. */
class CacheWriteFailure extends Error {
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

/** Whether the file in the working tree is the one the record describes. */
async function checkPresent(
  record: FileRecord,
  destination: string,
  options: FetchOptions,
): Promise<"valid" | "invalid" | "absent"> {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(destination);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "absent";
    throw new ToolError(`Cannot check "${record.filename}": ${describeFsError(error)}`);
  }
  if (info.isDirectory) {
    throw new ToolError(
      `Cannot fetch "${record.filename}": a directory of that name is in the way`,
    );
  }
  if (!info.isFile || info.size !== record.size) return "invalid";
  const { cache } = options;
  if (
    !options.rehash && cache !== undefined && await cache.vouches(destination, record.digest, info)
  ) {
    options.log.debug(`${record.filename}: present, unchanged since it was verified`);
    return "valid";
  }
  const hashed = await hashFile(destination, {
    signal: options.signal,
    expectedSize: record.size,
  });
  if (hashed.digest !== record.digest) return "invalid";
  cache?.recordVerified(destination, record.digest, info);
  return "valid";
}

async function viaCache(
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
      return await downloadBeside(record, destination, file, options);
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
    let result;
    try {
      result = await inCache(() => download(record, part.path, file, options, true));
      // The lock stays with the file through the rename: readers wait until it is placed.
      await inCache(() => cache.admit(part.path, digest));
    } catch (error) {
      await part.removeFile().catch(() => {});
      throw error;
    }
    model.setState(file, "placing");
    await placeOrExplain(cache, record, destination);
    return downloaded(result);
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

/** Without a cache: a temporary file beside the destination, renamed once verified. */
async function downloadBeside(
  record: FileRecord,
  destination: string,
  file: FileProgress,
  options: FetchOptions,
): Promise<Obtained> {
  const temp = tempPathBeside(destination);
  // Held until the rename, so that a later run can tell this file from a dead run's debris.
  using _writing = await tryLock(temp, { exclusive: true });
  try {
    const result = await download(record, temp, file, options, false);
    Deno.renameSync(temp, destination);
    return downloaded(result);
  } catch (error) {
    await removeIfPresent(temp).catch(() => {});
    throw error;
  }
}

function downloaded(result: { from: FetchSource; received: number; attempts: number }): Obtained {
  return { source: result.from, bytes: result.received, attempts: result.attempts };
}

async function download(
  record: FileRecord,
  path: string,
  file: FileProgress,
  options: FetchOptions,
  resume: boolean,
): Promise<{ from: FetchSource; received: number; attempts: number }> {
  const { model, log } = options;
  const local = await copyFromDistdirs(record, options.distdirs ?? [], path, {
    signal: options.signal,
    warn: log.warn,
  });
  if (local !== undefined) {
    log.debug(`${record.filename}: copied from ${local}`);
    return { from: "distdir", received: 0, attempts: 0 };
  }
  if (options.offline) {
    throw new ToolError(
      `Cannot fetch "${record.filename}" offline: it is not in the working directory, the cache${
        options.distdirs?.length ? " or a --distdir" : ""
      }`,
      { hint: "fetch it once with the network, or add a --distdir that holds it" },
    );
  }
  model.setState(file, "downloading");
  options.changed?.();
  const sources = options.sources(record);
  log.info(
    `Downloading ${record.filename} (${formatBytes(record.size)}) from ${sources[0]?.name ?? "?"}`,
  );
  let resumed = false;
  let lastSource: DownloadSource | undefined;
  let cdn: CdnHeaders | undefined;
  const started = performance.now();
  try {
    const result = await downloadVerified(path, {
      filename: record.filename,
      digest: record.digest,
      size: record.size,
      sources,
      fetch: options.fetch,
      signal: options.signal,
      resume,
      stallTimeoutMs: options.stallTimeoutMs,
      limits: options.limits,
      attempts: options.attempts,
      backoff: options.backoff,
      onReceived: (bytes) => model.received(file, bytes),
      onPosition: (position) => {
        if (!resumed && position > 0 && file.received === 0) {
          resumed = true;
          log.info(
            `${record.filename}: resuming an interrupted download at ${formatBytes(position)}`,
          );
        }
        model.setPosition(file, position);
      },
      onStorageResponse: (headers) => cdn = cdnHeaders(headers),
      onAttempt: (attempt, source) => {
        cdn = undefined;
        file.attempt = attempt;
        if (source !== lastSource && lastSource !== undefined) {
          // After a mirror's miss, going on is the plan, not news.
          const say = lastSource.kind === "mirror" ? log.debug : log.info;
          say(`${record.filename}: trying ${source.name}`);
        }
        lastSource = source;
      },
      onSourceFailed: (error, source) => {
        if (source.kind !== "mirror") return;
        if (isMirrorMiss(source, error)) {
          log.debug(`${record.filename}: not on the mirror ${source.name}`);
        } else {
          // A mirror that serves wrong or broken data needs its operator's attention.
          log.warn(`Mirror refused: ${errorMessage(error)}; trying the next source`);
        }
      },
      onRetry: (error, next, delayMs, resumeAt) => {
        const when = delayMs > 0 ? `in ${formatDuration(delayMs / 1000)}` : "now";
        const from = resumeAt > 0 ? `, resuming at ${formatBytes(resumeAt)}` : "";
        log.info(`${errorMessage(error)}; retrying ${when}${from} (attempt ${next})`);
        logCdnHeaders(file, record, cdn, "retried", log);
      },
    });
    if (performance.now() - started > (options.slowTransferMs ?? DEFAULT_SLOW_TRANSFER_MS)) {
      logCdnHeaders(file, record, cdn, "slow", log);
    }
    const from = result.kind === "mirror" ? "mirror" : "network";
    return { from, received: result.received, attempts: result.attempts };
  } catch (error) {
    if (options.signal.aborted) throw options.signal.reason;
    logCdnHeaders(file, record, cdn, "failed", log);
    throw error;
  }
}

/** Logs (and keeps, for the report) the CDN headers of the response a transfer went wrong on. */
function logCdnHeaders(
  file: FileProgress,
  record: FileRecord,
  cdn: CdnHeaders | undefined,
  why: "retried" | "failed" | "slow",
  log: FetchLog,
): void {
  if (cdn === undefined) return;
  loggedCdnHeaders.set(file, cdn);
  log.info(`${record.filename}: storage CDN headers (${why}): ${formatCdnHeaders(cdn)}`);
}

function cdnOf(file: FileProgress): { cdn?: CdnHeaders } {
  const cdn = loggedCdnHeaders.get(file);
  return cdn === undefined ? {} : { cdn };
}

function reportObtained(
  record: FileRecord,
  obtained: Obtained,
  elapsedMs: number,
  log: FetchLog,
): void {
  switch (obtained.source) {
    case "present":
      log.info(`${record.filename}: already present and valid`);
      break;
    case "cache":
      log.info(`${record.filename}: from the cache`);
      break;
    case "distdir":
      log.info(`${record.filename}: from a --distdir`);
      break;
    case "mirror":
    case "network": {
      const seconds = elapsedMs / 1000;
      // A rate over a blink of time is noise.
      const rate = seconds >= 0.5 ? formatRate(record.size / seconds) : "";
      log.info(
        `Downloaded ${record.filename}${obtained.source === "mirror" ? " from a mirror" : ""}: ${
          formatBytes(record.size)
        } in ${formatDuration(seconds)}${rate ? ` (${rate})` : ""}${
          obtained.attempts > 1 ? `, ${obtained.attempts} attempts` : ""
        }`,
      );
      break;
    }
  }
}

async function unpackAll(
  records: readonly FileRecord[],
  outcomes: FileOutcome[],
  progress: readonly FileProgress[],
  options: FetchOptions,
): Promise<void> {
  // An archive must not undo the fetch: replace the manifest, or a file it just verified.
  const protect = records.map((record) => ({
    path: join(options.cwd, record.filename),
    label: `the fetched file "${record.filename}"`,
  }));
  if (options.manifest !== undefined) {
    protect.push({
      path: options.manifest.path,
      label: `the manifest in use ("${options.manifest.display}")`,
    });
  }
  for (const [index, record] of records.entries()) {
    const outcome = outcomes[index] as FileOutcome;
    if (!record.unpack || outcome.error !== null) continue;
    options.signal.throwIfAborted();
    const file = progress[index] as FileProgress;
    const started = performance.now();
    options.model.setState(file, "unpacking");
    options.changed?.();
    try {
      const unpack = await options.unpacker();
      const result = await unpack(join(options.cwd, record.filename), options.cwd, {
        signal: options.signal,
        protect,
        onRemoveBase: (base) =>
          options.log.info(`Removing ${base}/ (left by an earlier unpack of ${record.filename})`),
        digest: record.digest,
      });
      reportTree(record, result, options.log);
      options.log.info(
        `Unpacked ${record.filename}: ${result.entries} entries, ${formatBytes(result.bytes)}`,
      );
      outcomes[index] = {
        ...outcome,
        unpacked: true,
        unpackMethod: result.method ?? "extract",
        seconds: outcome.seconds + (performance.now() - started) / 1000,
      };
      options.model.setState(file, "done");
    } catch (error) {
      if (options.signal.aborted) throw options.signal.reason;
      outcomes[index] = {
        ...outcome,
        unpacked: false,
        error: errorMessage(error),
        cause: error,
        seconds: outcome.seconds + (performance.now() - started) / 1000,
      };
      options.model.setState(file, "failed");
    }
    options.changed?.();
  }
}

function reportTree(
  record: FileRecord,
  result: Awaited<ReturnType<Unpacker>>,
  log: FetchLog,
): void {
  const why = result.note === undefined ? "" : ` (${result.note})`;
  if (result.tree === "built") log.debug(`${record.filename}: tree built in the cache`);
  if (result.tree === "rebuilt") {
    log.info(`${record.filename}: the cached tree had changed${why}: rebuilt it from the archive`);
  }
  if (result.tree === "none" && result.note !== undefined) {
    log.debug(`${record.filename}: tree cache not used${why}`);
  }
  const method = result.method ?? "extract";
  log.debug(
    `${record.filename}: ${
      method === "extract" ? "extracted from the archive" : `placed from the tree cache (${method})`
    }`,
  );
}

/**
 * Removes temporary files and unpack folders a killed run left in the working directory. A
 * live run holds a lock on each of them, so only dead ones can be locked here.
 */
async function removeStaleTempFiles(cwd: string, log: FetchLog): Promise<void> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(cwd));
  } catch {
    return;
  }
  for (const entry of entries) {
    if (entry.isDirectory && isUnpackTempName(entry.name)) {
      await removeAbandonedUnpack(join(cwd, entry.name), log);
      continue;
    }
    if (!entry.isFile || !isTempName(entry.name)) continue;
    const path = join(cwd, entry.name);
    const lock = await tryLock(path, { exclusive: true }).catch(() => undefined);
    if (lock === undefined) continue;
    try {
      await removeIfPresent(path);
      log.debug(`Removed ${entry.name}, left behind by an interrupted run`);
    } finally {
      lock.release();
    }
  }
}

/** Whether two paths name one file: the same path, or the same inode (any spelling of it). */
function isSameFile(a: string, b: string): boolean {
  if (resolve(a) === resolve(b)) return true;
  try {
    const one = Deno.lstatSync(a);
    const other = Deno.lstatSync(b);
    return one.ino !== null && one.ino === other.ino && one.dev === other.dev;
  } catch {
    return false;
  }
}

/** Removes an unpack folder whose unpacker is gone (its lock is free), or leaves it. */
async function removeAbandonedUnpack(path: string, log: FetchLog): Promise<void> {
  const lock = await tryLock(path, { exclusive: true, create: false }).catch(() => undefined);
  if (lock === undefined) return;
  try {
    await Deno.remove(path, { recursive: true });
    log.debug(`Removed ${basename(path)}, left behind by an interrupted unpack`);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      log.warn(`Cannot remove "${path}", left by an interrupted unpack: ${describeFsError(error)}`);
    }
  } finally {
    lock.release();
  }
}

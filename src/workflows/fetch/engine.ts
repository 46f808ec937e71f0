/**
 * `fetch`: puts every file of a manifest in the working directory, verified, as fast as the
 * machine allows, and reports how each one got there.
 *
 * For each record, in parallel (`jobs` at once, largest first, and `smallJobs` more lanes for
 * files under `SMALL_FILE_BYTES`, smallest first): a file already present is
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
 * This module is the run loop and the order of the steps; each step has its own module:
 * `present_step.ts`, `cache_step.ts`, `download_step.ts`, `unpack_step.ts`, and
 * `stale_temps.ts` for what a killed run left.
 *
 * @module
 */

import { join, resolve } from "../../paths.ts";
import { isAbsent, removeIfPresent } from "../../fs_util.ts";
import { hashWorkers } from "../../hash_pool.ts";
import { ToolError } from "../../errors.ts";
import { describeFsError } from "../../fs_error.ts";
import type { FileRecord } from "../../manifest/manifest.ts";
import { formatBytes, formatDuration, formatRate } from "../../format.ts";
import type { FileProgress } from "../../progress.ts";
import { forEachFromBothEnds } from "../../pool.ts";
import { CacheWriteFailure, viaCache } from "./cache_step.ts";
import { cdnOf } from "./cdn_log.ts";
import { downloadStep } from "./lazy_steps.ts";
import { checkPresent } from "./present_step.ts";
import { removeStaleTempFiles } from "./stale_temps.ts";
import type { FetchLog, FetchOptions, FileOutcome, Obtained, RunState } from "./types.ts";
import { unpackAll } from "./unpack_step.ts";

/**
 * Fetches `records` into `options.cwd` and returns one outcome per record, in order. Never
 * throws for a file that fails (its outcome says why); throws the signal's reason when
 * interrupted, after every temporary file is removed.
 */
/**
 * Below this size a transfer is bound by its round trips (API, redirect, storage), not by
 * bandwidth: such files gain from many in flight (200 files of 100 KiB: 0.86 s with 4 at
 * once, 0.69 s with 16, on the benchmark machine under load).
 */
export const SMALL_FILE_BYTES = 1 << 20;

export async function fetchRecords(
  records: readonly FileRecord[],
  options: FetchOptions,
): Promise<FileOutcome[]> {
  using _workers = hashWorkers.scope();
  const { model } = options;
  const run: EngineRunState = {
    cacheBroken: undefined,
    manifest: options.manifest && { ...options.manifest, identity: undefined },
  };
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
  const lanes = {
    lanes: Math.max(1, options.jobs),
    smallLanes: options.smallJobs ?? 0,
    isSmall: (index: number) => (records[index]?.size ?? 0) < SMALL_FILE_BYTES,
  };
  await forEachFromBothEnds(order, lanes, async (index) => {
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
  run: EngineRunState,
): Promise<Obtained> {
  const { model } = options;
  const destination = join(options.cwd, record.filename);
  // The usual case of a cold fetch, answered by one lstat: nothing there, so it is neither
  // the manifest nor a present file (each check would otherwise fail a stat of its own).
  const absent = isAbsent(destination);
  if (
    !absent && run.manifest !== undefined && isManifest(destination, run.manifest)
  ) {
    throw new ToolError(
      `Cannot fetch "${record.filename}": it would overwrite the manifest in use ("${run.manifest.display}")`,
    );
  }
  model.setState(file, "checking");
  options.changed?.();
  const present = absent ? "absent" : await checkPresent(record, destination, options);
  if (present === "valid") return { source: "present", bytes: 0, attempts: 0 };
  if (present === "invalid") {
    options.log.info(`${record.filename} is present but does not match the manifest: replacing it`);
    await removeIfPresent(destination);
  }
  const { cache } = options;
  if (cache === undefined) {
    return await (await downloadStep()).downloadBeside(record, destination, file, options);
  }
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
    return await (await downloadStep()).downloadBeside(record, destination, file, options);
  }
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

/** What the engine keeps for the whole run, next to what the steps share. */
interface EngineRunState extends RunState {
  readonly manifest: ManifestFile | undefined;
}

/** The manifest in use, as a path and (looked up once per run) its inode. */
interface ManifestFile {
  readonly path: string;
  readonly display: string;
  identity: Deno.FileInfo | null | undefined;
}

/**
 * Whether `destination` names the manifest: the same path, or the same inode (any spelling
 * of it, a hard link, or the file a symlinked `-m` points at; a destination that is itself
 * a symlink to the manifest is not it, as the fetch replaces the link, not what it points
 * at). The manifest is looked up once per run, not once per present file.
 */
function isManifest(destination: string, manifest: ManifestFile): boolean {
  if (resolve(destination) === resolve(manifest.path)) return true;
  if (manifest.identity === undefined) {
    try {
      manifest.identity = Deno.statSync(manifest.path);
    } catch {
      manifest.identity = null;
    }
  }
  const other = manifest.identity;
  if (other === null || other.ino === null) return false;
  try {
    const one = Deno.lstatSync(destination);
    return one.ino === other.ino && one.dev === other.dev;
  } catch {
    return false;
  }
}

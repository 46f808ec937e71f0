/**
 * Whether the files a manifest names are in a directory with the recorded size and
 * sha512: the check behind `list` (P and V columns) and `validate`.
 *
 * Sizes are compared first, from `stat`, so a file of the wrong size is never read; only
 * files of the right size are hashed, in parallel over the cores, streaming (never a
 * whole file in memory). Records go through a sliding window in record order, so a
 * manifest of any length costs time linear in its records and memory that does not grow.
 *
 * @module
 */

import { probeName } from "../libc.ts";
import { join } from "../paths.ts";
import { hashFile } from "../digest.ts";
import { hashWorkers } from "../hash_pool.ts";
import { describeFsError } from "../fs_error.ts";
import type { FileRecord } from "../manifest/manifest.ts";

/** What was found for one record. */
export interface FileStatus {
  readonly record: FileRecord;
  /** Something exists under the name (as tooltool.py's `os.path.exists`). */
  readonly present: boolean;
  /** Present, a regular file, and its size and sha512 match the record. */
  readonly valid: boolean;
  /**
   * Why it is not valid, or undefined: `absent`, `absent (cannot check: permission
   * denied)`, `a directory, not a file`, `not a regular file`, `size is 5 bytes, expected
   * 100`, `sha512 is 1a2b…, expected 3c4d…`, `cannot read: permission denied`.
   */
  readonly problem: string | undefined;
}

/** Options for `checkFiles` and `streamFileChecks`. */
export interface CheckFilesOptions {
  /** The directory the files should be in. */
  readonly cwd: string;
  readonly signal?: AbortSignal | undefined;
  /** How many files to hash at once; twice the cores by default. */
  readonly concurrency?: number | undefined;
  /**
   * How many records are in flight at once (stat, maybe hash, waiting to be yielded);
   * `CHECK_WINDOW` by default.
   */
  readonly window?: number | undefined;
  /** Stands in for `Deno.stat` (tests count the calls). */
  readonly stat?: ((path: string) => Promise<Deno.FileInfo>) | undefined;
}

/**
 * Records in flight at once. Enough to keep the file system busy; far fewer than a big
 * manifest's records: one promise per record of a 239k-record manifest at once swamped
 * Deno's blocking pool (40 s) and held every status in memory.
 */
export const CHECK_WINDOW = 64;

/** The short form of a digest for messages: enough to tell two apart at a glance. */
function shortDigest(digest: string): string {
  return digest.slice(0, 12) + "…";
}

/**
 * Checks every record's file in `options.cwd`, all statuses at once in record order (see
 * `streamFileChecks`, which this collects). Never throws for a file problem; throws only
 * when `options.signal` aborts.
 */
export async function checkFiles(
  records: readonly FileRecord[],
  options: CheckFilesOptions,
): Promise<FileStatus[]> {
  const statuses: FileStatus[] = [];
  for await (const status of streamFileChecks(records, options)) statuses.push(status);
  return statuses;
}

/**
 * Checks every record's file in `options.cwd`, yielding each status in record order as
 * soon as it and those before it are known, so a caller can print as it goes. At most
 * `options.window` records are in flight and `options.concurrency` files hashed at once:
 * time is linear in the records and memory does not grow with them. Never throws for a
 * file problem (a missing, unreadable or mismatched file is a status); throws only when
 * `options.signal` aborts.
 */
export async function* streamFileChecks(
  records: readonly FileRecord[],
  options: CheckFilesOptions,
): AsyncGenerator<FileStatus, void, undefined> {
  using _workers = hashWorkers.scope();
  const window = Math.max(1, options.window ?? CHECK_WINDOW);
  const hashing = limiter(
    Math.max(1, options.concurrency ?? 2 * Math.max(2, navigator.hardwareConcurrency ?? 1)),
  );
  const stat = options.stat ?? statNow;
  const inFlight: Promise<FileStatus>[] = [];
  let next = 0;
  while (next < records.length || inFlight.length > 0) {
    while (inFlight.length < window && next < records.length) {
      const pending = checkFile(records[next++]!, options, stat, hashing);
      // Awaited in order below; until then a rejection (abort) must not count as unhandled.
      pending.catch(() => {});
      inFlight.push(pending);
    }
    yield await inFlight.shift()!;
  }
}

type Limiter = <T>(task: () => Promise<T>) => Promise<T>;

/** Runs tasks with at most `limit` at once, the others waiting in call order. */
function limiter(limit: number): Limiter {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (task) => {
    while (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await task();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

async function checkFile(
  record: FileRecord,
  options: CheckFilesOptions,
  stat: (path: string) => Promise<Deno.FileInfo>,
  hashing: Limiter,
): Promise<FileStatus> {
  options.signal?.throwIfAborted();
  const path = join(options.cwd, record.filename);
  const settled = await statFile(record, path, stat);
  if (!("info" in settled)) return settled;
  const result = await hashing(() => {
    options.signal?.throwIfAborted();
    return hashFile(path, { signal: options.signal, expectedSize: record.size, info: settled.info })
      .catch(asError);
  });
  options.signal?.throwIfAborted();
  if (result instanceof Error) return invalid(record, `cannot read: ${describeFsError(result)}`);
  if (result.size !== record.size) {
    // The file changed between stat and read.
    return invalid(record, `size is ${result.size} bytes, expected ${record.size}`);
  }
  if (result.digest !== record.digest) {
    return invalid(
      record,
      `sha512 is ${shortDigest(result.digest)}, expected ${shortDigest(record.digest)}`,
    );
  }
  return { record, present: true, valid: true, problem: undefined };
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** The status settled by `stat` alone, or undefined when the file must be hashed. */
/**
 * `Deno.statSync` behind a promise: a stat never waits on a FIFO, and on a local disk it
 * takes microseconds, where `Deno.stat` costs two thread hand-offs per record (a sixth of a
 * `validate` of 200 small files, more with a core kept busy).
 */
function statNow(path: string): Promise<Deno.FileInfo> {
  // A missing file (a `list` run where few are present) without the error Deno would build.
  if (probeName(path) === false) {
    return Promise.reject(new Deno.errors.NotFound(`No such file or directory: ${path}`));
  }
  try {
    return Promise.resolve(Deno.statSync(path));
  } catch (error) {
    return Promise.reject(error);
  }
}

/** The file's metadata when it may hold the record's bytes; else its status, settled. */
async function statFile(
  record: FileRecord,
  path: string,
  stat: (path: string) => Promise<Deno.FileInfo>,
): Promise<FileStatus | { readonly info: Deno.FileInfo }> {
  let info: Deno.FileInfo;
  try {
    info = await stat(path);
  } catch (error) {
    // A dangling symlink is absent too, as for os.path.exists.
    const problem = error instanceof Deno.errors.NotFound
      ? "absent"
      : `absent (cannot check: ${describeFsError(error)})`;
    return { record, present: false, valid: false, problem };
  }
  if (info.isDirectory) return invalid(record, "a directory, not a file");
  // Reading a FIFO or a device could block forever or never end.
  if (!info.isFile) return invalid(record, "not a regular file");
  if (info.size !== record.size) {
    return invalid(record, `size is ${info.size} bytes, expected ${record.size}`);
  }
  return { info };
}

function invalid(record: FileRecord, problem: string): FileStatus {
  return { record, present: true, valid: false, problem };
}

/** One file's entry in a `--json` report; the field names are stable. */
export interface FileReportEntry {
  readonly filename: string;
  readonly size: number;
  readonly digest: string;
  readonly present: boolean;
  readonly valid: boolean;
  readonly problem: string | null;
}

/** The `--json` form of a status. */
export function fileReportEntry(status: FileStatus): FileReportEntry {
  return {
    filename: status.record.filename,
    size: status.record.size,
    digest: status.record.digest,
    present: status.present,
    valid: status.valid,
    problem: status.problem ?? null,
  };
}

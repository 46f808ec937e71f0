/**
 * Whether the files a manifest names are in a directory with the recorded size and
 * sha512: the check behind `list` (P and V columns) and `validate`.
 *
 * Sizes are compared first, from `stat`, so a file of the wrong size is never read; only
 * files of the right size are hashed, in parallel over the cores, streaming (never a
 * whole file in memory).
 *
 * @module
 */

import { join } from "node:path";
import { hashFiles } from "./digest.ts";
import { describeFsError } from "./fs_error.ts";
import type { FileRecord } from "./manifest.ts";

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

/** Options for `checkFiles`. */
export interface CheckFilesOptions {
  /** The directory the files should be in. */
  readonly cwd: string;
  readonly signal?: AbortSignal | undefined;
  /** How many files to hash at once; all cores by default. */
  readonly concurrency?: number | undefined;
}

/** The short form of a digest for messages: enough to tell two apart at a glance. */
function shortDigest(digest: string): string {
  return digest.slice(0, 12) + "…";
}

/**
 * Checks every record's file in `options.cwd`, in record order. Never throws for a file
 * problem (a missing, unreadable or mismatched file is a status); throws only when
 * `options.signal` aborts.
 */
export async function checkFiles(
  records: readonly FileRecord[],
  options: CheckFilesOptions,
): Promise<FileStatus[]> {
  const statuses: (FileStatus | undefined)[] = await Promise.all(
    records.map((record) => statFile(record, options.cwd)),
  );
  const toHash = statuses.flatMap((status, index) => status === undefined ? [index] : []);
  const digests = await hashFiles(
    toHash.map((index) => join(options.cwd, records[index]!.filename)),
    { signal: options.signal, concurrency: options.concurrency },
  );
  options.signal?.throwIfAborted();
  toHash.forEach((index, slot) => {
    const record = records[index]!;
    const result = digests[slot]!;
    if (result instanceof Error) {
      statuses[index] = invalid(record, `cannot read: ${describeFsError(result)}`);
    } else if (result.size !== record.size) {
      // The file changed between stat and read.
      statuses[index] = invalid(record, `size is ${result.size} bytes, expected ${record.size}`);
    } else if (result.digest !== record.digest) {
      statuses[index] = invalid(
        record,
        `sha512 is ${shortDigest(result.digest)}, expected ${shortDigest(record.digest)}`,
      );
    } else {
      statuses[index] = { record, present: true, valid: true, problem: undefined };
    }
  });
  return statuses as FileStatus[];
}

/** The status settled by `stat` alone, or undefined when the file must be hashed. */
async function statFile(record: FileRecord, cwd: string): Promise<FileStatus | undefined> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(join(cwd, record.filename));
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
  return undefined;
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

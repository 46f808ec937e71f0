/**
 * `fetch --dry-run`: where each file would come from, whether an `unpack` archive would be
 * placed from the cache's tree or extracted, and how many bytes would be downloaded and
 * unpacked, found by reading only. Nothing is written: no cache folder or entry, no journal
 * line, no lock, no temporary file (files and trees are checked as a fetch would, by stat
 * stamp or by hashing, but the results are not recorded). The network is not
 * contacted either: a file to download is planned from the first source that would be
 * tried, which may still fall through to the next one on the day.
 *
 * @module
 */

import { join } from "../../paths.ts";
import type { Cache } from "../../cache/cache.ts";
import type { Context } from "../../context.ts";
import { hashFile } from "../../digest.ts";
import { PartialFailureError } from "../../errors.ts";
import { formatBytes, plural } from "../../format.ts";
import { statOrUndefined } from "../../fs_util.ts";
import type { FileRecord } from "../../manifest/manifest.ts";
import { forEachConcurrently } from "../../pool.ts";
import type { DownloadSource, NetworkSourceKind } from "../../transport/download_source.ts";
import { findInDistdirs } from "./distdir.ts";

/** Where a file would come from; `missing` when nothing could provide it (offline). */
export type PlanSource = "present" | "cache" | "distdir" | NetworkSourceKind | "missing";

/**
 * Where an `unpack` archive's files would come from: `tree` when the cache holds its
 * extracted tree, built and unchanged (placed without extracting), else `archive`.
 */
export type PlanUnpack = "tree" | "archive";

/** The plan for one record. */
export interface PlannedFile {
  readonly filename: string;
  readonly digest: string | null;
  readonly size: number | null;
  readonly source: PlanSource;
  /** The path or server it would come from (`null` when present or missing). */
  readonly from: string | null;
  /** Bytes it would download (its size when it comes from the network). */
  readonly download: number;
  /** Archive bytes it would unpack (its size when marked `unpack`). */
  readonly unpack: number;
  /** Where the unpacked files would come from; `null` when not unpacked. */
  readonly unpackFrom: PlanUnpack | null;
  /** A file of that name is there but does not match, and would be replaced. */
  readonly replaces: boolean;
  /** Why it could not be fetched; `null` when it could. */
  readonly error: string | null;
}

/** A whole dry run. */
export interface FetchPlan {
  readonly files: readonly PlannedFile[];
  readonly offline: boolean;
}

/** What `planRecords` needs. */
export interface PlanOptions {
  readonly cwd: string;
  /** A cache opened with `Cache.peek`, if any. */
  readonly cache: Cache | undefined;
  readonly distdirs: readonly string[];
  readonly sources: (record: FileRecord) => readonly DownloadSource[];
  readonly offline: boolean;
  readonly rehash: boolean;
  /**
   * Whether the tree cache holds a ready tree for a digest (read only); absent when the
   * tree cache would not be used (no cache, `--no-tree-cache`, `TOOLTOOL_TREE_CACHE=0`).
   */
  readonly treeReady?: ((digest: string) => Promise<boolean>) | undefined;
  readonly jobs: number;
  readonly signal: AbortSignal;
  readonly warn: (message: string) => void;
}

/** The plan of each record, in order. */
export async function planRecords(
  records: readonly FileRecord[],
  options: PlanOptions,
): Promise<PlannedFile[]> {
  const plans: PlannedFile[] = new Array(records.length);
  await forEachConcurrently(
    records.map((_, index) => index),
    Math.max(1, options.jobs),
    async (index) => {
      const record = records[index] as FileRecord;
      plans[index] = await planOne(record, options);
    },
  );
  return plans;
}

async function planOne(record: FileRecord, options: PlanOptions): Promise<PlannedFile> {
  const unpack = record.unpack ? record.size : 0;
  // The tree is keyed by digest: it serves the unpack wherever the archive itself comes from.
  const unpackFrom: PlanUnpack | null = !record.unpack
    ? null
    : await options.treeReady?.(record.digest)
    ? "tree"
    : "archive";
  const plan = (source: PlanSource, from: string | null, replaces: boolean): PlannedFile => ({
    filename: record.filename,
    digest: record.digest,
    size: record.size,
    source,
    from,
    download: source === "service" || source === "mirror" ? record.size : 0,
    unpack: source === "missing" ? 0 : unpack,
    unpackFrom: source === "missing" ? null : unpackFrom,
    replaces,
    error: source === "missing"
      ? `Cannot fetch "${record.filename}" offline: it is not in the working directory, the cache${
        options.distdirs.length > 0 ? " or a --distdir" : ""
      }`
      : null,
  });
  const destination = join(options.cwd, record.filename);
  const present = statOrUndefined(destination);
  if (present !== undefined && await holds(destination, present, record, options)) {
    return plan("present", null, false);
  }
  const replaces = present !== undefined;
  const { cache } = options;
  if (cache !== undefined) {
    const entry = cache.entryPath(record.digest);
    const info = statOrUndefined(entry, { likelyMissing: true });
    if (info !== undefined && await holds(entry, info, record, options)) {
      return plan("cache", entry, replaces);
    }
  }
  const local = await findInDistdirs(record, options.distdirs, options);
  if (local !== undefined) return plan("distdir", local, replaces);
  const first = options.offline ? undefined : options.sources(record)[0];
  if (first === undefined) return plan("missing", null, replaces);
  return plan(first.kind ?? "service", first.name, replaces);
}

/** Whether the file holds the record's bytes: by a stamp the cache recorded, or by hashing. */
async function holds(
  path: string,
  info: Deno.FileInfo,
  record: FileRecord,
  options: PlanOptions,
): Promise<boolean> {
  if (!info.isFile || info.size !== record.size) return false;
  const { cache } = options;
  if (!options.rehash && cache !== undefined && await cache.vouches(path, record.digest, info)) {
    return true;
  }
  const hashed = await hashFile(path, { signal: options.signal, expectedSize: record.size });
  return hashed.digest === record.digest;
}

const UNPACK_WORDS: Record<PlanUnpack, string> = {
  tree: "the tree cache",
  archive: "the archive",
};

/**
 * Prints the plan (one line per file on stdout, or the `--json` report), the totals on
 * stderr, and throws when a file could not be fetched (offline and nowhere local).
 */
export function renderFetchPlan(plan: FetchPlan, ctx: Context): void {
  const { output } = ctx;
  const { files } = plan;
  const failed = files.filter((file) => file.error !== null);
  const download = files.reduce((sum, file) => sum + file.download, 0);
  const unpack = files.reduce((sum, file) => sum + file.unpack, 0);
  if (output.json) {
    output.report({
      ok: failed.length === 0,
      dryRun: true,
      offline: plan.offline,
      download,
      unpack,
      files,
    });
  }
  for (const file of files) {
    const from = file.from === null ? "" : ` ${file.from}`;
    const bytes = file.download > 0 ? `, ${formatBytes(file.download)} to download` : "";
    const replaced = file.replaces ? " (replacing the file there)" : "";
    const unpacked = file.unpackFrom === null
      ? ""
      : `, unpack from ${UNPACK_WORDS[file.unpackFrom]}`;
    output.data(`${file.filename}: ${file.source}${from}${bytes}${replaced}${unpacked}`);
  }
  const downloads = files.filter((file) => file.download > 0).length;
  const trees = files.filter((file) => file.unpackFrom === "tree").length;
  output.info(
    `Dry run: ${plural(files.length, "file")}: ${downloads} to download (${
      formatBytes(download)
    }), ${formatBytes(unpack)} of archives to unpack${
      trees > 0 ? ` (${trees} from the tree cache)` : ""
    }; nothing was changed`,
  );
  if (failed.length === 0) return;
  for (const file of failed) output.error(file.error ?? "missing");
  throw new PartialFailureError(
    `Cannot fetch ${failed.length} of ${plural(files.length, "file")}: ${
      failed.map((file) => file.filename).join(", ")
    }`,
    failed.map((file) => ({ target: file.filename, error: file.error })),
  );
}

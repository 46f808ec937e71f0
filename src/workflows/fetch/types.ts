/**
 * The shapes the fetch engine passes between its steps, and its options and outcomes.
 *
 * @module
 */

import type { Cache } from "../../cache/cache.ts";
import type { FileRecord } from "../../manifest/manifest.ts";
import type { ProgressModel } from "../../progress.ts";
import type { CdnHeaders } from "../../transport/cdn_headers.ts";
import type { DownloadSource } from "../../transport/download_source.ts";
import type { BackoffPolicy } from "../../transport/retry.ts";
import type { TransferLimits } from "../../transport/transfer_limits.ts";

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
  /** Further lanes that take only small files (`SMALL_FILE_BYTES`); default none. */
  readonly smallJobs?: number | undefined;
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

/** How a record's file got into place; its outcome adds the time taken. */
export interface Obtained {
  readonly source: FetchSource;
  readonly bytes: number;
  readonly attempts: number;
}

/** What one `fetchRecords` run learns as it goes, shared by its files. */
export interface RunState {
  /** Why the cache cannot be written, once a write into it failed: the run stops trying. */
  cacheBroken: string | undefined;
}

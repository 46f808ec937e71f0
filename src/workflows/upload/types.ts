/**
 * The shapes an upload passes between its steps, and its options and report.
 *
 * @module
 */

import type { Context } from "../../context.ts";
import type { FileRecord, Visibility } from "../../manifest/manifest.ts";
import type { Sha512 } from "../../sha512.ts";
import type { ApiClient } from "../../transport/http.ts";
import type { BackoffPolicy } from "../../transport/retry.ts";
import type { StoragePut } from "../../transport/storage_put.ts";

/** What `uploadManifest` needs from the command line. */
export interface UploadOptions {
  /** The manifest, as given (relative paths resolve against `ctx.cwd`). */
  readonly manifest: string;
  /** `--message`: required, non-empty. */
  readonly message: string | undefined;
  /** API base URLs, in order of preference, each ending with `/`. */
  readonly urls: readonly string[];
  readonly region?: string | undefined;
  readonly authenticationFile?: string | undefined;
  /** Timing knobs, for tests; see `UploadTuning`. */
  readonly tuning?: Partial<UploadTuning> | undefined;
  /** How files reach storage; `putFile` unless a test swaps it. */
  readonly put?: StoragePut | undefined;
}

/** Limits and delays of an upload. */
export interface UploadTuning {
  /** Longest total wait for the server to accept upload-complete notices (409s). */
  readonly completeWaitMs: number;
  /** Tries of one PUT while its URL is valid. */
  readonly putAttempts: number;
  /** Batches asked at most: the first, plus new ones for URLs that expired. */
  readonly batchAttempts: number;
  /** A PUT that moves no byte for this long is abandoned (and retried). */
  readonly stallTimeoutMs: number;
  /** Lifetime assumed for a `put_url` that does not state one (the service's 60 s). */
  readonly urlLifetimeMs: number;
  /** A retry must start this long before its URL expires, or a new batch is asked. */
  readonly urlMarginMs: number;
  /** Backoff between PUT tries. */
  readonly backoff: BackoffPolicy;
  /** Tries of one API request (the batch, a completion notice) per server. */
  readonly apiAttempts: number;
  /** While waiting for verification, a log line at most this often (a terminal gets a live line). */
  readonly heartbeatMs: number;
  /** Shortest wait between two rounds of completion notices, whatever the server asks. */
  readonly minCompleteRetryMs: number;
}

/** The defaults: production's 60 s URLs, a 5 minute bound on waiting for verification. */
export const DEFAULT_UPLOAD_TUNING: UploadTuning = {
  completeWaitMs: 5 * 60_000,
  putAttempts: 5,
  batchAttempts: 3,
  stallTimeoutMs: 60_000,
  urlLifetimeMs: 60_000,
  urlMarginMs: 1_000,
  backoff: { baseMs: 500, maxMs: 8_000 },
  apiAttempts: 3,
  heartbeatMs: 10_000,
  minCompleteRetryMs: 250,
};

/** What happened to one file. */
export type UploadStatus = "uploaded" | "present" | "failed";

/**
 * Whether the server was told an uploaded file is complete: `requested` (202), `pending`
 * (still 409 when the wait ran out: the server verifies it on its own later), `failed`
 * (the notice itself failed; the server still verifies it on its own), `none` (not
 * uploaded by this run).
 */
export type Verification = "requested" | "pending" | "failed" | "none";

/** One manifest record in the report. Field names are stable (`--json`). */
export interface UploadFileReport {
  readonly filename: string;
  readonly digest: string;
  readonly size: number;
  readonly visibility: Visibility;
  readonly status: UploadStatus;
  readonly verification: Verification;
  /** Why it failed, or null. */
  readonly error: string | null;
}

/** The outcome of an upload. Field names are stable (`--json`). */
export interface UploadReport {
  readonly manifest: string;
  /** The API base URL that took the batch. */
  readonly server: string;
  readonly message: string;
  /** Batch ids the server gave, in order (more than one when URLs expired). */
  readonly batches: readonly number[];
  readonly files: readonly UploadFileReport[];
  readonly uploaded: number;
  readonly present: number;
  readonly failed: number;
  /** Bytes sent to storage by successful PUTs. */
  readonly bytesUploaded: number;
  readonly seconds: number;
}

/** A file to send: one digest, under one or more manifest names. */
export interface UploadItem {
  readonly digest: Sha512;
  readonly size: number;
  readonly visibility: Visibility;
  /** Absolute path of the first record's file. */
  readonly path: string;
  readonly records: readonly FileRecord[];
}

export interface ItemOutcome {
  status: UploadStatus;
  verification: Verification;
  error?: unknown;
}

export interface Session {
  readonly ctx: Context;
  readonly tuning: UploadTuning;
  readonly message: string;
  readonly region: string | undefined;
  readonly manifest: string;
  readonly put: StoragePut;
  readonly clients: readonly ApiClient[];
  /** The server that took the first batch; later batches and notices go there too. */
  serverIndex: number;
  readonly batches: number[];
  bytesUploaded: number;
}

/** The name a file goes by in batches and messages: its first record's. */
export function nameOf(item: UploadItem): string {
  return item.records[0]!.filename;
}

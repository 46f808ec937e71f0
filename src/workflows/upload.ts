/**
 * `upload`: sends the files a manifest describes to a ToolTool server, the way the service
 * expects (see its `api.yml`), but checked up front and resilient where tooltool.py is not.
 *
 * 1. Before any request: a message, usable credentials, a manifest that parses, a
 *    visibility on every record, and every file present with its recorded size and sha512.
 * 2. `POST upload[?region=]` with the batch; the answer carries a signed `put_url` for each
 *    file the server does not hold yet (falling back to the next `--url` on connection
 *    errors and 5xx, as for every API call).
 * 3. Every PUT starts at once, since the URLs expire after 60 s. Bodies are streamed from
 *    disk with a `Content-Length` (storage refuses chunked uploads) and no credentials. A
 *    failed PUT is retried while its URL is valid; once it has expired, a new batch is
 *    asked for the files still missing.
 * 4. `GET upload/complete/sha512/<digest>` for each uploaded file, honouring 409 +
 *    `X-Retry-After` (the server verifies an upload only once its URL has expired), with a
 *    bound on the total wait. The wait is told as it changes (a line when it starts and when
 *    the number of files still waiting changes), with a heartbeat at most every 10 s in a log
 *    and a live line on a terminal: never a line per 409.
 *
 * The PUT itself is `storage_put.ts` (not `fetch`, which cannot send a stream with a
 * `Content-Length`).
 *
 * @module
 */

import { clipText } from "../bounded_read.ts";
import { z } from "zod";
import { checkFiles } from "./verify_files.ts";
import { displayUrl, withoutUserinfo } from "../display.ts";
import type { Context } from "../context.ts";
import {
  describeCredentials,
  loadCredentials,
  requireCredentials,
} from "../transport/credentials.ts";
import {
  errorMessage,
  HttpError,
  IntegrityError,
  isRetriable,
  ManifestError,
  NetworkError,
  PartialFailureError,
  ToolError,
  UsageError,
} from "../errors.ts";
import { ApiClient } from "../transport/http.ts";
import {
  type BackoffPolicy,
  parseRetryAfter,
  retryDelayMs,
  withRetries,
} from "../transport/retry.ts";
import { sleep } from "../sleep.ts";
import type { FileRecord, Visibility } from "../manifest/manifest.ts";
import type { Sha512 } from "../sha512.ts";
import { readManifest } from "../manifest/manifest_file.ts";
import type { Output } from "../output.ts";
import { putFile, type StorageAnswer, type StoragePut } from "../transport/storage_put.ts";

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

/**
 * Uploads the files of a manifest (see the module doc for the steps). Throws `UsageError`
 * for a missing message, `CredentialsError` / `ManifestError` / `ToolError` for problems
 * found before any request, and the server's error when the first batch is refused.
 * Failures of single files are not thrown: they are in the report (see `finishUpload`).
 */
export async function uploadManifest(options: UploadOptions, ctx: Context): Promise<UploadReport> {
  const started = performance.now();
  const tuning: UploadTuning = { ...DEFAULT_UPLOAD_TUNING, ...options.tuning };
  const message = options.message;
  if (message === undefined || message.trim() === "") {
    throw new UsageError("The upload command requires --message", {
      hint: 'describe the upload like a commit: --message "Bug 1234567 - clang 17 for linux64"',
    });
  }
  if (options.urls.length === 0) throw new UsageError("The upload command requires --url");
  const credentials = await loadCredentials(
    { authenticationFile: options.authenticationFile, warn: (message) => ctx.output.warn(message) },
    ctx.env,
  );
  requireCredentials(
    credentials,
    options.urls,
    ctx.env,
    `Cannot upload manifest "${options.manifest}" to ${displayUrl(options.urls[0]!)}`,
  );
  ctx.output.debug(`Using ${describeCredentials(credentials)}`);

  const items = await checkManifest(options.manifest, ctx);
  const session: Session = {
    ctx,
    tuning,
    message,
    region: options.region,
    manifest: options.manifest,
    put: options.put ?? putFile,
    clients: options.urls.map((baseUrl) =>
      new ApiClient({
        baseUrl,
        credentials,
        fetch: ctx.fetch,
        env: ctx.env,
        signal: ctx.signal,
      })
    ),
    serverIndex: 0,
    batches: [],
    bytesUploaded: 0,
  };
  const outcomes = new Map<Sha512, ItemOutcome>();
  try {
    await sendItems(session, items, outcomes);
  } catch (error) {
    if (
      credentials.kind === "bearer" && error instanceof HttpError &&
      (error.status === 401 || error.status === 403)
    ) {
      // tooltool.py sends bearer tokens (RelengAPI's), which today's service ignores.
      throw new HttpError(error.message, error, {
        hint:
          "the ToolTool service treats a bearer token as anonymous: use Taskcluster credentials (a JSON file with clientId and accessToken)",
        cause: error,
      });
    }
    throw error;
  }
  const uploaded = items.filter((item) => outcomes.get(item.digest)?.status === "uploaded");
  await notifyComplete(session, uploaded, outcomes);

  const files = items.flatMap((item) => {
    const outcome = outcomes.get(item.digest) ?? { status: "failed", verification: "none" };
    return item.records.map((record): UploadFileReport => ({
      filename: record.filename,
      digest: item.digest,
      size: item.size,
      visibility: item.visibility,
      status: outcome.status,
      verification: outcome.verification,
      error: outcome.error === undefined ? null : errorMessage(outcome.error),
    }));
  }).sort((a, b) => a.filename < b.filename ? -1 : a.filename > b.filename ? 1 : 0);
  return {
    manifest: options.manifest,
    server: session.clients[session.serverIndex]?.displayName ?? "",
    message,
    batches: session.batches,
    files,
    uploaded: files.filter((file) => file.status === "uploaded").length,
    present: files.filter((file) => file.status === "present").length,
    failed: files.filter((file) => file.status === "failed").length,
    bytesUploaded: session.bytesUploaded,
    seconds: Math.round((performance.now() - started) / 100) / 10,
  };
}

/**
 * Reports an upload: the `--json` document on stdout, a summary on stderr, and a
 * `PartialFailureError` (exit 1) when any file failed (each was already reported).
 */
export function finishUpload(report: UploadReport, ctx: Context): void {
  if (ctx.output.json) ctx.output.report(report);
  const parts = [`${report.uploaded} uploaded (${formatBytes(report.bytesUploaded)})`];
  if (report.present > 0) parts.push(`${report.present} already on the server`);
  if (report.failed > 0) parts.push(`${report.failed} failed`);
  const summary = `${parts.join(", ")} in ${report.seconds} s`;
  if (report.failed === 0) {
    ctx.output.info(`Upload to ${report.server} done: ${summary}`);
    return;
  }
  throw new PartialFailureError(
    `Cannot upload ${report.failed} of ${report.files.length} files to ${report.server}: ${summary}`,
    report.files.filter((file) => file.status === "failed").map((file) => ({
      target: file.filename,
      error: file.error,
    })),
    { hint: "run the same command again: files already uploaded are not sent twice" },
  );
}

/** A file to send: one digest, under one or more manifest names. */
interface UploadItem {
  readonly digest: Sha512;
  readonly size: number;
  readonly visibility: Visibility;
  /** Absolute path of the first record's file. */
  readonly path: string;
  readonly records: readonly FileRecord[];
}

interface ItemOutcome {
  status: UploadStatus;
  verification: Verification;
  error?: unknown;
}

interface Session {
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

/** Step 1: the manifest and its files, checked without the network. */
async function checkManifest(manifest: string, ctx: Context): Promise<UploadItem[]> {
  const records = await readManifest(manifest, { cwd: ctx.cwd });
  if (records.length === 0) {
    throw new ManifestError(`Cannot upload manifest "${manifest}": it lists no files`);
  }
  const unset = records.filter((record) => record.visibility === undefined);
  if (unset.length > 0) {
    const names = unset.map((record) => `"${record.filename}"`).join(", ");
    throw new ManifestError(
      `Cannot upload manifest "${manifest}": no visibility for ${names}`,
      [],
      {
        hint:
          'every record needs "visibility": "public" or "internal" (tooltool add --visibility ...)',
      },
    );
  }
  const byDigest = new Map<Sha512, FileRecord[]>();
  for (const record of records) {
    const same = byDigest.get(record.digest) ?? [];
    same.push(record);
    byDigest.set(record.digest, same);
  }
  for (const same of byDigest.values()) {
    const visibilities = new Set(same.map((record) => record.visibility));
    if (visibilities.size > 1) {
      // The server keeps one visibility per digest and refuses the whole batch otherwise.
      const names = same.map((record) => `"${record.filename}"`).join(", ");
      throw new ManifestError(
        `Cannot upload manifest "${manifest}": ${names} have the same content but different visibilities`,
      );
    }
  }
  const total = records.reduce((sum, record) => sum + record.size, 0);
  ctx.output.info(
    `Checking ${plural(records.length, "file")} (${
      formatBytes(total)
    }) against manifest "${manifest}"`,
  );
  const statuses = await checkFiles(records, {
    cwd: ctx.cwd,
    signal: ctx.signal,
    concurrency: ctx.cores,
  });
  const bad = statuses.filter((status) => !status.valid);
  for (const status of bad) {
    ctx.output.error(
      status.present
        ? `"${status.record.filename}" is invalid: ${status.problem}`
        : `"${status.record.filename}" is ${status.problem}`,
    );
  }
  if (bad.length > 0) {
    const verb = bad.length === 1 ? "is" : "are";
    throw new ManifestError(
      `Cannot upload manifest "${manifest}": ${bad.length} of ${records.length} files ${verb} absent or invalid`,
      [],
      { hint: "the manifest must describe the files as they are now (tooltool validate)" },
    );
  }
  return [...byDigest.entries()].map(([digest, same]) => {
    const first = same[0]!;
    return {
      digest,
      size: first.size,
      visibility: first.visibility!,
      path: resolvePath(ctx.cwd, first.filename),
      records: same,
    };
  });
}

function resolvePath(cwd: string, filename: string): string {
  return cwd.endsWith("/") ? `${cwd}${filename}` : `${cwd}/${filename}`;
}

/** Steps 2 and 3: batches and PUTs, asking for new URLs while some have expired. */
async function sendItems(
  session: Session,
  items: readonly UploadItem[],
  outcomes: Map<Sha512, ItemOutcome>,
): Promise<void> {
  const { ctx, tuning } = session;
  const progress = new UploadProgress(ctx.output, items.reduce((sum, item) => sum + item.size, 0));
  let pending = [...items];
  let lastExpiry: unknown;
  try {
    for (let round = 0; pending.length > 0; round++) {
      if (round >= tuning.batchAttempts) {
        for (const item of pending) {
          const error = new ToolError(
            `Cannot upload "${nameOf(item)}": its upload URL expired ${round} times: ${
              errorMessage(lastExpiry)
            }`,
          );
          ctx.output.error(error.message);
          outcomes.set(item.digest, { status: "failed", verification: "none", error });
        }
        break;
      }
      let batch: Batch;
      try {
        batch = await requestBatch(session, pending);
      } catch (error) {
        // The first refusal is the answer to the whole command (no scope, bad batch...).
        if (round === 0) throw error;
        ctx.output.error(errorMessage(error));
        for (const item of pending) {
          outcomes.set(item.digest, { status: "failed", verification: "none", error });
        }
        break;
      }
      const toPut: { item: UploadItem; url: URL; deadline: number }[] = [];
      for (const item of pending) {
        const answer = batch.files[nameOf(item)];
        if (answer === undefined) {
          const error = new ToolError(
            `Cannot upload "${
              nameOf(item)
            }" to ${batch.server}: the server's answer does not list it`,
          );
          ctx.output.error(error.message);
          outcomes.set(item.digest, { status: "failed", verification: "none", error });
          continue;
        }
        const putUrl = answer.put_url;
        if (putUrl === undefined) {
          // (After a first round: someone else's upload of the same content completed.)
          progress.skip(item.size);
          progress.log(() => ctx.output.info(`"${nameOf(item)}" is already on the server`));
          outcomes.set(item.digest, { status: "present", verification: "none" });
          continue;
        }
        const url = parsePutUrl(putUrl, item, batch);
        if (url instanceof Error) {
          ctx.output.error(url.message);
          outcomes.set(item.digest, { status: "failed", verification: "none", error: url });
          continue;
        }
        const deadline = putUrlDeadline(url, batch.requestedAt, tuning.urlLifetimeMs, {
          serverDate: batch.serverDate,
        });
        toPut.push({ item, url, deadline });
      }
      if (round === 0 && toPut.length > 0) {
        const total = toPut.reduce((sum, { item }) => sum + item.size, 0);
        progress.log(() =>
          ctx.output.info(`Uploading ${plural(toPut.length, "file")} (${formatBytes(total)})`)
        );
      }
      // Every PUT starts now: the URLs expire soon after they were issued. Each file is
      // reported as soon as it is done.
      const expired: UploadItem[] = [];
      await Promise.all(toPut.map(async ({ item, url, deadline }) => {
        const result = await putWithRetries(session, item, url, deadline, progress);
        if (result.kind === "done") {
          session.bytesUploaded += item.size;
          progress.log(() =>
            ctx.output.info(`Uploaded "${nameOf(item)}" (${formatBytes(item.size)})`)
          );
          outcomes.set(item.digest, { status: "uploaded", verification: "none" });
        } else if (result.kind === "expired") {
          lastExpiry = result.error;
          expired.push(item);
        } else {
          progress.log(() => ctx.output.error(errorMessage(result.error)));
          outcomes.set(item.digest, {
            status: "failed",
            verification: "none",
            error: result.error,
          });
        }
      }));
      pending = expired;
      if (pending.length > 0) {
        progress.log(() =>
          ctx.output.warn(
            `The upload URLs of ${
              plural(pending.length, "file")
            } expired; asking ${batch.server} for new ones`,
          )
        );
      }
    }
  } finally {
    progress.done();
  }
}

function nameOf(item: UploadItem): string {
  return item.records[0]!.filename;
}

const BatchAnswerSchema = z.object({
  result: z.object({
    id: z.number().optional(),
    files: z.record(
      z.string(),
      z.object({ put_url: z.string().optional() }),
    ),
  }),
});

/** The server's answer to a batch, as far as an upload needs it. */
interface Batch {
  /** The server, as messages show it. */
  readonly server: string;
  /** What relative `put_url`s resolve against (without userinfo: it is not storage's). */
  readonly base: URL;
  /** When the batch was sent (epoch ms): URLs were issued no earlier than this. */
  readonly requestedAt: number;
  /** The service's clock when it answered (its `Date` header, epoch ms), if it said. */
  readonly serverDate: number | undefined;
  readonly files: Readonly<Record<string, { readonly put_url?: string | undefined }>>;
}

/** Room for a batch answer's own fields; see `BATCH_ANSWER_BYTES_PER_FILE`. */
const BATCH_ANSWER_BASE_BYTES = 1024 * 1024;

/** Room per file of a batch answer: its record and signed URL, with a wide margin. */
const BATCH_ANSWER_BYTES_PER_FILE = 32 * 1024;

/** Step 2: one batch, on the current server or the next ones. */
async function requestBatch(session: Session, items: readonly UploadItem[]): Promise<Batch> {
  const { ctx, tuning } = session;
  // One entry per digest, under its first name: the service keeps one batch row per
  // (file, batch) and answers 500 to a batch naming the same content twice. The other
  // names stay in the manifest; see docs/upload.md.
  const files: Record<string, unknown> = {};
  for (const item of items) {
    files[nameOf(item)] = {
      size: item.size,
      digest: item.digest,
      algorithm: "sha512",
      visibility: item.visibility,
    };
  }
  const target = items.length === 1 ? nameOf(items[0]!) : session.manifest;
  for (let index = session.serverIndex;; index++) {
    const client = session.clients[index]!;
    const requestedAt = Date.now();
    try {
      const { body, date } = await withRetries(
        () =>
          client.requestJson({
            method: "POST",
            path: "upload",
            query: { region: session.region },
            json: { message: session.message, files },
            operation: "upload",
            target,
            // The answer grows with the batch: a signed PUT URL (~2 KiB) per file.
            maxAnswerBytes: BATCH_ANSWER_BASE_BYTES + items.length * BATCH_ANSWER_BYTES_PER_FILE,
          }),
        {
          // Another server is tried at once; the last one gets the retries.
          attempts: index + 1 < session.clients.length ? 1 : tuning.apiAttempts,
          signal: ctx.signal,
          onRetry: (error, _attempt, delayMs) => announceRetry(ctx.output, error, delayMs),
        },
      );
      session.serverIndex = index;
      const parsed = BatchAnswerSchema.safeParse(body);
      if (!parsed.success) {
        throw new ToolError(
          `Cannot upload "${target}" to ${client.displayName}: the server's answer is not an upload batch (${
            describeIssue(parsed.error)
          })`,
        );
      }
      if (parsed.data.result.id !== undefined) session.batches.push(parsed.data.result.id);
      ctx.output.debug(
        `Batch ${parsed.data.result.id ?? "(no id)"} accepted by ${client.displayName}`,
      );
      return {
        server: client.displayName,
        base: withoutUserinfo(client.url("")),
        requestedAt,
        serverDate: parseHttpDate(date),
        files: parsed.data.result.files,
      };
    } catch (error) {
      const next = session.clients[index + 1];
      const serverTrouble = error instanceof NetworkError ||
        (error instanceof HttpError && error.status >= 500);
      if (next === undefined || !serverTrouble) throw error;
      ctx.output.warn(`${errorMessage(error)}; trying ${next.displayName}`);
    }
  }
}

function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return "unexpected shape";
  const path = issue.path.map(String).join(".");
  return path === "" ? issue.message : `${path}: ${issue.message}`;
}

function announceRetry(output: Output, error: unknown, delayMs: number): void {
  output.warn(`${errorMessage(error)}; retrying in ${(delayMs / 1000).toFixed(1)} s`);
}

function parsePutUrl(text: string, item: UploadItem, batch: Batch): URL | ToolError {
  try {
    const url = new URL(text, batch.base);
    if (url.protocol === "http:" || url.protocol === "https:") return url;
  } catch {
    // Reported below.
  }
  return new ToolError(
    `Cannot upload "${nameOf(item)}" to ${batch.server}: the server gave an unusable upload URL`,
  );
}

/**
 * When a signed upload URL stops working, on our clock (epoch ms): `X-Amz-Expires` seconds
 * after the batch was requested (S3 SigV4; counted from our clock, so skew cannot make it
 * later), an absolute `Expires` (S3 SigV2, what production issues; CloudFront), or else
 * `fallbackMs` after the request. An absolute `Expires` is on the service's clock: when the
 * batch answer's `Date` (`serverDate`) shows the clocks differ by more than its one-second
 * resolution, the time left by the service's clock is counted from `requestedAt` instead,
 * so a clock running ahead does not see every URL as expired on arrival.
 */
export function putUrlDeadline(
  url: URL,
  requestedAt: number,
  fallbackMs: number,
  options: { readonly serverDate?: number | undefined } = {},
): number {
  const relative = url.searchParams.get("X-Amz-Expires");
  if (relative !== null && /^\d+$/.test(relative)) return requestedAt + Number(relative) * 1000;
  const absolute = url.searchParams.get("Expires");
  if (absolute !== null && /^\d+$/.test(absolute)) {
    const { serverDate } = options;
    const skewed = serverDate !== undefined && Math.abs(serverDate - requestedAt) > CLOCK_SLACK_MS;
    const deadline = skewed
      ? requestedAt + Number(absolute) * 1000 - serverDate
      : Number(absolute) * 1000;
    return Math.min(deadline, requestedAt + 7 * 24 * 3600_000);
  }
  return requestedAt + fallbackMs;
}

/** Clocks closer than this are taken to agree: `Date` has whole seconds, plus the round trip. */
const CLOCK_SLACK_MS = 2_000;

function parseHttpDate(text: string | null): number | undefined {
  if (text === null) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}

type PutResult =
  | { readonly kind: "done" }
  | { readonly kind: "expired"; readonly error: unknown }
  | { readonly kind: "failed"; readonly error: unknown };

/** Step 3 for one file: PUT, and PUT again after a retriable failure while the URL lasts. */
async function putWithRetries(
  session: Session,
  item: UploadItem,
  url: URL,
  deadline: number,
  progress: UploadProgress,
): Promise<PutResult> {
  const { ctx, tuning } = session;
  for (let attempt = 0;; attempt++) {
    let sent = 0;
    try {
      const answer = await session.put(url, item.path, item.size, {
        target: nameOf(item),
        signal: ctx.signal,
        stallTimeoutMs: tuning.stallTimeoutMs,
        onBytes: (count) => {
          sent += count;
          progress.add(count);
        },
      });
      if (answer.status >= 200 && answer.status < 300) {
        checkSent(item, url, answer.sentDigest);
        return { kind: "done" };
      }
      throw storageError(nameOf(item), url, answer);
    } catch (error) {
      progress.add(-sent);
      ctx.signal.throwIfAborted();
      if (urlExpired(error, deadline)) return { kind: "expired", error };
      if (!isRetriable(error) || attempt + 1 >= tuning.putAttempts) {
        return { kind: "failed", error };
      }
      const delay = retryDelayMs(error, attempt, tuning.backoff);
      if (Date.now() + delay > deadline - tuning.urlMarginMs) return { kind: "expired", error };
      progress.log(() => announceRetry(ctx.output, error, delay));
      await sleep(delay, ctx.signal);
    }
  }
}

/**
 * Fails an upload whose bytes, as sent, are not the manifest's: the file changed on disk
 * during the PUT (same size, so only the digest tells), or storage took an incomplete body.
 * Not retriable: sending the file again would send the changed file again.
 */
function checkSent(item: UploadItem, url: URL, sentDigest: Sha512 | null): void {
  if (sentDigest === item.digest) return;
  const detail = sentDigest === null
    ? "storage answered success before the whole file was sent"
    : "the file changed while it was being uploaded (what was sent does not match the manifest's sha512)";
  throw new IntegrityError(`Cannot upload "${nameOf(item)}" to ${url.origin}/: ${detail}`, {
    retriable: false,
    ...(sentDigest === null ? {} : { hint: `re-run "tooltool add" for it, then upload again` }),
  });
}

/**
 * Whether storage refused a PUT because its signed URL had expired. Storage's own answer
 * decides when it names an S3 error (`AccessDenied` "Request has expired" is the only
 * expiry): any other code (`SignatureDoesNotMatch`, a plain `AccessDenied`...) is reported
 * as it is, even if our clock says the URL is past its time. Only a 403 without an S3 error
 * code (a proxy's page) falls back to our clock.
 */
export function urlExpired(error: unknown, deadline: number, now = Date.now()): boolean {
  if (!(error instanceof HttpError) || error.status !== 403) return false;
  const code = error.problem?.title;
  if (code !== undefined && code !== "") {
    return code === "AccessDenied" && /\bexpired\b/i.test(error.problem?.detail ?? "");
  }
  return now >= deadline;
}

/** An `HttpError` from a storage answer, with S3's `<Code>` and `<Message>`. */
export function storageError(target: string, url: URL, answer: StorageAnswer): HttpError {
  const clip = (text: string | undefined) => text === undefined ? undefined : clipText(text);
  const code = clip(xmlText(answer.body, "Code"));
  const detail = clip(xmlText(answer.body, "Message"));
  const summary = [code, detail].filter((part) => part !== undefined).join(": ");
  const status = `${answer.status}${answer.statusText ? ` ${answer.statusText}` : ""}`;
  return new HttpError(
    `Cannot upload "${target}" to ${url.origin}/: storage returned ${status}${
      summary ? ` (${summary})` : ""
    }`,
    {
      status: answer.status,
      // Never the whole URL: its signature lets anyone write the object until it expires.
      url: `${url.origin}${url.pathname}`,
      problem: { status: answer.status, title: code, detail },
      retryAfterMs: parseRetryAfter(answer.retryAfter, Date.now()),
    },
  );
}

function xmlText(body: string, element: string): string | undefined {
  const match = new RegExp(`<${element}>([^<]*)</${element}>`).exec(body);
  if (match === null) return undefined;
  return (match[1] ?? "").replaceAll("&lt;", "<").replaceAll("&gt;", ">")
    .replaceAll("&quot;", '"').replaceAll("&apos;", "'").replaceAll("&amp;", "&");
}

/** Step 4: tell the server each uploaded file is complete, waiting out its 409s. */
async function notifyComplete(
  session: Session,
  items: readonly UploadItem[],
  outcomes: Map<Sha512, ItemOutcome>,
): Promise<void> {
  const { ctx, tuning } = session;
  const giveUpAt = Date.now() + tuning.completeWaitMs;
  const wait = new VerificationWait(ctx, tuning);
  try {
    await notifyRounds(session, items, outcomes, giveUpAt, wait);
  } finally {
    wait.done();
  }
}

/** The rounds of `notifyComplete`: every file still waiting is asked again after each wait. */
async function notifyRounds(
  session: Session,
  items: readonly UploadItem[],
  outcomes: Map<Sha512, ItemOutcome>,
  giveUpAt: number,
  wait: VerificationWait,
): Promise<void> {
  const { ctx, tuning } = session;
  const client = session.clients[session.serverIndex]!;
  let waiting = [...items];
  while (waiting.length > 0) {
    const answers = await Promise.all(waiting.map(async (item) => {
      try {
        const { retryAfterMs } = await withRetries(
          () => askComplete(client, item, tuning.minCompleteRetryMs),
          {
            attempts: tuning.apiAttempts,
            signal: ctx.signal,
            onRetry: (error, _attempt, delayMs) =>
              wait.print(() => announceRetry(ctx.output, error, delayMs)),
          },
        );
        return retryAfterMs;
      } catch (error) {
        ctx.signal.throwIfAborted();
        // The server also finds uploads on its own; a lost notice only delays verification.
        wait.print(() =>
          ctx.output.warn(`${errorMessage(error)}; the server will verify it later`)
        );
        outcomes.set(item.digest, { status: "uploaded", verification: "failed", error: undefined });
        return undefined;
      }
    }));
    const next: UploadItem[] = [];
    let waitMs = 0;
    answers.forEach((retryAfterMs, index) => {
      const item = waiting[index]!;
      if (retryAfterMs === undefined) {
        if (outcomes.get(item.digest)?.verification !== "failed") {
          outcomes.set(item.digest, { status: "uploaded", verification: "requested" });
          wait.print(() => ctx.output.debug(`The server is verifying "${nameOf(item)}"`));
        }
        return;
      }
      next.push(item);
      waitMs = Math.max(waitMs, retryAfterMs);
    });
    waiting = next;
    if (waiting.length === 0) break;
    if (Date.now() + waitMs > giveUpAt) {
      wait.print(() =>
        ctx.output.warn(
          `Stopped waiting for ${plural(waiting.length, "upload URL")} to expire; ` +
            "the server will verify those files on its own",
        )
      );
      for (const item of waiting) {
        outcomes.set(item.digest, { status: "uploaded", verification: "pending" });
      }
      break;
    }
    await wait.wait(waitMs, waiting.length);
  }
}

/** One notice: `undefined` once accepted, or how long the server asked to wait (409). */
async function askComplete(
  client: ApiClient,
  item: UploadItem,
  minRetryMs: number,
): Promise<{ retryAfterMs: number | undefined }> {
  const response = await client.request({
    method: "GET",
    path: `upload/complete/sha512/${item.digest}`,
    operation: "upload",
    target: nameOf(item),
    acceptStatus: [409],
  });
  await response.body?.cancel();
  if (response.status !== 409) return { retryAfterMs: undefined };
  const asked = parseRetryAfter(
    response.headers.get("X-Retry-After") ?? response.headers.get("Retry-After"),
    Date.now(),
  );
  // tooltool.py's default when the header is missing is 60 s; ask more often than that.
  return { retryAfterMs: Math.max(asked ?? 10_000, minRetryMs) };
}

/**
 * The wait for verification as the user sees it: a line when it starts and whenever the
 * number of files still waiting changes, then nothing new but a heartbeat at most every
 * `heartbeatMs` in a log, or a live line (elapsed time) on a terminal. However many 409s
 * the server answers (one a second, for minutes), the log stays a few lines long.
 */
class VerificationWait {
  readonly #ctx: Context;
  readonly #heartbeatMs: number;
  readonly #boundMs: number;
  readonly #live: boolean;
  #startedAt: number | undefined;
  #lastLineAt = 0;
  #waitingCount: number | undefined;
  #lineShown = false;

  constructor(ctx: Context, tuning: UploadTuning) {
    this.#ctx = ctx;
    this.#heartbeatMs = tuning.heartbeatMs;
    this.#boundMs = tuning.completeWaitMs;
    this.#live = ctx.output.stderrIsTerminal && ctx.output.verbosity !== "quiet";
  }

  /** Sleeps `ms` while `count` files wait, saying only what changed. */
  async wait(ms: number, count: number): Promise<void> {
    const { output } = this.#ctx;
    const now = Date.now();
    if (count !== this.#waitingCount) {
      const files = plural(count, "file");
      this.print(() =>
        output.info(
          this.#startedAt === undefined
            ? `Waiting for the server to verify ${files}: it does so only once their upload URLs ` +
              `have expired (at most ${formatSeconds(this.#boundMs)})`
            : `Still waiting for the server to verify ${files}`,
        )
      );
      this.#startedAt ??= now;
      this.#waitingCount = count;
      this.#lastLineAt = now;
    }
    const end = now + ms;
    for (let left = ms; left > 0; left = end - Date.now()) {
      const untilBeat = this.#heartbeatMs - (Date.now() - this.#lastLineAt);
      await sleep(Math.max(1, Math.min(left, this.#live ? 1_000 : untilBeat)), this.#ctx.signal);
      this.#beat(count);
    }
  }

  /** Prints a message without tearing the live line. */
  print(write: () => void): void {
    this.#clear();
    write();
  }

  /** Clears the live line. */
  done(): void {
    this.#clear();
  }

  #beat(count: number): void {
    const elapsed = formatSeconds(Date.now() - (this.#startedAt ?? Date.now()));
    const line = `Still waiting for the server to verify ${
      plural(count, "file")
    }: ${elapsed} so far`;
    if (this.#live) {
      this.#ctx.output.writeStderr(`\r\x1b[K${line}`);
      this.#lineShown = true;
    } else if (Date.now() - this.#lastLineAt >= this.#heartbeatMs) {
      this.#ctx.output.info(line);
      this.#lastLineAt = Date.now();
    }
  }

  #clear(): void {
    if (!this.#lineShown) return;
    this.#ctx.output.writeStderr("\r\x1b[K");
    this.#lineShown = false;
  }
}

/** `42 s`, `5 min`, `2 min 30 s`. */
function formatSeconds(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const rest = seconds % 60;
  return `${Math.floor(seconds / 60)} min${rest === 0 ? "" : ` ${rest} s`}`;
}

/** Bytes sent, rendered as a live line on a terminal and a line every 10 s otherwise. */
class UploadProgress {
  readonly #output: Output;
  readonly #total: number;
  readonly #live: boolean;
  readonly #started = performance.now();
  #done = 0;
  #lastRender = 0;
  #lineShown = false;

  constructor(output: Output, total: number) {
    this.#output = output;
    this.#total = total;
    this.#live = output.stderrIsTerminal && output.verbosity !== "quiet";
    this.#lastRender = performance.now();
  }

  /** Counts bytes sent (negative when a failed try is taken back). */
  add(bytes: number): void {
    this.#done += bytes;
    const now = performance.now();
    if (now - this.#lastRender < (this.#live ? 200 : 10_000)) return;
    this.#lastRender = now;
    const seconds = (now - this.#started) / 1000;
    const rate = seconds > 0 ? this.#done / seconds : 0;
    const percent = this.#total > 0 ? Math.floor(100 * this.#done / this.#total) : 100;
    const line = `Uploading: ${formatBytes(this.#done)} of ${
      formatBytes(this.#total)
    } (${percent}%), ${formatBytes(rate)}/s`;
    if (this.#live) {
      this.#output.writeStderr(`\r\x1b[K${line}`);
      this.#lineShown = true;
    } else {
      this.#output.info(line);
    }
  }

  /** Counts a file that needs no upload. */
  skip(bytes: number): void {
    this.#done += bytes;
  }

  /** Prints a message without tearing the live line. */
  log(print: () => void): void {
    this.#clear();
    print();
  }

  done(): void {
    this.#clear();
  }

  #clear(): void {
    if (!this.#lineShown) return;
    this.#output.writeStderr("\r\x1b[K");
    this.#lineShown = false;
  }
}

/** `1.5 GiB`, `12.0 MiB`, `300 B`. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

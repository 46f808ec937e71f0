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

import type { Context } from "../../context.ts";
import { displayUrl } from "../../display.ts";
import { errorMessage, HttpError, ToolError, UsageError } from "../../errors.ts";
import { formatBytes, plural } from "../../format.ts";
import type { Sha512 } from "../../sha512.ts";
import {
  describeCredentials,
  loadCredentials,
  requireCredentials,
} from "../../transport/credentials.ts";
import { ApiClient } from "../../transport/http.ts";
import { putFile } from "../../transport/storage_put.ts";
import { type Batch, parsePutUrl, requestBatch } from "./batch.ts";
import { checkManifest } from "./files.ts";
import { UploadProgress } from "./progress.ts";
import { putUrlDeadline, putWithRetries } from "./put.ts";
import {
  DEFAULT_UPLOAD_TUNING,
  type ItemOutcome,
  nameOf,
  type Session,
  type UploadFileReport,
  type UploadItem,
  type UploadOptions,
  type UploadReport,
  type UploadTuning,
} from "./types.ts";
import { notifyComplete } from "./verify.ts";

export { finishUpload } from "./report.ts";
export type { UploadOptions, UploadReport, UploadTuning } from "./types.ts";

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

/** Steps 2 and 3: batches and PUTs, asking for new URLs while some have expired. */
async function sendItems(
  session: Session,
  items: readonly UploadItem[],
  outcomes: Map<Sha512, ItemOutcome>,
): Promise<void> {
  const { ctx, tuning } = session;
  const progress = new UploadProgress(ctx.output, { heartbeatMs: tuning.heartbeatMs });
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

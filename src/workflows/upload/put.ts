/**
 * Upload step 3 for one file: PUT to its signed URL, again after a retriable failure while
 * the URL lasts, and tell an expired URL (storage's answer first, our clock second) from a
 * failure. The PUT itself is `transport/storage_put.ts`.
 *
 * @module
 */

import { HttpError, IntegrityError, isRetriable } from "../../errors.ts";
import type { Sha512 } from "../../sha512.ts";
import { sleep } from "../../sleep.ts";
import { parseRetryAfter, retryDelayMs, retryMessage } from "../../transport/retry.ts";
import type { StorageAnswer } from "../../transport/storage_put.ts";
import { s3ErrorFields, s3ErrorSummary } from "../../transport/s3_error.ts";
import type { UploadProgress } from "./progress.ts";
import { nameOf, type Session, type UploadItem } from "./types.ts";

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

export function parseHttpDate(text: string | null): number | undefined {
  if (text === null) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}

export type PutResult =
  | { readonly kind: "done" }
  | { readonly kind: "expired"; readonly error: unknown }
  | { readonly kind: "failed"; readonly error: unknown };

/** Step 3 for one file: PUT, and PUT again after a retriable failure while the URL lasts. */
export async function putWithRetries(
  session: Session,
  item: UploadItem,
  url: URL,
  deadline: number,
  progress: UploadProgress,
): Promise<PutResult> {
  const { ctx, tuning } = session;
  const file = progress.start(nameOf(item), item.size);
  for (let attempt = 0;; attempt++) {
    try {
      const answer = await session.put(url, item.path, item.size, {
        target: nameOf(item),
        signal: ctx.signal,
        stallTimeoutMs: tuning.stallTimeoutMs,
        onBytes: (count) => progress.sent(file, count),
      });
      if (answer.status >= 200 && answer.status < 300) {
        checkSent(item, url, answer.sentDigest);
        progress.finish(file, "done");
        return { kind: "done" };
      }
      throw storageError(nameOf(item), url, answer);
    } catch (error) {
      progress.restart(file);
      ctx.signal.throwIfAborted();
      if (urlExpired(error, deadline)) {
        progress.finish(file, "queued");
        return { kind: "expired", error };
      }
      if (!isRetriable(error) || attempt + 1 >= tuning.putAttempts) {
        progress.finish(file, "failed");
        return { kind: "failed", error };
      }
      const delay = retryDelayMs(error, attempt, tuning.backoff);
      if (Date.now() + delay > deadline - tuning.urlMarginMs) {
        progress.finish(file, "queued");
        return { kind: "expired", error };
      }
      progress.log(() => ctx.output.warn(retryMessage(error, delay)));
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
  const fields = s3ErrorFields(answer.body);
  const code = fields.code;
  const detail = fields.message;
  const summary = s3ErrorSummary(fields);
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

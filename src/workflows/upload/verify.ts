/**
 * Upload step 4: tell the server each uploaded file is complete, waiting out its 409s, and
 * say so as a person would want to read it (a line per change, a heartbeat).
 *
 * @module
 */

import type { Context } from "../../context.ts";
import { errorMessage } from "../../errors.ts";
import { formatElapsed, plural } from "../../format.ts";
import type { Sha512 } from "../../sha512.ts";
import { sleep } from "../../sleep.ts";
import type { ApiClient } from "../../transport/http.ts";
import { parseRetryAfter, retryMessage, withRetries } from "../../transport/retry.ts";
import {
  type ItemOutcome,
  nameOf,
  type Session,
  type UploadItem,
  type UploadTuning,
} from "./types.ts";

/** Step 4: tell the server each uploaded file is complete, waiting out its 409s. */
export async function notifyComplete(
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
              wait.print(() => ctx.output.warn(retryMessage(error, delayMs))),
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
              `have expired (at most ${formatElapsed(this.#boundMs)})`
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
    const elapsed = formatElapsed(Date.now() - (this.#startedAt ?? Date.now()));
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

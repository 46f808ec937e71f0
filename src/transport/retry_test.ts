import assert from "node:assert/strict";
import { HttpError, NetworkError } from "../errors.ts";
import {
  backoffDelayMs,
  MAX_RETRY_AFTER_MS,
  parseRetryAfter,
  retryDelayMs,
  withRetries,
} from "./retry.ts";

Deno.test("parseRetryAfter() reads seconds and HTTP dates", () => {
  assert.equal(parseRetryAfter("3", 0), 3000);
  assert.equal(parseRetryAfter("Thu, 01 Jan 1970 00:00:10 GMT", 4000), 6000);
  assert.equal(parseRetryAfter("soon", 0), undefined);
  assert.equal(parseRetryAfter(null, 0), undefined);
});

Deno.test("backoffDelayMs() grows exponentially with jitter and a cap", () => {
  assert.equal(backoffDelayMs(0, { baseMs: 100, maxMs: 1000 }, () => 1), 100);
  assert.equal(backoffDelayMs(2, { baseMs: 100, maxMs: 1000 }, () => 0), 200);
  assert.equal(backoffDelayMs(10, { baseMs: 100, maxMs: 1000 }, () => 1), 1000);
});

Deno.test("withRetries() retries retriable errors only, honouring Retry-After", async () => {
  let calls = 0;
  const result = await withRetries(() => {
    calls++;
    if (calls < 3) {
      throw new HttpError("busy", { status: 429, url: "u", retryAfterMs: 1 });
    }
    return Promise.resolve("done");
  }, { attempts: 5 });
  assert.equal(result, "done");
  assert.equal(calls, 3);
  let fatal = 0;
  await assert.rejects(
    withRetries(() => {
      fatal++;
      throw new HttpError("gone", { status: 404, url: "u" });
    }, { attempts: 5 }),
    HttpError,
  );
  assert.equal(fatal, 1);
});

Deno.test("retryDelayMs() lets Retry-After win, capped, and backs off otherwise", () => {
  const asked = new HttpError("x", { status: 503, url: "u", retryAfterMs: 7_000 });
  assert.equal(retryDelayMs(asked, 3, { baseMs: 1_000, maxMs: 30_000 }, () => 1), 7_000);
  const greedy = new HttpError("x", { status: 503, url: "u", retryAfterMs: 10 * 3_600_000 });
  assert.equal(retryDelayMs(greedy, 0), MAX_RETRY_AFTER_MS);
  assert.equal(retryDelayMs(new NetworkError("x"), 2, { baseMs: 100, maxMs: 1_000 }, () => 1), 400);
});

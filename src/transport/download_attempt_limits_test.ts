import assert from "node:assert/strict";
import { join } from "node:path";
import { sha512Hex } from "../digest.ts";
import { isRetriable, NetworkError } from "../errors.ts";
import { attemptDownload, type AttemptOptions } from "./download_attempt.ts";
import { HashingSink } from "./hashing_sink.ts";
import { Watchdog, type WatchdogClock } from "./watchdog.ts";

/** A watchdog clock that moves only when a test says so; its interval fires on the way. */
function manualClock() {
  let now = 0;
  let timer: { tick: () => void; ms: number; next: number } | undefined;
  const clock: WatchdogClock = {
    now: () => now,
    setInterval: (tick, ms) => (timer = { tick, ms, next: now + ms }),
    clearInterval: (handle) => {
      if (handle === timer) timer = undefined;
    },
  };
  return {
    clock,
    advance(ms: number) {
      const end = now + ms;
      while (timer !== undefined && timer.next <= end) {
        now = timer.next;
        timer.next += timer.ms;
        timer.tick();
      }
      now = end;
    },
  };
}

/** A body that sends what the test pushes, and errors, as fetch's does, when aborted. */
function trickle(signal: AbortSignal) {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({
    start(given) {
      controller = given;
      signal.addEventListener("abort", () => given.error(signal.reason), { once: true });
    },
  });
  return {
    stream,
    push: (bytes: Uint8Array) => {
      if (!signal.aborted) controller.enqueue(bytes);
    },
  };
}

async function withSink(run: (sink: HashingSink) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    using file = await Deno.open(join(dir, "part"), { read: true, write: true, create: true });
    using sink = new HashingSink(file, "tool.bin", 1 << 16);
    await run(sink);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const content = new Uint8Array(10_000).fill(7);

function options(overrides: Partial<AttemptOptions>): AttemptOptions {
  return {
    filename: "tool.bin",
    digest: sha512Hex(content),
    size: content.length,
    fetch: () => Promise.reject(new Error("no fetch given")),
    signal: new AbortController().signal,
    ...overrides,
  };
}

const source = { name: "stub", resolve: () => Promise.resolve(new URL("http://127.0.0.1:9/x")) };

Deno.test("an attempt slower than --speed-limit over --speed-time ends as a retriable, named failure", () =>
  withSink(async (sink) => {
    const time = manualClock();
    let body: ReturnType<typeof trickle> | undefined;
    const attempt = attemptDownload(
      sink,
      source,
      options({
        watchdog: new Watchdog(time.clock),
        limits: { speedLimit: 1000, speedTimeMs: 4_000 },
        stallTimeoutMs: 60_000,
        fetch: (_input, init) => {
          body = trickle(init!.signal!);
          return Promise.resolve(new Response(body.stream, { status: 200 }));
        },
      }),
    );
    // It fails while the test is still pushing: settled early so the failure is not unhandled.
    const failure = attempt.then(() => undefined, (error: unknown) => error);
    while (body === undefined) await new Promise((resolve) => setTimeout(resolve, 1));
    // A byte a second: never a stall, but far below 1000 bytes/s.
    for (let second = 0; second < 6; second++) {
      body!.push(content.subarray(second, second + 1));
      await new Promise((resolve) => setTimeout(resolve, 1));
      time.advance(1_000);
    }
    await assert.rejects(failure.then((error) => Promise.reject(error)), (error) => {
      assert.ok(error instanceof NetworkError, String(error));
      assert.equal(isRetriable(error), true);
      assert.match(
        error.message,
        /^Cannot fetch "tool\.bin" from http:\/\/127\.0\.0\.1:9\/: slower than 1000 bytes\/s for 4 s \(--speed-limit, --speed-time\)$/,
      );
      return true;
    });
    assert.ok(sink.position > 0, "what arrived is kept for a resume");
  }));

Deno.test("the run's abort ends an attempt still waiting for the answer's head, with the run's reason", () =>
  withSink(async (sink) => {
    const run = new AbortController();
    let asked = false;
    const attempt = attemptDownload(
      sink,
      source,
      options({
        signal: run.signal,
        watchdog: new Watchdog(manualClock().clock),
        fetch: (_input, init) => {
          asked = true;
          // Like fetch: nothing until the signal aborts, then a rejection with its reason.
          return new Promise((_resolve, reject) => {
            init!.signal!.addEventListener("abort", () => reject(init!.signal!.reason), {
              once: true,
            });
          });
        },
      }),
    );
    while (!asked) await new Promise((resolve) => setTimeout(resolve, 1));
    const reason = new Error("interrupted by the user");
    run.abort(reason);
    await assert.rejects(attempt, (error) => error === reason);
  }));

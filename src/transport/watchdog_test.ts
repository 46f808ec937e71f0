import assert from "node:assert/strict";
import { type Expiry, Watchdog, type WatchdogClock } from "./watchdog.ts";

/** A clock whose time only moves when told, with the interval timer driven by it. */
function fakeClock() {
  let now = 0;
  let timer: { tick: () => void; ms: number; next: number } | undefined;
  let started = 0;
  const clock: WatchdogClock = {
    now: () => now,
    setInterval: (tick, ms) => {
      started++;
      timer = { tick, ms, next: now + ms };
      return timer;
    },
    clearInterval: (handle) => {
      if (handle === timer) timer = undefined;
    },
  };
  return {
    clock,
    /** Moves time forward, firing the interval on the way. */
    advance(ms: number, onTick?: () => void) {
      const end = now + ms;
      while (timer !== undefined && timer.next <= end) {
        now = timer.next;
        timer.next += timer.ms;
        onTick?.();
        timer.tick();
      }
      now = end;
    },
    get tickMs() {
      return timer?.ms;
    },
    get timersStarted() {
      return started;
    },
  };
}

Deno.test("a transfer with no progress for its stall time expires once, as a stall", () => {
  const time = fakeClock();
  const dog = new Watchdog(time.clock);
  const expired: Expiry[] = [];
  dog.watch({ stallMs: 800 }, (why) => expired.push(why));
  assert.equal(time.tickMs, 100, "an eighth of the limit");
  time.advance(700);
  assert.deepEqual(expired, []);
  time.advance(200);
  assert.deepEqual(expired, ["stall"]);
  time.advance(5_000);
  assert.deepEqual(expired, ["stall"], "called once");
  assert.equal(dog.size, 0);
  assert.equal(time.tickMs, undefined, "no timer once nothing is watched");
});

Deno.test("progress keeps a transfer alive however long it takes", () => {
  const time = fakeClock();
  const dog = new Watchdog(time.clock);
  const expired: Expiry[] = [];
  const watch = dog.watch({ stallMs: 800 }, (why) => expired.push(why));
  for (let step = 0; step < 50; step++) {
    time.advance(600);
    watch.progress(1);
  }
  assert.deepEqual(expired, []);
  watch.stop();
  watch.stop();
  assert.equal(dog.size, 0);
});

Deno.test("a trickle below the speed limit over a window is too slow; enough bytes are not", () => {
  const time = fakeClock();
  const dog = new Watchdog(time.clock);
  const expired: Expiry[] = [];
  // 1000 bytes/s over windows of 2 s: 2000 bytes per window at least.
  const fast = dog.watch(
    { stallMs: 10_000, speedLimit: 1000, speedTimeMs: 2000 },
    () => expired.push("stall"),
  );
  const slow = dog.watch(
    { stallMs: 10_000, speedLimit: 1000, speedTimeMs: 2000 },
    (why) => expired.push(why),
  );
  for (let step = 0; step < 10; step++) {
    time.advance(500);
    fast.progress(800);
    slow.progress(10);
  }
  assert.deepEqual(expired, ["slow"]);
  assert.equal(dog.size, 1);
  fast.stop();
});

Deno.test("a deadline ends a transfer that makes progress", () => {
  const time = fakeClock();
  const dog = new Watchdog(time.clock);
  const expired: Expiry[] = [];
  const watch = dog.watch({ stallMs: 1000, deadlineMs: 3000 }, (why) => expired.push(why));
  time.advance(2900, () => watch.progress(1));
  assert.deepEqual(expired, []);
  time.advance(200, () => watch.progress(1));
  assert.deepEqual(expired, ["deadline"]);
});

Deno.test("one timer serves every transfer, at the pace of the shortest limit", () => {
  const time = fakeClock();
  const dog = new Watchdog(time.clock);
  const first = dog.watch({ stallMs: 30_000 }, () => {});
  assert.equal(time.tickMs, 500, "at most every 500 ms");
  const second = dog.watch({ stallMs: 30_000 }, () => {});
  assert.equal(time.timersStarted, 1);
  const quick = dog.watch({ stallMs: 16 }, () => {});
  assert.equal(time.tickMs, 5, "at least every 5 ms");
  assert.equal(time.timersStarted, 2);
  for (const watch of [first, second, quick]) watch.stop();
  assert.equal(time.tickMs, undefined);
});

Deno.test("limits left out or not positive are not watched, and need no timer", () => {
  const time = fakeClock();
  const dog = new Watchdog(time.clock);
  const expired: Expiry[] = [];
  const watch = dog.watch(
    { stallMs: 0, speedLimit: 1000, speedTimeMs: 0 },
    (why) => expired.push(why),
  );
  assert.equal(dog.size, 0);
  assert.equal(time.tickMs, undefined);
  watch.progress(5);
  watch.stop();
  time.advance(60_000);
  assert.deepEqual(expired, []);
});

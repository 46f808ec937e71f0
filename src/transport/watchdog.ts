/**
 * Time limits of transfers in flight — no byte for too long (a stall), too slow on average
 * (curl's `--speed-limit`/`--speed-time`), not done by a deadline — checked by one shared
 * timer instead of a timeout and an interval per request. Setting, clearing and firing two
 * timers per attempt, plus the `AbortSignal.any` that joined them to the run's signal, was
 * about 3% of a cold fetch of 200 small files (docs/performance.md).
 *
 * The shared timer ticks at an eighth of the shortest limit being watched (at least every
 * 5 ms, at most every 500 ms), so a limit is noticed at most an eighth late, and it runs
 * only while something is watched.
 *
 * @module
 */

import { startTicker, type Ticker } from "../ticker.ts";

/** Which limit ran out. */
export type Expiry = "stall" | "slow" | "deadline";

/** The limits of one transfer; any left out (or ≤ 0) is not watched. */
export interface WatchLimits {
  /** No progress for this long: `"stall"`. */
  readonly stallMs?: number | undefined;
  /** Fewer than `speedLimit` bytes per second, over each window of `speedTimeMs`: `"slow"`. */
  readonly speedLimit?: number | undefined;
  readonly speedTimeMs?: number | undefined;
  /** Not stopped this long after it started: `"deadline"`. */
  readonly deadlineMs?: number | undefined;
}

/** One watched transfer. */
export interface Watch {
  /** Bytes arrived: the stall clock starts again, and they count for the speed. */
  progress(bytes: number): void;
  /** Done (or failed): no longer watched. Safe to call twice. */
  stop(): void;
}

/** What a watchdog needs from the world: a clock and an interval timer. */
export interface WatchdogClock {
  readonly now: () => number;
  readonly setInterval: (tick: () => void, ms: number) => unknown;
  readonly clearInterval: (timer: unknown) => void;
}

const MIN_TICK_MS = 5;
const MAX_TICK_MS = 500;

class WatchedTransfer implements Watch {
  /** Each limit, Infinity when it is not watched (so that no elapsed time reaches it). */
  readonly #stallMs: number;
  readonly #deadlineMs: number;
  readonly #speedTimeMs: number;
  readonly #speedLimit: number;
  /** The shortest limit watched: Infinity when there is none. */
  readonly shortestMs: number;
  readonly #started: number;
  /** When progress was last seen by a tick (progress itself does not read the clock). */
  #lastProgress: number;
  #progressed = false;
  #windowStart: number;
  #windowBytes = 0;

  constructor(
    limits: WatchLimits,
    readonly onExpire: (why: Expiry) => void,
    now: number,
    readonly release: (watch: WatchedTransfer) => void,
  ) {
    this.#stallMs = positive(limits.stallMs);
    this.#deadlineMs = positive(limits.deadlineMs);
    const speedLimit = limits.speedLimit ?? 0;
    this.#speedTimeMs = speedLimit > 0 ? positive(limits.speedTimeMs) : Infinity;
    this.#speedLimit = speedLimit;
    this.shortestMs = Math.min(this.#stallMs, this.#deadlineMs, this.#speedTimeMs);
    this.#started = now;
    this.#lastProgress = now;
    this.#windowStart = now;
  }

  progress(bytes: number): void {
    this.#progressed = true;
    this.#windowBytes += bytes;
  }

  stop(): void {
    this.release(this);
  }

  /** The limit that ran out by `now`, if any. */
  check(now: number): Expiry | undefined {
    if (this.#progressed) {
      this.#progressed = false;
      this.#lastProgress = now;
    }
    if (now - this.#started >= this.#deadlineMs) return "deadline";
    if (now - this.#lastProgress >= this.#stallMs) return "stall";
    const window = now - this.#windowStart;
    if (window >= this.#speedTimeMs) {
      if (this.#windowBytes < this.#speedLimit * window / 1000) return "slow";
      this.#windowStart = now;
      this.#windowBytes = 0;
    }
    return undefined;
  }
}

function positive(value: number | undefined): number {
  return value !== undefined && value > 0 ? value : Infinity;
}

/** Watches transfers' limits with one timer. */
export class Watchdog {
  readonly #clock: WatchdogClock;
  readonly #watched = new Set<WatchedTransfer>();
  #timer: unknown;
  #tickMs = Infinity;

  constructor(clock: WatchdogClock = systemClock) {
    this.#clock = clock;
  }

  /** Starts watching a transfer; `onExpire` is called once, when a limit runs out. */
  watch(limits: WatchLimits, onExpire: (why: Expiry) => void): Watch {
    const watch = new WatchedTransfer(
      limits,
      onExpire,
      this.#clock.now(),
      (done) => this.#release(done),
    );
    if (!Number.isFinite(watch.shortestMs)) return watch;
    this.#watched.add(watch);
    const tickMs = Math.max(MIN_TICK_MS, Math.min(MAX_TICK_MS, watch.shortestMs / 8));
    // A shorter limit than any before needs a faster tick; the faster one then stays until
    // nothing is watched.
    if (tickMs < this.#tickMs) this.#restart(tickMs);
    return watch;
  }

  /** Transfers being watched (for tests). */
  get size(): number {
    return this.#watched.size;
  }

  #release(watch: WatchedTransfer): void {
    if (!this.#watched.delete(watch)) return;
    if (this.#watched.size === 0) {
      this.#stopTimer();
    }
  }

  #restart(tickMs: number): void {
    this.#stopTimer();
    this.#tickMs = tickMs;
    this.#timer = this.#clock.setInterval(() => this.#tick(), tickMs);
  }

  #stopTimer(): void {
    if (this.#timer !== undefined) this.#clock.clearInterval(this.#timer);
    this.#timer = undefined;
    this.#tickMs = Infinity;
  }

  #tick(): void {
    const now = this.#clock.now();
    for (const watch of this.#watched) {
      const expired = watch.check(now);
      if (expired === undefined) continue;
      watch.stop();
      watch.onExpire(expired);
    }
  }
}

// A ticker rather than `setInterval`, which would load Node's timers at the first download.
const systemClock: WatchdogClock = {
  now: () => performance.now(),
  setInterval: (tick, ms) => startTicker(tick, ms),
  clearInterval: (timer) => (timer as Ticker).stop(),
};

/** The watchdog of this process. */
export const watchdog: Watchdog = new Watchdog();

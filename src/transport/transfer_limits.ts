/**
 * The time bounds of a download, curl style, and their defaults: the stall timeout and
 * low-speed limit of one attempt, the window without progress after which a server gets no
 * new attempt, and the deadline of the whole file.
 *
 * @module
 */

/** Default: a body that sends nothing for this long has stalled. */
export const DEFAULT_STALL_TIMEOUT_MS = 30_000;

/**
 * Bounds on time, curl style. Each has a default; `--speed-limit`, `--speed-time`,
 * `--max-time` and `--retry-max-time` change them.
 */
export interface TransferLimits {
  /** Bytes per second below which an attempt is too slow (`--speed-limit`, default 1024). */
  readonly speedLimit?: number | undefined;
  /** How long the speed may stay below `speedLimit` (`--speed-time`, default 30 s). */
  readonly speedTimeMs?: number | undefined;
  /** The most one file may take, all attempts and servers included (`--max-time`; none). */
  readonly maxTimeMs?: number | undefined;
  /** No new attempt at a server once this long passed without progress (default 120 s). */
  readonly retryMaxTimeMs?: number | undefined;
}

/** Default low-speed limit: fewer than this many bytes per second ... */
export const DEFAULT_SPEED_LIMIT = 1024;

/** ... for this long ends an attempt, as too slow (a retriable failure). */
export const DEFAULT_SPEED_TIME_MS = 30_000;

/** Default: no new attempt at a server after this long without progress. */
export const DEFAULT_RETRY_MAX_TIME_MS = 120_000;

/**
 * The retry policy every request and transfer shares: exponential backoff with jitter, a
 * server's `Retry-After` winning (up to a cap), and the loop that waits and tries again.
 * Which errors are worth retrying is the errors' own business (`isRetriable`).
 *
 * @module
 */

import { errorMessage, HttpError, isRetriable } from "../errors.ts";
import { sleep } from "../sleep.ts";

/** `Retry-After` (seconds or an HTTP date) in milliseconds from now; undefined if absent or bad. */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value === null || value === undefined || value.trim() === "") return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** Backoff policy: exponential, capped, with jitter so that parallel jobs spread out. */
export interface BackoffPolicy {
  readonly baseMs: number;
  readonly maxMs: number;
}

/** The default policy: 1 s, 2 s, 4 s ... capped at 30 s, each scaled by a random 50-100%. */
export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1_000, maxMs: 30_000 };

/** The delay before retry number `attempt` (0 for the first retry). */
export function backoffDelayMs(
  attempt: number,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** attempt);
  return Math.round(ceiling * (0.5 + random() / 2));
}

/** Longest wait honoured from a server's `Retry-After`: a server may not park a job for hours. */
export const MAX_RETRY_AFTER_MS = 120_000;

/**
 * How long to wait before retry number `attempt` (0 for the first) after `error`: the
 * server's `Retry-After` when it gave one (capped), else the backoff. The one place this
 * policy is written.
 */
export function retryDelayMs(
  error: unknown,
  attempt: number,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const asked = error instanceof HttpError ? error.retryAfterMs : undefined;
  return asked !== undefined
    ? Math.min(asked, MAX_RETRY_AFTER_MS)
    : backoffDelayMs(attempt, policy, random);
}

/** How `withRetries` behaves. */
export interface RetryOptions {
  /** Total tries, the first included. */
  readonly attempts: number;
  readonly signal?: AbortSignal | undefined;
  readonly policy?: BackoffPolicy | undefined;
  /** Told before each wait, for progress output. */
  readonly onRetry?: ((error: unknown, attempt: number, delayMs: number) => void) | undefined;
}

/**
 * Runs `operation` until it succeeds, fails with an error `isRetriable` rejects, or runs
 * out of attempts. Waits with backoff between tries, or as long as the server asked.
 */
export async function withRetries<T>(
  operation: (attempt: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  for (let attempt = 0;; attempt++) {
    try {
      return await operation(attempt);
    } catch (error) {
      options.signal?.throwIfAborted();
      if (attempt + 1 >= options.attempts || !isRetriable(error)) throw error;
      const delay = retryDelayMs(error, attempt, options.policy);
      options.onRetry?.(error, attempt + 1, delay);
      await sleep(delay, options.signal);
    }
  }
}

/** The warning before a retry: what failed, and when the next try comes. */
export function retryMessage(error: unknown, delayMs: number): string {
  return `${errorMessage(error)}; retrying in ${(delayMs / 1000).toFixed(1)} s`;
}

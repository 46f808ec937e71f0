/**
 * Trying the next server: with several `--url`s, a server in trouble (unreachable, or a
 * 5xx) hands the request to the next one at once, and only the last one gets the retries,
 * so a dead first server costs one attempt, not a whole backoff. Upload batches, `manage`
 * requests and fetch's region fallback all go through here.
 *
 * @module
 */

import { errorMessage, HttpError, NetworkError } from "../errors.ts";
import { retryMessage, withRetries } from "./retry.ts";

/** Whether an error says the server, not the request, is at fault (so another may do). */
export function isServerTrouble(error: unknown): boolean {
  return error instanceof NetworkError || (error instanceof HttpError && error.status >= 500);
}

/** How `withFailover` behaves. */
export interface FailoverOptions<S> {
  /** The servers in the order to try them. */
  readonly servers: readonly S[];
  /** Index of the first server to try (a session that already moved on starts there). */
  readonly start?: number | undefined;
  /** How a server is named in messages (never with secrets). */
  readonly nameOf: (server: S) => string;
  /** Tries on the last server, the first included. */
  readonly attempts: number;
  readonly signal?: AbortSignal | undefined;
  /** Told of each retry and each move to the next server. */
  readonly warn: (message: string) => void;
}

/** Runs `operation` on each server in turn until one answers; returns its value and index. */
export async function withFailover<S, T>(
  operation: (server: S, index: number) => Promise<T>,
  options: FailoverOptions<S>,
): Promise<{ readonly value: T; readonly index: number }> {
  const { servers } = options;
  for (let index = options.start ?? 0;; index++) {
    const server = servers[index];
    if (server === undefined) throw new Error("withFailover() needs at least one server");
    const last = index + 1 >= servers.length;
    try {
      const value = await withRetries(() => operation(server, index), {
        attempts: last ? options.attempts : 1,
        signal: options.signal,
        onRetry: (error, _attempt, delayMs) => options.warn(retryMessage(error, delayMs)),
      });
      return { value, index };
    } catch (error) {
      const next = servers[index + 1];
      if (next === undefined || !isServerTrouble(error)) throw error;
      options.warn(`${errorMessage(error)}; trying ${options.nameOf(next)}`);
    }
  }
}

/**
 * A repeating timer that does not load Node's timers.
 *
 * In Deno the first `setTimeout` or `setInterval` of a process loads Node's timer modules,
 * ~5 ms here, and a fetch paid that on the way to its first download (the transfer
 * watchdog, the log's heartbeat). `AbortSignal.timeout` sits on the runtime's own timer and
 * costs ~0.3 ms to arm, so a ticker is a chain of them. Such a signal cannot be cancelled:
 * after `stop()` the pending one still fires once, does nothing, and keeps the event loop
 * alive until then; the CLI ends with `Deno.exit`, so keep periods short (≤ a second or
 * so) where a library caller may be waiting for the loop to drain.
 *
 * @module
 */

/** A started ticker. */
export interface Ticker {
  /** No more ticks; safe to call twice. */
  stop(): void;
}

/**
 * Calls `tick` every `periodMs`. The next wait is armed before a tick runs, so a slow tick does
 * not push the later ones back, and a tick that throws does not end the ticker.
 */
export function startTicker(tick: () => void, periodMs: number): Ticker {
  let live = true;
  const wait = Math.max(1, Math.round(periodMs));
  const arm = () => {
    AbortSignal.timeout(wait).addEventListener("abort", () => {
      if (!live) return;
      arm();
      tick();
    }, { once: true });
  };
  arm();
  return {
    stop() {
      live = false;
    },
  };
}

/**
 * How sizes, durations and rates read in every message and progress line, so one file does
 * not say `400.0 MiB` where another says `400 MiB`. Pure.
 *
 * @module
 */

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

/** `1536` -> `1.5 KiB`. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0
    ? `${value} B`
    : `${value < 10 ? value.toFixed(1) : Math.round(value)} ${UNITS[unit]}`;
}

/** `95` -> `1m35s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  if (seconds < 10) return `${seconds.toFixed(1)}s`;
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole}s`;
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return `${minutes}m${String(whole % 60).padStart(2, "0")}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, "0")}m`;
}

/** `1048576` -> `1.0 MiB/s`. */
export function formatRate(bytesPerSecond: number | undefined): string {
  return bytesPerSecond === undefined ? "-- B/s" : `${formatBytes(Math.round(bytesPerSecond))}/s`;
}

/** A wait or a limit in milliseconds, for messages: `500 ms` -> `0.5 s`, `90000` -> `1 min 30 s`. */
export function formatWait(ms: number): string {
  if (ms < 60_000) return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const rest = seconds % 60;
  return `${Math.floor(seconds / 60)} min${rest === 0 ? "" : ` ${rest} s`}`;
}

/** `1 file`, `3 files`. */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

/** The first problem a schema check found, as `path: message` (zod's issues, or any alike). */
export function formatIssue(
  error: { readonly issues: readonly { path: readonly PropertyKey[]; message: string }[] },
): string {
  const issue = error.issues[0];
  if (issue === undefined) return "unexpected shape";
  const path = issue.path.map(String).join(".");
  return path === "" ? issue.message : `${path}: ${issue.message}`;
}

/** Time waited so far, in whole seconds: `42 s`, `5 min`, `2 min 30 s`. */
export function formatElapsed(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const rest = seconds % 60;
  return `${Math.floor(seconds / 60)} min${rest === 0 ? "" : ` ${rest} s`}`;
}

/**
 * Progress of a multi-file transfer: a model (files, bytes, rates) kept apart from the two
 * ways of showing it — a live block redrawn on a terminal, or plain lines in a CI log (a
 * line per file started and finished, and a heartbeat while transfers run, so that a
 * harness that kills jobs silent for minutes never kills a slow download).
 *
 * The model and the `render*` functions are pure; the renderers own the timers and write
 * through an injected function.
 *
 * @module
 */

/** What a file is doing. */
export type FileState =
  | "queued"
  | "checking"
  | "waiting"
  | "downloading"
  | "uploading"
  | "placing"
  | "unpacking"
  | "done"
  | "failed";

import { escapeControls } from "./display.ts";
import { formatBytes, formatDuration, formatRate } from "./format.ts";
import type { Output } from "./output.ts";
import { startTicker, type Ticker } from "./ticker.ts";

/** Samples older than this do not count toward a rate. */
const RATE_WINDOW_MS = 5_000;

/** A rate estimate over a sliding window of (time, bytes) samples. */
class RateMeter {
  readonly #samples: { at: number; bytes: number }[] = [];

  sample(at: number, bytes: number): void {
    this.#samples.push({ at, bytes });
    while (this.#samples.length > 2 && (this.#samples[1]?.at ?? at) <= at - RATE_WINDOW_MS) {
      this.#samples.shift();
    }
  }

  /** Bytes per second, or undefined before there are two samples a moment apart. */
  rate(): number | undefined {
    const first = this.#samples[0];
    const last = this.#samples[this.#samples.length - 1];
    if (first === undefined || last === undefined || last.at - first.at < 200) return undefined;
    return (last.bytes - first.bytes) * 1000 / (last.at - first.at);
  }
}

/** One file's progress. */
export class FileProgress {
  readonly name: string;
  readonly size: number;
  state: FileState = "queued";
  /** Bytes of the file in place so far (goes back to 0 when a download starts over). */
  position = 0;
  /** Bytes received from the network for this file, restarts included. */
  received = 0;
  /** The attempt in progress (1 for the first). */
  attempt = 0;
  startedAt: number | undefined;
  finishedAt: number | undefined;
  readonly meter: RateMeter = new RateMeter();

  constructor(name: string, size: number) {
    this.name = name;
    this.size = size;
  }

  /** Whether the file is being worked on. */
  get active(): boolean {
    return this.state !== "queued" && this.state !== "done" && this.state !== "failed";
  }
}

/** Totals over every file of a run. */
export interface ProgressTotals {
  readonly files: number;
  readonly done: number;
  readonly failed: number;
  readonly active: number;
  /** Bytes in place, over every file. */
  readonly bytes: number;
  readonly totalBytes: number;
  /** Bytes received from the network. */
  readonly received: number;
  /** Network bytes per second, recently. */
  readonly rate: number | undefined;
  /** Seconds left at the recent rate, for the bytes still to come. */
  readonly etaSeconds: number | undefined;
}

/** The state of a whole run. Pure: the clock is passed in. */
export class ProgressModel {
  readonly files: FileProgress[] = [];
  readonly #meter = new RateMeter();
  readonly #now: () => number;
  #received = 0;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Adds a file to track. */
  add(name: string, size: number): FileProgress {
    const file = new FileProgress(name, size);
    this.files.push(file);
    return file;
  }

  /** Moves a file to a new state; the first active state starts its clock. */
  setState(file: FileProgress, state: FileState): void {
    file.state = state;
    const now = this.#now();
    if (file.startedAt === undefined && state !== "queued") file.startedAt = now;
    if (state === "done" || state === "failed") {
      file.finishedAt = now;
      if (state === "done") file.position = file.size;
    }
  }

  /** Records bytes that arrived from the network for `file`. */
  received(file: FileProgress, bytes: number): void {
    file.received += bytes;
    this.#received += bytes;
  }

  /** Sets how much of `file` is in place (lower than before when a download starts over). */
  setPosition(file: FileProgress, position: number): void {
    file.position = Math.min(position, file.size);
  }

  /** Takes a rate sample; renderers call it on each tick. */
  sample(): void {
    const now = this.#now();
    this.#meter.sample(now, this.#received);
    for (const file of this.files) {
      if (file.state === "downloading" || file.state === "uploading") {
        file.meter.sample(now, file.received);
      }
    }
  }

  /** The totals now. */
  totals(): ProgressTotals {
    let bytes = 0;
    let totalBytes = 0;
    let done = 0;
    let failed = 0;
    let active = 0;
    for (const file of this.files) {
      totalBytes += file.size;
      bytes += file.state === "done" ? file.size : file.position;
      if (file.state === "done") done++;
      else if (file.state === "failed") failed++;
      else if (file.active) active++;
    }
    const rate = this.#meter.rate();
    const left = totalBytes - bytes;
    const etaSeconds = rate !== undefined && rate > 0 && active > 0 ? left / rate : undefined;
    return {
      files: this.files.length,
      done,
      failed,
      active,
      bytes,
      totalBytes,
      received: this.#received,
      rate,
      etaSeconds,
    };
  }

  /** Milliseconds since the clock started for `file`. */
  elapsedMs(file: FileProgress): number {
    if (file.startedAt === undefined) return 0;
    return (file.finishedAt ?? this.#now()) - file.startedAt;
  }
}

function percent(part: number, whole: number): string {
  return whole === 0 ? "100%" : `${Math.floor(part * 100 / whole)}%`;
}

function describeFile(file: FileProgress): string {
  switch (file.state) {
    case "downloading":
    case "uploading": {
      const attempt = file.attempt > 1 ? `, attempt ${file.attempt}` : "";
      const rate = file.meter.rate();
      const eta = rate !== undefined && rate > 0
        ? `, ETA ${formatDuration((file.size - file.position) / rate)}`
        : "";
      return `${formatBytes(file.position)} of ${formatBytes(file.size)} (${
        percent(file.position, file.size)
      }), ${formatRate(rate)}${eta}${attempt}`;
    }
    case "checking":
      return "verifying";
    case "waiting":
      return "waiting for another process to download it";
    case "placing":
      return "copying from the cache";
    case "unpacking":
      return "unpacking";
    default:
      return file.state;
  }
}

function totalLine(totals: ProgressTotals): string {
  const eta = totals.etaSeconds === undefined ? "" : `, ETA ${formatDuration(totals.etaSeconds)}`;
  return `${totals.done + totals.failed}/${totals.files} files, ${formatBytes(totals.bytes)} of ${
    formatBytes(totals.totalBytes)
  } (${percent(totals.bytes, totals.totalBytes)}), ${formatRate(totals.rate)}${eta}`;
}

/** At most this many files get a line of their own in the live display. */
const MAX_FILE_LINES = 8;

/**
 * The live display for a terminal: a line per active file, then the total, each cut to
 * `columns - 1` characters so no line wraps (which would break redrawing). File names are
 * escaped (`src/display.ts`): the block goes to the terminal raw, for its cursor codes. Pure.
 */
export function renderFrame(model: ProgressModel, columns: number): string[] {
  const width = Math.max(20, columns - 1);
  const active = model.files.filter((file) => file.active);
  const lines = active.slice(0, MAX_FILE_LINES).map((file) =>
    `  ${escapeControls(file.name)}: ${describeFile(file)}`
  );
  if (active.length > MAX_FILE_LINES) {
    lines.push(`  ... and ${active.length - MAX_FILE_LINES} more`);
  }
  lines.push(totalLine(model.totals()));
  return lines.map((line) => line.length > width ? `${line.slice(0, width - 1)}…` : line);
}

/** The heartbeat line for a log: the total and every file in flight (names escaped). Pure. */
export function renderHeartbeat(model: ProgressModel): string {
  const active = model.files.filter((file) => file.active);
  const details = active.map((file) => `${escapeControls(file.name)}: ${describeFile(file)}`)
    .join("; ");
  return `Progress: ${totalLine(model.totals())}${details === "" ? "" : ` — ${details}`}`;
}

/** Where a run's chatter goes while progress is shown. */
export interface ProgressRenderer {
  /** Starts timers (live redraw or heartbeat). */
  start(): void;
  /** Prints a message line without garbling the live display. */
  print(write: () => void): void;
  /** Redraws now (a file started or finished). */
  refresh(): void;
  /** Stops timers and clears the live display. */
  stop(): void;
}

/** What a renderer writes to and how often. */
export interface RendererOptions {
  readonly model: ProgressModel;
  readonly write: (text: string) => void;
  /** Terminal width (TTY only). */
  readonly columns?: (() => number) | undefined;
  /** TTY redraw period, or the plain renderer's heartbeat period. */
  readonly intervalMs?: number | undefined;
}

/** Redraws a block of lines at the bottom of a terminal, about five times a second. */
export class TtyRenderer implements ProgressRenderer {
  readonly #options: RendererOptions;
  #timer: Ticker | undefined;
  #drawn = 0;

  constructor(options: RendererOptions) {
    this.#options = options;
  }

  start(): void {
    this.#timer ??= startTicker(() => this.refresh(), this.#options.intervalMs ?? 200);
  }

  print(write: () => void): void {
    this.#clear();
    write();
    this.#draw();
  }

  refresh(): void {
    this.#options.model.sample();
    this.#clear();
    this.#draw();
  }

  stop(): void {
    this.#timer?.stop();
    this.#timer = undefined;
    this.#clear();
  }

  #clear(): void {
    // Up to the first line of the block, then erase to the end of the screen.
    if (this.#drawn > 0) this.#options.write(`\x1b[${this.#drawn}F\x1b[J`);
    this.#drawn = 0;
  }

  #draw(): void {
    if (this.#timer === undefined) return;
    const lines = renderFrame(this.#options.model, this.#options.columns?.() ?? 80);
    this.#options.write(lines.join("\n") + "\n");
    this.#drawn = lines.length;
  }
}

/** For logs: messages as they come, plus a heartbeat line while anything is in flight. */
export class PlainRenderer implements ProgressRenderer {
  readonly #options: RendererOptions;
  #timer: Ticker | undefined;

  constructor(options: RendererOptions) {
    this.#options = options;
  }

  /**
   * Arms the heartbeat. On a ticker (`ticker.ts`), arming costs ~0.5 ms; on `setInterval`
   * it cost ~5 ms (Node's timers load with the first one), which is why it used to be
   * armed late, and then missed a slow check that began quickly.
   */
  start(): void {
    if (this.#timer !== undefined) return;
    // One ticker samples the rates every second and beats every `period`: a second at
    // most is left pending after `stop`.
    // A period of 0 or less (only an API caller can give one) beats every millisecond.
    const period = Math.max(1, this.#options.intervalMs ?? 30_000);
    const sampleMs = Math.min(1_000, period);
    const ticksPerBeat = Math.max(1, Math.round(period / sampleMs));
    let ticks = 0;
    this.#timer = startTicker(() => {
      ticks += 1;
      if (ticks % ticksPerBeat === 0) this.#beat();
      else this.#options.model.sample();
    }, sampleMs);
  }

  print(write: () => void): void {
    write();
  }

  refresh(): void {}

  stop(): void {
    this.#timer?.stop();
    this.#timer = undefined;
  }

  #beat(): void {
    const model = this.#options.model;
    model.sample();
    if (model.files.some((file) => file.active)) {
      this.#options.write(renderHeartbeat(model) + "\n");
    }
  }
}

/** Shows nothing (`-q`, or `--json` where only the report matters). */
export class SilentRenderer implements ProgressRenderer {
  start(): void {}
  print(write: () => void): void {
    write();
  }
  refresh(): void {}
  stop(): void {}
}

/**
 * The display for a run: nothing when quiet, a live frame on a terminal, else plain lines
 * with a heartbeat every `heartbeatMs` (CI logs).
 */
export function chooseRenderer(
  model: ProgressModel,
  output: Output,
  options: { readonly heartbeatMs: number },
): ProgressRenderer {
  if (output.verbosity === "quiet") return new SilentRenderer();
  const write = (text: string) => output.writeStderr(text);
  if (output.stderrIsTerminal) return new TtyRenderer({ model, write, columns: terminalColumns });
  return new PlainRenderer({ model, write, intervalMs: options.heartbeatMs });
}

function terminalColumns(): number {
  try {
    // A pseudo-terminal may report 0 columns: assume the classic width then.
    return Deno.consoleSize().columns || 80;
  } catch {
    return 80;
  }
}

/**
 * The reporter every command writes through: stdout carries data (lists, `--json`
 * reports), stderr carries chatter (progress, warnings, summaries). Levels follow
 * tooltool.py's `-q` / `-v`. The writers are injected, so tests capture both streams.
 *
 * Every line written through a levelled method, `data` or `report` goes through
 * `src/display.ts` first: secrets in URLs are redacted and control characters escaped, so
 * whatever a server, manifest or archive put into a message cannot drive the terminal or
 * forge lines in a CI log. Only `writeStderr` is raw, for progress renderers' own cursor
 * codes (they escape the names they embed).
 *
 * @module
 */

import { safeJson, safeText } from "./display.ts";

/** How much chatter goes to stderr. */
export type Verbosity = "quiet" | "normal" | "verbose";

/** Where output goes and how much of it; built once by `main.ts`. */
export interface OutputOptions {
  readonly writeStdout: (text: string) => void;
  readonly writeStderr: (text: string) => void;
  readonly verbosity: Verbosity;
  /** `--json`: stdout gets one JSON document at the end and nothing else. */
  readonly json: boolean;
  /** Whether stderr is a terminal, for live progress instead of log lines. */
  readonly stderrIsTerminal: boolean;
}

/** Writes data to stdout and levelled messages to stderr. */
export class Output {
  readonly verbosity: Verbosity;
  readonly json: boolean;
  readonly stderrIsTerminal: boolean;
  readonly #writeStdout: (text: string) => void;
  readonly #writeStderr: (text: string) => void;
  #reported = false;

  constructor(options: OutputOptions) {
    this.verbosity = options.verbosity;
    this.json = options.json;
    this.stderrIsTerminal = options.stderrIsTerminal;
    this.#writeStdout = options.writeStdout;
    this.#writeStderr = options.writeStderr;
  }

  /**
   * One line of data on stdout (suppressed in `--json` mode, where only the report is data).
   * Tabs are kept, as column separators; other controls are escaped.
   */
  data(line: string): void {
    if (!this.json) this.#writeStdout(safeText(line, { keepTabs: true }) + "\n");
  }

  /** The machine-readable report, pretty-printed, on stdout (see `safeJson`). */
  report(value: unknown): void {
    this.#reported = true;
    this.#writeStdout(safeJson(value) + "\n");
  }

  /** Whether `report` was called: `main.ts` then adds no report of its own for an error. */
  get reported(): boolean {
    return this.#reported;
  }

  /** Normal progress chatter; hidden by `-q`. */
  info(message: string): void {
    if (this.verbosity !== "quiet") this.#writeStderr(safeText(message) + "\n");
  }

  /** Details only `-v` shows. */
  debug(message: string): void {
    if (this.verbosity === "verbose") this.#writeStderr(safeText(message) + "\n");
  }

  /** Something the user should know even with `-q`. */
  warn(message: string): void {
    this.#writeStderr(`warning: ${safeText(message)}\n`);
  }

  /** An error line; used for per-file failures before the summary. */
  error(message: string): void {
    this.#writeStderr(`error: ${safeText(message)}\n`);
  }

  /** An error's hint, on the line after it (`hint: ...`); shown even with `-q`. */
  hint(message: string): void {
    this.#writeStderr(`hint: ${safeText(message)}\n`);
  }

  /** A line of its own shape (`path:line:col: message`), shown even with `-q`. */
  line(message: string): void {
    this.#writeStderr(safeText(message) + "\n");
  }

  /** Raw stderr, for progress renderers that manage their own lines. */
  writeStderr(text: string): void {
    this.#writeStderr(text);
  }
}

/** An `Output` that records everything, for unit tests. */
export function memoryOutput(
  options: Partial<Omit<OutputOptions, "writeStdout" | "writeStderr">> = {},
): { output: Output; stdout: () => string; stderr: () => string } {
  let stdout = "";
  let stderr = "";
  const output = new Output({
    writeStdout: (text) => stdout += text,
    writeStderr: (text) => stderr += text,
    verbosity: options.verbosity ?? "normal",
    json: options.json ?? false,
    stderrIsTerminal: options.stderrIsTerminal ?? false,
  });
  return { output, stdout: () => stdout, stderr: () => stderr };
}

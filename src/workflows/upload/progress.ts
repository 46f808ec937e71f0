/**
 * The upload's byte count as the user sees it: a live line on a terminal, a line every 10 s
 * in a log.
 *
 * @module
 */

import { formatBytes } from "../../format.ts";
import type { Output } from "../../output.ts";

/** Bytes sent, rendered as a live line on a terminal and a line every 10 s otherwise. */
export class UploadProgress {
  readonly #output: Output;
  readonly #total: number;
  readonly #live: boolean;
  readonly #started = performance.now();
  #done = 0;
  #lastRender = 0;
  #lineShown = false;

  constructor(output: Output, total: number) {
    this.#output = output;
    this.#total = total;
    this.#live = output.stderrIsTerminal && output.verbosity !== "quiet";
    this.#lastRender = performance.now();
  }

  /** Counts bytes sent (negative when a failed try is taken back). */
  add(bytes: number): void {
    this.#done += bytes;
    const now = performance.now();
    if (now - this.#lastRender < (this.#live ? 200 : 10_000)) return;
    this.#lastRender = now;
    const seconds = (now - this.#started) / 1000;
    const rate = seconds > 0 ? this.#done / seconds : 0;
    const percent = this.#total > 0 ? Math.floor(100 * this.#done / this.#total) : 100;
    const line = `Uploading: ${formatBytes(this.#done)} of ${
      formatBytes(this.#total)
    } (${percent}%), ${formatBytes(rate)}/s`;
    if (this.#live) {
      this.#output.writeStderr(`\r\x1b[K${line}`);
      this.#lineShown = true;
    } else {
      this.#output.info(line);
    }
  }

  /** Counts a file that needs no upload. */
  skip(bytes: number): void {
    this.#done += bytes;
  }

  /** Prints a message without tearing the live line. */
  log(print: () => void): void {
    this.#clear();
    print();
  }

  done(): void {
    this.#clear();
  }

  #clear(): void {
    if (!this.#lineShown) return;
    this.#output.writeStderr("\r\x1b[K");
    this.#lineShown = false;
  }
}

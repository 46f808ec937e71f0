/**
 * The upload's progress, on the display every command shares (`progress.ts`): a live frame
 * on a terminal, a heartbeat line in a log. This adapter counts a PUT's bytes into its file
 * and takes them back when a try fails.
 *
 * @module
 */

import type { Output } from "../../output.ts";
import {
  chooseRenderer,
  type FileProgress,
  ProgressModel,
  type ProgressRenderer,
} from "../../progress.ts";

/** Bytes sent per file, shown as they go; `log` prints without tearing the display. */
export class UploadProgress {
  readonly #model = new ProgressModel();
  readonly #renderer: ProgressRenderer;

  constructor(output: Output, options: { readonly heartbeatMs: number }) {
    this.#renderer = chooseRenderer(this.#model, output, options);
    this.#renderer.start();
  }

  readonly #files = new Map<string, FileProgress>();

  /** Starts showing a file's PUT (the same line again when a new URL is tried). */
  start(name: string, size: number): FileProgress {
    let file = this.#files.get(name);
    if (file === undefined) {
      file = this.#model.add(name, size);
      this.#files.set(name, file);
    }
    this.#model.setState(file, "uploading");
    this.#renderer.refresh();
    return file;
  }

  /** Counts bytes sent for `file`. */
  sent(file: FileProgress, bytes: number): void {
    this.#model.received(file, bytes);
    this.#model.setPosition(file, file.position + bytes);
  }

  /** A failed try: its bytes no longer count. */
  restart(file: FileProgress): void {
    this.#model.setPosition(file, 0);
  }

  /** The file is sent, given up on, or back in the queue (its URL expired: a new batch). */
  finish(file: FileProgress, state: "done" | "failed" | "queued"): void {
    this.#model.setState(file, state);
    this.#renderer.refresh();
  }

  /** Prints a message without tearing the live display. */
  log(print: () => void): void {
    this.#renderer.print(print);
  }

  /** Stops the display. */
  done(): void {
    this.#renderer.stop();
  }
}

/**
 * Everything a command may take from the process: working directory, environment,
 * output, network and cancellation. `main.ts` builds the real one; tests build their own,
 * which is why no library module reads `Deno.env`, `Deno.cwd()` or `Deno.args` itself.
 *
 * @module
 */

import type { Output } from "./output.ts";

/** The process, as seen by commands and the library. */
export interface Context {
  /** Absolute working directory; manifests and files are resolved against it. */
  readonly cwd: string;
  /** Reads an environment variable. */
  readonly env: (name: string) => string | undefined;
  readonly output: Output;
  /** The fetch used for every HTTP request (injected so tests can observe or fake it). */
  readonly fetch: typeof globalThis.fetch;
  /** Aborted on Ctrl-C / SIGTERM: long operations stop, clean up their temp files and throw. */
  readonly signal: AbortSignal;
  /** How many CPU cores hashing may use. */
  readonly cores: number;
}

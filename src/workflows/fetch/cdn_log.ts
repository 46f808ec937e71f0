/**
 * The CDN headers logged for each file of a run (the storage response a transfer went
 * wrong on), kept for the file's outcome in the report. Apart from the download step, so
 * that the engine can read them without loading the download code.
 *
 * @module
 */

import type { FileProgress } from "../../progress.ts";
import type { CdnHeaders } from "../../transport/cdn_headers.ts";

/** Keyed by the file's progress entry, one per run. */
const logged = new WeakMap<FileProgress, CdnHeaders>();

/** Keeps the headers logged for `file`; a later transfer's replace them. */
export function rememberCdnHeaders(file: FileProgress, cdn: CdnHeaders): void {
  logged.set(file, cdn);
}

/** The CDN headers logged for `file`, as the part of its outcome that carries them. */
export function cdnOf(file: FileProgress): { cdn?: CdnHeaders } {
  const cdn = logged.get(file);
  return cdn === undefined ? {} : { cdn };
}

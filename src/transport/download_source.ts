/**
 * Where a download can come from, and what a source's kind means for its failures.
 *
 * @module
 */

import { HttpError, IntegrityError } from "../errors.ts";

/**
 * The kinds of servers a file is downloaded from: the ToolTool API (which redirects to
 * storage) or a content-addressed mirror. Open to more: a dry run reports whichever it is.
 */
export type NetworkSourceKind = "service" | "mirror";

/**
 * One place to download from: an API base URL that redirects to storage, or a
 * content-addressed mirror (`<base>/sha512/<digest>`).
 */
export interface DownloadSource {
  /** The base URL, for messages. */
  readonly name: string;
  /** Asks for a fresh signed storage URL; called at the start of every attempt. */
  readonly resolve: (signal: AbortSignal) => Promise<URL>;
  /**
   * `"mirror"`: a static copy that may lack the file or hold a bad one. Its 404 is a miss
   * and a wrong body is not asked for again: both go straight on to the next source.
   * Default `"service"` (the ToolTool API). Plans and reports name it.
   */
  readonly kind?: NetworkSourceKind | undefined;
  /**
   * Extra request headers (a private mirror's `Authorization`), sent only to the origin of
   * the URL `resolve` gave, never along a redirect to another origin.
   */
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

/**
 * A mirror serves one static, content-addressed object: when it is missing (404) or its
 * bytes are wrong, asking again brings the same answer, so the next source is tried at once.
 */
export function givesUpMirror(source: DownloadSource, error: unknown): boolean {
  if (source.kind !== "mirror") return false;
  return error instanceof IntegrityError ||
    (error instanceof HttpError && (error.status === 404 || error.status === 410));
}

/** Whether `error` is a mirror's 404 (or 410): the mirror lacks the file, nothing is wrong. */
export function isMirrorMiss(source: DownloadSource, error: unknown): boolean {
  return source.kind === "mirror" && error instanceof HttpError &&
    (error.status === 404 || error.status === 410);
}

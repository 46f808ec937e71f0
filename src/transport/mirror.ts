/**
 * Content-addressed mirrors: plain HTTP(S) locations laid out as `<base>/sha512/<digest>`
 * (any static server, a bucket behind a CDN, an Artifactory generic repository), tried
 * before the ToolTool API. A mirror is never trusted: what it sends is verified like any
 * download, and it never sees ToolTool credentials — only the optional bearer token of
 * `--mirror-auth-file`, and only on its own origin.
 *
 * @module
 */

import { displayUrl } from "../display.ts";
import { describeFsError } from "../fs_error.ts";
import { ToolError, UsageError } from "../errors.ts";
import type { Sha512 } from "../sha512.ts";
import type { DownloadSource } from "./download_source.ts";
import { parseBaseUrl } from "./url_policy.ts";

/** A mirror's base URL, parsed (trailing slash, http(s), no query). */
export interface Mirror {
  readonly baseUrl: string;
  /** For messages: no userinfo. */
  readonly displayName: string;
  /** Sent with each request to the mirror's own origin (an `Authorization`). */
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * The mirror base URLs of `--mirror` (in order), else those of `TOOLTOOL_MIRRORS`
 * (separated by spaces or commas); each must pass `parseBaseUrl` like `--url`. Throws
 * `UsageError` naming where a bad one came from.
 */
export function mirrorUrls(flags: readonly string[], fromEnv: string | undefined): string[] {
  if (flags.length > 0) return flags.map((url) => parseMirrorUrl(url, "--mirror"));
  const listed = (fromEnv ?? "").split(/[\s,]+/).filter((part) => part !== "");
  return listed.map((url) => parseMirrorUrl(url, "TOOLTOOL_MIRRORS"));
}

function parseMirrorUrl(text: string, source: string): string {
  const base = parseBaseUrl(text, source);
  const url = new URL(base);
  if (url.username !== "" || url.password !== "") {
    // A password in a URL ends up in logs and process lists; a token file does not.
    throw new UsageError(
      `Invalid ${source} "${displayUrl(url)}": a mirror URL cannot carry a user or password`,
      { hint: "put a bearer token in a file and pass --mirror-auth-file FILE" },
    );
  }
  return base;
}

/** Mirrors for `urls`, each sent `Authorization: Bearer <token>` when a token is given. */
export function mirrorsFor(urls: readonly string[], token: string | undefined): Mirror[] {
  const headers: Record<string, string> = token === undefined
    ? {}
    : { Authorization: `Bearer ${token}` };
  return urls.map((baseUrl) => ({ baseUrl, displayName: displayUrl(baseUrl), headers }));
}

/**
 * Reads the bearer token of `--mirror-auth-file` (the whole file, trimmed). Throws
 * `ToolError` when it cannot be read or is empty, rather than fetching without it.
 */
export async function readMirrorToken(path: string): Promise<string> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new ToolError(`Cannot read the mirror token file "${path}": ${describeFsError(error)}`);
  }
  const token = text.trim();
  if (token === "" || /[\r\n]/.test(token)) {
    throw new UsageError(
      `Invalid mirror token file "${path}": it must hold one bearer token on one line`,
    );
  }
  return token;
}

/** The download source for `digest` at `mirror`: `<base>/sha512/<digest>`, no API call. */
export function mirrorSource(mirror: Mirror, digest: Sha512): DownloadSource {
  const url = new URL(`sha512/${digest}`, mirror.baseUrl);
  return {
    name: mirror.displayName,
    kind: "mirror",
    headers: mirror.headers,
    resolve: () => Promise.resolve(url),
  };
}

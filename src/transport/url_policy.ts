/**
 * Which URLs the tool sends requests to. One rule set for every URL a user gives (`--url`,
 * `TOOLTOOL_HOST`, `TASKCLUSTER_PROXY_URL`) and every URL a server hands back (the API's
 * redirect to storage, storage's own redirects, upload URLs):
 *
 * - only `http:` and `https:`: a server that answers `file:///etc/passwd`, `data:` or
 *   `ftp:` must not make the client read local files or speak another protocol;
 * - a redirect never goes from https to http: production storage is https, and a
 *   downgrade would expose the download (and its signed URL) to anyone on the path. Plain
 *   http is followed only along a chain that started as http (a local or dev server);
 * - a base URL has no query or fragment, since API paths are joined onto it.
 *
 * Pure: no I/O.
 *
 * @module
 */

import { UnsafeUrlError, UsageError } from "../errors.ts";
import { displayUrl } from "../display.ts";

/** Redirects storage may add after the API's own, before a download gives up on it. */
export const MAX_STORAGE_REDIRECTS = 5;

/** Whether `protocol` (as `URL.protocol` spells it, `https:`) is one the tool speaks. */
export function isHttpProtocol(protocol: string): boolean {
  return protocol === "http:" || protocol === "https:";
}

/**
 * Parses a base URL a user gave, with a trailing slash added. Throws `UsageError` (exit 2)
 * naming `source` (`--url`, `TOOLTOOL_HOST`) for text that is not a URL, a scheme other
 * than http(s), or a query or fragment.
 */
export function parseBaseUrl(text: string, source: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`Invalid ${source} "${text}": not an absolute URL`, {
      hint: "give the API's base URL, e.g. https://tooltool.mozilla-releng.net/",
    });
  }
  const shown = displayUrl(url);
  if (!isHttpProtocol(url.protocol)) {
    throw new UsageError(
      `Invalid ${source} "${shown}": only http and https URLs are supported, not ${url.protocol}`,
    );
  }
  if (url.search !== "" || url.hash !== "" || text.includes("?") || text.includes("#")) {
    throw new UsageError(
      `Invalid ${source} "${shown}": a base URL cannot have a query or fragment (API paths are appended to it)`,
    );
  }
  return url.href.endsWith("/") ? url.href : `${url.href}/`;
}

/**
 * Resolves a `Location` (or any URL a server sent) against the URL it came from and checks
 * it may be followed: http(s) only, never https to http. Throws `UnsafeUrlError` whose
 * message starts with `what` (`Cannot fetch "a.bin" from https://host/`).
 */
export function followableUrl(location: string, from: URL, what: string): URL {
  let url: URL;
  try {
    url = new URL(location, from);
  } catch {
    throw new UnsafeUrlError(`${what}: the server redirected to an invalid URL`);
  }
  if (!isHttpProtocol(url.protocol)) {
    throw new UnsafeUrlError(
      `${what}: the server redirected to a ${url.protocol} URL; only http and https are followed`,
    );
  }
  if (from.protocol === "https:" && url.protocol === "http:") {
    throw new UnsafeUrlError(
      `${what}: the server redirected from https to plain http (${
        displayUrl(`${url.origin}/`)
      }); a downgrade is never followed`,
    );
  }
  return url;
}

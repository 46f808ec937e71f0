/**
 * `check`: the service's health check for operators, as a list of probes of each server:
 *
 * - `__heartbeat__` answers 200 (production answers 502 with the failing parts otherwise),
 * - `__lbheartbeat__` answers 200,
 * - `__version__` answers 200 with a JSON version document,
 * - a malformed digest (`file/sha512/<not a digest>`) is refused with 400,
 * - with `--public-digest`: that file redirects (302) to storage, and storage serves it,
 * - with `--internal-digest`: that file is refused (403) to an anonymous caller (a 404 means
 *   the server holds no copy of it, so the probe could not test anything, and says so).
 *
 * Every probe is sent anonymously, without following redirects, so what is checked is what
 * an anonymous client gets; the public file's redirect is only probed further when a
 * download would follow it (`followableUrl`: http(s), no downgrade to http). URLs are shown without userinfo (`displayUrl`). One line per
 * probe on stdout (`ok` / `FAIL`, the URL, what was expected and what came), a `--json`
 * report, and exit 1 when any probe fails.
 *
 * @module
 */

import type { Context } from "../context.ts";
import { displayUrl, withoutUserinfo } from "../display.ts";
import { clipText, readBoundedText } from "../bounded_read.ts";
import { errorMessage, networkReason, PartialFailureError, UsageError } from "../errors.ts";
import { USER_AGENT } from "../version.ts";
import { isSha512 } from "../sha512.ts";
import { followableUrl } from "../transport/url_policy.ts";

/** What `checkServers` probes. */
export interface CheckOptions {
  /** API base URLs, each ending with `/`; every one is probed. */
  readonly urls: readonly string[];
  /** A public file's digest: it must redirect to storage. */
  readonly publicDigest?: string | undefined;
  /** An internal file's digest: it must be refused without credentials. */
  readonly internalDigest?: string | undefined;
  /** How long one probe may take. */
  readonly timeoutMs?: number | undefined;
}

/** One probe's outcome. Field names are stable (`--json`). */
export interface ProbeResult {
  /** What the probe checks, e.g. `heartbeat`. */
  readonly name: string;
  readonly method: string;
  readonly url: string;
  readonly expected: string;
  readonly got: string;
  readonly ok: boolean;
}

/** Every probe of every server. Field names are stable (`--json`). */
export interface CheckReport {
  readonly ok: boolean;
  readonly probes: readonly ProbeResult[];
}

/** A digest no file can have: not hex, so the service must refuse it as malformed. */
const MALFORMED_DIGEST = "not-a-sha512-digest";

const DEFAULT_PROBE_TIMEOUT_MS = 15_000;

/**
 * Runs every probe against every server and returns the results in a fixed order. Throws
 * `UsageError` for a malformed `--public-digest` / `--internal-digest`; a probe that fails
 * (wrong status, no answer) is a result, not an exception.
 */
export async function checkServers(options: CheckOptions, ctx: Context): Promise<CheckReport> {
  for (
    const [flag, value] of [
      ["--public-digest", options.publicDigest],
      ["--internal-digest", options.internalDigest],
    ] as const
  ) {
    if (value !== undefined && !isSha512(value)) {
      throw new UsageError(
        `Invalid sha512 digest in ${flag}: must be 128 lowercase hexadecimal digits`,
      );
    }
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  const perServer = await Promise.all(options.urls.map((base) => {
    const probes: Promise<ProbeResult[]>[] = [
      probeStatus(ctx, timeoutMs, "heartbeat", new URL("__heartbeat__", base), 200),
      probeStatus(ctx, timeoutMs, "lbheartbeat", new URL("__lbheartbeat__", base), 200),
      probeVersion(ctx, timeoutMs, new URL("__version__", base)),
      probeStatus(
        ctx,
        timeoutMs,
        "malformed digest",
        new URL(`file/sha512/${MALFORMED_DIGEST}`, base),
        400,
      ),
    ];
    if (options.publicDigest !== undefined) {
      probes.push(probePublic(ctx, timeoutMs, new URL(`sha512/${options.publicDigest}`, base)));
    }
    if (options.internalDigest !== undefined) {
      probes.push(probeInternal(ctx, timeoutMs, new URL(`sha512/${options.internalDigest}`, base)));
    }
    return Promise.all(probes).then((lists) => lists.flat());
  }));
  const probes = perServer.flat();
  return { ok: probes.every((probe) => probe.ok), probes };
}

/**
 * Prints one line per probe (stdout) or the `--json` report, and throws a
 * `PartialFailureError` (exit 1) when any probe failed.
 */
export function finishCheck(report: CheckReport, ctx: Context): void {
  if (ctx.output.json) ctx.output.report(report);
  for (const probe of report.probes) {
    ctx.output.data(
      `${
        probe.ok ? "ok  " : "FAIL"
      } ${probe.name}: ${probe.method} ${probe.url}: expected ${probe.expected}, got ${probe.got}`,
    );
  }
  const failed = report.probes.filter((probe) => !probe.ok);
  if (failed.length === 0) {
    ctx.output.info(`All ${report.probes.length} probes passed`);
    return;
  }
  throw new PartialFailureError(
    `${failed.length} of ${report.probes.length} probes failed`,
    failed.map((probe) => ({ target: `${probe.method} ${probe.url}`, error: probe.got })),
  );
}

interface Answer {
  readonly status: number;
  readonly statusText: string;
  readonly headers: Headers;
  readonly body: string;
}

/** One anonymous request; the answer, or why none came. */
async function send(
  ctx: Context,
  timeoutMs: number,
  url: URL,
  headers: Record<string, string> = {},
): Promise<Answer | string> {
  const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(timeoutMs)]);
  try {
    const response = await ctx.fetch(url, {
      method: "GET",
      headers: { "User-Agent": USER_AGENT, ...headers },
      redirect: "manual",
      signal,
    });
    // A probe only needs the start of a body (an error document, a version).
    const { text: body } = await readBoundedText(response, 16 * 1024);
    return {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
      body,
    };
  } catch (error) {
    ctx.signal.throwIfAborted();
    return signal.aborted
      ? `no answer within ${timeoutMs / 1000} s`
      : `no answer: ${networkReason(error)}`;
  }
}

function describe(answer: Answer): string {
  const status = `${answer.status}${answer.statusText ? ` ${answer.statusText}` : ""}`;
  if (answer.status < 400) return status;
  return `${status}${detailOf(answer)}`;
}

function detailOf(answer: Answer): string {
  const text = answer.body.trim();
  if (text === "") return "";
  const problem = problemOf(answer);
  const summary = problem === undefined
    ? clipText(text.replaceAll(/\s+/g, " "), 200)
    : clipText(problem);
  return summary === "" ? "" : ` (${summary})`;
}

function problemOf(answer: Answer): string | undefined {
  try {
    const parsed = JSON.parse(answer.body) as Record<string, unknown>;
    if (typeof parsed !== "object" || parsed === null) return undefined;
    const error = parsed.error as Record<string, unknown> | undefined;
    const detail = parsed.detail ?? error?.description ?? parsed.title;
    if (typeof detail === "string") return detail;
    // A heartbeat's 502 lists the failing parts: `{"database": "cannot connect"}`.
    return Object.entries(parsed).map(([key, value]) => `${key}: ${String(value)}`).join("; ");
  } catch {
    return undefined;
  }
}

async function probeStatus(
  ctx: Context,
  timeoutMs: number,
  name: string,
  url: URL,
  expected: number,
): Promise<ProbeResult[]> {
  const answer = await send(ctx, timeoutMs, url);
  const expectedText = `${expected}`;
  if (typeof answer === "string") {
    return [{
      name,
      method: "GET",
      url: displayUrl(url),
      expected: expectedText,
      got: answer,
      ok: false,
    }];
  }
  return [{
    name,
    method: "GET",
    url: displayUrl(url),
    expected: expectedText,
    got: describe(answer),
    ok: answer.status === expected,
  }];
}

/**
 * The internal file is refused (403) anonymously. The service looks for the file's stored
 * copies before it checks permissions, so a digest it holds no copy of is a 404 whatever
 * its visibility: said as such, since the protection was not tested at all.
 */
async function probeInternal(ctx: Context, timeoutMs: number, url: URL): Promise<ProbeResult[]> {
  const [result] = await probeStatus(ctx, timeoutMs, "internal file refused", url, 403);
  if (result === undefined || !result.got.startsWith("404")) return result ? [result] : [];
  return [{
    ...result,
    got:
      "404 Not Found: the server holds no stored copy of this file, so whether it is protected could not be tested (the service looks for copies before permissions); give the digest of an uploaded internal file",
  }];
}

async function probeVersion(ctx: Context, timeoutMs: number, url: URL): Promise<ProbeResult[]> {
  const name = "version";
  const expected = "200 with a JSON version";
  const answer = await send(ctx, timeoutMs, url);
  if (typeof answer === "string") {
    return [{ name, method: "GET", url: displayUrl(url), expected, got: answer, ok: false }];
  }
  let version: unknown;
  try {
    version = (JSON.parse(answer.body) as Record<string, unknown>).version;
  } catch {
    version = undefined;
  }
  const ok = answer.status === 200 && typeof version === "string";
  const got = answer.status === 200
    ? typeof version === "string" ? `200 (version ${version})` : "200 without a JSON version"
    : describe(answer);
  return [{ name, method: "GET", url: displayUrl(url), expected, got, ok }];
}

/** The public file redirects to storage, and storage serves its first byte. */
async function probePublic(ctx: Context, timeoutMs: number, url: URL): Promise<ProbeResult[]> {
  const name = "public file redirects";
  const expected = "302 to storage";
  const answer = await send(ctx, timeoutMs, url);
  if (typeof answer === "string") {
    return [{ name, method: "GET", url: displayUrl(url), expected, got: answer, ok: false }];
  }
  const location = answer.headers.get("Location");
  const redirect = { name, method: "GET", url: displayUrl(url), expected };
  if (answer.status !== 302 || location === null) {
    return [{ ...redirect, got: describe(answer), ok: false }];
  }
  let storage: URL;
  try {
    // A relative Location would inherit the API's userinfo: storage never gets it.
    storage = withoutUserinfo(followableUrl(location, url, "302"));
  } catch (error) {
    // Not followed: `file:`, `data:` or a downgrade to http is a failed probe, not a fetch.
    return [{
      ...redirect,
      got: errorMessage(error).replace(/^302: the server /, "302: "),
      ok: false,
    }];
  }
  // Only the origin and path: the query is a signature anyone could use until it expires.
  const shown = displayUrl(`${storage.origin}${storage.pathname}`);
  const results: ProbeResult[] = [{ ...redirect, got: `302 to ${shown}`, ok: true }];
  const blob = await send(ctx, timeoutMs, storage, { Range: "bytes=0-0" });
  const storageProbe = {
    name: "storage serves the public file",
    method: "GET",
    url: shown,
    expected: "206 or 200",
  };
  if (typeof blob === "string") {
    results.push({ ...storageProbe, got: blob, ok: false });
  } else {
    results.push({
      ...storageProbe,
      got: describe(blob),
      ok: blob.status === 206 || blob.status === 200,
    });
  }
  return results;
}

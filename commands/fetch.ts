/**
 * `tooltool fetch [FILE...]`: the manifest's files (or only FILEs) into the working
 * directory, through the cache when `-c` names one. Exit 0 when every file is in place and
 * valid; otherwise each failure is printed and the command fails.
 *
 * Environment knobs (mostly for tests): `TOOLTOOL_STALL_TIMEOUT_MS` (default 30000),
 * `TOOLTOOL_HEARTBEAT_MS` (log heartbeat, default 20000), `TOOLTOOL_RETRY_BASE_MS` (first
 * backoff delay, default 1000), `TOOLTOOL_CACHE_LINKS=0` (copy from the cache instead of
 * hard-linking).
 *
 * @module
 */

import { resolve } from "node:path";
import type { CommandFunction, GlobalOptions } from "./options.ts";
import { Cache } from "../src/cache/cache.ts";
import type { Context } from "../src/context.ts";
import { loadCredentials } from "../src/credentials.ts";
import { errorMessage, HttpError, PartialFailureError, ToolError } from "../src/errors.ts";
import { type FetchLog, fetchRecords, type FileOutcome, type Unpacker } from "../src/fetch.ts";
import { ApiClient } from "../src/http.ts";
import { DEFAULT_BACKOFF } from "../src/retry.ts";
import type { FileRecord } from "../src/manifest.ts";
import { readManifest } from "../src/manifest_file.ts";
import {
  PlainRenderer,
  ProgressModel,
  type ProgressRenderer,
  SilentRenderer,
  TtyRenderer,
} from "../src/progress.ts";
import type { DownloadSource } from "../src/transfer.ts";
import { formatBytes, formatDuration } from "../src/format.ts";

/** Files fetched at once unless `-j` says otherwise. */
const DEFAULT_JOBS = 4;

/** A log line at least this often while transfers run, well inside mozharness's 10 minutes. */
const DEFAULT_HEARTBEAT_MS = 20_000;

/** Fetches the manifest's files; see the module documentation. */
export const fetchCommand: CommandFunction = async (args, options, ctx) => {
  const started = performance.now();
  const records = await readManifest(options.manifest, { cwd: ctx.cwd });
  const { selected, unknown } = selectRecords(records, args);
  const credentials = await loadCredentials(
    { authenticationFile: options.authenticationFile, warn: (message) => ctx.output.warn(message) },
    ctx.env,
  );
  if (credentials.kind !== "none") ctx.output.debug(`Using credentials from ${credentials.source}`);
  const cache = await openCache(options, ctx);
  const clients = options.urls.map((baseUrl) =>
    new ApiClient({ baseUrl, credentials, fetch: ctx.fetch, env: ctx.env, signal: ctx.signal })
  );
  const regionRefused = new Set<ApiClient>();
  const sources = (record: FileRecord): DownloadSource[] =>
    clients.map((client) => ({
      name: client.displayName,
      resolve: async () => {
        const target = record.filename;
        if (options.region === undefined || regionRefused.has(client)) {
          return await client.resolveDownload(record.digest, { target });
        }
        try {
          return await client.resolveDownload(record.digest, { region: options.region, target });
        } catch (error) {
          // The production API validates its query strictly and only declares `region` for
          // uploads, so tooltool.py's `fetch --region` always fails there with a 400. Asking
          // again without it gets the file from the default region instead of failing.
          if (
            !(error instanceof HttpError && error.status === 400 && /region/i.test(error.message))
          ) {
            throw error;
          }
          if (!regionRefused.has(client)) {
            regionRefused.add(client);
            log.warn(
              `${client.displayName} does not accept --region for downloads (${error.message}): fetching without it`,
            );
          }
          return await client.resolveDownload(record.digest, { target });
        }
      },
    }));

  const model = new ProgressModel();
  const renderer = chooseRenderer(model, ctx);
  const log: FetchLog = {
    info: (message) => renderer.print(() => ctx.output.info(message)),
    debug: (message) => renderer.print(() => ctx.output.debug(message)),
    warn: (message) => renderer.print(() => ctx.output.warn(message)),
  };
  const retryBase = numberFromEnv(ctx, "TOOLTOOL_RETRY_BASE_MS");
  renderer.start();
  let outcomes: FileOutcome[];
  try {
    outcomes = await fetchRecords(selected, {
      cwd: ctx.cwd,
      cache,
      jobs: options.jobs ?? DEFAULT_JOBS,
      rehash: options.rehash,
      sources,
      fetch: ctx.fetch,
      signal: ctx.signal,
      stallTimeoutMs: numberFromEnv(ctx, "TOOLTOOL_STALL_TIMEOUT_MS"),
      limits: options.limits,
      backoff: retryBase === undefined
        ? DEFAULT_BACKOFF
        : { baseMs: retryBase, maxMs: retryBase * 30 },
      model,
      log,
      changed: () => renderer.refresh(),
      unpacker: loadUnpacker,
      manifest: { path: resolve(ctx.cwd, options.manifest), display: options.manifest },
    });
  } finally {
    renderer.stop();
  }
  outcomes.push(...unknown.map((filename) => notInManifest(filename, options.manifest)));
  report(outcomes, (performance.now() - started) / 1000, ctx);
};

/** The records to fetch: all, or those FILEs name; FILEs the manifest lacks are failures. */
function selectRecords(
  records: readonly FileRecord[],
  names: readonly string[],
): { selected: FileRecord[]; unknown: string[] } {
  if (names.length === 0) return { selected: [...records], unknown: [] };
  const wanted = new Set(names);
  const known = new Set(records.map((record) => record.filename as string));
  return {
    selected: records.filter((record) => wanted.has(record.filename)),
    unknown: [...wanted].filter((name) => !known.has(name)),
  };
}

function notInManifest(filename: string, manifest: string): FileOutcome {
  return {
    filename,
    digest: null,
    size: null,
    source: null,
    bytes: 0,
    attempts: 0,
    seconds: 0,
    unpacked: null,
    error: `Cannot fetch "${filename}": it is not in the manifest "${manifest}"`,
  };
}

async function openCache(options: GlobalOptions, ctx: Context): Promise<Cache | undefined> {
  if (options.cacheFolder === undefined || options.cacheFolder === "") return undefined;
  const root = resolve(ctx.cwd, options.cacheFolder);
  try {
    return await Cache.open(root, { links: ctx.env("TOOLTOOL_CACHE_LINKS") !== "0" });
  } catch (error) {
    // tooltool.py carries on without a cache it cannot write to; so do we, but say so.
    ctx.output.warn(`Cannot use the cache folder "${options.cacheFolder}": ${errorMessage(error)}`);
    return undefined;
  }
}

function chooseRenderer(model: ProgressModel, ctx: Context): ProgressRenderer {
  const { output } = ctx;
  if (output.verbosity === "quiet") return new SilentRenderer();
  const write = (text: string) => output.writeStderr(text);
  if (output.stderrIsTerminal) {
    return new TtyRenderer({ model, write, columns: terminalColumns });
  }
  const intervalMs = numberFromEnv(ctx, "TOOLTOOL_HEARTBEAT_MS") ?? DEFAULT_HEARTBEAT_MS;
  return new PlainRenderer({ model, write, intervalMs });
}

function terminalColumns(): number {
  try {
    // A pseudo-terminal may report 0 columns: assume the classic width then.
    return Deno.consoleSize().columns || 80;
  } catch {
    return 80;
  }
}

function numberFromEnv(ctx: Context, name: string): number | undefined {
  const value = ctx.env(name);
  if (value === undefined || value.trim() === "") return undefined;
  const number = Number(value);
  return Number.isFinite(number) && number > 0 ? number : undefined;
}

/** The unpacker, loaded only when a record needs it (a plain fetch never loads it). */
async function loadUnpacker(): Promise<Unpacker> {
  try {
    return (await import("../src/archive/unpack.ts")).unpackArchive;
  } catch (error) {
    throw new ToolError(`Cannot unpack: archive support failed to load (${errorMessage(error)})`);
  }
}

/** The summary, each failure with its hint, the `--json` report, and the verdict. */
function report(outcomes: readonly FileOutcome[], seconds: number, ctx: Context): void {
  const { output } = ctx;
  const failed = outcomes.filter((outcome) => outcome.error !== null);
  if (output.json) {
    output.report({
      ok: failed.length === 0,
      files: outcomes.map((outcome) => ({
        filename: outcome.filename,
        digest: outcome.digest,
        size: outcome.size,
        source: outcome.source,
        bytes: outcome.bytes,
        attempts: outcome.attempts,
        seconds: Math.round(outcome.seconds * 1000) / 1000,
        unpacked: outcome.unpacked,
        error: outcome.error,
      })),
    });
  }
  output.info(summary(outcomes, seconds));
  if (failed.length === 0) return;
  for (const outcome of failed) {
    output.error(outcome.error ?? "failed");
    const hint = outcome.cause instanceof ToolError ? outcome.cause.hint : undefined;
    if (hint !== undefined) output.hint(hint);
  }
  const names = failed.map((outcome) => outcome.filename).join(", ");
  throw new PartialFailureError(
    `Failed to fetch ${failed.length} of ${outcomes.length} file${
      outcomes.length === 1 ? "" : "s"
    }: ${names}`,
    failed.map((outcome) => ({ target: outcome.filename, error: outcome.cause ?? outcome.error })),
  );
}

function summary(outcomes: readonly FileOutcome[], seconds: number): string {
  const count = (source: FileOutcome["source"]) =>
    outcomes.filter((outcome) => outcome.error === null && outcome.source === source);
  const downloaded = count("network");
  const bytes = downloaded.reduce((sum, outcome) => sum + outcome.bytes, 0);
  const parts = [
    `${downloaded.length} downloaded${downloaded.length > 0 ? ` (${formatBytes(bytes)})` : ""}`,
    `${count("cache").length} from the cache`,
    `${count("present").length} already present`,
  ];
  const failed = outcomes.filter((outcome) => outcome.error !== null).length;
  if (failed > 0) parts.push(`${failed} failed`);
  return `Fetch: ${outcomes.length} file${outcomes.length === 1 ? "" : "s"} in ${
    formatDuration(seconds)
  }: ${parts.join(", ")}`;
}

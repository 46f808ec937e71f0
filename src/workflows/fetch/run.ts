/**
 * One `fetch` run, from the parsed request to its report: read the manifest, pick the
 * records, open the cache, set up the sources and the progress display, fetch, and say what
 * happened to each file. `commands/fetch.ts` calls this and then `renderFetchReport`.
 *
 * Tuning read from the environment (through `ctx.env`; mostly for tests):
 * `TOOLTOOL_STALL_TIMEOUT_MS` (default 30000), `TOOLTOOL_HEARTBEAT_MS` (log heartbeat,
 * default 20000), `TOOLTOOL_RETRY_BASE_MS` (first backoff delay, default 1000),
 * `TOOLTOOL_CACHE_LINKS=0` (copy from the cache instead of hard-linking),
 * `TOOLTOOL_SLOW_TRANSFER_MS` (a download slower than this logs its CDN headers, default 60000),
 * `TOOLTOOL_TREE_CACHE=0|copy` (no tree cache; or trees copied, never hard-linked).
 *
 * @module
 */

import { isAbsent } from "../../fs_util.ts";
import { preloadDownloadStep } from "./lazy_steps.ts";
import { resolve } from "../../paths.ts";
import { Cache } from "../../cache/cache.ts";
import type { Context } from "../../context.ts";
import { openApiClients } from "../../transport/clients.ts";
import { errorMessage, ToolError } from "../../errors.ts";
import { fetchRecords } from "./engine.ts";
import type { FetchLog, FileOutcome, Unpacker } from "./types.ts";
import type { FetchReport } from "./report.ts";
import { type FetchPlan, planRecords } from "./plan.ts";
import { apiSources, withMirrors } from "./sources.ts";
import { type Mirror, mirrorsFor, readMirrorToken } from "../../transport/mirror.ts";
import type { FileRecord } from "../../manifest/manifest.ts";
import { readManifest } from "../../manifest/manifest_file.ts";
import { chooseRenderer, ProgressModel } from "../../progress.ts";
import { type BackoffPolicy, DEFAULT_BACKOFF } from "../../transport/retry.ts";
import type { TransferLimits } from "../../transport/transfer_limits.ts";

/** Files fetched at once unless `-j` says otherwise. */
const DEFAULT_JOBS = 4;

/**
 * Without `-j`, this many more lanes for small files (16 in flight in all, as many as the
 * floor's `curl -Z --parallel-max 16`); an explicit `-j N` is an exact cap.
 */
const DEFAULT_SMALL_JOBS = 12;

/** A log line at least this often while transfers run, well inside mozharness's 10 minutes. */
const DEFAULT_HEARTBEAT_MS = 20_000;

/** What the command line asks of a fetch. */
export interface FetchRequest {
  /** The manifest, as given (relative to `ctx.cwd`). */
  readonly manifest: string;
  /** Only these files (all when empty). */
  readonly filenames: readonly string[];
  readonly urls: readonly string[];
  /** `--mirror` / `TOOLTOOL_MIRRORS` base URLs, tried in order before `urls`. */
  readonly mirrors: readonly string[];
  /** `--mirror-auth-file`: a bearer token for the mirrors (never for the API). */
  readonly mirrorAuthFile: string | undefined;
  readonly cacheFolder: string | undefined;
  readonly authenticationFile: string | undefined;
  readonly region: string | undefined;
  readonly jobs: number | undefined;
  readonly rehash: boolean;
  readonly limits: TransferLimits;
  /** `--distdir`s, as given (relative to `ctx.cwd`). */
  readonly distdirs: readonly string[];
  readonly offline: boolean;
  /** `--no-tree-cache`: always extract archives, never from or into the cache's trees. */
  readonly noTreeCache?: boolean | undefined;
}

/**
 * Whether the manifest's first record is neither in the working tree nor in the cache (and
 * the fetch is not offline): then the download code is loaded while the clients and the
 * cache are set up, not after. Two name probes; a wrong guess only loads code early or late.
 */
function likelyToDownload(
  first: FileRecord | undefined,
  request: FetchRequest,
  ctx: Context,
): boolean {
  if (first === undefined || request.offline) return false;
  if (!isAbsent(resolve(ctx.cwd, first.filename))) return false;
  const folder = request.cacheFolder;
  return !folder || isAbsent(resolve(ctx.cwd, folder, first.digest));
}

/** Runs the fetch and returns its report; failures are in the report, not thrown. */
export async function runFetch(request: FetchRequest, ctx: Context): Promise<FetchReport> {
  const started = performance.now();
  const records = await readManifest(request.manifest, { cwd: ctx.cwd });
  const { selected, unknown } = selectRecords(records, request.filenames);
  if (likelyToDownload(selected[0], request, ctx)) preloadDownloadStep();
  const { credentials, clients } = await openApiClients(
    request.urls,
    request.authenticationFile,
    ctx,
  );
  if (credentials.kind !== "none") ctx.output.debug(`Using credentials from ${credentials.source}`);
  const mirrors = await openMirrors(request, ctx);
  using cache = await openCache(request.cacheFolder, ctx);
  const model = new ProgressModel();
  const renderer = chooseRenderer(model, ctx.output, {
    heartbeatMs: numberFromEnv(ctx, "TOOLTOOL_HEARTBEAT_MS") ?? DEFAULT_HEARTBEAT_MS,
  });
  const log: FetchLog = {
    info: (message) => renderer.print(() => ctx.output.info(message)),
    debug: (message) => renderer.print(() => ctx.output.debug(message)),
    warn: (message) => renderer.print(() => ctx.output.warn(message)),
  };
  renderer.start();
  let outcomes: FileOutcome[];
  try {
    outcomes = await fetchRecords(selected, {
      cwd: ctx.cwd,
      cache,
      jobs: request.jobs ?? DEFAULT_JOBS,
      smallJobs: request.jobs === undefined ? DEFAULT_SMALL_JOBS : 0,
      rehash: request.rehash,
      sources: withMirrors(mirrors, apiSources(clients, request.region, log.warn)),
      fetch: ctx.fetch,
      signal: ctx.signal,
      stallTimeoutMs: numberFromEnv(ctx, "TOOLTOOL_STALL_TIMEOUT_MS"),
      limits: request.limits,
      backoff: backoffFromEnv(ctx),
      model,
      log,
      changed: () => renderer.refresh(),
      unpacker: () => loadUnpacker(cache, treeCacheMode(request, ctx)),
      manifest: { path: resolve(ctx.cwd, request.manifest), display: request.manifest },
      distdirs: request.distdirs.map((dir) => resolve(ctx.cwd, dir)),
      offline: request.offline,
      slowTransferMs: numberFromEnv(ctx, "TOOLTOOL_SLOW_TRANSFER_MS"),
    });
  } finally {
    renderer.stop();
  }
  outcomes.push(...unknown.map((filename) => notInManifest(filename, request.manifest)));
  return { outcomes, seconds: (performance.now() - started) / 1000 };
}

/**
 * `fetch --dry-run`: the plan of the same fetch, found by reading only (see `plan.ts`). The
 * cache is peeked at, never opened for writing; no network request is made.
 */
export async function planFetch(request: FetchRequest, ctx: Context): Promise<FetchPlan> {
  const records = await readManifest(request.manifest, { cwd: ctx.cwd });
  const { selected, unknown } = selectRecords(records, request.filenames);
  const { clients } = await openApiClients(request.urls, request.authenticationFile, ctx);
  const folder = request.cacheFolder;
  using cache = folder ? await Cache.peek(resolve(ctx.cwd, folder)) : undefined;
  const files = await planRecords(selected, {
    cwd: ctx.cwd,
    cache,
    treeReady: await treeProbe(cache, selected, treeCacheMode(request, ctx)),
    distdirs: request.distdirs.map((dir) => resolve(ctx.cwd, dir)),
    sources: withMirrors(
      await openMirrors(request, ctx),
      apiSources(clients, request.region, (message) => ctx.output.warn(message)),
    ),
    offline: request.offline,
    rehash: request.rehash,
    jobs: request.jobs ?? DEFAULT_JOBS,
    signal: ctx.signal,
    warn: (message) => ctx.output.warn(message),
  });
  files.push(...unknown.map((filename) => ({
    filename,
    digest: null,
    size: null,
    source: "missing" as const,
    from: null,
    download: 0,
    unpack: 0,
    unpackFrom: null,
    replaces: false,
    error: notInManifest(filename, request.manifest).error,
  })));
  return { files, offline: request.offline };
}

/**
 * How a dry run learns whether an archive's tree is ready, when a fetch would use the tree
 * cache at all; the tree code is loaded only when a record is to be unpacked.
 */
async function treeProbe(
  cache: Cache | undefined,
  records: readonly FileRecord[],
  mode: "off" | "auto" | "copy",
): Promise<((digest: string) => Promise<boolean>) | undefined> {
  if (cache === undefined || mode === "off" || !records.some((record) => record.unpack)) {
    return undefined;
  }
  const { TreeStore } = await import("../../cache/trees.ts");
  const store = new TreeStore(cache.root, { mode });
  return (digest) => store.isReady(digest);
}

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

async function openMirrors(request: FetchRequest, ctx: Context): Promise<Mirror[]> {
  if (request.mirrors.length === 0) return [];
  const token = request.mirrorAuthFile === undefined
    ? undefined
    : await readMirrorToken(resolve(ctx.cwd, request.mirrorAuthFile));
  return mirrorsFor(request.mirrors, token);
}

async function openCache(folder: string | undefined, ctx: Context): Promise<Cache | undefined> {
  if (folder === undefined || folder === "") return undefined;
  try {
    return await Cache.open(resolve(ctx.cwd, folder), {
      links: ctx.env("TOOLTOOL_CACHE_LINKS") !== "0",
    });
  } catch (error) {
    // tooltool.py carries on without a cache it cannot write to; so do we, but say so.
    ctx.output.warn(`Cannot use the cache folder "${folder}": ${errorMessage(error)}`);
    return undefined;
  }
}

function backoffFromEnv(ctx: Context): BackoffPolicy {
  const base = numberFromEnv(ctx, "TOOLTOOL_RETRY_BASE_MS");
  return base === undefined ? DEFAULT_BACKOFF : { baseMs: base, maxMs: base * 30 };
}

function numberFromEnv(ctx: Context, name: string): number | undefined {
  const value = ctx.env(name);
  if (value === undefined || value.trim() === "") return undefined;
  const number = Number(value);
  return Number.isFinite(number) && number > 0 ? number : undefined;
}

/**
 * How the tree cache is used: `off` with `--no-tree-cache` or `TOOLTOOL_TREE_CACHE=0`,
 * `copy` with `TOOLTOOL_TREE_CACHE=copy` (never hard links), else `auto`.
 */
function treeCacheMode(request: FetchRequest, ctx: Context): "off" | "auto" | "copy" {
  const value = ctx.env("TOOLTOOL_TREE_CACHE")?.trim().toLowerCase();
  if (request.noTreeCache === true || value === "0" || value === "off") return "off";
  return value === "copy" ? "copy" : "auto";
}

/**
 * The unpacker, loaded only when a record needs it (a plain fetch never loads it): with a
 * cache, through its tree cache unless that is turned off.
 */
async function loadUnpacker(
  cache: Cache | undefined,
  mode: "off" | "auto" | "copy",
): Promise<Unpacker> {
  try {
    const { unpackArchive } = await import("../../archive/unpack.ts");
    if (cache === undefined || mode === "off") return unpackArchive;
    const { TreeStore } = await import("../../cache/trees.ts");
    const store = new TreeStore(cache.root, { mode });
    return (archivePath, workDir, options) => {
      const { digest, ...rest } = options;
      if (digest === undefined) return unpackArchive(archivePath, workDir, rest);
      return store.unpack(digest, archivePath, workDir, rest);
    };
  } catch (error) {
    throw new ToolError(`Cannot unpack: archive support failed to load (${errorMessage(error)})`);
  }
}

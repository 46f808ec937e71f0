/**
 * `mirror`: fills `DIR/sha512/<digest>` with the files of some manifests, so that any
 * static server or bucket sync can publish DIR as a fleet mirror (see docs/mirrors.md).
 *
 * Each distinct digest is taken from DIR itself when already there and valid (a rerun does
 * nothing), else from the cache folder (`-c`), else downloaded from the ToolTool API (never
 * from another mirror); every copy is hashed before it is renamed into place, so DIR only
 * ever holds verified files under their final names.
 *
 * Visibility decides what may be published: the server's word (`GET file/sha512/<digest>`)
 * when it answers, else the manifest's `visibility`, else unknown. Only public files are
 * copied unless `--include-internal`; an internal or unknown file is skipped and named.
 *
 * @module
 */

import { copyFile, mkdir, rename } from "node:fs/promises";
import { join, resolve } from "../paths.ts";
import type { Context } from "../context.ts";
import { Cache } from "../cache/cache.ts";
import { hashFile } from "../digest.ts";
import { errorMessage, PartialFailureError, ToolError, UsageError } from "../errors.ts";
import { describeFsError } from "../fs_error.ts";
import { removeIfPresent, statOrUndefined } from "../fs_util.ts";
import { formatBytes, formatDuration, plural } from "../format.ts";
import type { FileRecord, Visibility } from "../manifest/manifest.ts";
import { readManifest } from "../manifest/manifest_file.ts";
import { forEachConcurrently } from "../pool.ts";
import { tempPathBeside } from "../temp_names.ts";
import { openApiClients } from "../transport/clients.ts";
import { downloadVerified } from "../transport/download.ts";
import type { TransferLimits } from "../transport/transfer_limits.ts";
import { ApiClient } from "../transport/http.ts";
import { apiSources } from "./fetch/sources.ts";

/** What the command line asks of `mirror`. */
export interface MirrorRequest {
  readonly manifests: readonly string[];
  /** `--to DIR`. */
  readonly to: string | undefined;
  readonly urls: readonly string[];
  readonly cacheFolder: string | undefined;
  readonly authenticationFile: string | undefined;
  readonly includeInternal: boolean;
  readonly jobs: number | undefined;
  readonly limits: TransferLimits;
}

/** Where a mirrored file came from, or why it is not in DIR. */
export type MirrorAction = "present" | "cache" | "network" | "skipped" | "failed";

/** One distinct file of the manifests. */
export interface MirrorOutcome {
  readonly filename: string;
  readonly digest: string;
  readonly size: number;
  readonly visibility: Visibility | "unknown";
  readonly action: MirrorAction;
  /** Why it was skipped or failed; `null` otherwise. */
  readonly detail: string | null;
}

/** Copies the files and returns what happened to each (failures are in the outcomes). */
export async function runMirror(request: MirrorRequest, ctx: Context): Promise<MirrorOutcome[]> {
  if (request.to === undefined || request.to === "") {
    throw new UsageError("Cannot mirror: --to DIR is required", {
      hint: "e.g. tooltool mirror -m manifest.tt --to /srv/tooltool-mirror",
    });
  }
  const records = await distinctRecords(request.manifests, ctx);
  const target = join(resolve(ctx.cwd, request.to), "sha512");
  try {
    await mkdir(target, { recursive: true });
  } catch (error) {
    throw new ToolError(`Cannot create the mirror folder "${target}": ${describeFsError(error)}`);
  }
  const { clients } = await openApiClients(request.urls, request.authenticationFile, ctx);
  using cache = await openCache(request.cacheFolder, ctx);
  const sources = apiSources(clients, undefined, (message) => ctx.output.warn(message));
  const outcomes: MirrorOutcome[] = [];
  await forEachConcurrently(records, Math.max(1, request.jobs ?? 4), async (record) => {
    const visibility = await visibilityOf(record, clients);
    const base = {
      filename: record.filename as string,
      digest: record.digest as string,
      size: record.size,
      visibility,
    };
    if (visibility !== "public" && !request.includeInternal) {
      outcomes.push({ ...base, action: "skipped", detail: "not public (--include-internal)" });
      return;
    }
    const path = join(target, record.digest);
    try {
      const action = await fill(record, path, {
        cache,
        download: (temp) =>
          downloadVerified(temp, {
            filename: record.filename,
            digest: record.digest,
            size: record.size,
            sources: sources(record),
            fetch: ctx.fetch,
            signal: ctx.signal,
            limits: request.limits,
          }),
        signal: ctx.signal,
      });
      outcomes.push({ ...base, action, detail: null });
    } catch (error) {
      ctx.signal.throwIfAborted();
      outcomes.push({ ...base, action: "failed", detail: errorMessage(error) });
    }
  });
  const order = new Map(records.map((record, index) => [record.digest as string, index]));
  return outcomes.sort((a, b) => (order.get(a.digest) ?? 0) - (order.get(b.digest) ?? 0));
}

/** Every manifest's records, one per digest (the first filename wins). */
async function distinctRecords(
  manifests: readonly string[],
  ctx: Context,
): Promise<FileRecord[]> {
  const byDigest = new Map<string, FileRecord>();
  for (const manifest of manifests) {
    for (const record of await readManifest(manifest, { cwd: ctx.cwd })) {
      if (!byDigest.has(record.digest)) byDigest.set(record.digest, record);
    }
  }
  return [...byDigest.values()];
}

/** The server's visibility for the file (the first server that answers), else the manifest's. */
async function visibilityOf(
  record: FileRecord,
  clients: readonly ApiClient[],
): Promise<Visibility | "unknown"> {
  for (const client of clients) {
    try {
      const { body } = await client.requestJson({
        method: "GET",
        path: `file/sha512/${record.digest}`,
        operation: "look up",
        target: record.filename,
      });
      const said = (body as { visibility?: unknown } | undefined)?.visibility;
      if (said === "public" || said === "internal") return said;
    } catch {
      // Not known there (or unreachable): the next server, then the manifest.
    }
  }
  return record.visibility ?? "unknown";
}

interface FillOptions {
  readonly cache: Cache | undefined;
  readonly download: (temp: string) => Promise<unknown>;
  readonly signal: AbortSignal;
}

/** Puts a verified copy at `path` (unless one is there) through a temp file and a rename. */
async function fill(record: FileRecord, path: string, options: FillOptions): Promise<MirrorAction> {
  if (await holds(path, record, options.signal)) return "present";
  const temp = tempPathBeside(path);
  try {
    const entry = options.cache?.entryPath(record.digest);
    if (entry !== undefined && statOrUndefined(entry)?.size === record.size) {
      await copyFile(entry, temp);
      if (await holds(temp, record, options.signal)) {
        await rename(temp, path);
        return "cache";
      }
    }
    await options.download(temp);
    await rename(temp, path);
    return "network";
  } finally {
    await removeIfPresent(temp).catch(() => {});
  }
}

/** Whether `path` is a file with the record's size and digest. */
async function holds(path: string, record: FileRecord, signal: AbortSignal): Promise<boolean> {
  const info = statOrUndefined(path);
  if (info === undefined || !info.isFile || info.size !== record.size) return false;
  return (await hashFile(path, { signal, expectedSize: record.size })).digest === record.digest;
}

async function openCache(folder: string | undefined, ctx: Context): Promise<Cache | undefined> {
  if (folder === undefined || folder === "") return undefined;
  try {
    return await Cache.open(resolve(ctx.cwd, folder), { links: false });
  } catch (error) {
    ctx.output.warn(`Cannot use the cache folder "${folder}": ${errorMessage(error)}`);
    return undefined;
  }
}

/** Prints one line per file (its visibility first), the summary and `--json`; throws on failures. */
export function renderMirrorReport(
  outcomes: readonly MirrorOutcome[],
  seconds: number,
  ctx: Context,
): void {
  const { output } = ctx;
  if (output.json) {
    output.report({ ok: outcomes.every((o) => o.action !== "failed"), files: outcomes });
  }
  for (const outcome of outcomes) {
    const line = `${outcome.visibility.padEnd(8)} ${outcome.filename} (${
      formatBytes(outcome.size)
    }): ${describeAction(outcome)}`;
    if (outcome.action === "failed") output.error(outcome.detail ?? line);
    else if (outcome.action === "skipped") output.warn(line);
    else output.info(line);
  }
  const count = (action: MirrorAction) => outcomes.filter((o) => o.action === action).length;
  output.info(
    `Mirror: ${plural(outcomes.length, "file")} in ${formatDuration(seconds)}: ${
      count("network")
    } downloaded, ${count("cache")} from the cache, ${count("present")} already there, ${
      count("skipped")
    } skipped${count("failed") > 0 ? `, ${count("failed")} failed` : ""}`,
  );
  const failed = outcomes.filter((o) => o.action === "failed");
  if (failed.length === 0) return;
  throw new PartialFailureError(
    `Failed to mirror ${failed.length} of ${plural(outcomes.length, "file")}: ${
      failed.map((o) => o.filename).join(", ")
    }`,
    failed.map((o) => ({ target: o.filename, error: o.detail })),
  );
}

function describeAction(outcome: MirrorOutcome): string {
  switch (outcome.action) {
    case "present":
      return "already in the mirror";
    case "cache":
      return "copied from the cache";
    case "network":
      return "downloaded";
    case "skipped":
      return outcome.visibility === "internal"
        ? "skipped: internal (pass --include-internal to publish it)"
        : "skipped: visibility unknown (pass --include-internal to publish it anyway)";
    case "failed":
      return outcome.detail ?? "failed";
  }
}

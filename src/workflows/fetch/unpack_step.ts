/**
 * The last step of a fetch: the archives marked `unpack`, extracted (or placed from the tree
 * cache) in manifest order once every file is in place.
 *
 * @module
 */

import { join } from "../../paths.ts";
import { errorMessage } from "../../errors.ts";
import { formatBytes } from "../../format.ts";
import type { FileRecord } from "../../manifest/manifest.ts";
import type { FileProgress } from "../../progress.ts";
import type { FetchLog, FetchOptions, FileOutcome, Unpacker } from "./types.ts";

/**
 * Unpacks each record marked `unpack` whose file is in place, in manifest order, and notes in
 * its outcome how that went; only an interruption is thrown.
 */
export async function unpackAll(
  records: readonly FileRecord[],
  outcomes: FileOutcome[],
  progress: readonly FileProgress[],
  options: FetchOptions,
): Promise<void> {
  // An archive must not undo the fetch: replace the manifest, or a file it just verified.
  const protect = records.map((record) => ({
    path: join(options.cwd, record.filename),
    label: `the fetched file "${record.filename}"`,
  }));
  if (options.manifest !== undefined) {
    protect.push({
      path: options.manifest.path,
      label: `the manifest in use ("${options.manifest.display}")`,
    });
  }
  for (const [index, record] of records.entries()) {
    const outcome = outcomes[index] as FileOutcome;
    if (!record.unpack || outcome.error !== null) continue;
    options.signal.throwIfAborted();
    const file = progress[index] as FileProgress;
    const started = performance.now();
    options.model.setState(file, "unpacking");
    options.changed?.();
    try {
      const unpack = await options.unpacker();
      const result = await unpack(join(options.cwd, record.filename), options.cwd, {
        signal: options.signal,
        protect,
        onRemoveBase: (base) =>
          options.log.info(`Removing ${base}/ (left by an earlier unpack of ${record.filename})`),
        digest: record.digest,
      });
      reportTree(record, result, options.log);
      options.log.info(
        `Unpacked ${record.filename}: ${result.entries} entries, ${formatBytes(result.bytes)}`,
      );
      outcomes[index] = {
        ...outcome,
        unpacked: true,
        unpackMethod: result.method ?? "extract",
        seconds: outcome.seconds + (performance.now() - started) / 1000,
      };
      options.model.setState(file, "done");
    } catch (error) {
      if (options.signal.aborted) throw options.signal.reason;
      outcomes[index] = {
        ...outcome,
        unpacked: false,
        error: errorMessage(error),
        cause: error,
        seconds: outcome.seconds + (performance.now() - started) / 1000,
      };
      options.model.setState(file, "failed");
    }
    options.changed?.();
  }
}

function reportTree(
  record: FileRecord,
  result: Awaited<ReturnType<Unpacker>>,
  log: FetchLog,
): void {
  const why = result.note === undefined ? "" : ` (${result.note})`;
  if (result.tree === "built") log.debug(`${record.filename}: tree built in the cache`);
  if (result.tree === "rebuilt") {
    log.info(`${record.filename}: the cached tree had changed${why}: rebuilt it from the archive`);
  }
  if (result.tree === "none" && result.note !== undefined) {
    log.debug(`${record.filename}: tree cache not used${why}`);
  }
  const method = result.method ?? "extract";
  log.debug(
    `${record.filename}: ${
      method === "extract" ? "extracted from the archive" : `placed from the tree cache (${method})`
    }`,
  );
}

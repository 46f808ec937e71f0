/**
 * Local distribution directories (`--distdir`): folders of artifacts (a USB stick, an NFS
 * share, a build farm's pre-seeded volume) searched before any network. A file is looked up
 * as `DIR/<digest>`, `DIR/sha512/<digest>` (the mirror layout) and `DIR/<filename>`, in that
 * order and directory by directory; whatever is found is verified by size and digest before
 * it is used, so a stale or damaged copy is skipped with a warning, never placed.
 *
 * @module
 */

import { join } from "../../paths.ts";
import { createSha512, type FileDigest, hashFile } from "../../digest.ts";
import type { FileRecord } from "../../manifest/manifest.ts";
import { statOrUndefined } from "../../fs_util.ts";
import { writeAll } from "../../write_all.ts";

const COPY_CHUNK = 1 << 20;

/** The paths where `record` may be in `dirs`, in the order they are tried. */
export function distdirCandidates(record: FileRecord, dirs: readonly string[]): string[] {
  return dirs.flatMap((dir) => [
    join(dir, record.digest),
    join(dir, "sha512", record.digest),
    join(dir, record.filename),
  ]);
}

/** Candidates that exist as regular files of the record's size (a cheap first sieve). */
function sizedCandidates(
  record: FileRecord,
  dirs: readonly string[],
  warn: (message: string) => void,
): string[] {
  const found: string[] = [];
  for (const path of distdirCandidates(record, dirs)) {
    const info = statOrUndefined(path, { likelyMissing: true });
    if (info === undefined || !info.isFile) continue;
    if (info.size !== record.size) {
      warn(
        `Ignoring "${path}" for "${record.filename}": ${info.size} bytes, the manifest says ${record.size}`,
      );
      continue;
    }
    found.push(path);
  }
  return found;
}

/**
 * Copies the first candidate whose content matches the record into `target` (hashing while
 * copying) and returns its path, or `undefined` when no distdir holds it. `target` is left
 * empty when nothing matched, so a later download starts from byte 0.
 */
export async function copyFromDistdirs(
  record: FileRecord,
  dirs: readonly string[],
  target: string,
  options: { signal: AbortSignal; warn: (message: string) => void },
): Promise<string | undefined> {
  for (const path of sizedCandidates(record, dirs, options.warn)) {
    const copied = await copyHashing(path, target, options.signal);
    if (copied.digest === record.digest && copied.size === record.size) return path;
    options.warn(`Ignoring "${path}" for "${record.filename}": its sha512 does not match`);
    await Deno.truncate(target, 0);
  }
  return undefined;
}

/**
 * The first candidate whose content matches, found by hashing in place (reads only): what
 * a dry run reports.
 */
export async function findInDistdirs(
  record: FileRecord,
  dirs: readonly string[],
  options: { signal: AbortSignal; warn: (message: string) => void },
): Promise<string | undefined> {
  for (const path of sizedCandidates(record, dirs, options.warn)) {
    const hashed = await hashFile(path, { signal: options.signal, expectedSize: record.size });
    if (hashed.digest === record.digest) return path;
    options.warn(`Ignoring "${path}" for "${record.filename}": its sha512 does not match`);
  }
  return undefined;
}

/** Copies `from` over `to` (truncating it), hashing each byte on the way: one pass. */
async function copyHashing(from: string, to: string, signal: AbortSignal): Promise<FileDigest> {
  using source = await Deno.open(from, { read: true });
  using sink = await Deno.open(to, { write: true, create: true, truncate: true });
  const hasher = createSha512();
  const buffer = new Uint8Array(COPY_CHUNK);
  let size = 0;
  for (;;) {
    signal.throwIfAborted();
    const read = await source.read(buffer);
    if (read === null) break;
    const chunk = buffer.subarray(0, read);
    await hasher.updateAsync(chunk);
    await writeAll(sink, chunk);
    size += read;
  }
  return { digest: hasher.digest(), size };
}

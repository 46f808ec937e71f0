/**
 * Safe unpacking of the archives tooltool manifests mark `"unpack": true`: tar (plain,
 * gzip, bzip2, xz, zstd) and zip, with tooltool.py's semantics (the directory named after
 * the archive is removed first, then the archive is extracted into the working directory).
 *
 * Every member of every format passes the same rules (`archive/safety.ts`): no absolute
 * paths, no `..`, no links leaving the tree, nothing written through a link, no setuid or
 * setgid, no devices or FIFOs, no duplicate replacing a link. Extraction goes into a
 * temporary directory beside the destination and is moved into place only when the whole
 * archive succeeded. Memory stays bounded whatever the archive's size: tar is streamed,
 * zip is read by seeking. See docs/unpack.md for the decisions and measurements.
 *
 * @module
 */

import { basename, join, resolve } from "../paths.ts";
import { errorMessage, ToolError, type ToolErrorOptions } from "../errors.ts";
import { type Compression, decompressedChunks } from "./decompress.ts";
import { Extractor, type ExtractStats, type Member } from "./extract.ts";
import { EntryProblem } from "./safety.ts";
import { type TarEntry, TarParser } from "./tar.ts";
import { extractZip } from "./zip.ts";
import { UNPACK_TEMP_PREFIX } from "../temp_names.ts";
import { type FileLock, tryLock } from "../lock.ts";

/** The archive formats tooltool manifests use. */
export type ArchiveFormat = "tar" | "tar.gz" | "tar.bz2" | "tar.xz" | "tar.zst" | "zip";

/**
 * An archive that could not be unpacked: unreadable, corrupt, unsupported, or with a member
 * that breaks a safety rule. `entry` names the offending member when there is one. Nothing
 * of the archive is left on disk when this is thrown.
 */
export class ArchiveError extends ToolError {
  /** The archive's file name as shown in the message. */
  readonly archive: string;
  /** The member's name as stored in the archive, when one member is to blame. */
  readonly entry: string | undefined;

  constructor(
    archive: string,
    detail: string,
    options: ToolErrorOptions & { entry?: string | undefined } = {},
  ) {
    super(`Cannot unpack "${archive}": ${detail}`, options);
    this.archive = archive;
    this.entry = options.entry;
  }
}

/** How {@link unpackArchive} works. */
export interface UnpackOptions {
  /** Stops the extraction; the partial tree is removed and the signal's reason thrown. */
  signal?: AbortSignal;
  /**
   * Decompress xz with the `xz` program and bzip2 with `lbzip2` or `pbzip2` when they are
   * installed (default true); the in-process decompressors are used otherwise, and always for
   * gzip, zstd and single-threaded bzip2, where they are the faster choice.
   */
  preferExternalTools?: boolean;
  /**
   * Paths unpacking must never remove or replace: `fetch` passes the manifest in use and
   * every file it put in place. The archive itself is always protected.
   */
  protect?: readonly ProtectedPath[];
  /** Told before the base-name directory of an earlier unpack is removed (its name). */
  onRemoveBase?: (base: string) => void;
  /**
   * Fills the temporary directory instead of extracting the archive into it: the tree cache
   * (`cache/trees.ts`) materialises a tree extracted earlier, and everything else (the
   * base-directory rule, the protected paths, the merge) stays exactly as for an extraction.
   */
  fill?: (temporary: string) => Promise<ExtractStats>;
}

/** A path unpacking must leave alone, and how to name it in the refusal. */
export interface ProtectedPath {
  readonly path: string;
  /** Completes "would replace …": `the manifest in use ("manifest.tt")`, say. */
  readonly label: string;
}

/** What {@link unpackArchive} extracted. */
export interface UnpackResult {
  format: ArchiveFormat;
  /** Members extracted: files, directories and links. */
  entries: number;
  /** Bytes of file data written. */
  bytes: number;
}

/** Suffixes tooltool.py's archives carry, longest first so `.tar.gz` wins over `.gz`. */
const suffixes: readonly [string, ArchiveFormat][] = [
  [".tar.gz", "tar.gz"],
  [".tar.bz2", "tar.bz2"],
  [".tar.xz", "tar.xz"],
  [".tar.zst", "tar.zst"],
  [".tar.zstd", "tar.zst"],
  [".tgz", "tar.gz"],
  [".tbz2", "tar.bz2"],
  [".tbz", "tar.bz2"],
  [".txz", "tar.xz"],
  [".tzst", "tar.zst"],
  [".tar", "tar"],
  [".zip", "zip"],
];

function suffixOf(filename: string): [string, ArchiveFormat] | undefined {
  const lower = filename.toLowerCase();
  return suffixes.find(([suffix]) => lower.endsWith(suffix) && lower.length > suffix.length);
}

/**
 * The directory tooltool.py removes before extracting: "clang.tar.xz" -> "clang". Known
 * archive suffixes are removed whole (tooltool.py removes two extensions blindly, so that
 * "gcc-9.3.tar" would lose "gcc-9"; this does not); for any other name one extension is
 * removed. A directory part is kept: "dir/clang.tgz" -> "dir/clang".
 */
export function archiveBaseName(filename: string): string {
  const slash = filename.lastIndexOf("/");
  const directory = filename.slice(0, slash + 1);
  const name = filename.slice(slash + 1);
  const known = suffixOf(name);
  if (known !== undefined) return directory + name.slice(0, name.length - known[0].length);
  const dot = name.lastIndexOf(".");
  return directory + (dot > 0 ? name.slice(0, dot) : name);
}

/** Classifies the first bytes of a file; exported for tests. */
export function sniffFormat(head: Uint8Array): ArchiveFormat | undefined {
  const at = (i: number) => head[i] ?? -1;
  if (at(0) === 0x1f && at(1) === 0x8b) return "tar.gz";
  if (at(0) === 0x42 && at(1) === 0x5a && at(2) === 0x68 && at(3) >= 0x31 && at(3) <= 0x39) {
    return "tar.bz2";
  }
  if (
    at(0) === 0xfd && at(1) === 0x37 && at(2) === 0x7a && at(3) === 0x58 && at(4) === 0x5a &&
    at(5) === 0
  ) return "tar.xz";
  if (at(0) === 0x28 && at(1) === 0xb5 && at(2) === 0x2f && at(3) === 0xfd) return "tar.zst";
  // A zstd skippable frame, which pzstd writes first.
  if ((at(0) & 0xf0) === 0x50 && at(1) === 0x2a && at(2) === 0x4d && at(3) === 0x18) {
    return "tar.zst";
  }
  if (at(0) === 0x50 && at(1) === 0x4b && [3, 5, 7].includes(at(2)) && at(3) === at(2) + 1) {
    return "zip";
  }
  if (head.length >= 512 && looksLikeTarHeader(head)) return "tar";
  return undefined;
}

function looksLikeTarHeader(block: Uint8Array): boolean {
  const magic = String.fromCharCode(...block.subarray(257, 262));
  if (magic === "ustar") return true;
  // v7 tar has no magic: a valid header checksum is the only sign.
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  const stored = parseInt(
    String.fromCharCode(...block.subarray(148, 156)).replace(/[\0 ]/g, ""),
    8,
  );
  return stored === sum && sum !== 8 * 0x20;
}

/**
 * Sniffs the first bytes of `path` for a known archive format, as tooltool.py checks content
 * first, and falls back to the file name's suffix. `undefined` means not an archive this
 * module knows. Throws the file system's error when the file cannot be read.
 */
export async function detectArchiveFormat(path: string): Promise<ArchiveFormat | undefined> {
  const file = await Deno.open(path);
  const head = new Uint8Array(512);
  let filled = 0;
  try {
    while (filled < head.length) {
      const n = await file.read(head.subarray(filled));
      if (n === null) break;
      filled += n;
    }
  } finally {
    file.close();
  }
  return sniffFormat(head.subarray(0, filled)) ?? suffixOf(basename(path))?.[1];
}

const compressions: Record<Exclude<ArchiveFormat, "zip">, Compression> = {
  "tar": "none",
  "tar.gz": "gzip",
  "tar.bz2": "bzip2",
  "tar.xz": "xz",
  "tar.zst": "zstd",
};

/**
 * Extracts `archivePath` into `workDir` with tooltool.py's semantics, atomically and safely.
 *
 * The directory named by {@link archiveBaseName} is removed from `workDir` first, as an
 * earlier unpack's leftover, but only when it can be one: a real directory (a file or a
 * symbolic link of that name is left for the merge below), not a dot-directory (`.git`),
 * not holding the archive or a protected path (refused with an {@link ArchiveError}). The
 * archive is then extracted into a temporary directory inside `workDir` and, only once every
 * member succeeded and no top-level entry would replace a protected path, its top-level
 * entries are moved into `workDir`: an entry that does not exist there is renamed into
 * place; one that exists is merged as tar would (directories merged member by member,
 * anything else replaced), except that an existing symbolic link is replaced, never
 * followed. On failure the temporary tree is removed and an {@link ArchiveError} names the
 * archive and the offending member.
 */
export async function unpackArchive(
  archivePath: string,
  workDir: string,
  options: UnpackOptions = {},
): Promise<UnpackResult> {
  const name = basename(archivePath);
  const format = await formatOf(archivePath, name);
  options.signal?.throwIfAborted();

  const guards = [
    { path: archivePath, label: "the archive being unpacked" },
    ...options.protect ?? [],
  ];
  await removeBaseDirectory(workDir, name, guards, options.onRemoveBase);
  let temporary: string;
  let held: FileLock;
  try {
    ({ path: temporary, lock: held } = await makeLockedTempDir(workDir));
  } catch (error) {
    const detail = `cannot create a directory in "${workDir}": ${errorMessage(error)}`;
    throw new ArchiveError(name, detail, { cause: error });
  }
  const extractor = new Extractor(temporary);
  try {
    const stats = options.fill === undefined
      ? await extractWith(extractor, archivePath, format, options)
      : await options.fill(temporary);
    options.signal?.throwIfAborted();
    moveIntoPlace(temporary, workDir, guards);
    return { format, entries: stats.entries, bytes: stats.bytes };
  } catch (error) {
    extractor.abort();
    throw archiveFailure(name, error, options.signal);
  } finally {
    try {
      removeTree(temporary);
    } catch {
      // Best effort: the error being thrown, if any, matters more than a leftover.
    }
    held.release();
  }
}

async function extractWith(
  extractor: Extractor,
  archivePath: string,
  format: ArchiveFormat,
  options: UnpackOptions,
): Promise<ExtractStats> {
  if (format === "zip") {
    await extractZip(archivePath, extractor, { signal: options.signal });
  } else {
    await extractTar(archivePath, compressions[format], extractor, options);
  }
  return extractor.finish();
}

/**
 * Extracts `archivePath` into `root`, an empty directory the caller created, with the same
 * safety rules as {@link unpackArchive} but none of its placement: no base directory removed,
 * nothing moved. The tree cache builds its trees with it. On failure an {@link ArchiveError}
 * is thrown and `root` holds a partial tree the caller removes.
 */
export async function extractArchiveInto(
  archivePath: string,
  root: string,
  options: Pick<UnpackOptions, "signal" | "preferExternalTools"> = {},
): Promise<UnpackResult> {
  const name = basename(archivePath);
  const format = await formatOf(archivePath, name);
  const extractor = new Extractor(root);
  try {
    const stats = await extractWith(extractor, archivePath, format, options);
    return { format, entries: stats.entries, bytes: stats.bytes };
  } catch (error) {
    extractor.abort();
    throw archiveFailure(name, error, options.signal);
  }
}

/**
 * A fresh `.tooltool-unpack-XXXX` folder in `workDir`, with an exclusive lock on the folder
 * itself held for as long as the unpack uses it: a killed unpack's folder is unlocked, and
 * `fetch` removes such leftovers when it starts. A folder removed by such a clean-up between
 * its creation and the lock (it was not locked yet) is simply replaced by another.
 */
export async function makeLockedTempDir(
  workDir: string,
  prefix: string = UNPACK_TEMP_PREFIX,
): Promise<{ path: string; lock: FileLock }> {
  for (let attempt = 0;; attempt++) {
    const path = await Deno.makeTempDir({ dir: workDir, prefix });
    try {
      const lock = await tryLock(path, { exclusive: true, create: false });
      if (lock !== undefined) return { path, lock };
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound) || attempt >= 3) throw error;
    }
  }
}

async function extractTar(
  path: string,
  compression: Compression,
  extractor: Extractor,
  options: UnpackOptions,
): Promise<void> {
  const parser = new TarParser({
    entry: (entry) => extractor.begin(tarMember(entry)),
    data: (piece) => extractor.write(piece),
    entryEnd: () => extractor.endFile(),
  });
  const chunks = decompressedChunks(path, compression, {
    signal: options.signal,
    preferExternalTools: options.preferExternalTools,
  });
  for await (const chunk of chunks) parser.push(chunk);
  parser.end();
}

function tarMember(entry: TarEntry): Member {
  return {
    name: entry.path,
    kind: entry.type,
    mode: entry.mode,
    mtime: entry.mtime,
    linkTarget: entry.linkPath,
    ...(entry.type === "unsupported" ? { detail: `tar type "${entry.typeflag}"` } : {}),
  };
}

/**
 * Removes `workDir/<base name>` as tooltool.py does, but only a directory an earlier unpack
 * could have left (see {@link unpackArchive}); refuses when removing it would delete
 * something this tool does not own or must keep.
 */
async function removeBaseDirectory(
  workDir: string,
  name: string,
  guards: readonly ProtectedPath[],
  onRemoveBase: ((base: string) => void) | undefined,
): Promise<void> {
  const base = archiveBaseName(name);
  if (base === name || base === "") return;
  const target = join(workDir, base);
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(target);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw new ArchiveError(name, `cannot inspect "${base}": ${errorMessage(error)}`, {
      cause: error,
    });
  }
  // A file or a symbolic link cannot be an unpacked tree: it stays, and the merge replaces it
  // only if the archive holds that very name (a link is never followed).
  if (!info.isDirectory) return;
  if (base.startsWith(".") || resolve(workDir, base) !== resolve(workDir, basename(base))) {
    throw new ArchiveError(
      name,
      `will not remove the directory "${base}": a hidden directory is never one an unpack left`,
      { hint: `remove "${base}" yourself if it is a leftover, or rename the archive` },
    );
  }
  const realTarget = await Deno.realPath(target);
  for (const [index, guard] of guards.entries()) {
    const real = await Deno.realPath(guard.path).catch(() => undefined);
    if (real === undefined || !(real === realTarget || real.startsWith(realTarget + "/"))) {
      continue;
    }
    if (index === 0) {
      throw new ArchiveError(name, `it is inside "${base}", the directory unpacking replaces`);
    }
    throw new ArchiveError(
      name,
      `will not remove the directory "${base}": it holds ${guard.label}`,
    );
  }
  onRemoveBase?.(base);
  try {
    removeTree(target);
  } catch (error) {
    throw new ArchiveError(name, `cannot remove "${base}": ${errorMessage(error)}`, {
      cause: error,
    });
  }
}

/**
 * Moves the extracted top-level entries of `source` into `target` (see {@link unpackArchive}).
 * Checked first, before anything moves, so nothing is half merged: no entry may replace a
 * protected path or a directory holding one (an archive "tool" holding a directory "tool"
 * would replace the archive itself).
 */
function moveIntoPlace(source: string, target: string, guards: readonly ProtectedPath[]): void {
  const present = guards.flatMap((guard) => {
    try {
      const info = Deno.lstatSync(guard.path);
      return [{ ...guard, real: Deno.realPathSync(guard.path), info }];
    } catch {
      // Not there: nothing to lose.
      return [];
    }
  });
  const clash = findClash(source, Deno.realPathSync(target), "", present);
  if (clash !== undefined) {
    throw new EntryProblem(clash.member, `would replace ${clash.guard.label}`);
  }
  for (const entry of Deno.readDirSync(source)) {
    merge(join(source, entry.name), join(target, entry.name));
  }
}

interface PresentGuard extends ProtectedPath {
  readonly real: string;
  readonly info: Deno.FileInfo;
}

/**
 * The first member whose merge would remove a protected path, walking the merge exactly
 * as `merge` will: a directory onto a real directory is merged, anything else replaces
 * what is there, subtree included. `target` is a real path (no symbolic link in it).
 */
function findClash(
  source: string,
  target: string,
  prefix: string,
  guards: readonly PresentGuard[],
): { member: string; guard: ProtectedPath } | undefined {
  for (const entry of Deno.readDirSync(source)) {
    const there = join(target, entry.name);
    let existing: Deno.FileInfo;
    try {
      existing = Deno.lstatSync(there);
    } catch {
      continue;
    }
    const member = prefix + entry.name;
    if (existing.isDirectory && entry.isDirectory) {
      const deeper = findClash(join(source, entry.name), there, member + "/", guards);
      if (deeper !== undefined) return deeper;
      continue;
    }
    const guard = guards.find((g) =>
      g.real === there || g.real.startsWith(there + "/") || sameInode(g.info, existing)
    );
    if (guard !== undefined) return { member, guard };
  }
  return undefined;
}

function sameInode(a: Deno.FileInfo, b: Deno.FileInfo): boolean {
  return a.ino !== null && a.ino === b.ino && a.dev === b.dev;
}

function merge(source: string, target: string): void {
  let existing: Deno.FileInfo;
  try {
    existing = Deno.lstatSync(target);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    Deno.renameSync(source, target);
    return;
  }
  const incoming = Deno.lstatSync(source);
  if (existing.isDirectory && incoming.isDirectory) {
    for (const child of Deno.readDirSync(source)) {
      merge(join(source, child.name), join(target, child.name));
    }
    Deno.chmodSync(target, (incoming.mode ?? 0o755) & 0o777);
    if (incoming.mtime !== null) Deno.utimeSync(target, incoming.mtime, incoming.mtime);
    Deno.removeSync(source);
    return;
  }
  removeTree(target);
  Deno.renameSync(source, target);
}

/**
 * Removes a tree without following links; when the owner lacks write permission on a
 * directory in it (a read-only tree from an older unpack), grants it and tries again.
 */
export function removeTree(path: string): void {
  try {
    Deno.removeSync(path, { recursive: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    if (!(error instanceof Deno.errors.PermissionDenied)) throw error;
    makeWritable(path);
    Deno.removeSync(path, { recursive: true });
  }
}

function makeWritable(path: string): void {
  const info = Deno.lstatSync(path);
  if (!info.isDirectory) return;
  Deno.chmodSync(path, ((info.mode ?? 0) & 0o777) | 0o700);
  for (const entry of Deno.readDirSync(path)) {
    if (entry.isDirectory) makeWritable(join(path, entry.name));
  }
}

/**
 * What a failed extraction throws: the abort's reason when it was interrupted (whatever
 * failed after an abort failed because of it, a killed decompressor say), else the error
 * as an `ArchiveError` naming the archive (and the member, for a refused one).
 */
function archiveFailure(name: string, error: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted) return signal.reason;
  if (error instanceof EntryProblem) {
    return new ArchiveError(name, error.message, { entry: error.entry, cause: error });
  }
  if (error instanceof ToolError) return error;
  return new ArchiveError(name, errorMessage(error), { cause: error });
}

/** The archive's format from its first bytes, or an `ArchiveError` saying why there is none. */
async function formatOf(archivePath: string, name: string): Promise<ArchiveFormat> {
  let format: ArchiveFormat | undefined;
  try {
    format = await detectArchiveFormat(archivePath);
  } catch (error) {
    throw new ArchiveError(name, `cannot read it: ${errorMessage(error)}`, { cause: error });
  }
  if (format === undefined) throw new ArchiveError(name, "not a tar or zip archive");
  return format;
}

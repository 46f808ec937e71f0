/**
 * `add`: hashes files and records them in a manifest, as tooltool.py's `add_files` does.
 *
 * Order and outcomes follow tooltool.py: the new records come first (in argument order),
 * then every old record; a file already recorded identically (same name, size, digest,
 * version and visibility; `unpack` is not compared, as in tooltool.py) is not added again,
 * and a different file under a name the manifest already has is refused. Either makes the
 * command fail after the manifest is written with whatever could be added.
 *
 * Where this differs from tooltool.py, it is to keep the manifest intact:
 * - Every file is checked and hashed before anything is written; a missing, unreadable or
 *   badly named file stops the command with the manifest untouched (tooltool.py crashes
 *   midway, which at least also leaves the manifest alone).
 * - The name conflict is detected for `dir/x.tgz` too (tooltool.py compares the whole
 *   argument to the recorded name and so adds a second `x.tgz` record).
 * - Two arguments with the same base name are refused instead of recorded twice; the same
 *   path given twice is added once.
 * - `--version ""` means no version, as tooltool.py writes it.
 * - The manifest is replaced atomically, and read, merged and written under a lock, so
 *   parallel `add`s into one manifest all keep their records (tooltool.py loses some).
 *
 * @module
 */

import { basename, resolve } from "../paths.ts";
import type { Context } from "../context.ts";
import { hashFiles } from "../digest.ts";
import { ManifestError, PartialFailureError, ToolError } from "../errors.ts";
import { describeFsError } from "../fs_error.ts";
import type { FileRecord, SafeFilename, Visibility } from "../manifest/manifest.ts";
import { filenameKey, parseSafeFilename, spellingDifference } from "../manifest/manifest.ts";
import { lockManifest, readManifest, writeManifest } from "../manifest/manifest_file.ts";

/** What `add` records beyond name, size and digest (`--visibility`, `--unpack`, `--version`). */
export interface AddFilesOptions {
  readonly visibility?: Visibility | undefined;
  readonly unpack?: boolean | undefined;
  readonly version?: string | undefined;
}

/** How new records combine with a manifest's old ones. */
export interface MergeResult {
  /** What the manifest becomes: the added records, then all the old ones. */
  readonly records: readonly FileRecord[];
  readonly added: readonly FileRecord[];
  /** New records identical to one already there. */
  readonly alreadyPresent: readonly FileRecord[];
  /** New records whose name the manifest already uses for a different file. */
  readonly conflicts: readonly FileRecord[];
}

/**
 * Whether two records describe the same file, by tooltool.py's `FileRecord.__eq__`:
 * filename, size, digest, algorithm, version and visibility; `unpack` is ignored.
 */
export function sameRecord(a: FileRecord, b: FileRecord): boolean {
  return a.filename === b.filename && a.size === b.size && a.digest === b.digest &&
    a.algorithm === b.algorithm && (a.version ?? "") === (b.version ?? "") &&
    a.visibility === b.visibility;
}

/** Merges new records into old ones as `add` does (pure; see the module doc). */
export function mergeRecords(
  old: readonly FileRecord[],
  fresh: readonly FileRecord[],
): MergeResult {
  // By filenameKey: a name the manifest has in another normalisation is the same name.
  const oldByName = new Map(old.map((record) => [filenameKey(record.filename), record]));
  const added: FileRecord[] = [];
  const alreadyPresent: FileRecord[] = [];
  const conflicts: FileRecord[] = [];
  for (const record of fresh) {
    const existing = oldByName.get(filenameKey(record.filename));
    if (existing === undefined) added.push(record);
    else if (sameRecord(existing, record)) alreadyPresent.push(record);
    else conflicts.push(record);
  }
  return { records: [...added, ...old], added, alreadyPresent, conflicts };
}

interface Candidate {
  readonly argument: string;
  readonly path: string;
  readonly filename: SafeFilename;
}

/**
 * Adds `files` (paths relative to `ctx.cwd`; each recorded under its base name) to the
 * manifest at `manifestPath`, creating it if needed. Throws a `ToolError` naming the file
 * when one cannot be added at all (manifest untouched), or, after writing, a
 * `PartialFailureError` when some files were already recorded or conflict.
 */
export async function addFiles(
  manifestPath: string,
  files: readonly string[],
  options: AddFilesOptions & { readonly ctx: Context },
): Promise<void> {
  const { ctx } = options;
  // A broken manifest fails the command before any hashing; it is read again to be changed.
  await readManifest(manifestPath, { cwd: ctx.cwd, allowMissing: true });

  const failures: { target: string; error: ToolError }[] = [];
  const fail = (argument: string, detail: string) =>
    failures.push({
      target: argument,
      error: new ToolError(`Cannot add ${quote(argument)}: ${detail}`),
    });

  const candidates = await checkArguments(files, ctx.cwd, fail);
  // Hashing is the slow part: skip it when the command is going to fail anyway.
  const fresh = failures.length > 0 ? [] : await hashCandidates(candidates, options, fail);
  // Stats and hashes finish in any order; report in argument order.
  failures.sort((a, b) => files.indexOf(a.target) - files.indexOf(b.target));
  if (failures.length === 1) throw failures[0]!.error;
  if (failures.length > 1) {
    for (const failure of failures) ctx.output.error(failure.error.message);
    throw new PartialFailureError(
      `Cannot add ${failures.length} of ${files.length} files: manifest "${manifestPath}" ` +
        "is unchanged",
      failures,
    );
  }

  // Read again under the lock: another `add` may have written the manifest since (hashing
  // takes long), and its records must survive this write.
  using _lock = await lockManifest(manifestPath, {
    cwd: ctx.cwd,
    signal: ctx.signal,
    onWait: () => ctx.output.info(`Waiting for another process writing "${manifestPath}"`),
  });
  const current = await readManifest(manifestPath, { cwd: ctx.cwd, allowMissing: true });
  const merge = mergeRecords(current, fresh);
  warnAboutDroppedKeys(current, manifestPath, ctx);
  await writeManifest(manifestPath, merge.records, { cwd: ctx.cwd });

  for (const record of merge.added) {
    ctx.output.debug(`Added "${record.filename}" (${record.size} bytes) to "${manifestPath}"`);
  }
  const argumentOf = new Map(candidates.map((c) => [c.filename as string, c.argument]));
  const notAdded: { target: string; error: unknown }[] = [];
  for (const record of merge.alreadyPresent) {
    const message = `"${record.filename}" is already in manifest "${manifestPath}"`;
    ctx.output.error(message);
    notAdded.push({ target: argumentOf.get(record.filename)!, error: message });
  }
  const oldSpelling = new Map(
    current.map((record) => [filenameKey(record.filename), record.filename]),
  );
  for (const record of merge.conflicts) {
    const argument = argumentOf.get(record.filename)!;
    const recorded = oldSpelling.get(filenameKey(record.filename)) ?? record.filename;
    const message = `Cannot add ${quote(argument)}: manifest "${manifestPath}" already has a ` +
      `different file named "${recorded}"` +
      (recorded === record.filename
        ? ""
        : ` (the same name up to Unicode normalisation: ${
          spellingDifference(record.filename, recorded)
        })`);
    ctx.output.error(message);
    notAdded.push({ target: argument, error: message });
  }
  if (notAdded.length > 0) {
    throw new PartialFailureError(
      `${notAdded.length} of ${fresh.length} files not added to manifest "${manifestPath}"`,
      notAdded,
    );
  }
}

/** Names and stats every argument; reports what cannot be added. */
async function checkArguments(
  files: readonly string[],
  cwd: string,
  fail: (argument: string, detail: string) => void,
): Promise<Candidate[]> {
  const candidates: Candidate[] = [];
  const byName = new Map<string, Candidate>();
  for (const argument of files) {
    const path = resolve(cwd, argument);
    let filename: SafeFilename;
    try {
      filename = parseSafeFilename(basename(argument));
    } catch (error) {
      if (!(error instanceof ManifestError)) throw error;
      fail(argument, error.message.replace(/^Invalid/, "invalid"));
      continue;
    }
    const earlier = byName.get(filenameKey(filename));
    if (earlier !== undefined) {
      if (earlier.path !== path) {
        const spelling = earlier.filename === filename
          ? ""
          : ` up to Unicode normalisation (${spellingDifference(filename, earlier.filename)})`;
        fail(
          argument,
          `${quote(earlier.argument)} has the same file name, "${filename}"${spelling}`,
        );
      }
      continue;
    }
    const candidate = { argument, path, filename };
    byName.set(filenameKey(filename), candidate);
    candidates.push(candidate);
  }
  await Promise.all(candidates.map(async ({ argument, path }) => {
    try {
      const info = await Deno.stat(path);
      if (info.isDirectory) fail(argument, "is a directory");
      else if (!info.isFile) fail(argument, "not a regular file");
    } catch (error) {
      fail(argument, describeFsError(error));
    }
  }));
  return candidates;
}

async function hashCandidates(
  candidates: readonly Candidate[],
  options: AddFilesOptions & { readonly ctx: Context },
  fail: (argument: string, detail: string) => void,
): Promise<FileRecord[]> {
  const { ctx } = options;
  const digests = await hashFiles(candidates.map((c) => c.path), {
    signal: ctx.signal,
  });
  ctx.signal.throwIfAborted();
  const records: FileRecord[] = [];
  candidates.forEach((candidate, index) => {
    const result = digests[index]!;
    if (result instanceof Error) {
      fail(candidate.argument, describeFsError(result));
      return;
    }
    records.push({
      filename: candidate.filename,
      size: result.size,
      algorithm: "sha512",
      digest: result.digest,
      ...(options.unpack ? { unpack: true } : {}),
      ...(options.version ? { version: options.version } : {}),
      ...(options.visibility !== undefined ? { visibility: options.visibility } : {}),
    });
  });
  return records;
}

function warnAboutDroppedKeys(old: readonly FileRecord[], manifestPath: string, ctx: Context) {
  const dropped = old.flatMap((record) =>
    Object.keys(record.extra ?? {}).map((key) => `"${key}" (record "${record.filename}")`)
  );
  if (dropped.length > 0) {
    ctx.output.warn(
      `dropping keys tooltool does not know from manifest "${manifestPath}", as tooltool.py ` +
        `does: ${dropped.join(", ")}`,
    );
  }
}

/** Quotes an argument for a one-line message; JSON escapes make control characters visible. */
function quote(argument: string): string {
  // deno-lint-ignore no-control-regex -- finding control characters is the point
  return /[\x00-\x1f\x7f-\x9f]/.test(argument) ? JSON.stringify(argument) : `"${argument}"`;
}

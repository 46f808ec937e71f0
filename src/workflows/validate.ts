/**
 * `validate` (without `--schema-only`): every file the manifest names must be in the
 * working directory with the recorded size and sha512, as tooltool.py checks. Unlike
 * tooltool.py, which says nothing, each absent or invalid file gets one line on stderr.
 *
 * This module loads the hashing code; the schema-only check (`manifest/lint.ts`) does not.
 *
 * @module
 */

import {
  type FileReportEntry,
  fileReportEntry,
  type FileStatus,
  streamFileChecks,
} from "./verify_files.ts";
import type { Context } from "../context.ts";
import { PartialFailureError } from "../errors.ts";
import { readManifest } from "../manifest/manifest_file.ts";

/**
 * Validates the files of the manifest at `manifestPath` (relative to `ctx.cwd`) in
 * `ctx.cwd`. Reports each absent or invalid file as an error line (`"a.tgz" is absent`,
 * `"b.tgz" is invalid: size is 5 bytes, expected 100`) and then throws a
 * `PartialFailureError` (`2 of 5 files in manifest "m.tt" are absent or invalid`). With
 * `--json`, stdout carries `{ manifest, files: [...] }` as for `list`.
 */
export async function validateManifest(manifestPath: string, ctx: Context): Promise<void> {
  const records = await readManifest(manifestPath, { cwd: ctx.cwd });
  // Reported as checked; only the failures (and the --json entries) are kept.
  const failed: FileStatus[] = [];
  const entries: FileReportEntry[] = [];
  for await (const status of streamFileChecks(records, { cwd: ctx.cwd, signal: ctx.signal })) {
    if (status.valid) ctx.output.debug(`"${status.record.filename}" is present and valid`);
    else {
      ctx.output.error(describeFailure(status));
      failed.push(status);
    }
    if (ctx.output.json) entries.push(fileReportEntry(status));
  }
  if (ctx.output.json) ctx.output.report({ manifest: manifestPath, files: entries });
  if (failed.length > 0) {
    const verb = failed.length === 1 ? "is" : "are";
    throw new PartialFailureError(
      `${failed.length} of ${records.length} files in manifest "${manifestPath}" ${verb} ` +
        "absent or invalid",
      failed.map((status) => ({ target: status.record.filename, error: status.problem })),
    );
  }
}

function describeFailure({ record, present, problem }: FileStatus): string {
  return present
    ? `"${record.filename}" is invalid: ${problem}`
    : `"${record.filename}" is ${problem}`;
}

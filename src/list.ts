/**
 * `list`: one line per record on stdout, as tooltool.py prints it: `P` when something is
 * present under the file name, `V` when it is also valid (size and sha512 match), `-`
 * otherwise, then a tab and the file name. Files that are absent or invalid do not make
 * the command fail; only a manifest that cannot be read does.
 *
 * @module
 */

import { checkFiles, fileReportEntry } from "./check_files.ts";
import type { Context } from "./context.ts";
import { readManifest } from "./manifest_file.ts";

/**
 * Lists the manifest at `manifestPath` (relative to `ctx.cwd`) against the files in
 * `ctx.cwd`. With `--json`, stdout carries `{ manifest, files: [{ filename, size, digest,
 * present, valid, problem }] }` instead of the lines.
 */
export async function listManifest(manifestPath: string, ctx: Context): Promise<void> {
  const records = await readManifest(manifestPath, { cwd: ctx.cwd });
  const statuses = await checkFiles(records, {
    cwd: ctx.cwd,
    signal: ctx.signal,
  });
  for (const { present, valid, record } of statuses) {
    ctx.output.data(`${present ? "P" : "-"}\t${valid ? "V" : "-"}\t${record.filename}`);
  }
  if (ctx.output.json) {
    ctx.output.report({ manifest: manifestPath, files: statuses.map(fileReportEntry) });
  }
}

/**
 * `list`: one line per record on stdout, as tooltool.py prints it: `P` when something is
 * present under the file name, `V` when it is also valid (size and sha512 match), `-`
 * otherwise, then a tab and the file name. Files that are absent or invalid do not make
 * the command fail; only a manifest that cannot be read does.
 *
 * @module
 */

import { type FileReportEntry, fileReportEntry, streamFileChecks } from "./verify_files.ts";
import type { Context } from "../context.ts";
import { readManifest } from "../manifest/manifest_file.ts";

/**
 * Lists the manifest at `manifestPath` (relative to `ctx.cwd`) against the files in
 * `ctx.cwd`, one line per record as it is checked. With `--json`, stdout carries `{ manifest, files: [{ filename, size, digest,
 * present, valid, problem }] }` instead of the lines.
 */
export async function listManifest(manifestPath: string, ctx: Context): Promise<void> {
  const records = await readManifest(manifestPath, { cwd: ctx.cwd });
  // Each line goes out as soon as its record is checked; only --json keeps the entries.
  const entries: FileReportEntry[] = [];
  for await (const status of streamFileChecks(records, { cwd: ctx.cwd, signal: ctx.signal })) {
    const { present, valid, record } = status;
    ctx.output.data(`${present ? "P" : "-"}\t${valid ? "V" : "-"}\t${record.filename}`);
    if (ctx.output.json) entries.push(fileReportEntry(status));
  }
  if (ctx.output.json) ctx.output.report({ manifest: manifestPath, files: entries });
}

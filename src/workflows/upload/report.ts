/**
 * What an upload tells its user: the `--json` document, the summary, and the verdict.
 *
 * @module
 */

import type { Context } from "../../context.ts";
import { PartialFailureError } from "../../errors.ts";
import { formatBytes } from "../../format.ts";
import type { UploadReport } from "./types.ts";

/**
 * Reports an upload: the `--json` document on stdout, a summary on stderr, and a
 * `PartialFailureError` (exit 1) when any file failed (each was already reported).
 */
export function finishUpload(report: UploadReport, ctx: Context): void {
  if (ctx.output.json) ctx.output.report(report);
  const parts = [`${report.uploaded} uploaded (${formatBytes(report.bytesUploaded)})`];
  if (report.present > 0) parts.push(`${report.present} already on the server`);
  if (report.failed > 0) parts.push(`${report.failed} failed`);
  const summary = `${parts.join(", ")} in ${report.seconds} s`;
  if (report.failed === 0) {
    ctx.output.info(`Upload to ${report.server} done: ${summary}`);
    return;
  }
  throw new PartialFailureError(
    `Cannot upload ${report.failed} of ${report.files.length} files to ${report.server}: ${summary}`,
    report.files.filter((file) => file.status === "failed").map((file) => ({
      target: file.filename,
      error: file.error,
    })),
    { hint: "run the same command again: files already uploaded are not sent twice" },
  );
}

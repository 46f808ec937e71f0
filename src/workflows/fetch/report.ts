/**
 * What a fetch tells its user: the summary line, each failure with its hint, the `--json`
 * report, and the verdict (a `PartialFailureError` when any file failed).
 *
 * @module
 */

import type { Context } from "../../context.ts";
import { PartialFailureError, ToolError } from "../../errors.ts";
import type { FileOutcome } from "./types.ts";
import { formatBytes, formatDuration, plural } from "../../format.ts";
import { perfherderLine } from "./perfherder.ts";

/** The outcome of one `fetch` run. */
export interface FetchReport {
  readonly outcomes: readonly FileOutcome[];
  /** Wall time of the run. */
  readonly seconds: number;
}

/** Prints the report (and `--json`), then throws if any file failed. */
export function renderFetchReport(report: FetchReport, ctx: Context): void {
  const { output } = ctx;
  const { outcomes } = report;
  const failed = outcomes.filter((outcome) => outcome.error !== null);
  if (output.json) {
    output.report({
      ok: failed.length === 0,
      files: outcomes.map((outcome) => ({
        filename: outcome.filename,
        digest: outcome.digest,
        size: outcome.size,
        source: outcome.source,
        bytes: outcome.bytes,
        attempts: outcome.attempts,
        seconds: Math.round(outcome.seconds * 1000) / 1000,
        unpacked: outcome.unpacked,
        unpackMethod: outcome.unpackMethod ?? null,
        error: outcome.error,
        ...(outcome.cdn === undefined ? {} : { cdn: outcome.cdn }),
      })),
    });
  }
  output.info(summary(outcomes, report.seconds));
  for (const outcome of failed) {
    output.error(outcome.error ?? "failed");
    const hint = outcome.cause instanceof ToolError ? outcome.cause.hint : undefined;
    if (hint !== undefined) output.hint(hint);
  }
  // In CI (mozharness and Taskcluster set MOZ_AUTOMATION), the numbers for the dashboards.
  const automation = ctx.env("MOZ_AUTOMATION");
  if (automation !== undefined && automation !== "" && automation !== "0") {
    output.line(perfherderLine(outcomes, report.seconds));
  }
  if (failed.length === 0) return;
  const names = failed.map((outcome) => outcome.filename).join(", ");
  throw new PartialFailureError(
    `Failed to fetch ${failed.length} of ${plural(outcomes.length, "file")}: ${names}`,
    failed.map((outcome) => ({ target: outcome.filename, error: outcome.cause ?? outcome.error })),
  );
}

function summary(outcomes: readonly FileOutcome[], seconds: number): string {
  const count = (source: FileOutcome["source"]) =>
    outcomes.filter((outcome) => outcome.error === null && outcome.source === source);
  const downloaded = count("network");
  const bytes = downloaded.reduce((sum, outcome) => sum + outcome.bytes, 0);
  const mirrored = count("mirror");
  const mirrorBytes = mirrored.reduce((sum, outcome) => sum + outcome.bytes, 0);
  const parts = [
    `${downloaded.length} downloaded${downloaded.length > 0 ? ` (${formatBytes(bytes)})` : ""}`,
    ...(mirrored.length > 0
      ? [`${mirrored.length} from mirrors (${formatBytes(mirrorBytes)})`]
      : []),
    `${count("cache").length} from the cache`,
    `${count("present").length} already present`,
  ];
  const local = count("distdir").length;
  if (local > 0) parts.splice(2, 0, `${local} from a --distdir`);
  const failed = outcomes.filter((outcome) => outcome.error !== null).length;
  if (failed > 0) parts.push(`${failed} failed`);
  return `Fetch: ${plural(outcomes.length, "file")} in ${formatDuration(seconds)}: ${
    parts.join(", ")
  }`;
}

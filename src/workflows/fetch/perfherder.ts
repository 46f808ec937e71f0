/**
 * The `PERFHERDER_DATA: {...}` line Mozilla's CI dashboards read from a task's log (the
 * Treeherder log parser picks up every line with that prefix), printed at the end of a
 * fetch when `MOZ_AUTOMATION` is set. The shape follows the one Mozilla's own build tooling
 * prints: the `build_metrics` framework, one suite whose value is the fetch's wall time, and
 * one subtest per number (seconds, bytes by where they came from, files unpacked, retries).
 *
 * @module
 */

import type { FileOutcome } from "./types.ts";

/** The suite's name on the dashboards. */
export const PERFHERDER_SUITE = "tooltool_fetch";

/** One number on a dashboard. */
export interface PerfherderSubtest {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly lowerIsBetter: boolean;
  readonly shouldAlert: boolean;
}

/** The document after `PERFHERDER_DATA: `. */
export interface PerfherderData {
  readonly framework: { readonly name: "build_metrics" };
  readonly suites: readonly {
    readonly name: string;
    readonly value: number;
    readonly unit: string;
    readonly lowerIsBetter: boolean;
    readonly shouldAlert: boolean;
    readonly subtests: readonly PerfherderSubtest[];
  }[];
}

/** The numbers of one fetch, as Perfherder data. */
export function perfherderData(
  outcomes: readonly FileOutcome[],
  seconds: number,
): PerfherderData {
  const done = outcomes.filter((outcome) => outcome.error === null);
  const sizeFrom = (source: string) =>
    done.filter((outcome) => outcome.source === source)
      .reduce((sum, outcome) => sum + (outcome.size ?? 0), 0);
  const rounded = Math.round(seconds * 1000) / 1000;
  const subtest = (name: string, value: number, unit: string): PerfherderSubtest => ({
    name,
    value,
    unit,
    lowerIsBetter: true,
    shouldAlert: false,
  });
  return {
    framework: { name: "build_metrics" },
    suites: [{
      name: PERFHERDER_SUITE,
      value: rounded,
      unit: "s",
      lowerIsBetter: true,
      shouldAlert: false,
      subtests: [
        subtest("seconds", rounded, "s"),
        subtest("files", outcomes.length, "files"),
        subtest("bytes_downloaded", outcomes.reduce((sum, o) => sum + o.bytes, 0), "bytes"),
        subtest("bytes_from_cache", sizeFrom("cache"), "bytes"),
        subtest("bytes_from_mirror", sizeFrom("mirror"), "bytes"),
        subtest("bytes_from_distdir", sizeFrom("distdir"), "bytes"),
        subtest("files_unpacked", outcomes.filter((o) => o.unpacked === true).length, "files"),
        subtest(
          "retries",
          outcomes.reduce((sum, o) => sum + Math.max(0, o.attempts - 1), 0),
          "count",
        ),
        subtest("files_failed", outcomes.length - done.length, "files"),
      ],
    }],
  };
}

/** The log line: `PERFHERDER_DATA: ` and the data as one line of JSON. */
export function perfherderLine(outcomes: readonly FileOutcome[], seconds: number): string {
  return `PERFHERDER_DATA: ${JSON.stringify(perfherderData(outcomes, seconds))}`;
}

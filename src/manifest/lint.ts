/**
 * `validate --schema-only`: checks that manifests follow the format, offline and without
 * looking at the files they name, and reports every problem as `path:line:column: message`
 * (the shape editors and pre-commit understand). Meant for pre-commit hooks, so this
 * module imports nothing that talks to the network or hashes: it must start fast.
 *
 * @module
 */

import { plural } from "../format.ts";
import type { Context } from "../context.ts";
import { ManifestError, type ManifestProblem, PartialFailureError } from "../errors.ts";
import { readManifest } from "./manifest_file.ts";

/** The outcome for one manifest. */
export interface SchemaCheckResult {
  /** As given. */
  readonly path: string;
  /** How many records it has; 0 when it has problems. */
  readonly records: number;
  readonly problems: readonly ManifestProblem[];
}

/**
 * Reads and parses each manifest (relative paths against `options.cwd`), collecting every
 * problem of each. Throws only for errors that are not about a manifest (bugs).
 */
export async function checkManifestSchemas(
  paths: readonly string[],
  options: { readonly cwd: string },
): Promise<SchemaCheckResult[]> {
  return await Promise.all(paths.map(async (path) => {
    try {
      const records = await readManifest(path, { cwd: options.cwd });
      return { path, records: records.length, problems: [] };
    } catch (error) {
      if (!(error instanceof ManifestError)) throw error;
      const problems = error.problems.length > 0
        ? error.problems
        : [{ path, line: 0, column: 0, message: error.message }];
      return { path, records: 0, problems };
    }
  }));
}

/** `path:line:column: message`, or `path: message` for a problem with no place in the text. */
export function formatProblem(problem: ManifestProblem): string {
  const where = problem.line > 0 ? `:${problem.line}:${problem.column}` : "";
  return `${problem.path}${where}: ${problem.message}`;
}

/**
 * Checks the manifests at `paths`, writes each problem to stderr as `formatProblem` shows
 * it, and throws a `PartialFailureError` (`1 of 2 manifests is invalid: 3 problems`) if
 * there were any. With `--json`, stdout carries `{ manifests: [{ path, valid, records,
 * problems: [{ line, column, message }] }] }`. Silent on success.
 */
export async function validateManifestSchemas(
  paths: readonly string[],
  ctx: Context,
): Promise<void> {
  const results = await checkManifestSchemas(paths, { cwd: ctx.cwd });
  for (const { problems } of results) {
    for (const problem of problems) ctx.output.line(formatProblem(problem));
  }
  if (ctx.output.json) {
    ctx.output.report({
      manifests: results.map(({ path, records, problems }) => ({
        path,
        valid: problems.length === 0,
        records,
        problems: problems.map(({ line, column, message }) => ({ line, column, message })),
      })),
    });
  }
  const invalid = results.filter((result) => result.problems.length > 0);
  if (invalid.length > 0) {
    const count = invalid.reduce((sum, result) => sum + result.problems.length, 0);
    throw new PartialFailureError(
      `${invalid.length} of ${results.length} manifests ` +
        `${invalid.length === 1 ? "is" : "are"} invalid: ${plural(count, "problem")}`,
      invalid.map(({ path, problems }) => ({ target: path, error: problems })),
    );
  }
  ctx.output.debug(`${plural(results.length, "manifest")} checked: no problems`);
}

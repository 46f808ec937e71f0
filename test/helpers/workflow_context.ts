/**
 * Helpers for the unit tests of the manifest commands (`add`, `list`, `validate`): a temp
 * directory and a `Context` whose output is captured.
 *
 * @module
 */

import { join } from "node:path";
import type { Context } from "../../src/context.ts";
import { sha512Hex } from "../../src/digest.ts";
import type { FileRecord, SafeFilename } from "../../src/manifest/manifest.ts";
import { memoryOutput, type Verbosity } from "../../src/output.ts";
export { withTempDir } from "./temp.ts";

/** A context rooted at `cwd`, with stdout and stderr captured. */
export function testContext(
  cwd: string,
  options: { json?: boolean; verbosity?: Verbosity; signal?: AbortSignal } = {},
): { ctx: Context; stdout: () => string; stderr: () => string } {
  const { output, stdout, stderr } = memoryOutput({
    json: options.json ?? false,
    verbosity: options.verbosity ?? "normal",
  });
  const ctx: Context = {
    cwd,
    env: () => undefined,
    output,
    fetch: () => Promise.reject(new Error("these tests use no network")),
    signal: options.signal ?? new AbortController().signal,
    cores: 2,
  };
  return { ctx, stdout, stderr };
}

/** Runs `fn` in a fresh temp directory (its real path), removed afterwards. */

/** Writes `content` to `dir/name` and returns the record that describes it. */
export async function writeFileRecord(
  dir: string,
  name: string,
  content: string,
  extra: Partial<Omit<FileRecord, "filename" | "size" | "digest" | "algorithm">> = {},
): Promise<FileRecord> {
  await Deno.writeTextFile(join(dir, name), content);
  return recordFor(name, content, extra);
}

/** The record for a file named `name` holding `content`. */
export function recordFor(
  name: string,
  content: string,
  extra: Partial<Omit<FileRecord, "filename" | "size" | "digest" | "algorithm">> = {},
): FileRecord {
  return {
    filename: name as SafeFilename,
    size: new TextEncoder().encode(content).length,
    algorithm: "sha512",
    digest: sha512Hex(content),
    ...extra,
  };
}

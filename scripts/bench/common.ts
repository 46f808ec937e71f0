/**
 * Shared pieces of the benchmark scripts: generated inputs, timing a command, and the
 * command line that runs this tool (`TOOLTOOL_BIN`, or `deno run -A main.ts`).
 *
 * @module
 */

/** The repository root, with a trailing slash. */
export const REPO_ROOT = new URL("../../", import.meta.url).pathname;

/** Creates `path` with `size` pseudo-random bytes unless it already has that size. */
export async function ensureFile(path: string, size: number): Promise<void> {
  try {
    if ((await Deno.stat(path)).size === size) return;
  } catch {
    // Missing: generate it.
  }
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  const block = new Uint8Array(1024 * 1024);
  for (let offset = 0; offset < block.length; offset += 65536) {
    crypto.getRandomValues(block.subarray(offset, offset + 65536));
  }
  let written = 0;
  while (written < size) {
    // Vary each block so no two files or blocks are the same.
    block[0] = written & 0xff;
    block[1] = (written >>> 8) & 0xff;
    block[2] = size & 0xff;
    const chunk = block.subarray(0, Math.min(block.length, size - written));
    let done = 0;
    while (done < chunk.length) done += await file.write(chunk.subarray(done));
    written += chunk.length;
  }
}

/** The command and arguments that run this tool with `args`. */
export function toolArgs(args: readonly string[]): [string, string[]] {
  const binary = Deno.env.get("TOOLTOOL_BIN");
  if (binary) return [binary, [...args]];
  return [Deno.execPath(), ["run", "-A", "--quiet", `${REPO_ROOT}main.ts`, ...args]];
}

/** Runs a command to completion and returns its wall time in seconds; throws if it failed. */
export async function timeCommand(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: Record<string, string>; allowFailure?: boolean } = {},
): Promise<number> {
  const start = performance.now();
  const { code, stderr } = await new Deno.Command(command, {
    args: [...args],
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    env: { RUST_BACKTRACE: "0", ...options.env },
    stdout: "null",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - start) / 1000;
  if (code !== 0 && !options.allowFailure) {
    throw new Error(
      `${command} ${args.join(" ")} exited ${code}: ${new TextDecoder().decode(stderr).trim()}`,
    );
  }
  return seconds;
}

/** The median of `runs` measurements. */
export async function medianOf(runs: number, measure: () => Promise<number>): Promise<number> {
  const values: number[] = [];
  for (let i = 0; i < runs; i++) values.push(await measure());
  values.sort((a, b) => a - b);
  return values[Math.floor(values.length / 2)] ?? Number.NaN;
}

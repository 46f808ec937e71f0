/**
 * Runs the real CLI as a subprocess, for end-to-end tests: `deno run -A main.ts` from this
 * checkout, or the compiled binary named by `TOOLTOOL_BIN` (so the same tests check a
 * `deno compile` build on machines that can make one).
 *
 * The child gets a clean environment: nothing from the developer's TASKCLUSTER_* or
 * TOOLTOOL_HOST leaks into a test, and no test can reach the default production host
 * unless it asks for it.
 *
 * @module
 */

const REPO_ROOT = new URL("../", import.meta.url).pathname;
const MAIN = `${REPO_ROOT}main.ts`;

/** What a finished run of the CLI left behind. */
export interface ToolRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** How to run the CLI. */
export interface RunToolOptions {
  readonly cwd: string;
  /** Extra environment variables (the child starts from an almost empty environment). */
  readonly env?: Record<string, string>;
  /** Bytes for the child's stdin; none by default. */
  readonly stdin?: Uint8Array;
}

/** The command and leading arguments that start the CLI. */
export function toolCommand(): { command: string; prefix: string[] } {
  const binary = Deno.env.get("TOOLTOOL_BIN");
  if (binary) return { command: binary, prefix: [] };
  return { command: Deno.execPath(), prefix: ["run", "-A", "--quiet", MAIN] };
}

/** The environment a test child starts from. */
export function baseEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = { RUST_BACKTRACE: "0", NO_COLOR: "1" };
  for (const name of ["PATH", "HOME", "DENO_DIR", "TMPDIR", "SYSTEMROOT", "USERPROFILE"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return { ...env, ...extra };
}

/** Runs `tooltool ARGS` to completion. */
export async function runTool(args: readonly string[], options: RunToolOptions): Promise<ToolRun> {
  const { command, prefix } = toolCommand();
  const child = new Deno.Command(command, {
    args: [...prefix, ...args],
    cwd: options.cwd,
    env: baseEnv(options.env),
    clearEnv: true,
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin) {
    const writer = child.stdin.getWriter();
    await writer.write(options.stdin);
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

/** Replaces every occurrence of the given paths, so assertions do not depend on temp dirs. */
export function redact(text: string, replacements: Record<string, string>): string {
  let result = text;
  for (const [from, to] of Object.entries(replacements)) result = result.replaceAll(from, to);
  return result;
}

/** A fresh temp directory, removed by the returned disposer (`await using dir = ...`). */
export async function tempDir(prefix = "tooltool-test-"): Promise<
  { readonly path: string; [Symbol.asyncDispose](): Promise<void> }
> {
  const path = await Deno.realPath(await Deno.makeTempDir({ prefix }));
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

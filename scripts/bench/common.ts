/**
 * Shared pieces of the benchmark scripts: generated inputs, timing a command, and the
 * command line that runs this tool (`TOOLTOOL_BIN`, or `deno run -A main.ts`).
 *
 * @module
 */

import { join } from "node:path";

/** The repository root, with a trailing slash. */
export const REPO_ROOT = new URL("../../", import.meta.url).pathname;

/**
 * The tooltool.py 1.4.0 every benchmark compares with: a checkout of mozilla-releng/tooltool
 * outside this repository (`TOOLTOOL_PY` overrides; a benchmark without it says so).
 */
export const TOOLTOOL_PY = Deno.env.get("TOOLTOOL_PY") ?? "/work/ref/client/tooltool.py";

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

/** The median of `values` (the upper one of an even count); NaN for none. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** The median of `runs` measurements, taken one after another. */
export async function medianOf(runs: number, measure: () => Promise<number>): Promise<number> {
  const values: number[] = [];
  for (let i = 0; i < runs; i++) values.push(await measure());
  return median(values);
}

/** A finished command: wall time, and peak memory and CPU time where they could be measured. */
export interface Measured {
  readonly seconds: number;
  /** Peak resident set size in bytes, when it could be measured. */
  readonly peakRss: number | undefined;
  /** User + system CPU seconds of the client, when they could be measured. */
  readonly cpuSeconds: number | undefined;
  /** The kernel's share of `cpuSeconds` (page-cache writes, faults), when measured. */
  readonly systemSeconds?: number | undefined;
  readonly code: number;
  readonly stderr: string;
}

const hasGnuTime = await Deno.stat("/usr/bin/time").then(() => true, () => false);

/** Runs a command, timing it and measuring its peak RSS. */
export async function measure(command: string, args: string[], cwd: string): Promise<Measured> {
  const env = { RUST_BACKTRACE: "0", NO_COLOR: "1", PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" };
  const start = performance.now();
  if (hasGnuTime) {
    const { code, stderr } = await new Deno.Command("/usr/bin/time", {
      args: ["-v", command, ...args],
      cwd,
      env,
      clearEnv: true,
      stdout: "null",
      stderr: "piped",
    }).output();
    const seconds = (performance.now() - start) / 1000;
    const text = new TextDecoder().decode(stderr);
    const kib = /Maximum resident set size \(kbytes\): (\d+)/.exec(text)?.[1];
    const user = /User time \(seconds\): ([\d.]+)/.exec(text)?.[1];
    const system = /System time \(seconds\): ([\d.]+)/.exec(text)?.[1];
    return {
      seconds,
      peakRss: kib === undefined ? undefined : Number(kib) * 1024,
      cpuSeconds: user === undefined || system === undefined
        ? undefined
        : Number(user) + Number(system),
      systemSeconds: system === undefined ? undefined : Number(system),
      code,
      stderr: text,
    };
  }
  const child = new Deno.Command(command, {
    args,
    cwd,
    env,
    clearEnv: true,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let peak = 0;
  const poll = setInterval(() => {
    try {
      const status = Deno.readTextFileSync(`/proc/${child.pid}/status`);
      const kib = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
      peak = Math.max(peak, kib * 1024);
    } catch {
      // The process has exited.
    }
  }, 50);
  const { code, stderr } = await child.output();
  clearInterval(poll);
  return {
    seconds: (performance.now() - start) / 1000,
    peakRss: peak || undefined,
    cpuSeconds: undefined,
    code,
    stderr: new TextDecoder().decode(stderr),
  };
}

/**
 * The Python interpreter itself (`sys.executable` of the `python3` on PATH), which runs
 * tooltool.py and the floor. `python3` on PATH may be a shim: pyenv's is a shell script that
 * runs `pyenv` before Python, ~55 ms a launch on this machine, which flattered every
 * comparison with a Python peer until it was resolved here. `python3` when none runs.
 */
export const PYTHON: string = resolvePython();

function resolvePython(): string {
  try {
    const { success, stdout } = new Deno.Command("python3", {
      args: ["-c", "import sys; print(sys.executable)"],
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    const path = new TextDecoder().decode(stdout).trim();
    return success && path !== "" ? path : "python3";
  } catch {
    return "python3";
  }
}

/** Whether python3 runs here (the tooltool.py peer needs it). */
export function hasPython(): boolean {
  try {
    return new Deno.Command(PYTHON, { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** Whether a path exists. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** A fake server in its own process with its own storage folder. */
export async function startServer(
  dir: string,
  extraArgs: readonly string[] = [],
): Promise<{ url: string; stop(): Promise<void> }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      `${REPO_ROOT}scripts/serve.ts`,
      "--port",
      "0",
      "--storage",
      join(dir, "storage"),
      ...extraArgs,
    ],
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { done, value } = await reader.read();
    if (done) throw new Error("the fake server exited before printing its URL");
    text += value;
  }
  reader.releaseLock();
  return {
    url: (text.split("\n")[0] ?? "").trim(),
    async stop() {
      child.kill("SIGTERM");
      await child.stdout.cancel().catch(() => {});
      await child.status;
    },
  };
}

/**
 * Hashing benchmark (issue: foundation): the SHA-512 backend against `openssl speed`,
 * `add` and `validate` against `sha512sum` (and tooltool.py when its copy is at hand) over
 * the same files, and the start-up time of `validate --schema-only`.
 *
 * Inputs are generated once under `.bench/` (gitignored). Prints a markdown table.
 *
 * @module
 */

import { createSha512, sha512Backend } from "../../src/digest.ts";
import {
  ensureFile,
  exists,
  medianOf,
  PYTHON,
  REPO_ROOT,
  timeCommand,
  toolArgs,
  TOOLTOOL_PY,
} from "./common.ts";

const MiB = 1024 * 1024;

async function ensureInputs(): Promise<{ big: string; small: string }> {
  const big = `${REPO_ROOT}.bench/hash-big`;
  const small = `${REPO_ROOT}.bench/hash-small`;
  await Deno.mkdir(big, { recursive: true });
  await Deno.mkdir(small, { recursive: true });
  const bigSizes = [400, 400, 50, 50, 50, 50];
  for (const [index, size] of bigSizes.entries()) {
    await ensureFile(`${big}/file${index}.bin`, size * MiB);
  }
  for (let index = 0; index < 200; index++) {
    await ensureFile(`${small}/file${String(index).padStart(3, "0")}.bin`, 100 * 1024);
  }
  return { big, small };
}

function backendThroughput(chunkSize: number, totalBytes: number): number {
  const chunk = new Uint8Array(chunkSize).fill(7);
  const hasher = createSha512();
  const start = performance.now();
  for (let done = 0; done < totalBytes; done += chunkSize) hasher.update(chunk);
  hasher.digest();
  return totalBytes / ((performance.now() - start) / 1000);
}

async function opensslThroughput(): Promise<number | undefined> {
  try {
    const { stdout } = await new Deno.Command("openssl", {
      args: ["speed", "-evp", "sha512", "-bytes", "8192", "-seconds", "3"],
      stdout: "piped",
      stderr: "null",
    }).output();
    const line = new TextDecoder().decode(stdout).split("\n").find((l) => /^sha512\s/.test(l));
    const value = line?.trim().split(/\s+/).pop();
    if (!value?.endsWith("k")) return undefined;
    return Number(value.slice(0, -1)) * 1000;
  } catch {
    return undefined;
  }
}

async function listFiles(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) if (entry.isFile) names.push(entry.name);
  return names.sort();
}

/** Runs the benchmark and returns its markdown table. */
export async function benchHash(): Promise<string> {
  const { big, small } = await ensureInputs();
  const rows: string[][] = [];
  const mb = (bytesPerSecond: number) => `${(bytesPerSecond / 1e6).toFixed(0)} MB/s`;

  const openssl = await opensslThroughput();
  backendThroughput(MiB, 256 * MiB); // warm-up
  const backend8k = backendThroughput(8192, 1024 * MiB);
  const backend1m = backendThroughput(MiB, 1024 * MiB);
  const ratio = (value: number) =>
    openssl ? ` (${((value / openssl) * 100).toFixed(0)}% of openssl)` : "";
  rows.push([
    "sha512 throughput, 1 core",
    "openssl speed -evp sha512 (8 KiB)",
    openssl ? mb(openssl) : "n/a",
    "",
  ]);
  rows.push([
    "",
    `tooltool (${sha512Backend()}, 8 KiB chunks)`,
    mb(backend8k) + ratio(backend8k),
    "",
  ]);
  rows.push([
    "",
    `tooltool (${sha512Backend()}, 1 MiB chunks)`,
    mb(backend1m) + ratio(backend1m),
    "",
  ]);

  for (const [label, dir] of [["1 GiB in 6 files", big], ["200 × 100 KiB", small]] as const) {
    const files = await listFiles(dir);
    const sha512sum = await medianOf(3, () => timeCommand("sha512sum", files, { cwd: dir }));
    const manifest = `${REPO_ROOT}.bench/hash-manifest.tt`;
    const add = await medianOf(3, async () => {
      await Deno.remove(manifest).catch(() => {});
      return timeCommand(...toolArgs(["-m", manifest, "add", ...files]), { cwd: dir });
    });
    const validate = await medianOf(
      3,
      () => timeCommand(...toolArgs(["-m", manifest, "validate"]), { cwd: dir }),
    );
    const speedup = (seconds: number) => `${(sha512sum / seconds).toFixed(2)}× sha512sum`;
    rows.push([
      `add, ${label}`,
      "sha512sum (one after the other)",
      `${sha512sum.toFixed(2)} s`,
      "",
    ]);
    rows.push(["", "tooltool add", `${add.toFixed(2)} s`, speedup(add)]);
    rows.push([
      `validate, ${label}`,
      "tooltool validate",
      `${validate.toFixed(2)} s`,
      speedup(validate),
    ]);
    if (await exists(TOOLTOOL_PY)) {
      const pyManifest = `${REPO_ROOT}.bench/hash-manifest-py.tt`;
      const pyAdd = await medianOf(1, async () => {
        await Deno.remove(pyManifest).catch(() => {});
        return timeCommand(PYTHON, [TOOLTOOL_PY, "-m", pyManifest, "add", ...files], {
          cwd: dir,
        });
      });
      const pyValidate = await medianOf(
        1,
        () => timeCommand(PYTHON, [TOOLTOOL_PY, "-m", pyManifest, "validate"], { cwd: dir }),
      );
      rows.push([
        "",
        "tooltool.py add / validate",
        `${pyAdd.toFixed(2)} s / ${pyValidate.toFixed(2)} s`,
        "",
      ]);
    }
  }

  const oneManifest = `${REPO_ROOT}.bench/startup-manifest.tt`;
  await Deno.writeTextFile(
    oneManifest,
    JSON.stringify(
      [{ filename: "a.bin", size: 1, algorithm: "sha512", digest: "0".repeat(128) }],
      null,
      2,
    ),
  );
  const startup = await medianOf(
    11,
    () => timeCommand(...toolArgs(["validate", "--schema-only", oneManifest]), { cwd: REPO_ROOT }),
  );
  const deno = await medianOf(
    11,
    () => timeCommand(Deno.execPath(), ["eval", "0"], { cwd: REPO_ROOT }),
  );
  rows.push([
    "start-up, validate --schema-only",
    "tooltool (median of 11)",
    `${(startup * 1000).toFixed(0)} ms`,
    "aim ≤ 120 ms",
  ]);
  rows.push(["", "bare `deno eval 0` (floor)", `${(deno * 1000).toFixed(0)} ms`, ""]);

  const header = ["measure", "what", "result", "vs"];
  return [header, header.map(() => "---"), ...rows].map((row) => `| ${row.join(" | ")} |`).join(
    "\n",
  );
}

if (import.meta.main) console.log(await benchHash());

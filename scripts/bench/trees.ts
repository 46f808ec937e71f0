/**
 * Tree-cache benchmark (issue 14): a synthetic toolchain (~5,000 files in a few hundred
 * folders, a few 20–80 MB binaries, symlinks, ~600 MB extracted) as `.tar.zst` and
 * `.tar.xz`, fetched with `unpack` from the fake server. Warm cache, empty working folder:
 * tooltool.py vs our re-extraction (`--no-tree-cache`) vs our tree placement; then a cold
 * fetch without and with the tree cache (the build's extra cost); then the trees compared
 * (paths, sizes, modes, link targets, contents) between tooltool.py's result and ours.
 *
 * Inputs are generated once under `.bench/trees/` (gitignored). `TOOLTOOL_BENCH_TREE_MB`
 * scales the toolchain down for a quick run (default 600). tooltool.py needs python3's
 * `zstandard` module for `.tar.zst` (Debian: python3-zstandard; the bench uses the first
 * python3 that has it); without it that row says so.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import {
  exists,
  hasPython,
  measure,
  median,
  medianOf,
  PYTHON,
  REPO_ROOT,
  toolArgs,
  TOOLTOOL_PY,
} from "./common.ts";
import { seedStorage } from "./fetch.ts";
import { startServer } from "./common.ts";

const MB = 1024 * 1024;
const RUNS = 3;
/** The cold cases differ by a few percent: more runs than the warm ones. */
const COLD_RUNS = 5;

/** Writes the synthetic toolchain under `root/toolchain` (deterministic). */
function generateToolchain(root: string, totalMb: number): void {
  const scale = totalMb / 600;
  let state = 12345;
  const random = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  // Half compressible text, half noise: toolchains compress about 3-4x.
  const chunk = (size: number) => {
    const bytes = new Uint8Array(size);
    for (let i = 0; i < size; i += 4096) {
      const noisy = random() < 0.4;
      const end = Math.min(size, i + 4096);
      for (let j = i; j < end; j++) {
        bytes[j] = noisy ? (random() * 256) | 0 : 97 + ((j * 7 + i) % 26);
      }
    }
    return bytes;
  };
  const base = join(root, "toolchain");
  const dirs = Math.max(20, Math.round(300 * Math.min(1, scale * 2)));
  const files = Math.max(200, Math.round(5000 * Math.min(1, scale * 2)));
  for (let d = 0; d < dirs; d++) {
    Deno.mkdirSync(join(base, `lib/d${Math.floor(d / 20)}/s${d}`), { recursive: true });
  }
  Deno.mkdirSync(join(base, "bin"), { recursive: true });
  Deno.mkdirSync(join(base, "share/empty"), { recursive: true });
  const bigSizes = [80, 60, 40, 20].map((mb) => Math.max(1, Math.round(mb * scale)) * MB);
  const smallBudget = totalMb * MB - bigSizes.reduce((a, b) => a + b, 0);
  bigSizes.forEach((size, i) => {
    const path = join(base, "bin", `tool${i}`);
    Deno.writeFileSync(path, chunk(size), { mode: 0o755 });
  });
  for (let f = 0; f < files; f++) {
    const d = f % dirs;
    const size = Math.max(16, Math.round((smallBudget / files) * 2 * random()));
    const path = join(base, `lib/d${Math.floor(d / 20)}/s${d}/f${f}.${f % 3 ? "h" : "so"}`);
    Deno.writeFileSync(path, chunk(size), { mode: f % 3 ? 0o644 : 0o755 });
  }
  for (let l = 0; l < 50; l++) {
    Deno.symlinkSync(`../lib/d0/s0/f0.so`, join(base, "bin", `alias${l}`));
  }
}

async function sh(script: string, cwd: string): Promise<void> {
  const { code, stderr } = await new Deno.Command("sh", {
    args: ["-c", script],
    cwd,
    stderr: "piped",
  })
    .output();
  if (code !== 0) throw new Error(`${script}: ${new TextDecoder().decode(stderr)}`);
}

async function ensureInputs(totalMb: number): Promise<string[]> {
  const dir = `${REPO_ROOT}.bench/trees/${totalMb}mb`;
  const archives = ["toolchain.tar.zst", "toolchain.tar.xz"].map((name) => join(dir, name));
  if (await exists(archives[1]!)) return archives;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  Deno.mkdirSync(join(dir, "src"), { recursive: true });
  generateToolchain(join(dir, "src"), totalMb);
  await sh("tar --sort=name -cf toolchain.tar -C src toolchain", dir);
  await sh("zstd -q -T0 -3 -f toolchain.tar -o toolchain.tar.zst", dir);
  await sh("xz -T0 -3 -k -f toolchain.tar", dir);
  await Deno.remove(join(dir, "toolchain.tar"));
  await Deno.remove(join(dir, "src"), { recursive: true });
  return archives;
}

/** Every path with type, size, mode, link target and content hash. */
function describe(root: string): Map<string, string> {
  const result = new Map<string, string>();
  const walk = (relative: string) => {
    for (const entry of Deno.readDirSync(join(root, relative))) {
      const p = relative === "" ? entry.name : `${relative}/${entry.name}`;
      const full = join(root, p);
      const info = Deno.lstatSync(full);
      const mode = ((info.mode ?? 0) & 0o7777).toString(8);
      if (info.isSymlink) result.set(p, `link ${Deno.readLinkSync(full)}`);
      else if (info.isDirectory) {
        result.set(p, `dir ${mode}`);
        walk(p);
      } else {
        const hash = createHash("sha256").update(Deno.readFileSync(full)).digest("hex");
        result.set(p, `file ${mode} ${info.size} ${hash}`);
      }
    }
  };
  walk("");
  return result;
}

function compare(a: Map<string, string>, b: Map<string, string>): string {
  const paths = new Set([...a.keys(), ...b.keys()]);
  let differ = 0;
  let writeBitsOnly = 0;
  for (const path of paths) {
    const x = a.get(path);
    const y = b.get(path);
    if (x === y) continue;
    const strip = (s: string | undefined) =>
      s?.replace(/^file (\d+)/, (_, m: string) => `file ${(parseInt(m, 8) & ~0o222).toString(8)}`);
    if (strip(x) === strip(y)) writeBitsOnly++;
    else differ++;
  }
  if (differ === 0 && writeBitsOnly === 0) return `identical (${paths.size} paths)`;
  if (differ === 0) {
    return `identical but write bits on ${writeBitsOnly} files (read-only hard links)`;
  }
  return `${differ} paths differ`;
}

interface Row {
  format: string;
  case: string;
  seconds: number | undefined;
  note: string;
}

/**
 * The first Python that can import `zstandard` (tooltool.py needs it for `.tar.zst`): the one
 * on PATH, else the system's (Debian's python3-zstandard installs there, not into pyenv's).
 */
async function pythonWithZstandard(): Promise<string | undefined> {
  for (const candidate of [PYTHON, "/usr/bin/python3"]) {
    const probe = await new Deno.Command(candidate, {
      args: ["-c", "import zstandard"],
      stdout: "null",
      stderr: "null",
    }).output().catch(() => undefined);
    if (probe?.success) return candidate;
  }
  return undefined;
}

/** Runs the benchmark and returns a markdown table. */
export async function benchTrees(): Promise<string> {
  const totalMb = Number(Deno.env.get("TOOLTOOL_BENCH_TREE_MB") ?? "600");
  const archives = await ensureInputs(totalMb);
  const root = await Deno.makeTempDir({ dir: `${REPO_ROOT}.bench`, prefix: "trees-run-" });
  const python = hasPython();
  const zstdPython = python ? await pythonWithZstandard() : undefined;
  const zstdPy = zstdPython !== undefined;
  const pythonBin = zstdPython ?? PYTHON;
  const records = await seedStorage(
    join(root, "server", "storage"),
    archives.map((path) => ({ path })),
  );
  const server = await startServer(join(root, "server"));
  const [deno, prefix] = toolArgs([]);
  const ours = (cwd: string, cache: string, extra: string[] = []) =>
    measure(deno, [...prefix, "--url", server.url, "fetch", "-c", cache, ...extra], cwd);
  const py = (cwd: string, cache: string) =>
    measure(pythonBin, [TOOLTOOL_PY, "--url", server.url, "fetch", "-c", cache], cwd);
  const rows: Row[] = [];
  try {
    for (const record of records) {
      const format = record.filename?.endsWith(".zst") ? "tar.zst" : "tar.xz";
      const fresh = async (name: string) => {
        const work = join(root, `${format}-${name}-${crypto.randomUUID().slice(0, 6)}`);
        Deno.mkdirSync(work);
        await Deno.writeTextFile(
          join(work, "manifest.tt"),
          JSON.stringify([{ ...record, unpack: true }]),
        );
        return work;
      };
      const timed = async (
        work: string,
        result: Promise<{ seconds: number; code: number; stderr: string }>,
      ) => {
        const done = await result;
        if (done.code !== 0) throw new Error(`fetch failed in ${work}: ${done.stderr.slice(-400)}`);
        await Deno.remove(work, { recursive: true }).catch(() => {});
        return done.seconds;
      };
      // Cold: empty cache, today's way (no tree) and with the tree built, alternating: on
      // this VM the page cache's cost drifts between runs (see workloads.ts), and two
      // series run one after the other measured that drift instead of the tree's cost.
      const plainRuns: number[] = [];
      const treeRuns: number[] = [];
      for (let i = 0; i < COLD_RUNS; i++) {
        const a = await fresh("cold");
        plainRuns.push(await timed(a, ours(a, await fresh("cache"), ["--no-tree-cache"])));
        const b = await fresh("cold");
        treeRuns.push(await timed(b, ours(b, await fresh("cache"))));
      }
      const coldPlain = median(plainRuns);
      const coldTree = median(treeRuns);
      const cache = await fresh("cache-ours");
      const warmup = await fresh("warmup");
      await timed(warmup, ours(warmup, cache));
      const extract = await medianOf(RUNS, async () => {
        const w = await fresh("warm");
        return await timed(w, ours(w, cache, ["--no-tree-cache"]));
      });
      const tree = await medianOf(RUNS, async () => {
        const w = await fresh("warm");
        return await timed(w, ours(w, cache));
      });
      let pySeconds: number | undefined;
      let comparison = "tooltool.py not run";
      if (python && (format === "tar.xz" || zstdPy)) {
        const pyCache = await fresh("cache-py");
        const pyWarm = await fresh("warmup");
        await timed(pyWarm, py(pyWarm, pyCache));
        pySeconds = await medianOf(RUNS, async () => {
          const w = await fresh("warm");
          return await timed(w, py(w, pyCache));
        });
        const pyWork = await fresh("compare-py");
        const pyResult = await py(pyWork, pyCache);
        if (pyResult.code !== 0) throw new Error(`tooltool.py failed: ${pyResult.stderr}`);
        const ourWork = await fresh("compare-ours");
        await ours(ourWork, cache);
        const ourExtract = await fresh("compare-extract");
        await ours(ourExtract, cache, ["--no-tree-cache"]);
        // TOOLTOOL_TREE_CACHE=copy places the same tree by copies, with the archive's modes.
        const ourCopy = await fresh("compare-copy");
        await measure("env", [
          "TOOLTOOL_TREE_CACHE=copy",
          deno,
          ...prefix,
          "--url",
          server.url,
          "fetch",
          "-c",
          cache,
        ], ourCopy);
        const reference = describe(join(pyWork, "toolchain"));
        comparison = `tree: ${compare(reference, describe(join(ourWork, "toolchain")))}; ` +
          `tree copied (TOOLTOOL_TREE_CACHE=copy): ${
            compare(reference, describe(join(ourCopy, "toolchain")))
          }; extract: ${compare(reference, describe(join(ourExtract, "toolchain")))}`;
      } else if (python) {
        comparison = "tooltool.py cannot unpack .tar.zst here (no python3 zstandard module)";
      }
      const x = (a: number | undefined, b: number | undefined) =>
        a === undefined || b === undefined ? "" : `${(a / b).toFixed(1)}×`;
      rows.push(
        { format, case: "warm: tooltool.py 1.4.0", seconds: pySeconds, note: "" },
        { format, case: "warm: ours, re-extract (--no-tree-cache)", seconds: extract, note: "" },
        {
          format,
          case: "warm: ours, tree cache",
          seconds: tree,
          note: `${x(pySeconds, tree)} vs tooltool.py, ${x(extract, tree)} vs re-extract`,
        },
        { format, case: "cold: ours, no tree cache", seconds: coldPlain, note: "" },
        {
          format,
          case: "cold: ours, building the tree",
          seconds: coldTree,
          note: coldPlain === undefined || coldTree === undefined
            ? ""
            : `${(((coldTree / coldPlain) - 1) * 100).toFixed(0)}% vs no tree cache`,
        },
        {
          format,
          case: "result compared with tooltool.py's",
          seconds: undefined,
          note: comparison,
        },
      );
    }
  } finally {
    await server.stop();
    await sh(`chmod -R u+w '${root}' && rm -rf '${root}'`, REPO_ROOT).catch(() => {});
  }
  const lines = [
    `Synthetic toolchain, ${totalMb} MB extracted; median of ${RUNS} wall times (s; cold: ${COLD_RUNS}, the two cold cases alternating), local fake server.`,
    "",
    "| format | case | seconds | note |",
    "|---|---|---:|---|",
    ...rows.map((row) =>
      `| ${row.format} | ${row.case} | ${
        row.seconds === undefined ? "" : row.seconds.toFixed(2)
      } | ${row.note} |`
    ),
  ];
  return lines.join("\n");
}

if (import.meta.main) console.log(await benchTrees());

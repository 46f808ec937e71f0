/**
 * Unpacking benchmark: our `unpackArchive` against tooltool.py's `unpack_file` and the
 * system `tar` / `unzip`, side by side on the same ~200 MB tree of ~8,000 files in every
 * format, with wall time and peak RSS of each.
 *
 * Inputs are generated once under `.bench/unpack/` (gitignored): a deterministic tree of
 * mixed compressibility (a third random, a third text-like, a third low-entropy binary;
 * 7,950 small files and 50 of about 2.3 MB, executables and relative links), archived by
 * the system tools. Each run extracts into an emptied directory after a `sync`, so one
 * run's write-back does not land in the next one's time.
 *
 * Ours runs in a subprocess (this file with `--unpack`), so that its RSS is its own:
 * `/usr/bin/time` reports the largest process of the tree (for xz and bzip2 that may be the
 * decompressor child), and the entry prints Deno's own high-water mark from /proc.
 *
 * `deno run -A scripts/bench/unpack.ts [--runs N] [--out DIR] [--formats tar.gz,zip]` prints
 * the table; the median
 * of N runs is shown (default 1: the full set takes a few minutes). `--out /dev/shm/x`
 * extracts into memory, which shows the CPU cost without the disk's.
 *
 * @module
 */

import { exists, PYTHON, REPO_ROOT } from "./common.ts";

const MiB = 1024 * 1024;
const BENCH_DIR = `${REPO_ROOT}.bench/unpack`;
const TREE_VERSION = "v1 8000 files";
const TOOLTOOL_PY_DIR = "/work/ref/client";
/** Per-process names: two benchmark runs at once (two engineers) must not share files. */
const RUN_ID = `${Deno.pid}`;

type Format = "tar" | "tar.gz" | "tar.bz2" | "tar.xz" | "tar.zst" | "zip";
const FORMATS: readonly Format[] = ["tar", "tar.gz", "tar.zst", "tar.xz", "tar.bz2", "zip"];

/** xorshift32: the same tree on every machine. */
function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

/** Pseudo-random bytes from the seeded generator, four at a time. */
function fillRandom(data: Uint8Array, next: () => number): void {
  const words = new Uint32Array(data.buffer, data.byteOffset, data.length >>> 2);
  for (let i = 0; i < words.length; i++) words[i] = next() * 0x100000000;
  for (let i = words.length * 4; i < data.length; i++) data[i] = next() * 256;
}

function fileContent(index: number, size: number, next: () => number): Uint8Array {
  const data = new Uint8Array(size);
  switch (index % 3) {
    case 0:
      fillRandom(data, next);
      break;
    case 1: {
      const words = ["clang", "llvm", "toolchain", "static", "link", "object", "symbol", "\n"];
      const text = new TextEncoder();
      let offset = 0;
      while (offset < size) {
        const word = text.encode(words[Math.floor(next() * words.length)]! + " " + index + " ");
        data.set(word.subarray(0, size - offset), offset);
        offset += word.length;
      }
      break;
    }
    default:
      fillRandom(data, next);
      for (let i = 0; i < size; i++) data[i] = data[i]! & 0x0f;
  }
  return data;
}

/** Generates the tree unless a tree of this version is already there. */
async function ensureTree(): Promise<string> {
  const tree = `${BENCH_DIR}/tree`;
  const stamp = `${BENCH_DIR}/tree.stamp`;
  try {
    if ((await Deno.readTextFile(stamp)) === TREE_VERSION) return tree;
  } catch {
    // No stamp: generate.
  }
  console.error("generating the benchmark tree (once)...");
  const building = `${tree}.tmp-${RUN_ID}`;
  const next = random(42);
  for (let index = 0; index < 8000; index++) {
    const directory = `${building}/payload/dir${index % 40}/sub${index % 7}`;
    if (index < 280) await Deno.mkdir(directory, { recursive: true });
    const size = index % 160 === 0
      ? Math.floor(2 * MiB + next() * 0.6 * MiB)
      : Math.floor(2048 + next() * 18432);
    const path = `${directory}/file${index}.bin`;
    await Deno.writeFile(path, fileContent(index, size, next), {
      mode: index % 10 === 0 ? 0o755 : 0o644,
    });
    if (index % 400 === 0) await Deno.symlink(`file${index}.bin`, `${directory}/link${index}`);
  }
  await Deno.remove(tree, { recursive: true }).catch(() => {});
  try {
    await Deno.rename(building, tree);
  } catch {
    // Another run finished its identical tree first.
    await Deno.remove(building, { recursive: true });
  }
  for (const format of FORMATS) await Deno.remove(archivePath(format)).catch(() => {});
  await Deno.writeTextFile(stamp, TREE_VERSION);
  return tree;
}

function archivePath(format: Format): string {
  return `${BENCH_DIR}/payload.${format}`;
}

async function sh(script: string, cwd: string): Promise<boolean> {
  const { success } = await new Deno.Command("sh", {
    args: ["-c", script],
    cwd,
    stdout: "null",
    stderr: "inherit",
  })
    .output();
  return success;
}

/** Archives the tree with the system tools; `false` when a tool is missing. */
async function ensureArchive(format: Format, tree: string): Promise<boolean> {
  const path = archivePath(format);
  if (await exists(path)) return true;
  console.error(`creating ${path} (once)...`);
  const tarPath = archivePath("tar");
  if (format !== "zip" && !(await exists(tarPath))) {
    if (
      !(await sh(
        `tar -cf "${tarPath}.part-${RUN_ID}" payload && mv "${tarPath}.part-${RUN_ID}" "${tarPath}"`,
        tree,
      ))
    ) return false;
  }
  const commands: Record<Format, string> = {
    "tar": "true",
    "tar.gz": `gzip -6 -c "${tarPath}" > "${path}.part-${RUN_ID}"`,
    "tar.bz2": `bzip2 -9 -c "${tarPath}" > "${path}.part-${RUN_ID}"`,
    "tar.xz": `xz -6 -T2 -c "${tarPath}" > "${path}.part-${RUN_ID}"`,
    "tar.zst": `zstd -q -3 -c "${tarPath}" > "${path}.part-${RUN_ID}"`,
    "zip":
      `zip -q -r -y "${path}.part-${RUN_ID}.zip" payload && mv "${path}.part-${RUN_ID}.zip" "${path}.part-${RUN_ID}"`,
  };
  if (format === "tar") return true;
  if (!(await sh(`${commands[format]} && mv "${path}.part-${RUN_ID}" "${path}"`, tree))) {
    return false;
  }
  return true;
}

interface Measurement {
  readonly seconds: number;
  /** User + system CPU seconds of the whole process tree (less disturbed by other load). */
  readonly cpuSeconds: number | undefined;
  /** Largest process of the run (time's %M), in MiB. */
  readonly rssMiB: number | undefined;
  /** Deno's own high-water mark, for our runs. */
  readonly ownRssMiB?: number | undefined;
}

const haveTime = await exists("/usr/bin/time");

/** Runs a command in an emptied `cwd` and measures it. `undefined` when it failed. */
async function measure(command: string[], cwd: string): Promise<Measurement | undefined> {
  await Deno.remove(cwd, { recursive: true }).catch(() => {});
  await Deno.mkdir(cwd, { recursive: true });
  await new Deno.Command("sync").output().catch(() => {});
  const timeFile = `${BENCH_DIR}/time-${RUN_ID}.out`;
  const argv = haveTime
    ? ["/usr/bin/time", "-f", "%e %M %U %S", "-o", timeFile, ...command]
    : command;
  const start = performance.now();
  const output = await new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    cwd,
    env: { RUST_BACKTRACE: "0" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const wall = (performance.now() - start) / 1000;
  if (!output.success) {
    console.error(
      `${command.join(" ")} failed: ${new TextDecoder().decode(output.stderr).trim().slice(-500)}`,
    );
    return undefined;
  }
  let rssMiB: number | undefined;
  let cpuSeconds: number | undefined;
  let seconds = wall;
  if (haveTime) {
    const [elapsed, kb, user, system] = (await Deno.readTextFile(timeFile)).trim().split("\n").at(
      -1,
    )!
      .split(" ");
    seconds = Number(elapsed);
    rssMiB = Number(kb) / 1024;
    cpuSeconds = Number(user) + Number(system);
  }
  const own = /"ownRssKiB":(\d+)/.exec(new TextDecoder().decode(output.stdout));
  return { seconds, cpuSeconds, rssMiB, ownRssMiB: own ? Number(own[1]) / 1024 : undefined };
}

async function median(runs: number, fn: () => Promise<Measurement | undefined>) {
  const results: Measurement[] = [];
  for (let i = 0; i < runs; i++) {
    const result = await fn();
    if (result === undefined) return undefined;
    results.push(result);
  }
  results.sort((a, b) => a.seconds - b.seconds);
  return results[Math.floor(results.length / 2)];
}

/** Which python3 can run tooltool.py for `format` (zstd needs the zstandard module). */
async function pythonFor(format: Format): Promise<string | undefined> {
  if (!(await exists(`${TOOLTOOL_PY_DIR}/tooltool.py`))) return undefined;
  for (const python of [PYTHON, "/usr/bin/python3"]) {
    const module = format === "tar.zst" ? "zstandard" : "tarfile";
    try {
      const { success } = await new Deno.Command(python, {
        args: ["-c", `import ${module}`],
        stderr: "null",
      })
        .output();
      if (success) return python;
    } catch {
      // Not installed.
    }
  }
  return undefined;
}

const PY_DRIVER = [
  "import sys, logging",
  `sys.path.insert(0, ${JSON.stringify(TOOLTOOL_PY_DIR)})`,
  "import tooltool",
  "logging.basicConfig(level=logging.WARNING)",
  "sys.exit(0 if tooltool.unpack_file(sys.argv[1]) else 1)",
].join("; ");

function formatSeconds(m: Measurement | undefined): string {
  if (m === undefined) return "n/a";
  const cpu = m.cpuSeconds === undefined ? "" : ` (cpu ${m.cpuSeconds.toFixed(2)})`;
  return `${m.seconds.toFixed(2)} s${cpu}`;
}

function formatRss(m: Measurement | undefined): string {
  if (m?.rssMiB === undefined) return "n/a";
  const own = m.ownRssMiB === undefined ? "" : ` (deno ${m.ownRssMiB.toFixed(0)})`;
  return `${m.rssMiB.toFixed(0)}${own}`;
}

function ratio(a: Measurement | undefined, b: Measurement | undefined): string {
  if (a === undefined || b === undefined) return "n/a";
  return `${(a.seconds / b.seconds).toFixed(2)}×`;
}

/** Runs the whole comparison and returns a markdown table. */
export async function benchUnpack(
  options: { runs?: number; out?: string; formats?: readonly string[] } = {},
): Promise<string> {
  const runs = options.runs ?? 1;
  const out = `${options.out ?? `${BENCH_DIR}/out`}-${RUN_ID}`;
  const tree = await ensureTree();
  const self = new URL(import.meta.url).pathname;
  const deno = Deno.execPath();
  const rows: string[] = [
    "| format | archive | ours: wall (cpu) | ours in-process | tooltool.py | system tar/unzip | ours ÷ tooltool.py | ours ÷ system | peak RSS MiB ours | peak RSS MiB tooltool.py |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const format of FORMATS) {
    if (options.formats !== undefined && !options.formats.includes(format)) continue;
    if (!(await ensureArchive(format, tree))) {
      rows.push(`| ${format} | n/a (system tool missing) | | | | | | | | |`);
      continue;
    }
    const archive = archivePath(format);
    const size = (await Deno.stat(archive)).size / MiB;
    const ours = await median(
      runs,
      () => measure([deno, "run", "-A", self, "--unpack", archive, "."], out),
    );
    const external = format === "tar.xz" || format === "tar.bz2";
    const inProcess = external
      ? await median(
        runs,
        () => measure([deno, "run", "-A", self, "--unpack", archive, ".", "--in-process"], out),
      )
      : ours;
    const python = await pythonFor(format);
    const py = python === undefined
      ? undefined
      : await median(runs, () => measure([python, "-c", PY_DRIVER, archive], out));
    const system = await median(
      runs,
      () => measure(format === "zip" ? ["unzip", "-q", archive] : ["tar", "-xf", archive], out),
    );
    await Deno.remove(out, { recursive: true }).catch(() => {});
    await Deno.remove(`${BENCH_DIR}/time-${RUN_ID}.out`).catch(() => {});
    rows.push(
      `| ${format} | ${size.toFixed(0)} MiB | ${formatSeconds(ours)} | ${
        external ? formatSeconds(inProcess) : "(same)"
      } | ${formatSeconds(py)} | ${formatSeconds(system)} | ${ratio(ours, py)} | ${
        ratio(ours, system)
      } | ${formatRss(ours)}${external ? ` / in-process ${formatRss(inProcess)}` : ""} | ${
        formatRss(py)
      } |`,
    );
    console.error(rows.at(-1));
  }
  const tarSize = (await Deno.stat(archivePath("tar"))).size / MiB;
  return [
    `Tree: 8,000 files (+20 links), ${
      tarSize.toFixed(0)
    } MiB as tar; median of ${runs} run(s) by wall time; ` +
    "cpu = user + system seconds of the process tree; ratios are of wall times; " +
    `${Deno.build.os} ${Deno.build.arch}, ${navigator.hardwareConcurrency} cores; extracted into ${out}.`,
    "",
    ...rows,
  ].join("\n");
}

/** The subprocess entry: unpacks one archive and prints the result and Deno's own peak RSS. */
async function unpackEntry(archive: string, workDir: string, inProcess: boolean): Promise<void> {
  const { unpackArchive } = await import("../../src/archive/unpack.ts");
  const result = await unpackArchive(archive, workDir, { preferExternalTools: !inProcess });
  let ownRssKiB: number | undefined;
  try {
    const status = await Deno.readTextFile("/proc/self/status");
    ownRssKiB = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]);
  } catch {
    // Not Linux.
  }
  console.log(JSON.stringify({ ...result, ownRssKiB }));
}

if (import.meta.main) {
  if (Deno.args[0] === "--unpack") {
    await unpackEntry(Deno.args[1]!, Deno.args[2]!, Deno.args.includes("--in-process"));
  } else {
    const option = (name: string) => {
      const index = Deno.args.indexOf(name);
      return index >= 0 ? Deno.args[index + 1] : undefined;
    };
    const out = option("--out");
    const formats = option("--formats")?.split(",");
    console.log(
      await benchUnpack({
        runs: Number(option("--runs") ?? 1),
        ...(out ? { out } : {}),
        ...(formats ? { formats } : {}),
      }),
    );
  }
}

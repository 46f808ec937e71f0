/**
 * Workloads benchmark (issue 12): every scenario a CI job meets, for this tool, tooltool.py
 * 1.4.0 and the floor (the cheapest way to do the same job with plain tools: one parallel
 * `curl -Z`, then hashlib on a thread per core, and `os.link` for the cache; see
 * `floor.py`), side by side in one run, from the same fake server in its own process. Its
 * signed download URLs point at a real nginx serving the blobs with `sendfile`, as an object
 * store's CPU is not the client's (`--storage fake` keeps them on the fake server's listener).
 *
 * Workloads: big (2 × 400 MiB + 4 × 50 MiB) and small (200 × 100 KiB). Scenarios:
 *
 * - fetch-cold: empty cache, empty folder;
 * - fetch-warm: full cache, folder emptied (a CI worker's clean checkout);
 * - rerun: fetch again right after the warm one (files the client itself placed);
 * - noop: every file already present but never seen (fresh copies, fresh cache);
 * - validate / add: the present files checked against / hashed into a manifest.
 *
 * `sync` runs before each timed run, so nobody pays for the previous run's write-back. Each
 * cell is the median of `RUNS` runs; clients alternate which goes first. `--busy` keeps one
 * core busy (`sha512sum` of a 256 MiB file in a loop pinned with `taskset` to CPU 0) while
 * measuring. `--touch-memory` has a child process write to (and free) three times as much
 * memory as the workload's files before each cold fetch: on a VM whose host takes freed
 * memory back, the page cache's first write to such memory costs the host's page faults,
 * which swing a 1 GB cold fetch between 1.2 and 3.4 s for whichever client meets them
 * (docs/performance.md); touched first, every client gets memory the guest already holds.
 *
 * `deno run -A scripts/bench/workloads.ts [big] [small] [--busy] [--touch-memory]
 * [--storage nginx|fake]` or `deno task bench workloads [--busy] [--touch-memory]
 * [--storage=fake]`.
 *
 * @module
 */

import { join } from "node:path";
import {
  ensureFile,
  hasPython,
  measure,
  type Measured,
  median,
  PYTHON,
  REPO_ROOT,
  toolArgs,
  TOOLTOOL_PY,
} from "./common.ts";
import { seedStorage } from "./fetch.ts";
import { startServer } from "./common.ts";
import { findNginx, type Nginx, startNginx } from "../../test/helpers/nginx.ts";

const MiB = 1024 * 1024;
const KiB = 1024;
const FLOOR = `${REPO_ROOT}scripts/bench/floor.py`;
const RUNS = Number(Deno.env.get("BENCH_RUNS") ?? 3);

const SCENARIOS = ["fetch-cold", "fetch-warm", "rerun", "noop", "validate", "add"] as const;
type Scenario = typeof SCENARIOS[number];

interface Workload {
  readonly name: string;
  readonly files: readonly { readonly path: string; readonly size: number }[];
}

async function workloads(chosen: readonly string[]): Promise<Workload[]> {
  const list: Workload[] = [];
  if (chosen.includes("big")) {
    const dir = `${REPO_ROOT}.bench/files`;
    await Deno.mkdir(dir, { recursive: true });
    const sizes = [400, 400, 50, 50, 50, 50];
    const names = ["big1", "big2", "mid1", "mid2", "mid3", "mid4"];
    const files = names.map((name, index) => ({
      path: join(dir, name),
      size: (sizes[index] ?? 0) * MiB,
    }));
    for (const file of files) await ensureFile(file.path, file.size);
    list.push({ name: "big", files });
  }
  if (chosen.includes("small")) {
    const dir = `${REPO_ROOT}.bench/small-files`;
    await Deno.mkdir(dir, { recursive: true });
    const files = [];
    for (let index = 0; index < 200; index++) {
      const path = join(dir, `small${String(index).padStart(3, "0")}.bin`);
      await ensureFile(path, 100 * KiB + index);
      files.push({ path, size: 100 * KiB + index });
    }
    list.push({ name: "small", files });
  }
  return list;
}

/** Where one client works: its folder, cache and the server's URL. */
interface Place {
  readonly url: string;
  readonly work: string;
  readonly cache: string;
  readonly manifest: string;
  readonly filenames: readonly string[];
}

/** A client: the command of each scenario (run in `place.work`). */
interface Client {
  readonly name: string;
  command(scenario: Scenario, place: Place): [string, string[]];
}

function ours(): Client {
  return {
    name: "ours",
    command(scenario, place) {
      const fetch = ["--url", place.url, "fetch", "-c", place.cache];
      const args = scenario === "validate"
        ? ["validate"]
        : scenario === "add"
        ? ["-m", "added.tt", "add", ...place.filenames]
        : fetch;
      return toolArgs(args);
    },
  };
}

function tooltoolPy(): Client {
  return {
    name: "tooltool.py",
    command(scenario, place) {
      const args = scenario === "validate"
        ? ["validate"]
        : scenario === "add"
        ? ["-m", "added.tt", "add", ...place.filenames]
        : ["--url", place.url, "fetch", "-c", place.cache];
      return [PYTHON, [TOOLTOOL_PY, ...args]];
    },
  };
}

function floor(): Client {
  return {
    name: "floor",
    command(scenario, place) {
      switch (scenario) {
        case "fetch-cold":
          return [PYTHON, [FLOOR, "fetch", place.manifest, place.url, ".", place.cache]];
        case "fetch-warm":
          return [PYTHON, [FLOOR, "link", place.manifest, place.cache, "."]];
        case "rerun":
          return [PYTHON, [FLOOR, "stat", place.manifest, "."]];
        default:
          return [PYTHON, [FLOOR, "verify", place.manifest, "."]];
      }
    },
  };
}

/**
 * Writes one byte per page of three times as much memory as the workload's files, plus 256
 * MiB, in a child that then exits, so that the guest holds that memory (free, but backed by
 * the host) when the timed run's page cache asks for it. Once the workload's size was not
 * enough: the page cache does not take exactly the pages just freed, and the cold fetches
 * still met the host's faults (1 GB big workload: 2.0 s against 1.25 s with three times).
 */
async function touchMemoryFor(workload: Workload): Promise<void> {
  const bytes = 3 * workload.files.reduce((sum, file) => sum + file.size, 0) + 256 * MiB;
  const { success } = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `const b = new Uint8Array(${bytes}); for (let i = 0; i < b.length; i += 4096) b[i] = 1;`,
    ],
    stdout: "null",
    stderr: "null",
  }).output();
  if (!success) throw new Error(`--touch-memory: could not touch ${bytes} bytes`);
}

function sync(): Promise<unknown> {
  return new Deno.Command("sync").output();
}

async function emptyFolder(dir: string, keep: string): Promise<void> {
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name !== keep) await Deno.remove(join(dir, entry.name), { recursive: true });
  }
}

async function copyFiles(workload: Workload, dir: string): Promise<void> {
  for (const file of workload.files) {
    await Deno.copyFile(file.path, join(dir, file.path.split("/").pop() ?? ""));
  }
}

type Results = Map<string, Measured[]>;

const key = (client: string, scenario: Scenario) => `${client}\0${scenario}`;

/** One round: every scenario in order for one client, on a fresh folder and cache. */
async function round(
  client: Client,
  workload: Workload,
  url: string,
  manifestText: string,
  root: string,
  results: Results,
  touchMemory: boolean,
): Promise<void> {
  const work = join(root, "work");
  const cache = join(root, "cache");
  await Deno.remove(work, { recursive: true }).catch(() => {});
  await Deno.remove(cache, { recursive: true }).catch(() => {});
  await Deno.mkdir(work);
  await Deno.mkdir(cache);
  const manifest = join(work, "manifest.tt");
  await Deno.writeTextFile(manifest, manifestText);
  const place: Place = {
    url,
    work,
    cache,
    manifest,
    filenames: workload.files.map((file) => file.path.split("/").pop() ?? ""),
  };
  for (const scenario of SCENARIOS) {
    if (scenario === "fetch-warm") await emptyFolder(work, "manifest.tt");
    if (scenario === "noop") {
      // Present but never seen: fresh copies, and a cache that has no record of them.
      await emptyFolder(work, "manifest.tt");
      await Deno.remove(cache, { recursive: true });
      await Deno.mkdir(cache);
      await copyFiles(workload, work);
    }
    if (scenario === "validate" || scenario === "add") {
      await emptyFolder(work, "manifest.tt");
      await copyFiles(workload, work);
    }
    await sync();
    // Last before the run, after the sync: memory touched earlier has the sync's write-back
    // time to be taken back by the host again.
    if (touchMemory && scenario === "fetch-cold") await touchMemoryFor(workload);
    const [command, args] = client.command(scenario, place);
    const result = await measure(command, args, work);
    if (result.code !== 0) {
      console.error(
        `${client.name} ${workload.name} ${scenario} failed:\n${result.stderr.slice(-1500)}`,
      );
    }
    const list = results.get(key(client.name, scenario)) ?? [];
    list.push(result);
    results.set(key(client.name, scenario), list);
  }
}

/** Where downloads come from: the fake server's own storage listener, or an nginx. */
type Storage =
  | { readonly kind: "fake"; readonly description: string }
  | { readonly kind: "nginx"; readonly description: string; readonly binary: string };

async function runWorkload(
  workload: Workload,
  clients: Client[],
  root: string,
  storage: Storage,
  touchMemory: boolean,
) {
  const serverDir = await Deno.makeTempDir({ dir: root, prefix: "server-" });
  const records = await seedStorage(join(serverDir, "storage"), workload.files);
  let nginx: Nginx | undefined;
  if (storage.kind === "nginx") {
    // nginx serves <root>/sha512/<digest>; the blobs are <storage>/<digest>.
    const webRoot = join(serverDir, "web");
    await Deno.mkdir(webRoot);
    await Deno.symlink(join(serverDir, "storage"), join(webRoot, "sha512"));
    nginx = await startNginx(storage.binary, webRoot);
  }
  const server = await startServer(
    serverDir,
    nginx === undefined ? [] : ["--download-origin", nginx.url],
  ).catch(async (error) => {
    await nginx?.close();
    throw error;
  });
  const results: Results = new Map();
  try {
    const manifestText = JSON.stringify(records, null, 2);
    for (let run = 0; run < RUNS; run++) {
      const order = run % 2 === 0 ? clients : [...clients].reverse();
      for (const client of order) {
        await round(client, workload, server.url, manifestText, root, results, touchMemory);
      }
    }
  } finally {
    await server.stop();
    await nginx?.close();
    await Deno.remove(serverDir, { recursive: true }).catch(() => {});
  }
  return results;
}

/** A `sha512sum` loop pinned to CPU 0, for the one-core-busy table; stop() ends it. */
function busyCore(file: string): { stop(): Promise<void> } {
  const child = new Deno.Command("taskset", {
    args: ["-c", "0", "sh", "-c", `while :; do sha512sum '${file}' >/dev/null; done`],
    stdout: "null",
    stderr: "null",
  }).spawn();
  return {
    async stop() {
      child.kill("SIGKILL");
      await child.status;
      // The loop's last sha512sum outlives the shell; it ends within a second.
      await new Deno.Command("pkill", { args: ["-f", `sha512sum ${file}`] }).output().catch(
        () => {},
      );
    },
  };
}

function table(workload: string, results: Results, clients: readonly Client[]): string[] {
  const cell = (client: string, scenario: Scenario) => {
    const runs = results.get(key(client, scenario)) ?? [];
    return {
      seconds: median(runs.map((run) => run.seconds)),
      ok: runs.length > 0 && runs.every((run) => run.code === 0),
      rss: Math.max(0, ...runs.map((run) => run.peakRss ?? 0)),
    };
  };
  const names = clients.map((client) => client.name);
  return SCENARIOS.map((scenario) => {
    const py = cell("tooltool.py", scenario);
    const fl = cell("floor", scenario);
    const us = cell("ours", scenario);
    const show = (value: { seconds: number; ok: boolean }, present: boolean) =>
      !present ? "" : `${value.seconds.toFixed(3)}${value.ok ? "" : " (FAILED)"}`;
    const ratio = (a: number, b: number) => Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : "";
    return `| ${workload} | ${scenario} | ${show(py, names.includes("tooltool.py"))} | ${
      show(fl, true)
    } | ${show(us, true)} | ${ratio(py.seconds, us.seconds)} | ${ratio(us.seconds, fl.seconds)} | ${
      (us.rss / MiB).toFixed(0)
    } |`;
  });
}

/**
 * The cold fetch's client CPU, user+sys and sys: on a VM whose host takes back freed memory
 * (virtio balloon), writing a GiB into the page cache costs from 0.2 to 1.7 s of sys time
 * from one run to the next, which moves the wall time too (docs/performance.md).
 */
function cpuLine(workload: string, results: Results, clients: readonly Client[]): string {
  const cells = clients.map((client) => {
    const runs = results.get(key(client.name, "fetch-cold")) ?? [];
    const cpu = median(runs.map((run) => run.cpuSeconds ?? Number.NaN));
    const sys = median(runs.map((run) => run.systemSeconds ?? Number.NaN));
    return `${client.name} ${cpu.toFixed(2)} (sys ${sys.toFixed(2)})`;
  });
  return `- ${workload}: ${cells.join(", ")}`;
}

async function startup(): Promise<string[]> {
  const oneManifest = `${REPO_ROOT}.bench/startup-manifest.tt`;
  await Deno.writeTextFile(
    oneManifest,
    JSON.stringify([{ filename: "a.bin", size: 1, algorithm: "sha512", digest: "0".repeat(128) }]),
  );
  const timeOf = async (args: string[]) => {
    const values: number[] = [];
    for (let i = 0; i < 11; i++) {
      const [command, full] = toolArgs(args);
      values.push((await measure(command, full, REPO_ROOT)).seconds);
    }
    return median(values) * 1000;
  };
  const schema = await timeOf(["validate", "--schema-only", oneManifest]);
  const version = await timeOf(["version"]);
  const help = await timeOf(["--help"]);
  return [
    `| start-up | validate --schema-only | | | ${schema.toFixed(0)} ms | | | |`,
    `| start-up | version | | | ${version.toFixed(0)} ms | | | |`,
    `| start-up | --help (loads commander) | | | ${help.toFixed(0)} ms | | | |`,
  ];
}

/**
 * nginx by default when it is installed: production's downloads come from an object store
 * whose CPU is not on the client's machine, and nginx's `sendfile` is the closest a loopback
 * server gets to that. The fake server's own storage listener (`--storage fake`) spends a
 * core's worth of JS copying the bytes, on the same two cores the clients are measured on.
 */
async function chooseStorage(requested: string | undefined): Promise<Storage> {
  if (requested !== undefined && requested !== "nginx" && requested !== "fake") {
    throw new Error(`--storage ${requested}: expected nginx or fake`);
  }
  if (requested === "fake") return { kind: "fake", description: "the fake server's storage" };
  const probe = await findNginx();
  if (probe.ok) {
    return {
      kind: "nginx",
      description: `nginx (${probe.binary}, sendfile)`,
      binary: probe.binary,
    };
  }
  if (requested === "nginx") throw new Error(`--storage nginx: ${probe.reason}`);
  console.error(`nginx not found (${probe.reason}): downloads come from the fake server`);
  return { kind: "fake", description: "the fake server's storage (nginx not found)" };
}

/** Runs the benchmark and returns its markdown table. */
export async function benchWorkloads(args: readonly string[] = []): Promise<string> {
  // `--storage=fake` through `deno task bench`, which passes on only the `--` arguments.
  const storageFlag = args.indexOf("--storage");
  const storageArg = storageFlag >= 0
    ? args[storageFlag + 1]
    : args.find((arg) => arg.startsWith("--storage="))?.slice("--storage=".length);
  const chosen = args.filter((arg, index) =>
    !arg.startsWith("--") && (storageFlag < 0 || index !== storageFlag + 1)
  );
  const busy = args.includes("--busy");
  const touchMemory = args.includes("--touch-memory");
  const storage = await chooseStorage(storageArg);
  const sets = await workloads(chosen.length > 0 ? chosen : ["big", "small"]);
  const python = await Deno.stat(TOOLTOOL_PY).then(() => hasPython(), () => false);
  const clients = [ours(), floor(), ...(python ? [tooltoolPy()] : [])];
  const root = `${REPO_ROOT}.bench/workloads`;
  await Deno.remove(root, { recursive: true }).catch(() => {});
  await Deno.mkdir(root, { recursive: true });
  // Always the same load, whichever workloads run: hashing one small file in a loop would
  // be a fork-and-exec storm (kernel work on that core), not a busy core.
  let burnFile = "";
  if (busy) {
    burnFile = `${REPO_ROOT}.bench/burn-256m`;
    await ensureFile(burnFile, 256 * MiB);
  }
  const burner = busy ? busyCore(burnFile) : undefined;
  const rows: string[] = [];
  const coldCpu: string[] = [];
  try {
    for (const workload of sets) {
      const results = await runWorkload(workload, clients, root, storage, touchMemory);
      rows.push(...table(workload.name, results, clients));
      coldCpu.push(cpuLine(workload.name, results, clients));
    }
    rows.push(...await startup());
  } finally {
    await burner?.stop();
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
  const cpus = navigator.hardwareConcurrency ?? "?";
  return [
    `Medians of ${RUNS} runs, \`sync\` before each, ${cpus} CPUs${
      busy ? ", one core kept busy by a pinned sha512sum loop over a 256 MiB file" : ""
    }${
      touchMemory ? ", memory touched before each cold fetch (--touch-memory)" : ""
    }; downloads served by ${storage.description}; Python: ${PYTHON}. Ratios: tooltool.py / ours (above 1: we are faster), ours / floor (1 is the floor).`,
    "",
    "| workload | scenario | tooltool.py (s) | floor (s) | ours (s) | ours vs tooltool.py | ours vs floor | ours peak RSS (MiB) |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ...rows,
    ...(python ? [] : ["", `tooltool.py not measured: ${TOOLTOOL_PY} or python3 is missing`]),
    "",
    "CPU seconds of the cold fetches (median user+sys, of which sys), client only; the server's are not counted:",
    "",
    ...coldCpu,
  ].join("\n");
}

if (import.meta.main) console.log(await benchWorkloads(Deno.args));

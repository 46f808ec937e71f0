/**
 * Fetch benchmark: this tool against tooltool.py 1.4.0 (run with python3 from where it is,
 * when at hand), side by side in one run, from the same fake server (`scripts/serve.ts` in
 * its own process) with the same files:
 *
 * - big: 1 GiB in 6 files (2 × 400 MiB, 4 × 50 MiB; `.bench/files/`);
 * - small: 200 files of 100 KiB;
 * - huge: one 4 GiB file (this tool only: the point is its memory, which must not grow
 *   with the file).
 *
 * The server's storage folder is seeded on disk (each file hard-linked under its digest,
 * with its record), so no upload is timed or needed. Scenarios, each client with its own
 * cache folder, in this order, the clients alternating which goes first: cold (empty cache
 * and folder), warm (cache full, folder empty: the files deleted, as a CI worker's clean
 * checkout), no-op (every file already present). Wall time and peak RSS of the client (`/usr/bin/time -v`,
 * else `/proc/<pid>/status` VmHWM). Inputs live under `.bench/` (gitignored).
 *
 * `deno run -A scripts/bench/fetch.ts [big] [small] [huge]` or `deno task bench fetch`;
 * prints a markdown table.
 *
 * @module
 */

import { join } from "node:path";
import { hashFile } from "../../src/digest.ts";
import {
  ensureFile,
  hasPython,
  measure,
  type Measured,
  PYTHON,
  REPO_ROOT,
  startServer,
  toolArgs,
  TOOLTOOL_PY,
} from "./common.ts";

const MiB = 1024 * 1024;
const KiB = 1024;
const RUNS = 3;

interface Dataset {
  readonly name: string;
  readonly files: readonly { readonly path: string; readonly size: number }[];
  /** Whether tooltool.py runs on it too. */
  readonly withPeer: boolean;
}

async function datasets(chosen: readonly string[]): Promise<Dataset[]> {
  const dir = `${REPO_ROOT}.bench/files`;
  await Deno.mkdir(dir, { recursive: true });
  const sets: Dataset[] = [];
  if (chosen.includes("big")) {
    const big = [
      ["big1", 400 * MiB],
      ["big2", 400 * MiB],
      ["mid1", 50 * MiB],
      ["mid2", 50 * MiB],
      ["mid3", 50 * MiB],
      ["mid4", 50 * MiB],
    ] as const;
    for (const [name, size] of big) await ensureFile(join(dir, name), size);
    sets.push({
      name: "big (6 files, 1 GiB)",
      files: big.map(([name, size]) => ({ path: join(dir, name), size })),
      withPeer: true,
    });
  }
  if (chosen.includes("small")) {
    const smallDir = `${REPO_ROOT}.bench/small-files`;
    await Deno.mkdir(smallDir, { recursive: true });
    const files = [];
    for (let index = 0; index < 200; index++) {
      const path = join(smallDir, `small${String(index).padStart(3, "0")}.bin`);
      await ensureFile(path, 100 * KiB + index);
      files.push({ path, size: 100 * KiB + index });
    }
    sets.push({ name: "small (200 × 100 KiB)", files, withPeer: true });
  }
  if (chosen.includes("huge")) {
    const path = join(dir, "huge4g");
    await ensureFile(path, 4 * 1024 * MiB);
    sets.push({
      name: "huge (1 file, 4 GiB)",
      files: [{ path, size: 4 * 1024 * MiB }],
      withPeer: false,
    });
  }
  return sets;
}

/**
 * Puts the dataset's files in a server storage folder, as the fake server keeps them (a blob
 * named by digest, hard-linked rather than copied, and its `<digest>.json` record), so the
 * server serves them from its first request. Returns the manifest records.
 */
export async function seedStorage(
  storage: string,
  files: readonly { readonly path: string }[],
) {
  await Deno.mkdir(storage, { recursive: true });
  const records = [];
  for (const file of files) {
    const { digest, size } = await hashFile(file.path);
    await Deno.link(file.path, join(storage, digest)).catch((error) => {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    });
    const record = { digest, size, visibility: "public", instances: ["us-east-1"] };
    await Deno.writeTextFile(join(storage, `${digest}.json`), JSON.stringify(record));
    records.push({ filename: file.path.split("/").pop(), size, algorithm: "sha512", digest });
  }
  return records;
}

interface Client {
  readonly name: string;
  readonly peer: boolean;
  run(url: string, cache: string, cwd: string): Promise<Measured>;
}

function clients(python: boolean): Client[] {
  const [deno, prefix] = toolArgs([]);
  const list: Client[] = [{
    name: "tooltool (this)",
    peer: false,
    run: (url, cache, cwd) => measure(deno, [...prefix, "--url", url, "fetch", "-c", cache], cwd),
  }];
  if (python) {
    list.push({
      name: "tooltool.py 1.4.0",
      peer: true,
      run: (url, cache, cwd) =>
        measure(PYTHON, [TOOLTOOL_PY, "--url", url, "fetch", "-c", cache], cwd),
    });
  }
  return list;
}

const SCENARIOS = ["cold", "warm", "no-op"] as const;
type Scenario = typeof SCENARIOS[number];

interface Row {
  readonly dataset: string;
  readonly client: string;
  readonly scenario: Scenario;
  readonly runs: Measured[];
}

/** Empties a folder but for its manifest. */
async function emptyFolder(dir: string): Promise<void> {
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name !== "manifest.tt") await Deno.remove(join(dir, entry.name), { recursive: true });
  }
}

async function runDataset(dataset: Dataset, available: Client[], root: string): Promise<Row[]> {
  const serverDir = await Deno.makeTempDir({ dir: root, prefix: "server-" });
  const records = await seedStorage(join(serverDir, "storage"), dataset.files);
  const server = await startServer(serverDir);
  const rows: Row[] = [];
  try {
    const manifest = JSON.stringify(records, null, 2);
    const participants = available.filter((client) => !client.peer || dataset.withPeer);
    for (const client of participants) {
      for (const scenario of SCENARIOS) {
        rows.push({ dataset: dataset.name, client: client.name, scenario, runs: [] });
      }
    }
    for (let run = 0; run < RUNS; run++) {
      // Alternate which client goes first, so neither always gets the warmer page cache.
      const order = run % 2 === 0 ? participants : [...participants].reverse();
      for (const client of order) {
        const work = join(root, "work");
        const cache = join(root, "cache");
        await Deno.remove(work, { recursive: true }).catch(() => {});
        await Deno.remove(cache, { recursive: true }).catch(() => {});
        await Deno.mkdir(work);
        await Deno.writeTextFile(join(work, "manifest.tt"), manifest);
        for (const scenario of SCENARIOS) {
          if (scenario === "warm") await emptyFolder(work);
          const result = await client.run(server.url, cache, work);
          if (result.code !== 0) {
            const errors = result.stderr.split("\n").filter((line) =>
              /^(error|hint|warning):/.test(line)
            );
            console.error(
              `${client.name} ${scenario} failed:\n${
                errors.join("\n") || result.stderr.slice(-2000)
              }`,
            );
          }
          rows.find((row) => row.client === client.name && row.scenario === scenario)?.runs.push(
            result,
          );
        }
      }
    }
    await Deno.remove(join(root, "work"), { recursive: true }).catch(() => {});
    await Deno.remove(join(root, "cache"), { recursive: true }).catch(() => {});
  } finally {
    await server.stop();
    await Deno.remove(serverDir, { recursive: true }).catch(() => {});
  }
  return rows;
}

function best(row: Row | undefined): number {
  return Math.min(...(row?.runs ?? []).map((run) => run.seconds));
}

function format(rows: readonly Row[]): string[] {
  return rows.map((row) => {
    const ok = row.runs.every((run) => run.code === 0);
    const times = row.runs.map((run) => run.seconds.toFixed(2)).join(", ");
    const rss = Math.max(...row.runs.map((run) => run.peakRss ?? 0));
    const peer = rows.find((other) =>
      other.dataset === row.dataset && other.scenario === row.scenario && other !== row &&
      other.client.startsWith("tooltool.py")
    );
    const speedup = row.client.startsWith("tooltool (") && peer !== undefined
      ? `${(best(peer) / best(row)).toFixed(1)}×`
      : "";
    return `| ${row.dataset} | ${row.scenario} | ${row.client} | ${times} | ${
      best(row).toFixed(2)
    } | ${speedup} | ${rss ? (rss / MiB).toFixed(0) : "?"} | ${ok ? "ok" : "FAILED"} |`;
  });
}

/** Runs the benchmark (`which`: datasets among big, small, huge) and returns a markdown table. */
export async function benchFetch(
  which: readonly string[] = ["big", "small", "huge"],
): Promise<string> {
  const sets = await datasets(which);
  const python = await Deno.stat(TOOLTOOL_PY).then(() => hasPython(), () => false);
  const available = clients(python);
  const root = `${REPO_ROOT}.bench/fetch`;
  await Deno.remove(root, { recursive: true }).catch(() => {});
  await Deno.mkdir(root, { recursive: true });
  const rows: Row[] = [];
  try {
    for (const dataset of sets) rows.push(...await runDataset(dataset, available, root));
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
  const cpus = navigator.hardwareConcurrency ?? "?";
  return [
    `Fetch from the local fake server (own process), each client with its own cache folder; ` +
    `${RUNS} runs each, alternating; ${cpus} CPUs. cold: empty cache and folder; warm: cache ` +
    `full, folder emptied; no-op: every file present. Speed-up: tooltool.py's best / ours.`,
    "",
    "| files | scenario | client | runs (s) | best (s) | speed-up | peak RSS (MiB) | result |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ...format(rows),
    ...(python ? [] : ["", `tooltool.py not measured: ${TOOLTOOL_PY} or python3 is missing`]),
  ].join("\n");
}

if (import.meta.main) {
  const which = Deno.args.length > 0 ? Deno.args : ["big", "small", "huge"];
  console.log(await benchFetch(which));
}

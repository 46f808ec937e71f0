/**
 * Upload benchmark: 1 GiB in 6 files (2 × 400 MiB, 4 × 50 MiB, under `.bench/files/`) sent
 * to the fake server (`scripts/serve.ts`, in its own process, a fresh storage folder per
 * run), by this tool and by tooltool.py (run from where it is, when at hand), side by side
 * in one run. Each upload includes checking the files, the PUTs, and the server's 409 wait
 * (upload URLs live 2 s here, 60 s in production, so the transfer dominates). Wall time
 * and peak RSS (`/usr/bin/time -v`, else `/proc/<pid>/status` VmHWM) of the client only.
 *
 * `deno run -A scripts/bench/upload.ts` or `deno task bench upload`; prints a markdown table.
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
const FILES: readonly [string, number][] = [
  ["big1", 400 * MiB],
  ["big2", 400 * MiB],
  ["mid1", 50 * MiB],
  ["mid2", 50 * MiB],
  ["mid3", 50 * MiB],
  ["mid4", 50 * MiB],
];
const TOTAL = FILES.reduce((sum, [, size]) => sum + size, 0);
const UPLOAD_EXPIRES_SECONDS = 2;
const RUNS = 2;
const CLIENT = { clientId: "bench", accessToken: "bench-token" };

/** Where the inputs are: the given files, made if missing, hard-linked into a work dir. */
async function prepareWorkspace(): Promise<string> {
  const source = `${REPO_ROOT}.bench/files`;
  const work = `${REPO_ROOT}.bench/upload-work`;
  await Deno.mkdir(source, { recursive: true });
  await Deno.remove(work, { recursive: true }).catch(() => {});
  await Deno.mkdir(work, { recursive: true });
  const records = [];
  for (const [name, size] of FILES) {
    await ensureFile(join(source, name), size);
    await Deno.link(join(source, name), join(work, name));
    const { digest } = await hashFile(join(work, name));
    records.push({ filename: name, size, algorithm: "sha512", digest, visibility: "internal" });
  }
  await Deno.writeTextFile(join(work, "manifest.tt"), JSON.stringify(records, null, 2));
  await Deno.writeTextFile(join(work, "auth.json"), JSON.stringify(CLIENT));
  return work;
}

/** A fake server in its own process with a fresh storage folder; stop it when done. */
async function startUploadServer(): Promise<{ url: string; stop(): Promise<void> }> {
  const dir = await Deno.makeTempDir({ dir: `${REPO_ROOT}.bench`, prefix: "upload-server-" });
  const clients = join(dir, "clients.json");
  await Deno.writeTextFile(
    clients,
    JSON.stringify({
      [CLIENT.clientId]: {
        accessToken: CLIENT.accessToken,
        scopes: ["project:releng:services/tooltool/api/*"],
      },
    }),
  );
  const server = await startServer(dir, [
    "--clients",
    clients,
    "--upload-expires",
    String(UPLOAD_EXPIRES_SECONDS),
  ]);
  return {
    url: server.url,
    async stop() {
      await server.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

interface Row {
  readonly client: string;
  readonly scenario: string;
  readonly runs: Measured[];
}

function summarize(row: Row): string {
  const ok = row.runs.every((run) => run.code === 0);
  const times = row.runs.map((run) => run.seconds).sort((a, b) => a - b);
  const best = times[0] ?? Number.NaN;
  const rss = Math.max(...row.runs.map((run) => run.peakRss ?? 0));
  const rate = row.scenario.startsWith("new") ? `${(TOTAL / MiB / best).toFixed(0)} MiB/s` : "–";
  const cpu = row.runs.map((run) => run.cpuSeconds).filter((value) => value !== undefined);
  const cpuText = cpu.length === 0 ? "?" : Math.min(...cpu).toFixed(2);
  return `| ${row.client} | ${row.scenario} | ${times.map((t) => t.toFixed(2)).join(", ")} | ${
    best.toFixed(2)
  } | ${rate} | ${cpuText} | ${rss ? (rss / MiB).toFixed(0) : "?"} | ${ok ? "ok" : "FAILED"} |`;
}

/** Runs the benchmark and returns a markdown table. */
export async function benchUpload(): Promise<string> {
  const work = await prepareWorkspace();
  const [deno, denoPrefix] = toolArgs([]);
  const clients: { name: string; run(url: string): Promise<Measured> }[] = [{
    name: "tooltool (this)",
    run: (url) =>
      measure(deno, [
        ...denoPrefix,
        "--url",
        url,
        "upload",
        "--message",
        "Bug 1 - bench",
        "--authentication-file",
        "auth.json",
      ], work),
  }];
  const python = await Deno.stat(TOOLTOOL_PY).then(() => hasPython(), () => false);
  if (python) {
    clients.push({
      name: "tooltool.py 1.4.0",
      run: (url) =>
        measure(PYTHON, [
          TOOLTOOL_PY,
          "--url",
          url,
          "--message",
          "Bug 1 - bench",
          "--authentication-file",
          "auth.json",
          "upload",
        ], work),
    });
  }
  const rows: Row[] = [];
  for (const client of clients) {
    rows.push({ client: client.name, scenario: "new files", runs: [] });
    rows.push({ client: client.name, scenario: "again (all on the server)", runs: [] });
  }
  // Alternate the clients, so neither always gets the warmer page cache.
  for (let run = 0; run < RUNS; run++) {
    for (const [index, client] of clients.entries()) {
      const server = await startUploadServer();
      try {
        const fresh = await client.run(server.url);
        const again = await client.run(server.url);
        for (const [offset, result] of [[0, fresh], [1, again]] as const) {
          if (result.code !== 0) {
            console.error(`${client.name} failed:\n${result.stderr.slice(-2000)}`);
          }
          rows[index * 2 + offset]!.runs.push(result);
        }
      } finally {
        await server.stop();
      }
    }
  }
  await Deno.remove(work, { recursive: true }).catch(() => {});
  const cpus = navigator.hardwareConcurrency ?? "?";
  return [
    `Upload of ${FILES.length} files, ${(TOTAL / MiB).toFixed(0)} MiB, to the local fake ` +
    `server (separate process, fresh storage per run, upload URLs valid ${UPLOAD_EXPIRES_SECONDS} s); ` +
    `${cpus} CPUs; wall time includes checking the files, the 409 wait and the server's ` +
    "verification, so it mostly measures the fake server; client CPU is the client's own cost.",
    "",
    "| client | scenario | runs (s) | best (s) | throughput | client CPU (s) | peak RSS (MiB) | result |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ...rows.map(summarize),
    ...(python ? [] : ["", `tooltool.py not measured: ${TOOLTOOL_PY} or python3 is missing`]),
  ].join("\n");
}

if (import.meta.main) console.log(await benchUpload());

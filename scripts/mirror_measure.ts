/**
 * Measures what a fleet mirror saves: 6 concurrent fetches of one manifest straight from
 * the (fake) ToolTool service, then the same through a real nginx mirror filled once by
 * `tooltool mirror`; prints the bytes the service's storage served in each case.
 *
 *   deno run -A scripts/mirror_measure.ts [--workers 6] [--mib 8]
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { startFakeServer } from "../test/fake_server/server.ts";
import { runTool } from "../test/cli.ts";
import { patternBytes } from "../test/fetch_fixture.ts";
import { findNginx, startNginx } from "../test/helpers/nginx.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { workers: { type: "string", default: "6" }, mib: { type: "string", default: "8" } },
});
const workers = Number(values.workers);
const total = Number(values.mib) * 1024 * 1024;
const sizes = [
  Math.floor(total * 0.7),
  Math.floor(total * 0.25),
  total - Math.floor(total * 0.7) - Math.floor(total * 0.25),
];

const nginx = await findNginx();
if (!nginx.ok) throw new Error(`cannot measure: ${nginx.reason}`);
const server = await startFakeServer();
const root = await Deno.makeTempDir({ prefix: "tooltool-measure-" });
try {
  const records = [];
  for (const [index, size] of sizes.entries()) {
    const { digest } = await server.addFile(patternBytes(index + 1, size));
    records.push({ filename: `f${index}.bin`, size, algorithm: "sha512", digest });
  }
  const sizeOf = new Map(records.map((r) => [r.digest, r.size]));
  const manifest = JSON.stringify(records, null, 2);
  const storageBytes = () =>
    server.requests
      .filter((r) => r.origin === "storage" && r.method === "GET" && r.status === 200)
      .reduce((sum, r) => sum + (sizeOf.get(r.url.match(/[0-9a-f]{128}/)?.[0] ?? "") ?? 0), 0);
  const fleet = async (name: string, extra: string[]) => {
    const runs = Array.from({ length: workers }, async (_, i) => {
      const work = join(root, `${name}-${i}`);
      await Deno.mkdir(work);
      await Deno.writeTextFile(join(work, "manifest.tt"), manifest);
      const run = await runTool(["--url", server.url, "fetch", ...extra], { cwd: work });
      if (run.code !== 0) throw new Error(`${name} worker ${i} failed: ${run.stderr}`);
    });
    const started = performance.now();
    await Promise.all(runs);
    return (performance.now() - started) / 1000;
  };
  const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

  server.requests.length = 0;
  const directSeconds = await fleet("direct", []);
  const direct = storageBytes();

  server.requests.length = 0;
  const dir = join(root, "mirror");
  await Deno.mkdir(join(root, "fill"));
  await Deno.writeTextFile(join(root, "fill", "manifest.tt"), manifest);
  const fill = await runTool(["--url", server.url, "mirror", "--to", dir], {
    cwd: join(root, "fill"),
  });
  if (fill.code !== 0) throw new Error(`mirror failed: ${fill.stderr}`);
  const filled = storageBytes();
  const mirror = await startNginx(nginx.binary, dir);
  server.requests.length = 0;
  let mirrorSeconds;
  let nginxBytes;
  try {
    mirrorSeconds = await fleet("mirrored", ["--mirror", mirror.url]);
    nginxBytes = (await mirror.accessLog())
      .reduce((sum, line) => sum + Number(line.split(" ")[1] ?? 0), 0);
  } finally {
    await mirror.close();
  }
  const viaMirror = storageBytes();
  console.log(
    `manifest: ${records.length} files, ${mib(total)}; ${workers} concurrent fetches, no cache`,
  );
  console.log(
    `straight from the service: service served ${mib(direct)} (${direct} bytes) in ${
      directSeconds.toFixed(2)
    } s`,
  );
  console.log(
    `filling the mirror once (tooltool mirror): service served ${mib(filled)} (${filled} bytes)`,
  );
  console.log(
    `through the nginx mirror: service served ${mib(viaMirror)} (${viaMirror} bytes), nginx ${
      mib(nginxBytes)
    }, in ${mirrorSeconds.toFixed(2)} s; API requests: ${
      server.requests.filter((r) => r.origin === "api").length
    }`,
  );
} finally {
  await server.close();
  await Deno.remove(root, { recursive: true }).catch(() => {});
}

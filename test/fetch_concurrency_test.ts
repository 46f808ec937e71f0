/**
 * End-to-end: several `tooltool fetch` processes sharing one cache, a process killed with
 * SIGKILL in the middle of a download, and Ctrl-C.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { STATE_DIR } from "../src/cache/cache.ts";
import { isTempName } from "../src/temp_names.ts";
import { listNames, spawnTool, waitFor, withFetchFixture } from "./fetch_fixture.ts";

async function sizeOf(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch {
    return 0;
  }
}

async function finish(child: Deno.ChildProcess): Promise<{ code: number; stderr: string }> {
  const output = await child.output();
  return { code: output.code, stderr: new TextDecoder().decode(output.stderr) };
}

async function tempFilesIn(dir: string): Promise<string[]> {
  return (await listNames(dir)).filter(isTempName);
}

Deno.test("four processes sharing a cache all succeed and download each digest once", () =>
  withFetchFixture(
    {
      "f1.bin": 600_000,
      "f2.bin": 500_000,
      "f3.bin": 700_000,
      "f4.bin": 400_000,
      "f5.bin": 300_000,
      "f6.bin": 200_000,
    },
    async (fx) => {
      // Slow enough that the processes' downloads overlap.
      fx.server.fault({ kind: "slow", bytesPerSecond: 3_000_000 });
      const manifests = [
        ["f1.bin", "f2.bin", "f3.bin"],
        ["f2.bin", "f3.bin", "f4.bin"],
        ["f3.bin", "f4.bin", "f5.bin"],
        ["f1.bin", "f5.bin", "f6.bin", "f3.bin"],
      ];
      const dirs: string[] = [];
      for (const [index, names] of manifests.entries()) {
        const dir = join(fx.root, `job${index}`);
        await Deno.mkdir(dir);
        await fx.writeManifest(names.map((name) => fx.file(name)), dir);
        dirs.push(dir);
      }
      const children = dirs.map((cwd) =>
        spawnTool(["--url", fx.server.url, "fetch", "-c", fx.cache, "-j", "2"], { cwd })
      );
      const results = await Promise.all(children.map(finish));
      for (const result of results) assert.equal(result.code, 0, result.stderr);
      for (const file of fx.files) {
        assert.equal(fx.downloads(file.digest), 1, `${file.filename} downloaded once`);
      }
      for (const [index, names] of manifests.entries()) {
        for (const name of names) {
          const content = await Deno.readFile(join(dirs[index] as string, name));
          assert.deepEqual(content, fx.file(name).content);
        }
      }
      assert.ok(results.some((result) => /waiting for another process/.test(result.stderr)));
      assert.deepEqual(await listNames(join(fx.cache, STATE_DIR, "tmp")), []);
    },
  ));

Deno.test("a fetch killed with SIGKILL mid-download is resumed by the next run", () =>
  withFetchFixture({ "big.bin": 3_000_000 }, async (fx) => {
    const { digest, content } = fx.file("big.bin");
    fx.server.fault({ kind: "slow", bytesPerSecond: 2_000_000 });
    const child = spawnTool(["--url", fx.server.url, "fetch", "-c", fx.cache], { cwd: fx.work });
    const part = join(fx.cache, STATE_DIR, "tmp", `${digest}.part`);
    await waitFor(async () => await sizeOf(part) >= 1_000_000, "a partial download");
    child.kill("SIGKILL");
    await finish(child);
    const kept = await sizeOf(part);
    assert.ok(kept >= 1_000_000 && kept < content.length);
    fx.server.clearFaults();
    const run = await fx.run(["fetch", "-c", fx.cache]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /^big\.bin: resuming an interrupted download at /m);
    const last = fx.server.requests.filter((r) => r.origin === "storage").at(-1);
    assert.equal(last?.range, `bytes=${kept}-`);
    assert.deepEqual(await Deno.readFile(join(fx.work, "big.bin")), content);
    assert.deepEqual(await listNames(join(fx.cache, STATE_DIR, "tmp")), []);
    assert.deepEqual(await listNames(fx.work), ["big.bin", "manifest.tt"]);
  }));

Deno.test("a fetch killed with SIGKILL without a cache leaves debris the next run removes", () =>
  withFetchFixture({ "big.bin": 3_000_000 }, async (fx) => {
    fx.server.fault({ kind: "slow", bytesPerSecond: 2_000_000 });
    const child = spawnTool(["--url", fx.server.url, "fetch"], { cwd: fx.work });
    await waitFor(async () => (await tempFilesIn(fx.work)).length > 0, "a temp file");
    child.kill("SIGKILL");
    await finish(child);
    assert.equal((await tempFilesIn(fx.work)).length, 1);
    fx.server.clearFaults();
    const run = await fx.run(["fetch"]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(await listNames(fx.work), ["big.bin", "manifest.tt"]);
    assert.deepEqual(await Deno.readFile(join(fx.work, "big.bin")), fx.file("big.bin").content);
  }));

for (const withCache of [true, false]) {
  Deno.test(`Ctrl-C stops fetch with exit 130 and removes its temp files (${withCache ? "" : "no "}cache)`, () =>
    withFetchFixture({ "big.bin": 3_000_000, "small.bin": 10 }, async (fx) => {
      fx.server.fault({
        kind: "slow",
        bytesPerSecond: 1_000_000,
        digest: fx.file("big.bin").digest,
      });
      const cacheArgs = withCache ? ["-c", fx.cache] : [];
      const child = spawnTool(["--url", fx.server.url, "fetch", ...cacheArgs], { cwd: fx.work });
      const part = join(fx.cache, STATE_DIR, "tmp", `${fx.file("big.bin").digest}.part`);
      await waitFor(
        async () =>
          withCache ? await sizeOf(part) > 100_000 : (await tempFilesIn(fx.work)).length > 0,
        "the download to start",
      );
      child.kill("SIGINT");
      const result = await finish(child);
      assert.equal(result.code, 130, result.stderr);
      assert.match(result.stderr, /^error: Interrupted$/m);
      assert.deepEqual(await tempFilesIn(fx.work), []);
      assert.ok(!(await listNames(fx.work)).includes("big.bin"));
      if (withCache) assert.deepEqual(await listNames(join(fx.cache, STATE_DIR, "tmp")), []);
    }));
}

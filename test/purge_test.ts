/**
 * End-to-end: `tooltool purge` on a cache filled by `fetch`, alone and while a fetch runs.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { STATE_DIR } from "../src/cache/cache.ts";
import { redact, runTool } from "./cli.ts";
import { listNames, spawnTool, waitFor, withFetchFixture } from "./fetch_fixture.ts";

const DAY_MS = 24 * 60 * 60 * 1000;

async function entriesIn(cache: string): Promise<string[]> {
  return (await listNames(cache)).filter((name) => name !== STATE_DIR);
}

/** Every path under `root` with its type, size and mtime, to compare before and after. */
async function tree(root: string): Promise<string[]> {
  const lines: string[] = [];
  const walk = async (dir: string, prefix: string) => {
    for await (const entry of Deno.readDir(dir)) {
      const info = await Deno.lstat(join(dir, entry.name));
      lines.push(
        `${prefix}${entry.name} ${info.isDirectory} ${info.size} ${info.mtime?.getTime()}`,
      );
      if (entry.isDirectory) await walk(join(dir, entry.name), `${prefix}${entry.name}/`);
    }
  };
  await walk(root, "");
  return lines.sort();
}

/**
 * Makes an entry look last used `days` ago: its mtime (what tooltool.py goes by) is set back
 * and our journal of uses is dropped, as if the uses it recorded were that old.
 */
async function age(cache: string, digest: string, days: number): Promise<void> {
  const when = new Date(Date.now() - days * DAY_MS);
  await Deno.utime(join(cache, digest), when, when);
  await Deno.remove(join(cache, STATE_DIR, "journal")).catch(() => {});
}

Deno.test("purge without -c fails and says what is missing", () =>
  withFetchFixture({}, async (fx) => {
    const run = await runTool(["purge"], { cwd: fx.work });
    assert.equal(run.code, 1);
    assert.equal(
      run.stderr,
      "error: Cannot purge: no cache folder given\nhint: name the cache with -c/--cache-folder\n",
    );
  }));

Deno.test("purge of a cache folder that does not exist fails, as tooltool.py does, and creates it not", () =>
  withFetchFixture({}, async (fx) => {
    for (const args of [[], ["-s", "1"], ["--json"]]) {
      const run = await runTool(["purge", "-c", fx.cache, ...args], { cwd: fx.work });
      assert.equal(run.code, 1, run.stderr);
      assert.equal(
        redact(run.stderr, { [fx.cache]: "<cache>" }),
        'error: Cannot purge "<cache>": the folder does not exist\n' +
          "hint: check the path given to -c/--cache-folder\n",
      );
      if (args.includes("--json")) assert.equal(JSON.parse(run.stdout).ok, false);
      assert.equal(await Deno.lstat(fx.cache).catch(() => undefined), undefined);
    }
  }));

Deno.test("purge of a folder that holds no cache says there is nothing to purge and changes nothing", () =>
  withFetchFixture({}, async (fx) => {
    const folder = join(fx.root, "photos");
    await Deno.mkdir(join(folder, "2024"), { recursive: true });
    await Deno.writeTextFile(join(folder, "cat.jpg"), "meow");
    const before = await tree(folder);
    const run = await runTool(["purge", "-c", folder, "-v"], { cwd: fx.work });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(
      redact(run.stderr, { [folder]: "<dir>" }),
      "Left 2024: not a cache entry\nLeft cat.jpg: not a cache entry\n" +
        'Nothing to purge in "<dir>": it holds no cache entries\n',
    );
    const json = await runTool(["purge", "-c", folder, "--json", "--max-age", "1"], {
      cwd: fx.work,
    });
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout);
    assert.deepEqual(report.removed, []);
    assert.deepEqual(report.ignored, ["2024", "cat.jpg"]);
    assert.equal(report.entriesLeft, 0);
    assert.deepEqual(await tree(folder), before, "no .tooltool/, no lock, no journal");
  }));

Deno.test("purge of a cache tooltool.py filled removes its entries and creates no state folder", () =>
  withFetchFixture({}, async (fx) => {
    await Deno.mkdir(fx.cache);
    const digest = "e".repeat(128);
    await Deno.writeTextFile(join(fx.cache, digest), "entry");
    await Deno.writeTextFile(join(fx.cache, "notes.txt"), "mine");
    const run = await runTool(["purge", "-c", fx.cache, "--json"], { cwd: fx.work });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout).removed.map((e: { name: string }) => e.name), [digest]);
    assert.deepEqual(await listNames(fx.cache), ["notes.txt"]);
  }));

Deno.test("purge with no size empties the cache, exits 0 and reports what it removed", () =>
  withFetchFixture({ "a.bin": 3000, "b.bin": 5000 }, async (fx) => {
    assert.equal((await fx.run(["fetch", "-c", fx.cache])).code, 0);
    const run = await runTool(["purge", "-c", fx.cache, "--json"], { cwd: fx.work });
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout);
    assert.equal(report.removed.length, 2);
    assert.equal(report.removedBytes, 8000);
    assert.equal(report.freedBytes, 0, "both entries are still linked from the working tree");
    assert.equal(report.entriesLeft, 0);
    assert.deepEqual(await entriesIn(fx.cache), []);
    assert.match(
      run.stderr,
      /^Purged everything in ".*": removed 2 entries, 7\.8 KiB \(0 B freed; the rest is still linked from working trees\); 0 left, 0 B; .* free$/m,
    );
    // The working tree keeps its files, and the next fetch finds them present.
    assert.deepEqual(await Deno.readFile(join(fx.work, "a.bin")), fx.file("a.bin").content);
    const again = await fx.run(["fetch", "-c", fx.cache, "--json"]);
    assert.deepEqual(JSON.parse(again.stdout).files.map((f: { source: string }) => f.source), [
      "present",
      "present",
    ]);
  }));

Deno.test("purge -s does nothing when that much space is already free", () =>
  withFetchFixture({ "a.bin": 3000 }, async (fx) => {
    assert.equal((await fx.run(["fetch", "-c", fx.cache])).code, 0);
    const run = await runTool(["purge", "-c", fx.cache, "-s", "0.001"], { cwd: fx.work });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /^No need to clean up: .* free$/m);
    assert.equal((await entriesIn(fx.cache)).length, 1);
  }));

Deno.test("purge -s deletes everything it can when the space cannot be found, and says so", () =>
  withFetchFixture({ "a.bin": 3000 }, async (fx) => {
    assert.equal((await fx.run(["fetch", "-c", fx.cache])).code, 0);
    const run = await runTool(["purge", "-c", fx.cache, "-s", "100000000"], { cwd: fx.work });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(await entriesIn(fx.cache), []);
    assert.match(
      run.stderr,
      /^warning: Only .* free after purging, short of the 100000000 GB asked for$/m,
    );
  }));

Deno.test("purge --max-age removes entries unused for longer, by our use time or tooltool.py's mtime", () =>
  withFetchFixture({ "old.bin": 1000, "new.bin": 1000 }, async (fx) => {
    assert.equal((await fx.run(["fetch", "-c", fx.cache])).code, 0);
    await age(fx.cache, fx.file("old.bin").digest, 40);
    await age(fx.cache, fx.file("new.bin").digest, 40);
    // Used recently according to tooltool.py's touch of the entry itself.
    const now = new Date();
    await Deno.utime(join(fx.cache, fx.file("new.bin").digest), now, now);
    const run = await runTool(["purge", "-c", fx.cache, "--max-age", "30", "--json"], {
      cwd: fx.work,
    });
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout);
    assert.deepEqual(
      report.removed.map((r: { name: string; reason: string }) => [r.name, r.reason]),
      [
        [fx.file("old.bin").digest, "age"],
      ],
    );
    assert.deepEqual(await entriesIn(fx.cache), [fx.file("new.bin").digest]);
  }));

Deno.test("purge --max-size keeps the most recently used entries that fit", () =>
  withFetchFixture({ "a.bin": 4000, "b.bin": 4000, "c.bin": 4000 }, async (fx) => {
    assert.equal((await fx.run(["fetch", "-c", fx.cache])).code, 0);
    await age(fx.cache, fx.file("a.bin").digest, 3);
    await age(fx.cache, fx.file("b.bin").digest, 1);
    await age(fx.cache, fx.file("c.bin").digest, 2);
    // 10000 bytes allowed: the least recently used (a) goes.
    const run = await runTool(["purge", "-c", fx.cache, "--max-size", String(10_000 / 1024 ** 3)], {
      cwd: fx.work,
    });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(
      (await entriesIn(fx.cache)).sort(),
      [fx.file("b.bin").digest, fx.file("c.bin").digest].sort(),
    );
  }));

Deno.test("purge while a fetch downloads into the cache leaves that download alone", () =>
  withFetchFixture({ "big.bin": 2_000_000, "done.bin": 1000 }, async (fx) => {
    assert.equal((await fx.run(["fetch", "-c", fx.cache, "done.bin"])).code, 0);
    const { digest, content } = fx.file("big.bin");
    fx.server.fault({ kind: "slow", bytesPerSecond: 2_000_000 });
    const child = spawnTool(["--url", fx.server.url, "fetch", "-c", fx.cache, "big.bin"], {
      cwd: fx.work,
    });
    const part = join(fx.cache, STATE_DIR, "tmp", `${digest}.part`);
    await waitFor(
      async () => ((await Deno.stat(part).catch(() => undefined))?.size ?? 0) > 200_000,
      "a partial download",
    );
    const purge = await runTool(["purge", "-c", fx.cache], { cwd: fx.work });
    assert.equal(purge.code, 0, purge.stderr);
    const fetched = await child.output();
    assert.equal(fetched.code, 0, new TextDecoder().decode(fetched.stderr));
    assert.deepEqual(await Deno.readFile(join(fx.work, "big.bin")), content);
    assert.deepEqual(await entriesIn(fx.cache), [digest]);
  }));

Deno.test("purge -c . deletes only the cache's entries: the manifest and fetched files stay", () =>
  withFetchFixture({ "a.bin": 3000 }, async (fx) => {
    // The working directory used as the cache: entries land beside the manifest.
    assert.equal((await fx.run(["fetch", "-c", "."])).code, 0);
    const digest = fx.file("a.bin").digest;
    await Deno.mkdir(join(fx.work, "notes"));
    const run = await runTool(["purge", "-c", ".", "-v", "--json"], { cwd: fx.work });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout).ignored, ["a.bin", "manifest.tt", "notes"]);
    assert.match(run.stderr, /^Left manifest\.tt: not a cache entry$/m);
    assert.match(run.stderr, /^Left a\.bin: not a cache entry$/m);
    assert.deepEqual((await listNames(fx.work)).sort(), [
      STATE_DIR,
      "a.bin",
      "manifest.tt",
      "notes",
    ]);
    assert.ok(!(await listNames(fx.work)).includes(digest));
    assert.deepEqual(await Deno.readFile(join(fx.work, "a.bin")), fx.file("a.bin").content);
  }));

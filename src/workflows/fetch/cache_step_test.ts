import assert from "node:assert/strict";
import { join } from "node:path";
import { Cache, STATE_DIR } from "../../cache/cache.ts";
import type { FileRecord } from "../../manifest/manifest.ts";
import type { Sha512 } from "../../sha512.ts";
import { fetchRecords } from "./engine.ts";
import { listDir, storageGets, withSetup } from "../../../test/helpers/fetch_records.ts";

Deno.test("fetchRecords() fills the cache, then places from it without the network", () =>
  withSetup({ "a.bin": 200_000 }, async ({ server, dir, records, contents, options }) => {
    using cache = await Cache.open(join(dir, "cache"));
    await fetchRecords(records, options({ cache }));
    const digest = records[0]?.digest as Sha512;
    assert.deepEqual(await Deno.readFile(cache.entryPath(digest)), contents.get("a.bin"));
    await Deno.remove(join(dir, "work", "a.bin"));
    const [again] = await fetchRecords(records, options({ cache }));
    assert.equal(again?.source, "cache");
    assert.equal(storageGets(server), 1);
    const [placed, entry] = await Promise.all([
      Deno.stat(join(dir, "work", "a.bin")),
      Deno.stat(cache.entryPath(digest)),
    ]);
    assert.equal(placed.ino, entry.ino, "placed by hard link");
    const [present] = await fetchRecords(records, options({ cache }));
    assert.equal(present?.source, "present");
  }));

Deno.test("fetchRecords() downloads a digest once when two runs share the cache", () =>
  withSetup({ "a.bin": 400_000, "b.bin": 300_000 }, async ({ server, dir, records, options }) => {
    server.fault({ kind: "slow", bytesPerSecond: 4_000_000 });
    using cache = await Cache.open(join(dir, "cache"));
    await Deno.mkdir(join(dir, "other"));
    const [first, second] = await Promise.all([
      fetchRecords(records, options({ cache })),
      fetchRecords(records, options({ cache, cwd: join(dir, "other") })),
    ]);
    const sources = [...(first ?? []), ...(second ?? [])].map((o) => o.source).sort();
    assert.deepEqual(sources, ["cache", "cache", "network", "network"]);
    assert.equal(storageGets(server), 2);
  }));

Deno.test("fetchRecords() evicts a damaged cache entry and fetches the file again", () =>
  withSetup({ "a.bin": 10_000 }, async ({ server, dir, records, contents, messages, options }) => {
    using cache = await Cache.open(join(dir, "cache"));
    const digest = records[0]?.digest as Sha512;
    const damaged = (contents.get("a.bin") as Uint8Array).slice();
    damaged[5] = (damaged[5] ?? 0) ^ 1;
    await Deno.writeFile(cache.entryPath(digest), damaged);
    const [outcome] = await fetchRecords(records, options({ cache }));
    assert.equal(outcome?.source, "network");
    assert.deepEqual(await Deno.readFile(join(dir, "work", "a.bin")), contents.get("a.bin"));
    assert.deepEqual(await Deno.readFile(cache.entryPath(digest)), contents.get("a.bin"));
    assert.ok(messages.some((m) => /^warning: The cached copy of "a\.bin" .* is damaged/.test(m)));
    assert.equal(storageGets(server), 1);
  }));

Deno.test("fetchRecords() falls back to the working directory when the cache cannot be written, warning once", () =>
  withSetup(
    { "a.bin": 5000, "b.bin": 4000, "c.bin": 3000, "hit.bin": 100 },
    async ({ dir, records, contents, messages, options }) => {
      using cache = await Cache.open(join(dir, "cache"));
      const hit = records.find((record) => record.filename === "hit.bin") as FileRecord;
      await Deno.writeFile(cache.entryPath(hit.digest), contents.get("hit.bin") as Uint8Array);
      // Every write into the cache now fails: its temp folder is a plain file.
      const tmp = join(dir, "cache", STATE_DIR, "tmp");
      await Deno.remove(tmp, { recursive: true });
      await Deno.writeTextFile(tmp, "not a directory");
      const opts = options({ cache, jobs: 2 });
      const outcomes = await fetchRecords(records, opts);
      assert.deepEqual(outcomes.map((o) => [o.filename, o.source, o.error]), [
        ["a.bin", "network", null],
        ["b.bin", "network", null],
        ["c.bin", "network", null],
        ["hit.bin", "cache", null],
      ]);
      for (const [name, content] of contents) {
        assert.deepEqual(await Deno.readFile(join(opts.cwd, name)), content);
      }
      const warnings = messages.filter((message) => message.startsWith("warning: "));
      assert.deepEqual(warnings, [
        `warning: Cannot write to the cache folder "${
          join(dir, "cache")
        }": a parent is not a directory; fetching into the working directory without the cache for the rest of this run`,
      ]);
      assert.deepEqual(await listDir(opts.cwd), ["a.bin", "b.bin", "c.bin", "hit.bin"]);
    },
  ));

import assert from "node:assert/strict";
import { join } from "node:path";
import { Cache, STATE_DIR } from "../../cache/cache.ts";
import { fetchRecords } from "./engine.ts";
import { listDir, storageGets, withSetup } from "../../../test/helpers/fetch_records.ts";

Deno.test("fetchRecords() downloads every file and reports where each came from", () =>
  withSetup({ "a.bin": 300_000, "b.txt": 12 }, async ({ server, records, contents, options }) => {
    const opts = options();
    const outcomes = await fetchRecords(records, opts);
    assert.deepEqual(outcomes.map((o) => [o.filename, o.source, o.error]), [
      ["a.bin", "network", null],
      ["b.txt", "network", null],
    ]);
    assert.equal(outcomes[0]?.bytes, 300_000);
    assert.equal(outcomes[0]?.attempts, 1);
    for (const [name, content] of contents) {
      assert.deepEqual(await Deno.readFile(join(opts.cwd, name)), content);
    }
    assert.deepEqual(await listDir(opts.cwd), ["a.bin", "b.txt"]);
    assert.equal(storageGets(server), 2);
  }));

Deno.test("fetchRecords() stops on abort and leaves no temp file", () =>
  withSetup({ "a.bin": 2_000_000 }, async ({ server, dir, records, options }) => {
    server.fault({ kind: "slow", bytesPerSecond: 1_000_000 });
    using cache = await Cache.open(join(dir, "cache"));
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("interrupted")), 300);
    const opts = options({ cache, signal: controller.signal });
    await assert.rejects(fetchRecords(records, opts), /interrupted/);
    assert.deepEqual(await listDir(opts.cwd), []);
    assert.deepEqual(await listDir(join(dir, "cache", STATE_DIR, "tmp")), []);
  }));

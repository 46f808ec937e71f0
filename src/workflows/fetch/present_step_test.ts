import assert from "node:assert/strict";
import { join } from "node:path";
import { Cache } from "../../cache/cache.ts";
import { sha512Hex } from "../../digest.ts";
import { fetchRecords } from "./engine.ts";
import { withSetup } from "../../../test/helpers/fetch_records.ts";

Deno.test("fetchRecords() keeps a valid file and replaces an invalid one", () =>
  withSetup({ "a.bin": 1000, "b.bin": 1000 }, async ({ records, contents, messages, options }) => {
    const opts = options();
    await Deno.writeFile(join(opts.cwd, "a.bin"), contents.get("a.bin") as Uint8Array);
    await Deno.writeFile(join(opts.cwd, "b.bin"), new Uint8Array(1000));
    const outcomes = await fetchRecords(records, opts);
    assert.deepEqual(outcomes.map((o) => o.source), ["present", "network"]);
    assert.deepEqual(await Deno.readFile(join(opts.cwd, "b.bin")), contents.get("b.bin"));
    assert.ok(messages.includes("b.bin is present but does not match the manifest: replacing it"));
  }));

Deno.test("fetchRecords() trusts a stamp for a present file, and --rehash does not", () =>
  withSetup({ "a.bin": 5000 }, async ({ dir, records, options }) => {
    // A clock ahead of the files, so that nothing counts as "racy".
    using cache = await Cache.open(join(dir, "cache"), { now: () => Date.now() + 60_000 });
    await fetchRecords(records, options({ cache }));
    const path = join(dir, "work", "a.bin");
    // Damage the file but keep size and mtime: only --rehash can notice.
    const before = await Deno.stat(path);
    await Deno.chmod(path, 0o644);
    const file = await Deno.open(path, { write: true });
    await file.write(new Uint8Array([0]));
    file.close();
    await Deno.utime(path, before.atime ?? new Date(), before.mtime ?? new Date());
    await Deno.chmod(path, 0o444);
    const [trusted] = await fetchRecords(records, options({ cache }));
    assert.equal(trusted?.source, "present");
    const [rehashed] = await fetchRecords(records, options({ cache, rehash: true }));
    assert.equal(rehashed?.source, "network");
    assert.equal(sha512Hex(await Deno.readFile(path)), records[0]?.digest);
  }));

import assert from "node:assert/strict";
import { join } from "node:path";
import { fetchRecords } from "./engine.ts";
import { listDir, withSetup } from "../../../test/helpers/fetch_records.ts";

Deno.test("fetchRecords() leaves nothing behind for a file that cannot be fetched", () =>
  withSetup({ "a.bin": 1000 }, async ({ server, records, options }) => {
    server.fault({ kind: "status", status: 500, origin: "storage" });
    const opts = options({ attempts: 2 });
    await Deno.writeFile(join(opts.cwd, "a.bin"), new Uint8Array(5));
    const [outcome] = await fetchRecords(records, opts);
    assert.equal(outcome?.source, null);
    assert.equal(outcome?.attempts, 2);
    assert.match(outcome?.error ?? "", /^Cannot fetch "a\.bin" from .*: storage returned 500/);
    assert.deepEqual(await listDir(opts.cwd), [], "neither the wrong file nor a temp file");
  }));

import assert from "node:assert/strict";
import { join } from "node:path";
import { isTempName } from "../../temp_names.ts";
import { tryLock } from "../../lock.ts";
import { fetchRecords } from "./engine.ts";
import { listDir, withSetup } from "../../../test/helpers/fetch_records.ts";

Deno.test("fetchRecords() removes temp files of a dead run but not those of a live one", () =>
  withSetup({ "a.bin": 1000 }, async ({ records, options }) => {
    const opts = options();
    const dead = join(opts.cwd, ".a.bin.tooltool-0123abcd.part");
    const live = join(opts.cwd, ".a.bin.tooltool-4567cdef.part");
    await Deno.writeFile(dead, new Uint8Array(10));
    assert.ok(isTempName(".a.bin.tooltool-0123abcd.part"));
    using _writer = await tryLock(live, { exclusive: true });
    await fetchRecords(records, opts);
    assert.deepEqual(await listDir(opts.cwd), [".a.bin.tooltool-4567cdef.part", "a.bin"]);
  }));

import assert from "node:assert/strict";
import { fetchRecords } from "./engine.ts";
import type { Unpacker } from "./types.ts";
import { withSetup } from "../../../test/helpers/fetch_records.ts";

Deno.test("fetchRecords() unpacks archives in manifest order once every file is in place", () =>
  withSetup({ "a.tar": 100, "b.bin": 100, "c.zip": 100 }, async ({ records, options }) => {
    const unpacked: string[] = [];
    const unpacker: Unpacker = (path) => {
      unpacked.push(path.split("/").pop() ?? "");
      if (path.endsWith(".zip")) return Promise.reject(new Error('Cannot unpack "c.zip": corrupt'));
      return Promise.resolve({ entries: 1, bytes: 1 });
    };
    const marked = records.map((record) =>
      record.filename === "b.bin" ? record : { ...record, unpack: true }
    );
    const outcomes = await fetchRecords(
      marked,
      options({ unpacker: () => Promise.resolve(unpacker) }),
    );
    assert.deepEqual(unpacked, ["a.tar", "c.zip"]);
    assert.deepEqual(outcomes.map((o) => [o.unpacked, o.error]), [
      [true, null],
      [null, null],
      [false, 'Cannot unpack "c.zip": corrupt'],
    ]);
  }));

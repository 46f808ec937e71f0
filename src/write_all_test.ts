import assert from "node:assert/strict";
import { concatBytes } from "../test/helpers/data.ts";
import { MAX_WRITE, writeAll, writeAllSync } from "./write_all.ts";

/** Records each write's length; answers short writes when `shortBy` is set. */
function recorder(shortBy = 0) {
  const lengths: number[] = [];
  const pieces: Uint8Array[] = [];
  const take = (bytes: Uint8Array) => {
    const taken = Math.max(1, bytes.length - shortBy);
    lengths.push(bytes.length);
    pieces.push(bytes.slice(0, taken));
    return taken;
  };
  return {
    lengths,
    get received() {
      return concatBytes(pieces);
    },
    write: (bytes: Uint8Array) => Promise.resolve(take(bytes)),
    writeSync: take,
  };
}

const data = Uint8Array.from({ length: 3 * MAX_WRITE + 17 }, (_, i) => i % 251);

Deno.test("writeAll splits a big buffer into writes of at most MAX_WRITE bytes, in order", async () => {
  const file = recorder();
  await writeAll(file, data);
  assert.deepEqual(file.lengths, [MAX_WRITE, MAX_WRITE, MAX_WRITE, 17]);
  assert.deepEqual(file.received, data);
});

Deno.test("writeAllSync splits the same way", () => {
  const file = recorder();
  writeAllSync(file, data);
  assert.deepEqual(file.lengths, [MAX_WRITE, MAX_WRITE, MAX_WRITE, 17]);
  assert.deepEqual(file.received, data);
});

Deno.test("writeAll and writeAllSync go on after short writes until every byte is written", async () => {
  const asyncFile = recorder(1000);
  await writeAll(asyncFile, data);
  assert.deepEqual(asyncFile.received, data);
  assert.ok(asyncFile.lengths.every((length) => length <= MAX_WRITE));
  const syncFile = recorder(1000);
  writeAllSync(syncFile, data);
  assert.deepEqual(syncFile.received, data);
});

Deno.test("writeAll of an empty buffer writes nothing", async () => {
  const file = recorder();
  await writeAll(file, new Uint8Array(0));
  writeAllSync(file, new Uint8Array(0));
  assert.deepEqual(file.lengths, []);
});

Deno.test("writeAll writes a real file whole", async () => {
  const path = await Deno.makeTempFile();
  try {
    using file = await Deno.open(path, { write: true, truncate: true });
    await writeAll(file, data);
    assert.deepEqual(await Deno.readFile(path), data);
  } finally {
    await Deno.remove(path);
  }
});

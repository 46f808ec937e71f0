import assert from "node:assert/strict";
import { zip } from "../../test/helpers/archives.ts";
import {
  cp437High,
  decodeName,
  findDirectory,
  memberOf,
  readDirectory,
  type ZipRecord,
} from "./zip.ts";

function record(overrides: Partial<ZipRecord>): ZipRecord {
  return {
    name: "x",
    nameBytes: new Uint8Array(0),
    flags: 0,
    method: 8,
    crc: 0,
    compressedSize: 0,
    size: 0,
    localOffset: 0,
    madeBy: (3 << 8) | 30,
    externalAttributes: 0,
    mtime: undefined,
    ...overrides,
  };
}

async function withZipFile<T>(bytes: Uint8Array, fn: (file: Deno.FsFile) => T): Promise<T> {
  const path = await Deno.makeTempFile({ suffix: ".zip" });
  try {
    await Deno.writeFile(path, bytes);
    using file = await Deno.open(path);
    return fn(file);
  } finally {
    await Deno.remove(path);
  }
}

Deno.test("cp437High covers the 128 upper code points", () => {
  assert.equal([...cp437High].length, 128);
});

Deno.test("decodeName() reads UTF-8 when flagged or valid, and CP437 otherwise", () => {
  assert.equal(decodeName(new TextEncoder().encode("né"), true), "né");
  assert.equal(decodeName(new Uint8Array([0x61, 0x82, 0x94]), false), "aéö");
  assert.equal(decodeName(new TextEncoder().encode("né"), false), "né");
});

Deno.test("memberOf() takes kind and mode from the Unix attributes", () => {
  const mode = (value: number) => ({ externalAttributes: (value << 16) >>> 0 });
  assert.deepEqual(
    [0o100755, 0o120777, 0o040700, 0o020644, 0o010644, 0o104755].map((value) => {
      const member = memberOf(record(mode(value)));
      return [member.kind, member.mode];
    }),
    [
      ["file", 0o755],
      ["symlink", 0o777],
      ["directory", 0o700],
      ["character-device", 0o644],
      ["fifo", 0o644],
      ["file", 0o4755],
    ],
  );
});

Deno.test("memberOf() ignores attributes of non-Unix zips but honours the DOS directory bit", () => {
  const dos = { madeBy: 20, externalAttributes: 0x10 };
  assert.equal(memberOf(record(dos)).kind, "directory");
  assert.equal(memberOf(record({ madeBy: 20, externalAttributes: 0x20 })).mode, undefined);
  assert.equal(memberOf(record({ name: "dir/" })).kind, "directory");
});

Deno.test("findDirectory() and readDirectory() read the central directory", async () => {
  const bytes = zip([{ name: "a.txt", data: "hello" }, { name: "b/", method: 0 }]);
  const records = await withZipFile(
    bytes,
    (file) => readDirectory(file, findDirectory(file, bytes.length)),
  );
  assert.deepEqual(records.map((r) => [r.name, r.size, r.method]), [["a.txt", 5, 8], ["b/", 0, 0]]);
});

Deno.test("findDirectory() allows for a self-extractor stub before the archive", async () => {
  const bytes = zip([{ name: "a.txt", data: "hello" }], {
    prefix: new Uint8Array(1000).fill(0x90),
  });
  const directory = await withZipFile(bytes, (file) => findDirectory(file, bytes.length));
  assert.equal(directory.shift, 1000);
});

Deno.test("findDirectory() refuses a file without an end record", async () => {
  const bytes = new Uint8Array(100);
  await assert.rejects(
    withZipFile(bytes, (file) => findDirectory(file, bytes.length)),
    /not a zip archive/,
  );
});

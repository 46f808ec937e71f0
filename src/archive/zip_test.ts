import assert from "node:assert/strict";
import * as zlib from "node:zlib";
import { concat, type NodeSnapshot, snapshot, zip } from "../../test/helpers/archives.ts";
import { Extractor } from "./extract.ts";
import { EntryProblem } from "./safety.ts";
import {
  cp437High,
  decodeName,
  extractZip,
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

Deno.test("memberOf() takes kind and mode from the Unix attributes, a FIFO being a file", () => {
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
      ["file", 0o644],
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

// Extraction through extractZip(), on committed fixtures (testdata/README.md) and on
// archives built byte by byte (test/helpers/archives.ts).

function fixture(name: string): Uint8Array {
  return Deno.readFileSync(new URL(`./testdata/${name}`, import.meta.url));
}

/** Extracts `bytes` as a zip into a fresh directory and returns what was written. */
async function extract(bytes: Uint8Array): Promise<Record<string, NodeSnapshot>> {
  const dir = await Deno.makeTempDir({ prefix: "tooltool-zip-" });
  try {
    const path = `${dir}/archive.zip`;
    await Deno.writeFile(path, bytes);
    const root = `${dir}/out`;
    await Deno.mkdir(root);
    const extractor = new Extractor(root);
    try {
      await extractZip(path, extractor);
      extractor.finish();
    } finally {
      extractor.abort();
    }
    return snapshot(root);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function refuses(bytes: Uint8Array, pattern: RegExp): Promise<void> {
  await assert.rejects(
    extract(bytes),
    (error: unknown) => error instanceof EntryProblem && pattern.test(error.message),
  );
}

function content(text: string): string {
  const bytes = new TextEncoder().encode(text);
  return `${zlib.crc32(bytes)}:${bytes.length}`;
}

/** The byte offset of the central directory of a zip without an archive comment. */
function centralOffset(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset).getUint32(bytes.length - 22 + 16, true);
}

function patched(bytes: Uint8Array, edits: [offset: number, value: number, size: 2 | 4][]) {
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  for (const [offset, value, size] of edits) {
    if (size === 2) view.setUint16(offset, value, true);
    else view.setUint32(offset, value, true);
  }
  return out;
}

Deno.test("extractZip() extracts zip's own archive: stored and deflated members, modes, a symlink", async () => {
  const tree = await extract(fixture("tree.zip"));
  assert.deepEqual(tree["bin/tool"], {
    type: "file",
    mode: 0o755,
    content: content("#!/bin/sh\necho tool\n"),
  });
  assert.deepEqual(tree["tool"], { type: "symlink", target: "bin/tool" });
  assert.equal(tree["share/doc/README"]?.content?.endsWith(":3000"), true);
  assert.equal(Object.keys(tree).length, 8);
});

Deno.test("extractZip() reads a zip64 archive written by zip -fz (end record, locator, extras)", async () => {
  const tree = await extract(fixture("zip64.zip"));
  assert.deepEqual(Object.keys(tree).sort(), ["bin", "bin/tool", "tool"]);
  assert.equal(tree["bin/tool"]?.content, content("#!/bin/sh\necho tool\n"));
});

Deno.test("findDirectory() finds a zip64 end record shifted by a self-extractor stub", async () => {
  const bytes = concat([new Uint8Array(300).fill(0x90), fixture("zip64.zip")]);
  const directory = await withZipFile(bytes, (file) => findDirectory(file, bytes.length));
  assert.equal(directory.shift, 300);
  assert.equal(directory.entries, 3);
  assert.deepEqual(Object.keys(await extract(bytes)).sort(), ["bin", "bin/tool", "tool"]);
});

Deno.test("findDirectory() refuses a zip64 locator that points at no zip64 end record", async () => {
  const bytes = fixture("zip64.zip").slice();
  const record = bytes.length - 22 - 20 - 56;
  bytes[record] = 0; // the zip64 end record's signature
  await refuses(bytes, /zip64 end of central directory not found/);
});

Deno.test("extractZip() reads a member zip streamed from a pipe: FIFO mode, zip64 header, data descriptor", async () => {
  const tree = await extract(fixture("streamed.zip"));
  assert.equal(tree["-"]?.content?.endsWith(":4000"), true);
});

Deno.test("extractZip() refuses an encrypted member and writes nothing of it", async () => {
  await refuses(fixture("encrypted.zip"), /entry "bin\/tool" is encrypted/);
  await refuses(zip([{ name: "a", data: "x", flags: 0x1 }]), /entry "a" is encrypted/);
});

Deno.test("extractZip() refuses compression methods other than stored and deflate", async () => {
  await refuses(zip([{ name: "a", data: "x", method: 12 }]), /unsupported compression method 12/);
});

Deno.test("extractZip() checks sizes and CRC-32 of stored and deflated members", async () => {
  await refuses(zip([{ name: "a", data: "hello", method: 0, crc: 1 }]), /"a" fails its CRC-32/);
  await refuses(zip([{ name: "a", data: "hello", crc: 1 }]), /"a" fails its CRC-32/);
  const bytes = zip([{ name: "a", data: "hello", method: 0 }]);
  const central = centralOffset(bytes);
  await refuses(patched(bytes, [[central + 24, 4, 4]]), /more data than its recorded size/);
  await refuses(patched(bytes, [[central + 24, 6, 4]]), /less data than its recorded size/);
});

Deno.test("extractZip() refuses deflate data that does not inflate", async () => {
  const bytes = zip([{ name: "a", data: "hello hello hello" }]);
  const damaged = bytes.slice();
  damaged[30 + 1] = 0xff; // the first byte of the deflate stream: an invalid block type
  damaged[30 + 1 + 1] = 0xff;
  // zlib reports some errors only after the flush that ends the member: then the sizes differ.
  await refuses(
    damaged,
    /entry "a" has (corrupt compressed data|less data than its recorded size)/,
  );
});

Deno.test("extractZip() refuses a symbolic link target over 4096 bytes", async () => {
  const target = "a/".repeat(2100);
  await refuses(
    zip([{ name: "l", data: target, mode: 0o120777, method: 0 }]),
    /entry "l" has a link target that is too long/,
  );
});

Deno.test("extractZip() refuses symbolic links out of the destination", async () => {
  await refuses(zip([{ name: "l", data: "../x", mode: 0o120777 }]), /leaves the destination/);
  await refuses(zip([{ name: "l", data: "/etc", mode: 0o120777 }]), /absolute path/);
});

Deno.test("extractZip() refuses names with .., absolute names and backslash-absolute names", async () => {
  await refuses(zip([{ name: "../x", data: "x" }]), /entry "..\/x" leaves the destination/);
  await refuses(zip([{ name: "a/../../x", data: "x" }]), /leaves the destination/);
  await refuses(zip([{ name: "/etc/x", data: "x" }]), /has an absolute path/);
  await refuses(zip([{ name: "\\x", data: "x" }]), /has an absolute path/);
  await refuses(zip([{ name: "C:x", data: "x" }]), /has an absolute path/);
});

Deno.test("extractZip() keeps an inner backslash as part of one file name, inside the destination", async () => {
  // On Unix a backslash is an ordinary character: "a\..\..\x" is one name, not a path.
  const tree = await extract(zip([{ name: "a\\..\\..\\x", data: "x" }]));
  assert.deepEqual(Object.keys(tree), ["a\\..\\..\\x"]);
});

Deno.test("extractZip() lets a later member of the same name replace a file, as unzip -o", async () => {
  const tree = await extract(zip([{ name: "a", data: "first" }, { name: "a", data: "second" }]));
  assert.equal(tree["a"]?.content, content("second"));
  await refuses(
    zip([{ name: "a", data: "file" }, { name: "a/", method: 0 }]),
    /would replace the file of the same name with a directory/,
  );
});

Deno.test("findDirectory() reads past an archive comment, and refuses one that claims too much", async () => {
  const comment = new TextEncoder().encode("built by a test PK\x05\x06 not an end record");
  const bytes = zip([{ name: "a", data: "x" }], { comment });
  assert.deepEqual(Object.keys(await extract(bytes)), ["a"]);
  await refuses(
    patched(bytes, [[bytes.length - comment.length - 2, comment.length + 1, 2]]),
    /not a zip archive: no end of central directory/,
  );
});

Deno.test("directoryRecords() steps over entry comments and extra fields", async () => {
  const extra = new Uint8Array([0xfe, 0xca, 3, 0, 1, 2, 3]); // unknown id, skipped
  const tree = await extract(zip([
    { name: "a", data: "x", comment: "first", extra },
    { name: "b", data: "y", comment: "second" },
  ]));
  assert.deepEqual(Object.keys(tree).sort(), ["a", "b"]);
});

Deno.test("extractZip() refuses central directory offsets that point elsewhere", async () => {
  const bytes = zip([{ name: "a", data: "hello" }, { name: "b", data: "world" }]);
  const end = bytes.length - 22;
  const central = centralOffset(bytes);
  await refuses(patched(bytes, [[end + 16, central + 200, 4]]), /overlaps its end record/);
  // A smaller offset reads as a self-extractor stub: every member is then looked for 4 bytes late.
  await refuses(patched(bytes, [[end + 16, central - 4, 4]]), /no local header where the central/);
  // Directory size one short: the stub shift makes the offset land inside a record.
  await refuses(patched(bytes, [[end + 12, end - central - 1, 4]]), /bad central directory record/);
  await refuses(patched(bytes, [[central + 42, 7, 4]]), /no local header where the central/);
  await refuses(
    patched(bytes, [[end + 10, 3, 2], [end + 8, 3, 2]]),
    /has 2 entries, its end record says 3/,
  );
  await refuses(patched(bytes, [[central + 28, 200, 2]]), /central directory is truncated/);
  await refuses(patched(bytes, [[central + 20, 500, 4]]), /runs into the central directory/);
});

Deno.test("extractZip() refuses a local header whose name differs from the central directory", async () => {
  const bytes = zip([{ name: "abc", data: "x" }]);
  await refuses(patched(bytes, [[30, 0x78, 2]]), /"abc" has a different name in its local header/);
});

Deno.test("findDirectory() and parseRecord() refuse multi-disk archives", async () => {
  const bytes = zip([{ name: "a", data: "x" }]);
  await refuses(patched(bytes, [[bytes.length - 22 + 4, 1, 2]]), /multi-disk zip archives/);
  await refuses(patched(bytes, [[centralOffset(bytes) + 34, 1, 2]]), /multi-disk zip archives/);
});

/** A zip64 extended information extra field holding `values` (64-bit each). */
function zip64Extra(values: readonly number[]): Uint8Array {
  const field = new Uint8Array(4 + 8 * values.length);
  const view = new DataView(field.buffer);
  view.setUint16(0, 1, true);
  view.setUint16(2, 8 * values.length, true);
  values.forEach((value, i) => view.setBigUint64(4 + 8 * i, BigInt(value), true));
  return field;
}

Deno.test("parseRecord() takes saturated sizes and offsets from the zip64 extra field", async () => {
  const spec = { name: "a", data: "hello", method: 0 };
  const bytes = zip([{ ...spec, extra: zip64Extra([5, 5, 0]) }]);
  const central = centralOffset(bytes);
  const saturated = patched(bytes, [
    [central + 20, 0xffffffff, 4],
    [central + 24, 0xffffffff, 4],
    [central + 42, 0xffffffff, 4],
  ]);
  assert.equal((await extract(saturated))["a"]?.content, content("hello"));
  const short = patched(zip([{ ...spec, extra: zip64Extra([5]) }]), [
    [central + 20, 0xffffffff, 4],
    [central + 24, 0xffffffff, 4],
  ]);
  await refuses(short, /zip64 extra field is too short/);
  const huge = patched(zip([{ ...spec, extra: zip64Extra([2 ** 60]) }]), [
    [central + 24, 0xffffffff, 4],
  ]);
  await refuses(huge, /a 64-bit field is too large/);
});

/** An Info-ZIP Unicode path extra field for stored name bytes `stored`. */
function unicodePath(stored: Uint8Array, name: string, crc = zlib.crc32(stored)): Uint8Array {
  const utf8 = new TextEncoder().encode(name);
  const field = new Uint8Array(9 + utf8.length);
  const view = new DataView(field.buffer);
  view.setUint16(0, 0x7075, true);
  view.setUint16(2, 5 + utf8.length, true);
  field[4] = 1;
  view.setUint32(5, crc, true);
  field.set(utf8, 9);
  return field;
}

Deno.test("parseRecord() takes the Info-ZIP Unicode path only while it matches the stored name", async () => {
  const stored = new Uint8Array([0x63, 0x61, 0x66, 0x82]); // "café" in CP437
  const good = zip([{
    name: "x",
    nameBytes: stored,
    data: "x",
    extra: unicodePath(stored, "café!"),
  }]);
  assert.deepEqual(Object.keys(await extract(good)), ["café!"]);
  const stale = unicodePath(stored, "other", 1234);
  assert.deepEqual(
    Object.keys(await extract(zip([{ name: "x", nameBytes: stored, data: "x", extra: stale }]))),
    [
      "café",
    ],
  );
});

Deno.test("memberOf() leaves the time of extraction when the DOS date is zero", async () => {
  const bytes = zip([{ name: "a", data: "x", dosDate: 0 }]);
  const records = await withZipFile(
    bytes,
    (file) => readDirectory(file, findDirectory(file, bytes.length)),
  );
  assert.equal(records[0]!.mtime, undefined);
});

Deno.test("memberOf() maps block devices and sockets, which extraction refuses", async () => {
  assert.equal(
    memberOf(record({ externalAttributes: (0o060644 << 16) >>> 0 })).kind,
    "block-device",
  );
  const socket = memberOf(record({ externalAttributes: (0o140755 << 16) >>> 0 }));
  assert.deepEqual([socket.kind, socket.detail], ["unsupported", "socket"]);
  await refuses(zip([{ name: "s", data: "", mode: 0o140755 }]), /unsupported type \(socket\)/);
  await refuses(zip([{ name: "b", data: "", mode: 0o060644 }]), /is a device file/);
});

Deno.test("extractZip() extracts hundreds of members, yielding to timers as it goes", async () => {
  const specs = Array.from({ length: 300 }, (_, i) => ({ name: `f${i}`, data: `${i}`, method: 0 }));
  const tree = await extract(zip(specs));
  assert.equal(Object.keys(tree).length, 300);
  assert.equal(tree["f299"]?.content, content("299"));
});

Deno.test("extractZip() stops at an aborted signal", async () => {
  const specs = Array.from({ length: 300 }, (_, i) => ({ name: `f${i}`, data: "x", method: 0 }));
  const dir = await Deno.makeTempDir({ prefix: "tooltool-zip-" });
  try {
    await Deno.writeFile(`${dir}/a.zip`, zip(specs));
    await Deno.mkdir(`${dir}/out`);
    const controller = new AbortController();
    controller.abort(new Error("stop"));
    const extractor = new Extractor(`${dir}/out`);
    await assert.rejects(
      extractZip(`${dir}/a.zip`, extractor, { signal: controller.signal }),
      /stop/,
    );
    extractor.abort();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

import assert from "node:assert/strict";
import { concat, paxData, tar, tarHeader } from "../../test/helpers/archives.ts";
import { EntryProblem } from "./safety.ts";
import { type TarEntry, TarParser } from "./tar.ts";

interface Parsed {
  readonly entry: TarEntry;
  readonly data: string;
}

/** Parses `bytes` fed in pieces of `step` bytes. */
function parse(bytes: Uint8Array, step = bytes.length): Parsed[] {
  const result: Parsed[] = [];
  let current: TarEntry | undefined;
  let pieces: Uint8Array[] = [];
  const parser = new TarParser({
    entry: (entry) => {
      current = entry;
      pieces = [];
    },
    data: (piece) => pieces.push(piece.slice()),
    entryEnd: () => {
      result.push({ entry: current!, data: new TextDecoder().decode(concat(pieces)) });
    },
  });
  for (let offset = 0; offset < bytes.length; offset += Math.max(1, step)) {
    parser.push(bytes.subarray(offset, offset + step));
  }
  parser.end();
  return result;
}

function fails(fn: () => unknown, pattern: RegExp): void {
  assert.throws(
    fn,
    (error: unknown) => error instanceof EntryProblem && pattern.test(error.message),
  );
}

Deno.test("TarParser reads files, directories and links with their metadata", () => {
  const parsed = parse(tar([
    { name: "top/", type: "5", mode: 0o750, mtime: 1234567890 },
    { name: "top/run.sh", data: "#!/bin/sh\n", mode: 0o755 },
    { name: "top/link", type: "2", linkName: "run.sh" },
    { name: "top/hard", type: "1", linkName: "top/run.sh" },
  ]));
  assert.deepEqual(parsed.map((p) => [p.entry.path, p.entry.type, p.data]), [
    ["top/", "directory", ""],
    ["top/run.sh", "file", "#!/bin/sh\n"],
    ["top/link", "symlink", ""],
    ["top/hard", "hardlink", ""],
  ]);
  assert.equal(parsed[0]!.entry.mode, 0o750);
  assert.equal(parsed[0]!.entry.mtime, 1234567890);
  assert.equal(parsed[1]!.entry.mode, 0o755);
  assert.equal(parsed[2]!.entry.linkPath, "run.sh");
});

Deno.test("TarParser gives the same result whatever the chunk boundaries", () => {
  const archive = tar([
    { name: "a", data: "x".repeat(700) },
    { type: "x", name: "pax", data: paxData({ path: "long/".repeat(30) + "name" }) },
    { name: "ignored", data: "y".repeat(513) },
    { name: "b", data: "" },
  ]);
  const whole = parse(archive);
  for (const step of [1, 7, 511, 512, 513, 1000]) assert.deepEqual(parse(archive, step), whole);
  assert.equal(whole[1]!.entry.path, "long/".repeat(30) + "name");
});

Deno.test("TarParser applies GNU long names and long link targets", () => {
  const name = "d/".repeat(80) + "file";
  const target = "t/".repeat(80) + "target";
  const parsed = parse(tar([
    { name: "././@LongLink", type: "L", data: name + "\0", format: "gnu" },
    { name: "K", type: "K", data: target + "\0", format: "gnu" },
    { name: "truncated", type: "2", format: "gnu" },
    { name: "short", format: "gnu", data: "z" },
  ]));
  assert.equal(parsed[0]!.entry.path, name);
  assert.equal(parsed[0]!.entry.linkPath, target);
  assert.equal(parsed[1]!.entry.path, "short");
  assert.equal(parsed[1]!.entry.linkPath, "");
});

Deno.test("TarParser applies pax path, linkpath, size and mtime, and global headers", () => {
  const parsed = parse(tar([
    { name: "g", type: "g", data: paxData({ mtime: "1600000000.5", comment: "x" }) },
    { name: "x", type: "x", data: paxData({ path: "ünïcode/ñame", linkpath: "tärget" }) },
    { name: "placeholder", type: "2" },
    { name: "x", type: "x", data: paxData({ size: "3" }) },
    { name: "sized", data: "abc", size: 99 },
    { name: "plain", data: "" },
  ]));
  assert.equal(parsed[0]!.entry.path, "ünïcode/ñame");
  assert.equal(parsed[0]!.entry.linkPath, "tärget");
  assert.equal(parsed[0]!.entry.mtime, 1600000000.5);
  assert.equal(parsed[1]!.data, "abc");
  assert.equal(parsed[2]!.entry.path, "plain");
  assert.equal(parsed[2]!.entry.mtime, 1600000000.5);
});

Deno.test("TarParser lets an empty local pax value cancel a global one", () => {
  const parsed = parse(tar([
    { name: "g", type: "g", data: paxData({ path: "everything" }) },
    { name: "x", type: "x", data: paxData({ path: "" }) },
    { name: "own-name", data: "" },
  ]));
  assert.equal(parsed[0]!.entry.path, "own-name");
});

Deno.test("TarParser joins the ustar prefix and name", () => {
  const parsed = parse(tar([{ name: "file", prefix: "some/deep/dir", data: "!" }]));
  assert.equal(parsed[0]!.entry.path, "some/deep/dir/file");
});

Deno.test("TarParser ignores the prefix field in GNU and v7 headers", () => {
  const parsed = parse(tar([{ name: "file", format: "gnu" }, { name: "old/", format: "v7" }]));
  assert.deepEqual(parsed.map((p) => [p.entry.path, p.entry.type]), [
    ["file", "file"],
    ["old/", "directory"],
  ]);
});

Deno.test("TarParser reads base-256 sizes beyond 8 GiB", () => {
  const huge = 9 * 1024 ** 3 + 5;
  const archive = tar([{ name: "big", base256Size: true, size: huge }], { end: false });
  let seen: TarEntry | undefined;
  const parser = new TarParser({
    entry: (entry) => seen = entry,
    data: () => {},
    entryEnd: () => {},
  });
  parser.push(archive.subarray(0, 512));
  assert.equal(seen?.size, huge);
  fails(() => parser.end(), /unexpected end of archive in entry "big"/);
});

Deno.test("TarParser refuses a header with a bad checksum", () => {
  const archive = tar([{ name: "a", data: "1" }, { name: "b", data: "2" }]);
  archive[1034] = archive[1034]! ^ 1;
  fails(() => parse(archive), /bad checksum/);
  const first = tar([{ name: "a" }]);
  first[0] = first[0]! ^ 1;
  fails(() => parse(first), /^not a tar archive$/);
});

Deno.test("TarParser refuses truncated archives but accepts a missing end block", () => {
  const archive = tar([{ name: "a", data: "x".repeat(1000) }], { end: false });
  assert.equal(parse(archive).length, 1);
  fails(() => parse(archive.subarray(0, 900)), /unexpected end of archive in entry "a"/);
  fails(() => parse(archive.subarray(0, 100)), /unexpected end of archive/);
  fails(() => parse(new Uint8Array(0)), /empty/);
});

Deno.test("TarParser ignores everything after the end-of-archive block", () => {
  const archive = concat([tar([{ name: "a" }]), new Uint8Array(512).fill(0x41)]);
  assert.equal(parse(archive).length, 1);
});

Deno.test("TarParser reports devices, FIFOs, sparse and unknown types for refusal", () => {
  const parsed = parse(tar([
    { name: "c", type: "3" },
    { name: "b", type: "4" },
    { name: "p", type: "6" },
    { name: "s", type: "S", data: "sparse" },
    { name: "x", type: "x", data: paxData({ "GNU.sparse.major": "1" }) },
    { name: "pax-sparse", data: "" },
    { name: "label", type: "V" },
    { name: "contiguous", type: "7", data: "c" },
  ]));
  assert.deepEqual(parsed.map((p) => [p.entry.path, p.entry.type, p.entry.typeflag]), [
    ["c", "character-device", "3"],
    ["b", "block-device", "4"],
    ["p", "fifo", "6"],
    ["s", "unsupported", "S"],
    ["pax-sparse", "unsupported", "S"],
    ["contiguous", "file", "7"],
  ]);
});

Deno.test("TarParser refuses oversized long-name headers before buffering them", () => {
  const header = tarHeader({ name: "L", type: "L" }, 1 << 20);
  fails(() => new TarParser({ entry() {}, data() {}, entryEnd() {} }).push(header), /too large/);
});

Deno.test("TarParser refuses malformed pax records", () => {
  fails(() => parse(tar([{ name: "x", type: "x", data: "99 path=a\n" }, { name: "a" }])), /pax/);
  fails(() => parse(tar([{ name: "x", type: "x", data: "5 ab\n" }, { name: "a" }])), /pax/);
});

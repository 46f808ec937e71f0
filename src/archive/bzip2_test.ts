import assert from "node:assert/strict";
import * as zlib from "node:zlib";
import { concat, hasProgram } from "../../test/helpers/archives.ts";
import { decompressBzip2 } from "./bzip2.ts";
import { EntryProblem } from "./safety.ts";

// Fixtures were written once by the real bzip2 1.0.8 (testdata/make_fixtures.py, README.md),
// so these tests run whether or not a bzip2 program is installed.

function fixture(name: string): Uint8Array {
  return Deno.readFileSync(new URL(`./testdata/${name}`, import.meta.url));
}

async function* pieces(data: Uint8Array, step: number): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < data.length; offset += step) {
    yield data.slice(offset, offset + step);
  }
}

interface Decoded {
  readonly length: number;
  readonly crc: number;
  /** The largest chunk the decoder handed out at once. */
  readonly largestChunk: number;
}

/** Decodes without keeping the output (the bomb is 50 MB), fed in pieces of `step` bytes. */
async function decode(data: Uint8Array, step = 1 << 16): Promise<Decoded> {
  let length = 0;
  let crc = 0;
  let largestChunk = 0;
  for await (const chunk of decompressBzip2(pieces(data, step))) {
    length += chunk.length;
    crc = zlib.crc32(chunk, crc);
    largestChunk = Math.max(largestChunk, chunk.length);
  }
  return { length, crc: crc >>> 0, largestChunk };
}

/** Length and CRC-32 of what each valid fixture decompresses to (from Python's bz2). */
const expected: Record<string, [number, number]> = {
  "multi_block.bz2": [250_000, 0x384161b9],
  "level9.bz2": [2_000_000, 0xfa29ac81],
  "runs.bz2": [3_000_000, 0xa398225a],
  "concatenated.bz2": [12_000, 0x5f0ddd0e],
  "small.bz2": [20_000, 0x0550dd5c],
  "empty.bz2": [0, 0],
  "bomb.bz2": [50_000_000, 0x3ccb25e5],
};

async function assertDecodes(name: string, step?: number): Promise<void> {
  const { length, crc } = await decode(fixture(name), step);
  assert.deepEqual([length, crc], expected[name], name);
}

async function assertRefused(name: string, pattern: RegExp): Promise<void> {
  await assert.rejects(
    decode(fixture(name)),
    (error: unknown) => error instanceof EntryProblem && pattern.test(error.message),
    name,
  );
}

Deno.test("decompressBzip2() reads a level-1 stream of three blocks", async () => {
  await assertDecodes("multi_block.bz2");
});

Deno.test("decompressBzip2() reads 900 kB blocks of text, runs and noise (level 9)", async () => {
  await assertDecodes("level9.bz2", 1 << 18);
});

Deno.test("decompressBzip2() survives input split at every kind of boundary", async () => {
  for (const step of [1, 3, 4096]) await assertDecodes("small.bz2", step);
  await assertDecodes("multi_block.bz2", 7);
});

Deno.test("decompressBzip2() expands long runs, and an empty stream to nothing", async () => {
  await assertDecodes("runs.bz2");
  await assertDecodes("empty.bz2");
});

Deno.test("decompressBzip2() reads concatenated streams, as pbzip2 writes them", async () => {
  await assertDecodes("concatenated.bz2");
});

Deno.test("decompressBzip2() ignores trailing garbage after a complete stream", async () => {
  const data = concat([fixture("small.bz2"), new TextEncoder().encode("garbage")]);
  const { length } = await decode(data);
  assert.equal(length, 20_000);
});

Deno.test("decompressBzip2() expands a bomb in bounded chunks, never a whole block", async () => {
  // 81 bytes to 50 MB: nothing in the decoder limits the total (the caller's disk does), but
  // it must not buffer it: output comes in chunks of at most 256 KiB.
  assert.ok(fixture("bomb.bz2").length < 100);
  const { length, crc, largestChunk } = await decode(fixture("bomb.bz2"));
  assert.deepEqual([length, crc], expected["bomb.bz2"]);
  assert.ok(largestChunk <= 1 << 18, `chunk of ${largestChunk} bytes`);
});

Deno.test("decompressBzip2() detects truncated data", async () => {
  await assertRefused("truncated.bz2", /corrupt bzip2 data: unexpected end of data/);
});

Deno.test("decompressBzip2() detects a wrong block checksum", async () => {
  await assertRefused("bad_block_crc.bz2", /block checksum mismatch/);
});

Deno.test("decompressBzip2() detects a wrong stream checksum", async () => {
  await assertRefused("bad_stream_crc.bz2", /stream checksum mismatch/);
});

Deno.test("decompressBzip2() refuses a bad stream magic and a bad block magic", async () => {
  await assertRefused("bad_stream_magic.bz2", /bad stream header/);
  await assertRefused("bad_block_magic.bz2", /bad block header/);
});

Deno.test("decompressBzip2() refuses randomised blocks (bzip2 0.9.0) by name", async () => {
  await assertRefused("randomised.bz2", /randomised blocks \(bzip2 0\.9\.0\) are not supported/);
});

Deno.test("decompressBzip2() refuses Huffman table garbage", async () => {
  await assertRefused("bad_code_length.bz2", /bad code length/);
  await assertRefused("bad_group_count.bz2", /bad number of Huffman groups/);
  await assertRefused("too_few_selectors.bz2", /too few selectors/);
  await assertRefused("bad_origin.bz2", /bad block origin/);
});

Deno.test("decompressBzip2() refuses run lengths beyond what a block can hold", async () => {
  await assertRefused("run_overflow.bz2", /run too long/);
  await assertRefused("block_overflow.bz2", /block too long/);
});

Deno.test("decompressBzip2() refuses data that is not bzip2", async () => {
  await assert.rejects(decode(new TextEncoder().encode("hello")), /bad stream header/);
  await assert.rejects(decode(new Uint8Array(0)), /empty/);
});

Deno.test({
  name: "decompressBzip2() matches the bzip2 program on fresh data, when it is installed",
  ignore: !hasProgram("bzip2", ["--help"]),
  async fn() {
    const data = new Uint8Array(300_000);
    for (let i = 0, x = 9; i < data.length; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      data[i] = (i >> 12) % 3 === 0 ? 0x61 : (i >> 12) % 3 === 1 ? 0x61 + (i * 7) % 26 : x >>> 24;
    }
    const child = new Deno.Command("bzip2", { args: ["-1", "-c"], stdin: "piped", stdout: "piped" })
      .spawn();
    const writer = child.stdin.getWriter();
    await writer.write(data);
    await writer.close();
    const { length, crc } = await decode((await child.output()).stdout);
    assert.deepEqual([length, crc], [data.length, zlib.crc32(data) >>> 0]);
  },
});

import assert from "node:assert/strict";
import { concat, hasProgram } from "../../test/helpers/archives.ts";
import { decompressBzip2 } from "./bzip2.ts";
import { EntryProblem } from "./safety.ts";

const haveBzip2 = hasProgram("bzip2", ["--help"]);

async function bzip2(data: Uint8Array, level = 9): Promise<Uint8Array> {
  const child = new Deno.Command("bzip2", {
    args: [`-${level}`, "-c"],
    stdin: "piped",
    stdout: "piped",
  })
    .spawn();
  const writer = child.stdin.getWriter();
  await writer.write(data);
  await writer.close();
  return (await child.output()).stdout;
}

async function decompress(data: Uint8Array, step = 1 << 16): Promise<Uint8Array> {
  async function* pieces() {
    for (let offset = 0; offset < data.length; offset += step) {
      yield data.slice(offset, offset + step);
    }
  }
  const out: Uint8Array[] = [];
  for await (const chunk of decompressBzip2(pieces())) out.push(chunk.slice());
  return concat(out);
}

function sample(size: number, seed: number): Uint8Array {
  // Mixed content: runs (RLE1), text (MTF), noise (big Huffman tables).
  const out = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    const region = Math.floor(i / 4096) % 3;
    out[i] = region === 0 ? 0x61 : region === 1 ? 0x61 + ((i * 7) % 26) : x >>> 24;
  }
  return out;
}

Deno.test({
  name: "decompressBzip2() matches bzip2 on mixed data across several blocks",
  ignore: !haveBzip2,
  async fn() {
    const data = sample(250_000, 1);
    assert.deepEqual(await decompress(await bzip2(data, 1)), data);
  },
});

Deno.test({
  name: "decompressBzip2() matches bzip2 -9 on 900 kB blocks of text, runs and noise",
  ignore: !haveBzip2,
  async fn() {
    const data = sample(2_600_000, 6);
    assert.deepEqual(await decompress(await bzip2(data, 9), 1 << 18), data);
  },
});

Deno.test({
  name: "decompressBzip2() survives input split at every kind of boundary",
  ignore: !haveBzip2,
  async fn() {
    const data = sample(40_000, 2);
    const compressed = await bzip2(data);
    for (const step of [1, 3, 4096]) assert.deepEqual(await decompress(compressed, step), data);
  },
});

Deno.test({
  name: "decompressBzip2() expands long runs and empty input streams",
  ignore: !haveBzip2,
  async fn() {
    const runs = new Uint8Array(3_000_000).fill(7);
    assert.deepEqual(await decompress(await bzip2(runs)), runs);
    assert.deepEqual(await decompress(await bzip2(new Uint8Array(0))), new Uint8Array(0));
  },
});

Deno.test({
  name: "decompressBzip2() reads concatenated streams, as pbzip2 writes them",
  ignore: !haveBzip2,
  async fn() {
    const a = sample(5000, 3);
    const b = sample(7000, 4);
    const joined = concat([await bzip2(a), await bzip2(b)]);
    assert.deepEqual(await decompress(joined), concat([a, b]));
  },
});

Deno.test({
  name: "decompressBzip2() detects corrupt and truncated data",
  ignore: !haveBzip2,
  async fn() {
    const compressed = await bzip2(sample(20_000, 5));
    const damaged = compressed.slice();
    damaged[damaged.length >> 1] = damaged[damaged.length >> 1]! ^ 0x10;
    await assert.rejects(decompress(damaged), EntryProblem);
    await assert.rejects(
      decompress(compressed.subarray(0, compressed.length - 20)),
      /corrupt bzip2 data/,
    );
  },
});

Deno.test("decompressBzip2() refuses data that is not bzip2", async () => {
  await assert.rejects(decompress(new TextEncoder().encode("hello")), /bad stream header/);
  await assert.rejects(decompress(new Uint8Array(0)), /empty/);
});

import assert from "node:assert/strict";
import { patternBytes, sha512Of } from "../../test/helpers/data.ts";
import { ToolError } from "../errors.ts";
import { MAX_WRITE } from "../write_all.ts";
import { emptyPool, pooledByteCount, takeBuffer } from "../buffer_pool.ts";
import { BUFFER_SIZE, HashingSink } from "./hashing_sink.ts";

/** An in-memory stand-in for the few `Deno.FsFile` calls the sink makes. */
function memoryFile(options: { failAfterBytes?: number } = {}) {
  const writes: number[] = [];
  let content = new Uint8Array(0);
  let cursor = 0;
  const file = {
    writeSync(bytes: Uint8Array): number {
      writes.push(bytes.length);
      if (options.failAfterBytes !== undefined && cursor + bytes.length > options.failAfterBytes) {
        throw new Error("No space left on device (os error 28)");
      }
      const grown = new Uint8Array(Math.max(content.length, cursor + bytes.length));
      grown.set(content);
      grown.set(bytes, cursor);
      content = grown;
      cursor += bytes.length;
      return bytes.length;
    },
    statSync: () => ({ size: content.length }),
    truncate(length = 0) {
      content = content.slice(0, length);
      return Promise.resolve();
    },
    seek(offset: number) {
      cursor = offset;
      return Promise.resolve(offset);
    },
  };
  return { file: file as unknown as Deno.FsFile, writes, content: () => content };
}

Deno.test("HashingSink writes every byte in order and hashes exactly them, in writes of at most MAX_WRITE", async () => {
  const data = patternBytes(1, 3 * BUFFER_SIZE + 54321);
  const { file, writes, content } = memoryFile();
  const sink = new HashingSink(file, "big.bin", BUFFER_SIZE);
  // Network-sized pieces that do not line up with the buffers.
  for (let offset = 0, step = 1; offset < data.length; step = (step * 7) % 200_000 + 1) {
    await sink.push(data.subarray(offset, offset + step));
    offset += step;
  }
  await sink.flush();
  assert.equal(sink.position, data.length);
  assert.equal(sink.finish(), sha512Of(data));
  assert.deepEqual(content(), data);
  assert.ok(writes.every((length) => length <= MAX_WRITE), `${Math.max(...writes)}`);
});

Deno.test("HashingSink reports a failed write once, as a ToolError naming the file, and writes nothing after it", async () => {
  const data = patternBytes(2, 4 * BUFFER_SIZE);
  const { file, writes } = memoryFile({ failAfterBytes: BUFFER_SIZE + 1000 });
  const sink = new HashingSink(file, "big.bin", BUFFER_SIZE);
  const pushing = (async () => {
    for (let offset = 0; offset < data.length; offset += 65536) {
      await sink.push(data.subarray(offset, offset + 65536));
    }
    await sink.flush();
  })();
  await assert.rejects(pushing, (error: unknown) => {
    assert.ok(error instanceof ToolError);
    assert.match(error.message, /^Cannot write "big\.bin": /);
    return true;
  });
  const failedAt = writes.length;
  // The gap a failed write leaves is never papered over by later buffers.
  assert.ok(failedAt <= Math.ceil((BUFFER_SIZE + 1000) / MAX_WRITE) + 1, `${failedAt} writes`);
});

Deno.test("HashingSink starts clean after restart(): the file and the hash hold only the new bytes", async () => {
  const { file, content } = memoryFile();
  const sink = new HashingSink(file, "f.bin", BUFFER_SIZE);
  await sink.push(patternBytes(3, 2 * BUFFER_SIZE));
  await sink.restart();
  const fresh = patternBytes(4, BUFFER_SIZE + 10);
  await sink.push(fresh);
  await sink.flush();
  assert.deepEqual(content(), fresh);
  assert.equal(sink.finish(), sha512Of(fresh));
});

Deno.test("HashingSink hands its buffer back to the pool once disposed, and only when idle", async () => {
  emptyPool();
  const data = patternBytes(3, 100 * 1024);
  {
    using sink = new HashingSink(memoryFile().file, "small.bin", data.length);
    await sink.push(data);
    await sink.flush();
    assert.equal(sink.finish(), sha512Of(data));
  }
  assert.equal(pooledByteCount(), 128 * 1024, "the one buffer of a small file");
  takeBuffer(100 * 1024);
  const failing = memoryFile({ failAfterBytes: 10 });
  {
    using sink = new HashingSink(failing.file, "small.bin", data.length);
    // Filled but never flushed: the failed write is still waiting to be reported.
    await sink.push(data);
  }
  assert.equal(pooledByteCount(), 0, "a buffer with unsettled work is not reused");
});

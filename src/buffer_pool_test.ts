import assert from "node:assert/strict";
import { emptyPool, giveBack, pooledByteCount, takeBuffer } from "./buffer_pool.ts";

const KIB = 1024;

Deno.test("takeBuffer() rounds up to a size class and gives a returned buffer out again", () => {
  emptyPool();
  const first = takeBuffer(100 * KIB + 7);
  assert.equal(first.byteLength, 128 * KIB);
  first[0] = 42;
  giveBack(first);
  assert.equal(pooledByteCount(), 128 * KIB);
  const again = takeBuffer(120 * KIB);
  assert.equal(again.buffer, first.buffer, "the same memory, not a new allocation");
  assert.equal(again[0], 42, "reused buffers are not cleared");
  assert.equal(pooledByteCount(), 0);
});

Deno.test("small, huge and odd buffers are never pooled", () => {
  emptyPool();
  const small = takeBuffer(1000);
  assert.equal(small.byteLength, 1000);
  giveBack(small);
  const huge = takeBuffer(2 * 1024 * KIB);
  assert.equal(huge.byteLength, 2 * 1024 * KIB);
  giveBack(huge);
  giveBack(new Uint8Array(100 * KIB));
  const whole = new Uint8Array(256 * KIB);
  giveBack(whole.subarray(0, 128 * KIB));
  giveBack(whole.subarray(128 * KIB));
  assert.equal(pooledByteCount(), 0);
});

Deno.test("a detached buffer is not pooled", () => {
  emptyPool();
  const buffer = takeBuffer(64 * KIB);
  (buffer.buffer as ArrayBuffer).transfer();
  giveBack(buffer);
  assert.equal(pooledByteCount(), 0);
});

Deno.test("a buffer handed back twice is pooled once", () => {
  emptyPool();
  const buffer = takeBuffer(64 * KIB);
  giveBack(buffer);
  giveBack(buffer);
  giveBack(new Uint8Array(buffer.buffer));
  assert.equal(pooledByteCount(), 64 * KIB);
  const first = takeBuffer(64 * KIB);
  const second = takeBuffer(64 * KIB);
  assert.notEqual(first.buffer, second.buffer);
});

Deno.test("the pool stops keeping buffers past its limit", () => {
  emptyPool();
  const many = Array.from({ length: 40 }, () => takeBuffer(1024 * KIB));
  for (const buffer of many) giveBack(buffer);
  assert.equal(pooledByteCount(), 32 * 1024 * KIB);
  emptyPool();
});

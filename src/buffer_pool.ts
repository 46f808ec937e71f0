/**
 * Reused byte buffers for downloads. A fetch of many small files made two to three fresh
 * buffers of 100 KiB or more per file (the landing buffer of the body reader, the sink's
 * buffer): zero-filled memory from the allocator each time, and garbage that made V8
 * collect more often. Buffers handed back here are given out again instead.
 *
 * Only whole buffers of a size class (a power of two from 64 KiB to 1 MiB) are kept, and
 * at most `MAX_POOLED_BYTES` in all: a pool never holds more than the downloads in flight
 * had at their peak. A reused buffer is not cleared; whoever takes one writes before
 * reading, as a download does.
 *
 * @module
 */

/** Smaller buffers are cheap to make and are not pooled. */
const MIN_CLASS_BYTES = 64 * 1024;

/** Larger buffers are not pooled. */
const MAX_CLASS_BYTES = 1024 * 1024;

/** The most the pool keeps, all classes together. */
const MAX_POOLED_BYTES = 32 * 1024 * 1024;

const spare = new Map<number, Uint8Array[]>();
let pooledBytes = 0;

/** The capacity a buffer of at least `size` bytes gets: its size class, or `size` itself. */
function capacityFor(size: number): number {
  if (size < MIN_CLASS_BYTES || size > MAX_CLASS_BYTES) return size;
  let capacity = MIN_CLASS_BYTES;
  while (capacity < size) capacity *= 2;
  return capacity;
}

/**
 * A buffer of at least `size` bytes (its whole size class, so it may be longer), with
 * whatever content it last had.
 */
export function takeBuffer(size: number): Uint8Array {
  const capacity = capacityFor(size);
  const buffer = spare.get(capacity)?.pop();
  if (buffer === undefined) return new Uint8Array(capacity);
  pooledBytes -= capacity;
  return buffer;
}

/**
 * Hands a buffer back for reuse; the caller must not touch it afterwards. A buffer that is
 * not a whole pooled class (a view, a detached buffer, an odd size) is left to the garbage
 * collector.
 */
export function giveBack(buffer: Uint8Array): void {
  const capacity = buffer.byteLength;
  if (capacity < MIN_CLASS_BYTES || capacity > MAX_CLASS_BYTES) return;
  if (capacityFor(capacity) !== capacity) return;
  if (buffer.byteOffset !== 0 || buffer.buffer.byteLength !== capacity) return;
  if (pooledBytes + capacity > MAX_POOLED_BYTES) return;
  const list = spare.get(capacity);
  if (list === undefined) spare.set(capacity, [buffer]);
  else if (list.some((kept) => kept.buffer === buffer.buffer)) return;
  else list.push(buffer);
  pooledBytes += capacity;
}

/** Drops every pooled buffer (for tests: each starts from an empty pool). */
export function emptyPool(): void {
  spare.clear();
  pooledBytes = 0;
}

/** Bytes held for reuse now (for tests). */
export function pooledByteCount(): number {
  return pooledBytes;
}

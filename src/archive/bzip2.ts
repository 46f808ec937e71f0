/**
 * A streaming bzip2 decompressor in TypeScript: the in-process fallback for `.tar.bz2` when
 * the `bzip2` program is not installed. No npm package offered one that is maintained,
 * streams with bounded memory and keeps up (the popular `unbzip2-stream` is a node-stream
 * wrapper without backpressure, 4x slower than Python's libbz2 in a quick test).
 *
 * The format, as libbzip2 1.0.8 reads it: a stream is `BZh1`-`BZh9` and blocks of at most
 * 100k-900k bytes, each Huffman-coded MTF/RLE2 symbols of a Burrows-Wheeler transform of
 * RLE1-coded data, checked by a CRC; streams may be concatenated (pbzip2, lbzip2). Memory is
 * one block (3.6 MB of `Uint32Array` at level 9) plus a few MiB of input.
 *
 * @module
 */

import { EntryProblem } from "./safety.ts";

const blockMagicHigh = 0x314159;
const blockMagicLow = 0x265359;
const endMagicHigh = 0x177245;
const endMagicLow = 0x385090;
const maxGroups = 6;
const maxAlphaSize = 258;
const maxCodeLength = 20;
const groupSize = 50;
const maxSelectors = 18002;
/**
 * Input kept ahead of a block before it is decoded: a level-9 block rarely compresses to
 * more than 900 kB, and one that does is retried with more input.
 */
const lookahead = 1100 * 1000;
const outputSize = 1 << 18;

/** Thrown inside block decoding when the buffered input ends before the block does. */
class NeedInput extends Error {}

const crcTable = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    table[i] = c >>> 0;
  }
  return table;
})();

function corrupt(detail: string): EntryProblem {
  return new EntryProblem(undefined, `corrupt bzip2 data: ${detail}`);
}

/** Bit-level reader over a buffer that grows as input arrives. */
class BitInput {
  buffer: Uint8Array = new Uint8Array(0);
  #storage = new Uint8Array(0);
  position = 0;
  bitBuffer = 0;
  bitCount = 0;
  ended = false;
  readonly #source: AsyncIterator<Uint8Array>;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#source = source[Symbol.asyncIterator]();
  }

  get available(): number {
    return this.buffer.length - this.position;
  }

  /**
   * Reads input until `bytes` are buffered or the input ends. The unread rest moves to the
   * front of one reused buffer, so input makes no garbage (it is copied once, not per block).
   */
  async fill(bytes: number): Promise<void> {
    if (this.available >= bytes || this.ended) return;
    const rest = this.available;
    if (this.#storage.length < bytes) {
      const storage = new Uint8Array(Math.max(bytes, this.#storage.length * 2));
      storage.set(this.buffer.subarray(this.position));
      this.#storage = storage;
    } else {
      // `buffer` is a view of `#storage` from offset 0 once the first fill has run.
      this.#storage.copyWithin(0, this.position, this.buffer.length);
    }
    let length = rest;
    while (length < bytes) {
      const next = await this.#source.next();
      if (next.done) {
        this.ended = true;
        break;
      }
      const piece = next.value;
      if (length + piece.length > this.#storage.length) {
        const storage = new Uint8Array(Math.max(length + piece.length, this.#storage.length * 2));
        storage.set(this.#storage.subarray(0, length));
        this.#storage = storage;
      }
      this.#storage.set(piece, length);
      length += piece.length;
    }
    this.buffer = this.#storage.subarray(0, length);
    this.position = 0;
  }

  bits(n: number): number {
    while (this.bitCount < n) {
      if (this.position >= this.buffer.length) throw new NeedInput();
      this.bitBuffer = (this.bitBuffer << 8) | this.buffer[this.position++]!;
      this.bitCount += 8;
    }
    this.bitCount -= n;
    return (this.bitBuffer >>> this.bitCount) & ((1 << n) - 1);
  }

  alignToByte(): void {
    this.bitCount -= this.bitCount % 8;
  }

  /** Whole bytes left in the bit buffer go back to the byte stream (after a stream ends). */
  unreadBits(): void {
    this.alignToByte();
    this.position -= this.bitCount / 8;
    this.bitCount = 0;
  }

  async close(): Promise<void> {
    await this.#source.return?.();
  }
}

/** One decoded block, ready to be written out: the BWT vector and where output stopped. */
class Block {
  /** Low byte: the symbol; upper 24 bits: the BWT link. */
  readonly tt: Uint32Array;
  length = 0;
  expectedCrc = 0;
  crc = 0xffffffff;
  // Output state, kept across calls so that a block can fill many output chunks.
  position = 0;
  emitted = 0;
  last = -1;
  run = 0;
  repeat = 0;

  constructor(capacity: number) {
    this.tt = new Uint32Array(capacity);
  }
}

/**
 * Decompresses a bzip2 stream (or several concatenated). Output chunks are valid until the
 * next is requested. Throws an {@link EntryProblem} on corrupt or truncated data.
 */
export async function* decompressBzip2(
  source: AsyncIterable<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  const input = new BitInput(source);
  const output = new Uint8Array(outputSize);
  let block: Block | undefined;
  let streams = 0;
  try {
    for (;;) {
      await input.fill(4);
      if (input.available === 0) {
        if (streams === 0) throw corrupt("it is empty");
        return;
      }
      const header = input.buffer.subarray(input.position, input.position + 4);
      const level = header[3]! - 0x30;
      if (
        header[0] !== 0x42 || header[1] !== 0x5a || header[2] !== 0x68 || level < 1 || level > 9
      ) {
        // bzip2 ignores trailing garbage after a complete stream, and so do we.
        if (streams > 0) return;
        throw corrupt("bad stream header");
      }
      input.position += 4;
      streams++;
      const capacity = level * 100000;
      if (block === undefined || block.tt.length < capacity) block = new Block(capacity);
      let combinedCrc = 0;
      for (;;) {
        await input.fill(lookahead);
        let ended = false;
        for (;;) {
          const position = input.position;
          const bitBuffer = input.bitBuffer;
          const bitCount = input.bitCount;
          try {
            ended = readBlock(input, block, capacity);
            break;
          } catch (error) {
            if (!(error instanceof NeedInput)) throw error;
            // Rewind to the block's first bit and retry with twice the input buffered.
            input.position = position;
            input.bitBuffer = bitBuffer;
            input.bitCount = bitCount;
            const before = input.available;
            await input.fill(before * 2 + 1);
            if (input.available === before) throw corrupt("unexpected end of data");
          }
        }
        if (ended) {
          const stored = block.expectedCrc;
          if (stored !== combinedCrc) throw corrupt("stream checksum mismatch");
          input.unreadBits();
          break;
        }
        for (;;) {
          const n = writeBlock(block, output);
          if (n === 0) break;
          yield output.subarray(0, n);
        }
        const crc = ~block.crc >>> 0;
        if (crc !== block.expectedCrc) throw corrupt("block checksum mismatch");
        combinedCrc = (((combinedCrc << 1) | (combinedCrc >>> 31)) ^ crc) >>> 0;
      }
    }
  } finally {
    await input.close();
  }
}

/**
 * Reads one block (or the end-of-stream marker, returning true) into `block`. Synchronous
 * so that it can be restarted from the block's first bit when input runs out midway.
 */
function readBlock(input: BitInput, block: Block, capacity: number): boolean {
  const magicHigh = input.bits(24);
  const magicLow = input.bits(24);
  const crc = ((input.bits(16) << 16) | input.bits(16)) >>> 0;
  if (magicHigh === endMagicHigh && magicLow === endMagicLow) {
    block.expectedCrc = crc;
    return true;
  }
  if (magicHigh !== blockMagicHigh || magicLow !== blockMagicLow) throw corrupt("bad block header");
  block.expectedCrc = crc;
  if (input.bits(1)) throw corrupt("randomised blocks (bzip2 0.9.0) are not supported");
  const origPtr = input.bits(24);

  // Which byte values occur: 16 ranges of 16.
  const seqToUnseq = new Uint8Array(256);
  let inUse = 0;
  const used16 = input.bits(16);
  for (let i = 0; i < 16; i++) {
    if (used16 & (0x8000 >> i)) {
      const used = input.bits(16);
      for (let j = 0; j < 16; j++) if (used & (0x8000 >> j)) seqToUnseq[inUse++] = i * 16 + j;
    }
  }
  if (inUse === 0) throw corrupt("block uses no symbols");
  const alphaSize = inUse + 2;

  const groups = input.bits(3);
  if (groups < 2 || groups > maxGroups) throw corrupt("bad number of Huffman groups");
  const selectorCount = input.bits(15);
  if (selectorCount < 1) throw corrupt("bad number of selectors");
  const selectors = new Uint8Array(Math.min(selectorCount, maxSelectors));
  const mtfGroups = [0, 1, 2, 3, 4, 5];
  for (let i = 0; i < selectorCount; i++) {
    let j = 0;
    while (input.bits(1)) {
      if (++j >= groups) throw corrupt("bad selector");
    }
    // libbzip2 1.0.8 reads and drops selectors beyond its table (CVE-2019-12900).
    if (i >= maxSelectors) continue;
    const value = mtfGroups[j]!;
    for (let k = j; k > 0; k--) mtfGroups[k] = mtfGroups[k - 1]!;
    mtfGroups[0] = value;
    selectors[i] = value;
  }

  // Code lengths, delta-coded, then canonical decoding tables per group.
  const limits: Int32Array[] = [];
  const fasts: Int32Array[] = [];
  const bases: Int32Array[] = [];
  const perms: Uint16Array[] = [];
  const minLengths = new Uint8Array(groups);
  const lengths = new Uint8Array(maxAlphaSize);
  for (let t = 0; t < groups; t++) {
    let current = input.bits(5);
    let minLength = 32;
    let maxLength = 0;
    for (let i = 0; i < alphaSize; i++) {
      for (;;) {
        if (current < 1 || current > maxCodeLength) throw corrupt("bad code length");
        if (!input.bits(1)) break;
        current += input.bits(1) ? -1 : 1;
      }
      lengths[i] = current;
      if (current < minLength) minLength = current;
      if (current > maxLength) maxLength = current;
    }
    const limit = new Int32Array(maxCodeLength + 2);
    const base = new Int32Array(maxCodeLength + 2);
    const perm = new Uint16Array(maxAlphaSize);
    let pp = 0;
    for (let length = minLength; length <= maxLength; length++) {
      for (let s = 0; s < alphaSize; s++) if (lengths[s] === length) perm[pp++] = s;
    }
    const count = new Int32Array(maxCodeLength + 2);
    for (let s = 0; s < alphaSize; s++) count[lengths[s]! + 1]!++;
    for (let i = 1; i < count.length; i++) count[i]! += count[i - 1]!;
    let code = 0;
    for (let length = minLength; length <= maxLength; length++) {
      code += count[length + 1]! - count[length]!;
      limit[length] = code - 1;
      code <<= 1;
    }
    for (let length = minLength + 1; length <= maxLength; length++) {
      count[length] = ((limit[length - 1]! + 1) << 1) - count[length]!;
    }
    for (let length = 0; length < base.length; length++) base[length] = count[length]!;
    for (let length = maxLength + 1; length < limit.length; length++) limit[length] = -1;
    limits.push(limit);
    bases.push(base);
    perms.push(perm);
    minLengths[t] = minLength;
    fasts.push(fastTable(limit, base, perm, minLength, alphaSize));
  }

  // The symbol stream: Huffman -> RUNA/RUNB run lengths and move-to-front indexes.
  const tt = block.tt;
  const byteCount = new Int32Array(256);
  const mtf = new Uint8Array(256);
  for (let i = 0; i < 256; i++) mtf[i] = i;
  const endOfBlock = inUse + 1;
  let length = 0;
  let groupIndex = -1;
  let groupLeft = 0;
  let limit = limits[0]!;
  let fast = fasts[0]!;
  let base = bases[0]!;
  let perm = perms[0]!;
  let minLength = 0;
  let runLength = 0;
  let runWeight = 1;
  // Locals for the hot loop: V8 keeps them in registers, object fields it does not.
  const buffer = input.buffer;
  let position = input.position;
  let bitBuffer = input.bitBuffer;
  let bitCount = input.bitCount;
  for (;;) {
    if (groupLeft === 0) {
      if (++groupIndex >= selectors.length) throw corrupt("too few selectors");
      const group = selectors[groupIndex]!;
      limit = limits[group]!;
      fast = fasts[group]!;
      base = bases[group]!;
      perm = perms[group]!;
      minLength = minLengths[group]!;
      groupLeft = groupSize;
    }
    groupLeft--;
    while (bitCount < maxCodeLength) {
      if (position >= buffer.length) {
        if (bitCount >= minLength) break;
        throw new NeedInput();
      }
      bitBuffer = (bitBuffer << 8) | buffer[position++]!;
      bitCount += 8;
    }
    let symbol: number;
    const entry = bitCount >= fastBits
      ? fast[(bitBuffer >>> (bitCount - fastBits)) & fastMask]!
      : 0;
    if (entry !== 0) {
      // Codes of up to 10 bits (nearly all of them) in one lookup.
      bitCount -= entry & 31;
      symbol = entry >>> 5;
    } else {
      let codeLength = minLength;
      let code = (bitBuffer >>> (bitCount - codeLength)) & ((1 << codeLength) - 1);
      while (code > limit[codeLength]!) {
        if (++codeLength > maxCodeLength) throw corrupt("bad Huffman code");
        if (codeLength > bitCount) throw new NeedInput();
        code = (bitBuffer >>> (bitCount - codeLength)) & ((1 << codeLength) - 1);
      }
      bitCount -= codeLength;
      const index = code - base[codeLength]!;
      if (index < 0 || index >= alphaSize) throw corrupt("bad Huffman code");
      symbol = perm[index]!;
    }

    if (symbol <= 1) {
      // RUNA (0) and RUNB (1) spell a run length in bijective base 2.
      runLength += runWeight << symbol;
      runWeight <<= 1;
      if (runWeight > 1 << 21) throw corrupt("run too long");
      continue;
    }
    if (runLength > 0) {
      const value = seqToUnseq[mtf[0]!]!;
      if (length + runLength > capacity) throw corrupt("block too long");
      byteCount[value]! += runLength;
      tt.fill(value, length, length + runLength);
      length += runLength;
      runLength = 0;
      runWeight = 1;
    }
    if (symbol === endOfBlock) break;
    if (length >= capacity) throw corrupt("block too long");
    const nn = symbol - 1;
    const moved = mtf[nn]!;
    if (nn < 16) {
      // Most indexes are small; a loop beats the call for them.
      for (let k = nn; k > 0; k--) mtf[k] = mtf[k - 1]!;
    } else {
      mtf.copyWithin(1, 0, nn);
    }
    mtf[0] = moved;
    const value = seqToUnseq[moved]!;
    byteCount[value]!++;
    tt[length++] = value;
  }
  input.position = position;
  input.bitBuffer = bitBuffer;
  input.bitCount = bitCount;
  if (origPtr >= length) throw corrupt("bad block origin");

  // Inverse Burrows-Wheeler: link each position to the next in the upper 24 bits.
  const cumulative = new Int32Array(256);
  for (let i = 0, sum = 0; i < 256; i++) {
    cumulative[i] = sum;
    sum += byteCount[i]!;
  }
  for (let i = 0; i < length; i++) {
    const value = tt[i]! & 0xff;
    tt[cumulative[value]!++]! |= i << 8;
  }
  block.length = length;
  block.position = tt[origPtr]! >>> 8;
  block.emitted = 0;
  block.last = -1;
  block.run = 0;
  block.repeat = 0;
  block.crc = 0xffffffff;
  return false;
}

const fastBits = 10;
const fastMask = (1 << fastBits) - 1;

/**
 * A lookup table for one Huffman group: for each 10-bit prefix, `symbol << 5 | length` of
 * the code it starts with when that code has at most 10 bits, else 0 (decode bit by bit).
 * Built by running the canonical decoder on each prefix, so both paths agree.
 */
function fastTable(
  limit: Int32Array,
  base: Int32Array,
  perm: Uint16Array,
  minLength: number,
  alphaSize: number,
): Int32Array {
  const table = new Int32Array(1 << fastBits);
  for (let prefix = 0; prefix < table.length; prefix++) {
    let length = minLength;
    if (length > fastBits) continue;
    let code = prefix >>> (fastBits - length);
    while (code > limit[length]! && length < fastBits) {
      length++;
      code = prefix >>> (fastBits - length);
    }
    if (code > limit[length]!) continue;
    const index = code - base[length]!;
    if (index < 0 || index >= alphaSize) continue;
    table[prefix] = (perm[index]! << 5) | length;
  }
  return table;
}

/** Writes the next output of `block` (undoing RLE1) into `output`; 0 when it is complete. */
function writeBlock(block: Block, output: Uint8Array): number {
  const tt = block.tt;
  const length = block.length;
  const capacity = output.length;
  let out = 0;
  let crc = block.crc;
  let position = block.position;
  let emitted = block.emitted;
  let last = block.last;
  let run = block.run;
  let repeat = block.repeat;
  for (;;) {
    while (repeat > 0 && out < capacity) {
      output[out++] = last;
      crc = (crc << 8) ^ crcTable[((crc >>> 24) ^ last) & 0xff]!;
      repeat--;
    }
    if (out >= capacity || emitted >= length) break;
    if (position >= length) throw corrupt("bad block data");
    const entry = tt[position]!;
    const value = entry & 0xff;
    position = entry >>> 8;
    emitted++;
    if (run === 4) {
      // After four equal bytes, the fifth is how many more copies follow.
      repeat = value;
      run = 0;
      continue;
    }
    if (value === last) run++;
    else {
      run = 1;
      last = value;
    }
    output[out++] = value;
    crc = (crc << 8) ^ crcTable[((crc >>> 24) ^ value) & 0xff]!;
  }
  block.crc = crc;
  block.position = position;
  block.emitted = emitted;
  block.last = last;
  block.run = run;
  block.repeat = repeat;
  return out;
}

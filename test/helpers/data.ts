/**
 * Test data: bytes that are the same on every run, random bytes, their digests, and joining
 * byte arrays.
 *
 * @module
 */

import { sha512Hex } from "../../src/digest.ts";
import type { Sha512 } from "../../src/sha512.ts";

/** `size` bytes that depend only on `seed` (so no two seeds give the same file). */
export function patternBytes(seed: number, size: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + seed * 7) & 0xff;
  if (size > 0) bytes[0] = seed & 0xff;
  return bytes;
}

/** `size` random bytes (getRandomValues fills at most 64 KiB at a time). */
export function randomBytes(size: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  for (let offset = 0; offset < size; offset += 65536) {
    crypto.getRandomValues(bytes.subarray(offset, Math.min(size, offset + 65536)));
  }
  return bytes;
}

/** The lowercase hex sha512 of bytes or of a string's UTF-8. */
export function sha512Of(data: Uint8Array | string): Sha512 {
  return sha512Hex(data);
}

/** The parts one after the other, in one array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * A zip reader that extracts through an {@link Extractor}, so zip members obey the same
 * rules as tar members (tooltool.py's `zipfile.extractall` checks none of them, and drops
 * modes and symbolic links).
 *
 * Random access as the format intends: the end-of-central-directory record is found in the
 * file's last 64 KiB, the central directory is read in 1 MiB pieces, and each member's data
 * is read from its local header; nothing holds the whole file. Supports zip64, data
 * descriptors (sizes come from the central directory), UTF-8 and CP437 names, the Info-ZIP
 * Unicode path and extended timestamp fields, Unix modes and symbolic links, and the
 * `stored` and `deflate` methods. Encrypted and multi-disk archives are refused.
 *
 * @module
 */

import * as zlib from "node:zlib";
import type { Extractor, Member } from "./extract.ts";
import { EntryProblem } from "./safety.ts";
import { Yielder } from "./yielder.ts";

const eocdSignature = 0x06054b50;
const zip64LocatorSignature = 0x07064b50;
const zip64EocdSignature = 0x06064b50;
const centralSignature = 0x02014b50;
const localSignature = 0x04034b50;
const readSize = 1 << 20;
const maxSymlinkTarget = 4096;

/** A central directory record, with zip64 and Unicode extras applied. */
export interface ZipRecord {
  readonly name: string;
  readonly nameBytes: Uint8Array;
  readonly flags: number;
  readonly method: number;
  readonly crc: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly localOffset: number;
  readonly madeBy: number;
  readonly externalAttributes: number;
  readonly mtime: number | undefined;
}

/** How far to go and how to stop. */
export interface ZipOptions {
  readonly signal?: AbortSignal | undefined;
}

function corrupt(detail: string): EntryProblem {
  return new EntryProblem(undefined, `corrupt zip archive: ${detail}`);
}

/**
 * Reads exactly `length` bytes at `offset` (fewer only at the end of the file), into
 * `scratch` when given: thousands of small members then allocate nothing per member.
 */
function readAt(file: Deno.FsFile, offset: number, length: number, scratch?: Scratch): Uint8Array {
  const buffer = scratch === undefined ? new Uint8Array(length) : scratch.get(length);
  file.seekSync(offset, Deno.SeekMode.Start);
  let filled = 0;
  while (filled < length) {
    const n = file.readSync(buffer.subarray(filled));
    if (n === null || n === 0) break;
    filled += n;
  }
  return filled === length ? buffer : buffer.subarray(0, filled);
}

/** A reusable buffer; a view it returns is valid until the next `get`. */
class Scratch {
  #buffer = new Uint8Array(64 * 1024);

  get(length: number): Uint8Array {
    if (this.#buffer.length < length) {
      this.#buffer = new Uint8Array(Math.max(length, this.#buffer.length * 2));
    }
    return this.#buffer.subarray(0, length);
  }
}

function u16(bytes: Uint8Array, offset: number): number {
  return bytes[offset]! | (bytes[offset + 1]! << 8);
}

function u32(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) |
    (bytes[offset + 3]! << 24)) >>> 0;
}

function u64(bytes: Uint8Array, offset: number): number {
  const value = u32(bytes, offset) + u32(bytes, offset + 4) * 0x100000000;
  if (!Number.isSafeInteger(value)) throw corrupt("a 64-bit field is too large");
  return value;
}

/** Where the central directory is, and the shift of a self-extractor stub, if any. */
interface Directory {
  readonly offset: number;
  readonly size: number;
  readonly entries: number;
  /** Bytes prepended to the archive (self-extracting stubs): added to every stored offset. */
  readonly shift: number;
}

/** Finds and reads the end-of-central-directory record (and its zip64 form). */
export function findDirectory(file: Deno.FsFile, fileSize: number): Directory {
  const tailLength = Math.min(fileSize, 22 + 0xffff);
  const tailStart = fileSize - tailLength;
  const tail = readAt(file, tailStart, tailLength);
  let at = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (u32(tail, i) === eocdSignature && i + 22 + u16(tail, i + 20) <= tail.length) {
      at = i;
      break;
    }
  }
  if (at < 0) throw new EntryProblem(undefined, "not a zip archive: no end of central directory");
  const eocdPosition = tailStart + at;
  const disk = u16(tail, at + 4);
  const directoryDisk = u16(tail, at + 6);
  let entries = u16(tail, at + 10);
  let size = u32(tail, at + 12);
  let offset = u32(tail, at + 16);
  let directoryEnd = eocdPosition;
  if (entries === 0xffff || size === 0xffffffff || offset === 0xffffffff) {
    const locatorPosition = eocdPosition - 20;
    const locator = locatorPosition >= 0 ? readAt(file, locatorPosition, 20) : new Uint8Array(0);
    if (locator.length === 20 && u32(locator, 0) === zip64LocatorSignature) {
      const recordPosition = u64(locator, 8);
      const record = readAt(file, recordPosition, 56);
      let zip64At = recordPosition;
      let zip64 = record;
      if (record.length < 56 || u32(record, 0) !== zip64EocdSignature) {
        // A stub before the archive shifts this offset too: the record sits right before the locator.
        zip64At = locatorPosition - 56;
        zip64 = zip64At >= 0 ? readAt(file, zip64At, 56) : new Uint8Array(0);
        if (zip64.length < 56 || u32(zip64, 0) !== zip64EocdSignature) {
          throw corrupt("zip64 end of central directory not found");
        }
      }
      entries = u64(zip64, 32);
      size = u64(zip64, 40);
      offset = u64(zip64, 48);
      directoryEnd = zip64At;
    }
  } else if (disk !== 0 || directoryDisk !== 0) {
    throw new EntryProblem(undefined, "multi-disk zip archives are not supported");
  }
  const shift = directoryEnd - size - offset;
  if (shift < 0) throw corrupt("central directory overlaps its end record");
  return { offset: offset + shift, size, entries, shift };
}

/**
 * The central directory's records, one at a time, reading it in 1 MiB windows: memory
 * stays the same for 100 or 100,000 members. Throws when the directory is malformed or does
 * not hold as many records as its end record says (noticed only at the end).
 */
export function* directoryRecords(file: Deno.FsFile, directory: Directory): Generator<ZipRecord> {
  const end = directory.offset + directory.size;
  let window: Uint8Array = new Uint8Array(0);
  let windowStart = directory.offset;
  let position = directory.offset;
  let count = 0;
  const ensure = (length: number) => {
    if (position + length <= windowStart + window.length) return;
    if (position + length > end) throw corrupt("central directory is truncated");
    windowStart = position;
    // Not the shared scratch buffer: member extraction reads into that between records.
    window = readAt(file, position, Math.min(end - position, Math.max(readSize, length)));
    if (window.length < length) throw corrupt("central directory is truncated");
  };
  while (position < end) {
    ensure(46);
    let at = position - windowStart;
    if (u32(window, at) !== centralSignature) {
      throw corrupt(`bad central directory record after ${count} entries`);
    }
    const nameLength = u16(window, at + 28);
    const extraLength = u16(window, at + 30);
    const commentLength = u16(window, at + 32);
    const recordLength = 46 + nameLength + extraLength + commentLength;
    ensure(recordLength);
    at = position - windowStart;
    const record = parseRecord(window.subarray(at, at + recordLength), directory.shift);
    position += recordLength;
    count++;
    yield record;
  }
  if (count !== directory.entries && directory.entries !== 0xffff) {
    throw corrupt(
      `central directory has ${count} entries, its end record says ${directory.entries}`,
    );
  }
}

/** Every record of the central directory (for tests and listings; extraction streams them). */
export function readDirectory(file: Deno.FsFile, directory: Directory): ZipRecord[] {
  return [...directoryRecords(file, directory)];
}

function parseRecord(bytes: Uint8Array, shift: number): ZipRecord {
  const madeBy = u16(bytes, 4);
  const flags = u16(bytes, 8);
  const method = u16(bytes, 10);
  const dosTime = u16(bytes, 12);
  const dosDate = u16(bytes, 14);
  const crc = u32(bytes, 16);
  let compressedSize = u32(bytes, 20);
  let size = u32(bytes, 24);
  const nameLength = u16(bytes, 28);
  const extraLength = u16(bytes, 30);
  const diskStart = u16(bytes, 34);
  const externalAttributes = u32(bytes, 38);
  let localOffset = u32(bytes, 42);
  const nameBytes = bytes.slice(46, 46 + nameLength);
  const extra = bytes.subarray(46 + nameLength, 46 + nameLength + extraLength);
  let name: string | undefined;
  let mtime: number | undefined;
  for (let at = 0; at + 4 <= extra.length;) {
    const id = u16(extra, at);
    const length = u16(extra, at + 2);
    const field = extra.subarray(at + 4, at + 4 + length);
    at += 4 + length;
    if (id === 0x0001) {
      // zip64: the 64-bit values of exactly the fields that are saturated, in this order.
      let cursor = 0;
      const next = () => {
        if (cursor + 8 > field.length) throw corrupt("zip64 extra field is too short");
        const value = u64(field, cursor);
        cursor += 8;
        return value;
      };
      if (size === 0xffffffff) size = next();
      if (compressedSize === 0xffffffff) compressedSize = next();
      if (localOffset === 0xffffffff) localOffset = next();
    } else if (id === 0x5455 && field.length >= 5 && (field[0]! & 1)) {
      mtime = u32(field, 1) | 0; // signed: times before 1970 are negative
    } else if (id === 0x7075 && field.length >= 5 && field[0] === 1 && (flags & 0x800) === 0) {
      // Info-ZIP Unicode path, valid only while it describes the same stored name.
      if (zlib.crc32(nameBytes) === u32(field, 1)) {
        name = new TextDecoder("utf-8").decode(field.subarray(5));
      }
    }
  }
  if (diskStart !== 0 && diskStart !== 0xffff) {
    throw new EntryProblem(undefined, "multi-disk zip archives are not supported");
  }
  name ??= decodeName(nameBytes, (flags & 0x800) !== 0);
  return {
    name,
    nameBytes,
    flags,
    method,
    crc,
    compressedSize,
    size,
    localOffset: localOffset + shift,
    madeBy,
    externalAttributes,
    mtime: mtime ?? dosDateTime(dosDate, dosTime),
  };
}

/** Code page 437, the encoding of names without the UTF-8 flag, from 0x80 up. */
export const cp437High =
  "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0";

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Decodes a stored name: UTF-8 when flagged. Unflagged names are CP437 by the standard, but
 * Info-ZIP's zip on Linux stores the raw (UTF-8) bytes without the flag, and unzip takes them
 * as they are; so an unflagged name that is valid UTF-8 is read as UTF-8, otherwise CP437.
 */
export function decodeName(bytes: Uint8Array, utf8: boolean): string {
  if (utf8) return new TextDecoder("utf-8").decode(bytes);
  try {
    return strictUtf8.decode(bytes);
  } catch {
    let name = "";
    for (const byte of bytes) {
      name += byte < 0x80 ? String.fromCharCode(byte) : cp437High[byte - 0x80];
    }
    return name;
  }
}

/** MS-DOS date and time fields, read as local time as unzip does, in seconds. */
function dosDateTime(date: number, time: number): number | undefined {
  if (date === 0) return undefined;
  const value = new Date(
    1980 + (date >> 9),
    ((date >> 5) & 0xf) - 1,
    date & 0x1f,
    time >> 11,
    (time >> 5) & 0x3f,
    (time & 0x1f) * 2,
  ).getTime();
  return Number.isFinite(value) ? value / 1000 : undefined;
}

const S_IFMT = 0o170000;
const unixHost = 3;

/** How a record maps to a member: kind from the Unix mode when a Unix zip wrote it. */
export function memberOf(record: ZipRecord): Member {
  const unixMode = (record.madeBy >> 8) === unixHost ? record.externalAttributes >>> 16 : 0;
  const type = unixMode & S_IFMT;
  let kind: Member["kind"];
  if (record.name.endsWith("/") || type === 0o040000) kind = "directory";
  else if (type === 0o120000) kind = "symlink";
  else if (type === 0o020000) kind = "character-device";
  else if (type === 0o060000) kind = "block-device";
  // `cmd | zip out.zip -` records the pipe's FIFO mode for a member full of data; unzip and
  // tooltool.py's zipfile extract it as a regular file, and so do we (never as a FIFO).
  else if (type === 0o010000) kind = "file";
  else if (type === 0o140000) kind = "unsupported";
  else if (unixMode === 0 && (record.externalAttributes & 0x10) !== 0) kind = "directory";
  else kind = "file";
  return {
    name: record.name,
    kind,
    mode: unixMode & 0o7777 ? unixMode & 0o7777 : undefined,
    mtime: record.mtime,
    linkTarget: "",
    ...(type === 0o140000 ? { detail: "socket" } : {}),
  };
}

/**
 * Extracts every member of the zip file at `path` through `extractor`, checking each
 * member's size and CRC-32. Throws an {@link EntryProblem} on the first problem.
 */
export async function extractZip(
  path: string,
  extractor: Extractor,
  options: ZipOptions = {},
): Promise<void> {
  const file = await Deno.open(path);
  const inflater = new Inflater();
  try {
    const fileSize = (await file.stat()).size;
    const directory = findDirectory(file, fileSize);
    const scratch = new Scratch();
    const yielder = new Yielder(options.signal);
    let count = 0;
    for (const record of directoryRecords(file, directory)) {
      // Let signals and timers run now and then: stored members are all synchronous.
      if (++count % 256 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
      options.signal?.throwIfAborted();
      await extractRecord(file, record, directory.offset, extractor, {
        scratch,
        inflater,
        yielder,
      });
    }
  } finally {
    inflater.close();
    file.close();
  }
}

/**
 * One raw-deflate decompressor for every member, reset between members. `inflateRawSync`
 * per member would be simpler, but each call leaves a zlib handle whose native memory is
 * freed only when V8 gets round to collecting it: 120,000 small members took 310 MB.
 */
class Inflater {
  readonly #stream = zlib.createInflateRaw({ chunkSize: 1 << 16 });
  #pieces: Uint8Array[] = [];
  #failure: Error | undefined;
  #reject: ((error: Error) => void) | undefined;

  constructor() {
    this.#stream.on("data", (piece: Uint8Array) => this.#pieces.push(piece));
    this.#stream.on("error", (error: Error) => {
      this.#failure = error;
      this.#reject?.(error);
    });
  }

  /**
   * Decompresses one piece of a member's data and returns what it produced. Pieces are at
   * most 64 KiB, so one call's output is bounded (deflate expands at most 1032 times).
   */
  async push(data: Uint8Array): Promise<Uint8Array[]> {
    if (this.#failure !== undefined) throw this.#failure;
    this.#pieces = [];
    await new Promise<void>((resolve, reject) => {
      this.#reject = reject;
      this.#stream.write(data);
      this.#stream.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve());
    });
    this.#reject = undefined;
    const pieces = this.#pieces;
    this.#pieces = [];
    return pieces;
  }

  /** Ready for the next member. */
  reset(): void {
    if (this.#failure === undefined) this.#stream.reset();
  }

  close(): void {
    this.#stream.destroy();
  }
}

interface Buffers {
  readonly scratch: Scratch;
  readonly inflater: Inflater;
  /** A member of zeros inflates a thousandfold with no I/O to wait for: let signals in. */
  readonly yielder: Yielder;
}

/** Compressed data is read and inflated in pieces of this size. */
const pieceSize = 64 * 1024;

async function extractRecord(
  file: Deno.FsFile,
  record: ZipRecord,
  directoryOffset: number,
  extractor: Extractor,
  buffers: Buffers,
): Promise<void> {
  const member = memberOf(record);
  if (record.flags & 0x1) throw new EntryProblem(record.name, "is encrypted");
  if (record.method !== 0 && record.method !== 8) {
    throw new EntryProblem(record.name, `uses unsupported compression method ${record.method}`);
  }
  // The local header and its name in one read: the name must be the central directory's.
  const expectedName = record.nameBytes;
  const header = readAt(file, record.localOffset, 30 + expectedName.length, buffers.scratch);
  if (header.length < 30 || u32(header, 0) !== localSignature) {
    throw new EntryProblem(record.name, "has no local header where the central directory says");
  }
  const nameLength = u16(header, 26);
  const dataOffset = record.localOffset + 30 + nameLength + u16(header, 28);
  if (nameLength !== expectedName.length || !sameBytes(header.subarray(30), expectedName)) {
    throw new EntryProblem(record.name, "has a different name in its local header");
  }
  if (dataOffset + record.compressedSize > directoryOffset) {
    throw new EntryProblem(record.name, "has data that runs into the central directory");
  }

  if (member.kind === "symlink") {
    if (record.size > maxSymlinkTarget) {
      throw new EntryProblem(record.name, "has a link target that is too long");
    }
    const pieces: Uint8Array[] = [];
    await memberData(file, record, dataOffset, buffers, (piece) => pieces.push(piece.slice()));
    const target = new TextDecoder().decode(concatPieces(pieces));
    extractor.begin({ ...member, linkTarget: target });
    return;
  }
  extractor.begin(member);
  if (member.kind !== "file") return;
  await memberData(file, record, dataOffset, buffers, (piece) => extractor.write(piece));
  extractor.endFile();
}

/**
 * Reads, inflates and checks (size, CRC-32) one member's data, handing it to `take` in
 * pieces that are valid only during the call.
 */
async function memberData(
  file: Deno.FsFile,
  record: ZipRecord,
  dataOffset: number,
  buffers: Buffers,
  take: (piece: Uint8Array) => void,
): Promise<void> {
  let crc = 0;
  let written = 0;
  const accept = (piece: Uint8Array) => {
    written += piece.length;
    if (written > record.size) {
      throw new EntryProblem(record.name, "has more data than its recorded size");
    }
    crc = zlib.crc32(piece, crc);
    take(piece);
  };
  const stored = record.method === 0;
  const readLength = stored ? readSize : pieceSize;
  if (!stored) buffers.inflater.reset();
  for (let offset = 0; offset < record.compressedSize;) {
    await buffers.yielder.tick();
    const length = Math.min(readLength, record.compressedSize - offset);
    const piece = readAt(file, dataOffset + offset, length, buffers.scratch);
    if (piece.length < length) throw new EntryProblem(record.name, "is truncated");
    offset += length;
    if (stored) {
      accept(piece);
      continue;
    }
    let output: Uint8Array[];
    try {
      output = await buffers.inflater.push(piece);
    } catch (error) {
      throw new EntryProblem(record.name, `has corrupt compressed data: ${errorText(error)}`);
    }
    for (const part of output) accept(part);
  }
  if (written !== record.size) {
    throw new EntryProblem(record.name, "has less data than its recorded size");
  }
  if ((crc >>> 0) !== record.crc) throw new EntryProblem(record.name, "fails its CRC-32 check");
}

function concatPieces(pieces: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(pieces.reduce((sum, piece) => sum + piece.length, 0));
  let offset = 0;
  for (const piece of pieces) {
    out.set(piece, offset);
    offset += piece.length;
  }
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * A streaming tar reader: bytes go in with {@link TarParser.push} in chunks of any size, and
 * members come out through a {@link TarHandler}, their data in pieces, so memory stays
 * bounded by the chunk size whatever the size of the archive or of one member. Pure: no I/O.
 *
 * Reads the formats tar writers produce in practice: v7, ustar (with the 155-byte `prefix`),
 * GNU (`L`/`K` long names and link targets, base-256 numbers for members over 8 GiB) and
 * POSIX pax (`x` and `g` headers: `path`, `linkpath`, `size`, `mtime`). What a member *is*
 * is reported faithfully; whether it may be extracted is decided elsewhere (`safety.ts`).
 *
 * @module
 */

import { EntryProblem } from "./safety.ts";

/** What a tar member is; `unsupported` carries its type flag in {@link TarEntry.typeflag}. */
export type TarEntryType =
  | "file"
  | "directory"
  | "symlink"
  | "hardlink"
  | "character-device"
  | "block-device"
  | "fifo"
  | "unsupported";

/** One member's header, after long names and pax records were applied. */
export interface TarEntry {
  readonly path: string;
  readonly type: TarEntryType;
  /** The raw type flag, for messages about unsupported members. */
  readonly typeflag: string;
  /** Bytes of data that follow (only regular files have any). */
  readonly size: number;
  /** The full mode field, special bits included. */
  readonly mode: number;
  /** Modification time in seconds since the epoch (pax times may have a fraction). */
  readonly mtime: number;
  readonly linkPath: string;
}

/** Receives members in archive order; data pieces are only valid during the call. */
export interface TarHandler {
  entry(entry: TarEntry): void;
  data(piece: Uint8Array): void;
  entryEnd(): void;
}

const blockSize = 512;
/** Caps on metadata members held in memory: a hostile archive cannot make us buffer gigabytes. */
const maxLongNameSize = 1 << 16;
const maxPaxSize = 1 << 24;

const utf8 = new TextDecoder("utf-8");

type State = "header" | "data" | "meta" | "padding" | "end";

/**
 * A push parser for tar streams. Feed every decompressed chunk to {@link push}, then call
 * {@link end}; both throw an {@link EntryProblem} (with a plain message) on a malformed archive.
 * Everything after the end-of-archive block is read and ignored, as tar does.
 */
export class TarParser {
  readonly #handler: TarHandler;
  #state: State = "header";
  readonly #header = new Uint8Array(blockSize);
  #headerFill = 0;
  /** Bytes left in the current data, metadata or padding section. */
  #remaining = 0;
  #padding = 0;
  #meta: Uint8Array = new Uint8Array(0);
  #metaFill = 0;
  #metaType = "";
  #longName: string | undefined;
  #longLink: string | undefined;
  #pax = new Map<string, string>();
  readonly #globalPax = new Map<string, string>();
  /** For messages: the member being read. */
  #current = "";
  #entries = 0;

  constructor(handler: TarHandler) {
    this.#handler = handler;
  }

  /** How many members (not counting metadata headers) were reported. */
  get entries(): number {
    return this.#entries;
  }

  /** Whether the end-of-archive block was seen. */
  get ended(): boolean {
    return this.#state === "end";
  }

  /** Parses one chunk; the chunk may be reused by the caller once this returns. */
  push(chunk: Uint8Array): void {
    let offset = 0;
    const length = chunk.length;
    while (offset < length) {
      switch (this.#state) {
        case "end":
          return;
        case "header": {
          if (this.#headerFill === 0 && length - offset >= blockSize) {
            this.#onHeader(chunk.subarray(offset, offset + blockSize));
            offset += blockSize;
          } else {
            const take = Math.min(blockSize - this.#headerFill, length - offset);
            this.#header.set(chunk.subarray(offset, offset + take), this.#headerFill);
            this.#headerFill += take;
            offset += take;
            if (this.#headerFill === blockSize) {
              this.#headerFill = 0;
              this.#onHeader(this.#header);
            }
          }
          break;
        }
        case "data": {
          const take = Math.min(this.#remaining, length - offset);
          this.#handler.data(chunk.subarray(offset, offset + take));
          offset += take;
          this.#remaining -= take;
          if (this.#remaining === 0) this.#endData();
          break;
        }
        case "meta": {
          const take = Math.min(this.#remaining, length - offset);
          this.#meta.set(chunk.subarray(offset, offset + take), this.#metaFill);
          this.#metaFill += take;
          offset += take;
          this.#remaining -= take;
          if (this.#remaining === 0) this.#endMeta();
          break;
        }
        case "padding": {
          const take = Math.min(this.#padding, length - offset);
          offset += take;
          this.#padding -= take;
          if (this.#padding === 0) this.#state = "header";
          break;
        }
      }
    }
  }

  /** Declares the end of input; throws if it came in the middle of a member. */
  end(): void {
    if (this.#state === "end") return;
    if (this.#state === "header" && this.#headerFill === 0) {
      // Many writers omit the two zero blocks, and tar accepts that; an archive without a
      // single member, though, is not a tar archive at all.
      if (this.#entries === 0 && this.#metaType === "") {
        throw new EntryProblem(undefined, "not a tar archive: it is empty");
      }
      return;
    }
    const where = this.#current === "" ? "" : ` in entry "${this.#current}"`;
    throw new EntryProblem(undefined, `unexpected end of archive${where}`);
  }

  #onHeader(block: Uint8Array): void {
    if (isZeroBlock(block)) {
      this.#state = "end";
      return;
    }
    verifyChecksum(block, this.#entries);
    const typeflag = block[156] === 0 ? "\0" : String.fromCharCode(block[156]!);
    let size = readNumber(block, 124, 12, "size");

    if (typeflag === "x" || typeflag === "g" || typeflag === "L" || typeflag === "K") {
      const limit = typeflag === "L" || typeflag === "K" ? maxLongNameSize : maxPaxSize;
      if (size > limit) {
        throw new EntryProblem(
          undefined,
          `tar header of type "${typeflag}" is too large (${size} bytes)`,
        );
      }
      this.#metaType = typeflag;
      this.#meta = new Uint8Array(size);
      this.#metaFill = 0;
      this.#remaining = size;
      this.#padding = padding(size);
      this.#state = "meta";
      if (size === 0) this.#endMeta();
      return;
    }

    const pax = this.#pax;
    const globalPax = this.#globalPax;
    // A local record with an empty value cancels the global one (POSIX), hence `has`.
    const paxValue = (key: string) =>
      pax.has(key) ? (pax.get(key) || undefined) : globalPax.get(key);

    let path = paxValue("path") ?? this.#longName;
    if (path === undefined) {
      const name = readString(block, 0, 100);
      const ustar = block[257] === 0x75 && block[258] === 0x73 && block[259] === 0x74 &&
        block[260] === 0x61 && block[261] === 0x72 && block[262] === 0;
      const prefix = ustar ? readString(block, 345, 155) : "";
      path = prefix === "" ? name : `${prefix}/${name}`;
    }
    const linkPath = paxValue("linkpath") ?? this.#longLink ?? readString(block, 157, 100);
    const paxSize = paxValue("size");
    if (paxSize !== undefined) size = parseDecimal(paxSize, "size", path);
    const paxMtime = paxValue("mtime");
    const mtime = paxMtime === undefined ? readNumber(block, 136, 12, "mtime") : Number(paxMtime);
    const mode = readNumber(block, 100, 8, "mode");
    const sparse = (pax.size > 0 || globalPax.size > 0) &&
      [...pax.keys(), ...globalPax.keys()].some((key) => key.startsWith("GNU.sparse"));

    this.#longName = undefined;
    this.#longLink = undefined;
    this.#pax = new Map();
    this.#metaType = "";
    this.#current = path;

    let type = entryType(typeflag, path);
    if (sparse) type = "unsupported";
    if (typeflag === "V") {
      // A volume label (`tar -V`) names the archive; it is not a member.
      this.#skip(size);
      return;
    }
    const hasData = type === "file" || type === "unsupported";
    this.#entries++;
    this.#handler.entry({
      path,
      type,
      typeflag: sparse ? "S" : typeflag,
      size: hasData ? size : 0,
      mode,
      mtime: Number.isFinite(mtime) ? mtime : 0,
      linkPath,
    });
    if (hasData && size > 0) {
      this.#remaining = size;
      this.#padding = padding(size);
      this.#state = "data";
    } else {
      this.#handler.entryEnd();
      this.#current = "";
      this.#state = "header";
    }
  }

  #skip(size: number): void {
    this.#padding = size + padding(size);
    this.#state = this.#padding === 0 ? "header" : "padding";
  }

  #endData(): void {
    this.#handler.entryEnd();
    this.#current = "";
    this.#state = this.#padding === 0 ? "header" : "padding";
  }

  #endMeta(): void {
    const data = this.#meta;
    this.#meta = new Uint8Array(0);
    switch (this.#metaType) {
      case "L":
        this.#longName = utf8.decode(data.subarray(0, cStringEnd(data, 0, data.length)));
        break;
      case "K":
        this.#longLink = utf8.decode(data.subarray(0, cStringEnd(data, 0, data.length)));
        break;
      case "x":
        parsePax(data, this.#pax, false);
        break;
      case "g":
        parsePax(data, this.#globalPax, true);
        break;
    }
    this.#state = this.#padding === 0 ? "header" : "padding";
  }
}

function entryType(typeflag: string, path: string): TarEntryType {
  switch (typeflag) {
    case "0":
    case "\0":
    case "7": // contiguous file: a regular file everywhere that matters
      // Pre-POSIX tars marked directories only by the trailing slash.
      return path.endsWith("/") ? "directory" : "file";
    case "1":
      return "hardlink";
    case "2":
      return "symlink";
    case "3":
      return "character-device";
    case "4":
      return "block-device";
    case "5":
      return "directory";
    case "6":
      return "fifo";
    default:
      return "unsupported";
  }
}

function padding(size: number): number {
  return (blockSize - (size % blockSize)) % blockSize;
}

function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < blockSize; i++) if (block[i] !== 0) return false;
  return true;
}

function verifyChecksum(block: Uint8Array, index: number): void {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < blockSize; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  let stored: number;
  try {
    stored = readNumber(block, 148, 8, "checksum");
  } catch {
    stored = -1;
  }
  if (stored !== unsigned && stored !== signed) {
    throw new EntryProblem(
      undefined,
      index === 0 ? "not a tar archive" : `corrupt tar header after ${index} entries: bad checksum`,
    );
  }
}

function cStringEnd(block: Uint8Array, offset: number, length: number): number {
  const end = offset + length;
  for (let i = offset; i < end; i++) if (block[i] === 0) return i;
  return end;
}

function readString(block: Uint8Array, offset: number, length: number): string {
  const end = cStringEnd(block, offset, length);
  // ASCII names are the rule; skip the decoder for them (8,000 members, three fields each).
  let ascii = true;
  for (let i = offset; i < end; i++) {
    if (block[i]! > 0x7f) {
      ascii = false;
      break;
    }
  }
  if (ascii) return String.fromCharCode(...block.subarray(offset, end));
  return utf8.decode(block.subarray(offset, end));
}

/**
 * Reads a numeric field: octal text (space or NUL terminated), or GNU base-256 when the
 * high bit of the first byte is set, which is how members over 8 GiB record their size.
 */
export function readNumber(
  block: Uint8Array,
  offset: number,
  length: number,
  field: string,
): number {
  const first = block[offset]!;
  if (first & 0x80) {
    if (first === 0xff) throw new EntryProblem(undefined, `corrupt tar header: negative ${field}`);
    let value = first & 0x7f;
    for (let i = offset + 1; i < offset + length; i++) {
      value = value * 256 + block[i]!;
      if (value > Number.MAX_SAFE_INTEGER) {
        throw new EntryProblem(undefined, `corrupt tar header: ${field} is too large`);
      }
    }
    return value;
  }
  let value = 0;
  let i = offset;
  const end = offset + length;
  while (i < end && (block[i] === 0x20 || block[i] === 0)) i++;
  for (; i < end; i++) {
    const byte = block[i]!;
    if (byte === 0x20 || byte === 0) break;
    if (byte < 0x30 || byte > 0x37) {
      throw new EntryProblem(undefined, `corrupt tar header: ${field} is not an octal number`);
    }
    value = value * 8 + (byte - 0x30);
  }
  return value;
}

function parseDecimal(text: string, field: string, path: string): number {
  if (!/^\d+$/.test(text)) throw new EntryProblem(path, `has an invalid pax ${field} "${text}"`);
  const value = Number(text);
  if (!Number.isSafeInteger(value)) {
    throw new EntryProblem(path, `has a pax ${field} that is too large`);
  }
  return value;
}

/**
 * Parses pax records (`"<length> <key>=<value>\n"`, length counting the whole record) into
 * `into`. An empty value removes a global key, and is kept in a local map so that it can
 * cancel the global one, as POSIX says.
 */
export function parsePax(data: Uint8Array, into: Map<string, string>, global: boolean): void {
  let offset = 0;
  while (offset < data.length) {
    // Some writers pad the pax data with NULs.
    if (data[offset] === 0) break;
    let space = offset;
    while (space < data.length && data[space] !== 0x20) space++;
    const lengthText = String.fromCharCode(...data.subarray(offset, space));
    const length = Number(lengthText);
    if (!/^\d+$/.test(lengthText) || length <= space - offset || offset + length > data.length) {
      throw new EntryProblem(undefined, "corrupt pax header: bad record length");
    }
    const end = offset + length;
    if (data[end - 1] !== 0x0a) {
      throw new EntryProblem(undefined, "corrupt pax header: record without newline");
    }
    const record = utf8.decode(data.subarray(space + 1, end - 1));
    const equals = record.indexOf("=");
    if (equals <= 0) throw new EntryProblem(undefined, "corrupt pax header: record without a key");
    const key = record.slice(0, equals);
    const value = record.slice(equals + 1);
    if (value === "" && global) into.delete(key);
    else into.set(key, value);
    offset = end;
  }
}

/**
 * Builders for tar and zip archives written byte by byte, so tests can make the hostile
 * archives no well-behaved tool would produce (`../x`, links out of the tree, setuid,
 * devices, duplicates), plus a tree snapshot to compare extractions.
 *
 * @module
 */

import * as zlib from "node:zlib";
import { concatBytes as concat } from "./data.ts";
export { concatBytes as concat } from "./data.ts";

const encoder = new TextEncoder();

/** One tar member as a test describes it. */
export interface TarSpec {
  readonly name: string;
  /** Type flag: "0" file (default), "1" hard link, "2" symlink, "3"/"4" devices, "5" dir, "6" FIFO, or any other. */
  readonly type?: string;
  readonly data?: Uint8Array | string;
  readonly mode?: number;
  readonly linkName?: string;
  readonly mtime?: number;
  /** Overrides the size field (data is still what `data` says). */
  readonly size?: number;
  /** ustar prefix field (ustar format only). */
  readonly prefix?: string;
  readonly format?: "ustar" | "gnu" | "v7";
  /** Writes the size in GNU base-256 form. */
  readonly base256Size?: boolean;
}

function bytesOf(data: Uint8Array | string | undefined): Uint8Array {
  if (data === undefined) return new Uint8Array(0);
  return typeof data === "string" ? encoder.encode(data) : data;
}

function writeString(block: Uint8Array, offset: number, length: number, value: string) {
  const bytes = encoder.encode(value);
  if (bytes.length > length) throw new Error(`tar field too long: ${value}`);
  block.set(bytes, offset);
}

function writeOctal(block: Uint8Array, offset: number, length: number, value: number) {
  writeString(block, offset, length, value.toString(8).padStart(length - 1, "0") + "\0");
}

/** One 512-byte tar header with a correct checksum. */
export function tarHeader(spec: TarSpec, size: number): Uint8Array {
  const block = new Uint8Array(512);
  const format = spec.format ?? "ustar";
  writeString(block, 0, 100, spec.name);
  writeOctal(block, 100, 8, spec.mode ?? (spec.type === "5" ? 0o755 : 0o644));
  writeOctal(block, 108, 8, 1000);
  writeOctal(block, 116, 8, 1000);
  if (spec.base256Size) {
    block[124] = 0x80;
    let value = BigInt(size);
    for (let i = 135; i > 124; i--) {
      block[i] = Number(value & 0xffn);
      value >>= 8n;
    }
  } else {
    writeOctal(block, 124, 12, size);
  }
  writeOctal(block, 136, 12, spec.mtime ?? 1700000000);
  block[156] = (spec.type ?? "0").charCodeAt(0);
  writeString(block, 157, 100, spec.linkName ?? "");
  if (format === "ustar") {
    writeString(block, 257, 6, "ustar\0");
    writeString(block, 263, 2, "00");
    writeString(block, 345, 155, spec.prefix ?? "");
  } else if (format === "gnu") {
    writeString(block, 257, 8, "ustar  \0");
  }
  writeString(block, 265, 32, "user");
  writeString(block, 297, 32, "group");
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  writeString(block, 148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
  return block;
}

/** Pax extended header data from key/value pairs. */
export function paxData(records: Record<string, string>): Uint8Array {
  let text = "";
  for (const [key, value] of Object.entries(records)) {
    const body = ` ${key}=${value}\n`;
    let length = encoder.encode(body).length;
    length += String(length).length;
    if (String(length).length !== String(length - 1).length) length++;
    text += `${length}${body}`;
  }
  return encoder.encode(text);
}

/** A tar archive of the given members, ending with the two zero blocks unless `end` is false. */
export function tar(specs: readonly TarSpec[], options: { end?: boolean } = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const spec of specs) {
    const data = bytesOf(spec.data);
    parts.push(tarHeader(spec, spec.size ?? data.length));
    parts.push(data);
    const pad = (512 - (data.length % 512)) % 512;
    parts.push(new Uint8Array(pad));
  }
  if (options.end ?? true) parts.push(new Uint8Array(1024));
  return concat(parts);
}

/** Joins byte arrays. */

/** One zip member as a test describes it. */
export interface ZipSpec {
  readonly name: string;
  readonly data?: Uint8Array | string;
  /** Full Unix mode including the file type bits (0o100644, 0o120777, 0o040755...). */
  readonly mode?: number;
  /** 0 stored, 8 deflate (default). */
  readonly method?: number;
  /** General purpose flags (0x800 UTF-8 is added for non-ASCII names). */
  readonly flags?: number;
  /** Raw name bytes when they must differ from UTF-8 of `name`. */
  readonly nameBytes?: Uint8Array;
  /** Stored CRC, when a test wants it wrong. */
  readonly crc?: number;
  /** Extra fields of the central directory record (the local header gets none). */
  readonly extra?: Uint8Array;
  /** The entry's comment in the central directory. */
  readonly comment?: string;
  /** MS-DOS date field (default 2024-01-01; 0 means no date). */
  readonly dosDate?: number;
}

/** A zip archive made by "Unix" (so modes and symbolic links apply). */
export function zip(
  specs: readonly ZipSpec[],
  options: { prefix?: Uint8Array; comment?: Uint8Array } = {},
): Uint8Array {
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = options.prefix?.length ?? 0;
  const prefixLength = offset;
  if (options.prefix) locals.push(options.prefix);
  for (const spec of specs) {
    const data = bytesOf(spec.data);
    const method = spec.method ?? 8;
    const stored = method === 8 ? new Uint8Array(zlib.deflateRawSync(data)) : data;
    const name = spec.nameBytes ?? encoder.encode(spec.name);
    // deno-lint-ignore no-control-regex
    const flags = (spec.flags ?? 0) | (/[^\x00-\x7f]/.test(spec.name) ? 0x800 : 0);
    const crc = spec.crc ?? zlib.crc32(data);
    const local = new Uint8Array(30 + name.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint16(6, flags, true);
    lv.setUint16(8, method, true);
    lv.setUint16(10, 0, true);
    lv.setUint16(12, (44 << 9) | (1 << 5) | 1, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, stored.length, true);
    lv.setUint32(22, data.length, true);
    lv.setUint16(26, name.length, true);
    local.set(name, 30);
    const extra = spec.extra ?? new Uint8Array(0);
    const comment = encoder.encode(spec.comment ?? "");
    const central = new Uint8Array(46 + name.length + extra.length + comment.length);
    const cv = new DataView(central.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, (3 << 8) | 30, true);
    cv.setUint16(6, 20, true);
    cv.setUint16(8, flags, true);
    cv.setUint16(10, method, true);
    cv.setUint16(14, spec.dosDate ?? ((44 << 9) | (1 << 5) | 1), true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, stored.length, true);
    cv.setUint32(24, data.length, true);
    cv.setUint16(28, name.length, true);
    cv.setUint16(30, extra.length, true);
    cv.setUint16(32, comment.length, true);
    const mode = spec.mode ?? (spec.name.endsWith("/") ? 0o040755 : 0o100644);
    cv.setUint32(38, (mode << 16) >>> 0, true);
    cv.setUint32(42, offset - prefixLength, true);
    central.set(name, 46);
    central.set(extra, 46 + name.length);
    central.set(comment, 46 + name.length + extra.length);
    locals.push(local, stored);
    centrals.push(central);
    offset += local.length + stored.length;
  }
  const directory = concat(centrals);
  const comment = options.comment ?? new Uint8Array(0);
  const end = new Uint8Array(22 + comment.length);
  end.set(comment, 22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, specs.length, true);
  ev.setUint16(10, specs.length, true);
  ev.setUint32(12, directory.length, true);
  ev.setUint32(16, offset - prefixLength, true);
  ev.setUint16(20, comment.length, true);
  return concat([...locals, directory, end]);
}

/** What a path in an extracted tree is, for comparisons. */
export interface NodeSnapshot {
  readonly type: "file" | "directory" | "symlink";
  readonly mode?: number;
  readonly content?: string;
  readonly target?: string;
}

/** Every path under `root` with its type, permission bits, content (files) or target (links). */
export function snapshot(
  root: string,
  options: { modes?: boolean } = {},
): Record<string, NodeSnapshot> {
  const result: Record<string, NodeSnapshot> = {};
  const walk = (relative: string) => {
    for (const entry of Deno.readDirSync(relative === "" ? root : `${root}/${relative}`)) {
      const path = relative === "" ? entry.name : `${relative}/${entry.name}`;
      const full = `${root}/${path}`;
      const info = Deno.lstatSync(full);
      const mode = options.modes === false ? {} : { mode: (info.mode ?? 0) & 0o7777 };
      if (info.isSymlink) {
        result[path] = { type: "symlink", target: Deno.readLinkSync(full) };
      } else if (info.isDirectory) {
        result[path] = { type: "directory", ...mode };
        walk(path);
      } else {
        const bytes = Deno.readFileSync(full);
        result[path] = {
          type: "file",
          ...mode,
          content: String(zlib.crc32(bytes)) + ":" + bytes.length,
        };
      }
    }
  };
  walk("");
  return result;
}

/** Whether a program can be run (tests that need system tools skip without them). */
export function hasProgram(program: string, args: string[] = ["--version"]): boolean {
  try {
    const output = new Deno.Command(program, { args, stdout: "null", stderr: "null" }).outputSync();
    return output.success || output.code !== 127;
  } catch {
    return false;
  }
}

/** Runs a program, throwing with its stderr when it fails. */
export function run(program: string, args: string[], cwd?: string): void {
  const output = new Deno.Command(program, {
    args,
    stdout: "null",
    stderr: "piped",
    ...(cwd === undefined ? {} : { cwd }),
  }).outputSync();
  if (!output.success) {
    throw new Error(
      `${program} ${args.join(" ")} failed: ${new TextDecoder().decode(output.stderr)}`,
    );
  }
}

/** Names of everything directly in `directory`, sorted. */
export function listDirectory(directory: string): string[] {
  return [...Deno.readDirSync(directory)].map((entry) => entry.name).sort();
}

async function bzip2Bytes(data: Uint8Array): Promise<Uint8Array> {
  const child = new Deno.Command("bzip2", {
    args: ["-1", "-c"],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(data);
  await writer.close();
  const { success, stdout } = await child.output();
  if (!success) throw new Error("bzip2 failed");
  return stdout;
}

/**
 * A `.tar.bz2` of one file `zeros/big` holding `pieces` x 8 MiB of zeros, a few KiB on disk
 * and slow to unpack in-process (~3 s for 40 pieces here): concatenated bzip2 streams (a
 * header, then one 8 MiB stream of zeros repeated; zeros after the data are the tar's end).
 * Needs the `bzip2` program.
 */
export async function zerosTarBz2(pieces: number): Promise<Uint8Array> {
  const piece = 8 * 1024 * 1024;
  const header = await bzip2Bytes(tarHeader({ name: "zeros/big" }, pieces * piece));
  const zeros = await bzip2Bytes(new Uint8Array(piece));
  const out = new Uint8Array(header.length + zeros.length * (pieces + 1));
  out.set(header);
  for (let index = 0; index <= pieces; index++) {
    out.set(zeros, header.length + index * zeros.length);
  }
  return out;
}

/**
 * Small sample artifacts for the dev server and demos: a ustar writer (enough for a few
 * small files) and a tooltool manifest record builder. No system `tar` needed.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";

/** One member of a generated tarball. */
export interface TarEntry {
  /** Path inside the archive; a trailing `/` makes a directory. At most 100 bytes. */
  readonly name: string;
  readonly content?: Uint8Array | string;
  /** Octal permission bits; default 0o644 for files, 0o755 for directories. */
  readonly mode?: number;
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, "0") + "\0";
}

/** A gzip-compressed ustar archive of `entries`, with a fixed mtime so output is stable. */
export function tarGz(entries: readonly TarEntry[], mtime = 1_700_000_000): Uint8Array {
  const encoder = new TextEncoder();
  const blocks: Uint8Array[] = [];
  for (const entry of entries) {
    const isDir = entry.name.endsWith("/");
    const data = typeof entry.content === "string"
      ? encoder.encode(entry.content)
      : entry.content ?? new Uint8Array(0);
    const name = encoder.encode(entry.name);
    if (name.length > 100) throw new RangeError(`Cannot add "${entry.name}": name too long`);
    const header = new Uint8Array(512);
    const put = (offset: number, text: string) => header.set(encoder.encode(text), offset);
    header.set(name, 0);
    put(100, octal(entry.mode ?? (isDir ? 0o755 : 0o644), 8));
    put(108, octal(0, 8));
    put(116, octal(0, 8));
    put(124, octal(isDir ? 0 : data.length, 12));
    put(136, octal(mtime, 12));
    put(148, "        ");
    put(156, isDir ? "5" : "0");
    put(257, "ustar\u000000");
    put(265, "root");
    put(297, "root");
    const checksum = header.reduce((sum, byte) => sum + byte, 0);
    put(148, checksum.toString(8).padStart(6, "0") + "\0 ");
    blocks.push(header);
    if (!isDir && data.length > 0) {
      const padded = new Uint8Array(Math.ceil(data.length / 512) * 512);
      padded.set(data);
      blocks.push(padded);
    }
  }
  blocks.push(new Uint8Array(1024));
  const tar = new Uint8Array(blocks.reduce((sum, block) => sum + block.length, 0));
  let offset = 0;
  for (const block of blocks) {
    tar.set(block, offset);
    offset += block.length;
  }
  return new Uint8Array(gzipSync(tar));
}

/** A manifest record as tooltool.py writes it. */
export interface ManifestRecord {
  readonly filename: string;
  readonly size: number;
  readonly algorithm: "sha512";
  readonly digest: string;
  readonly visibility?: "public" | "internal";
  readonly unpack?: boolean;
}

/** The record for `content` stored under `filename`. */
export function manifestRecord(
  filename: string,
  content: Uint8Array,
  extra: { visibility?: "public" | "internal"; unpack?: boolean } = {},
): ManifestRecord {
  return {
    filename,
    size: content.length,
    algorithm: "sha512",
    digest: createHash("sha512").update(content).digest("hex"),
    ...extra,
  };
}

/**
 * The cache's journal: an append-only log of stat stamps and uses under `.tooltool/`.
 *
 * @module
 */

import { join } from "../paths.ts";
import { tryLock } from "../lock.ts";
import { removeIfPresent, statOrUndefined } from "../fs_util.ts";
import type { StatStamp } from "./stamps.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The journal is compacted once it grows past this. */
const JOURNAL_COMPACT_BYTES = 4 * 1024 * 1024;

/** Recent stamps kept per digest (the entry and the copies in working trees). */
const MAX_STAMPS = 16;

/** One line of the journal. */
type JournalRecord =
  | { readonly type: "stamp"; readonly digest: string; readonly stamp: StatStamp }
  | { readonly type: "use"; readonly digest: string; readonly at: number };

/**
 * The append-only log of stamps and uses under `.tooltool/`. Appends are single `write`s
 * to a file opened with `O_APPEND`, so lines from concurrent processes do not interleave;
 * reading picks up where it left off, and a half-written last line is left for later.
 * Stamps are a hint, not data: a lost line only costs a hash, so nothing is fsynced.
 */
export class Journal {
  readonly #dir: string;
  readonly #path: string;
  #stamps = new Map<string, StatStamp[]>();
  #uses = new Map<string, number>();
  /** Bytes of the current journal file already read, and that file's inode. */
  #offset = 0;
  #ino: number | null = null;
  /** The last read found no journal file. */
  #missing = false;
  /** The first read, shared by everyone who asks before it is done. */
  #initial: Promise<boolean> | undefined;
  /** The journal as opened for appending, and its inode then. */
  #appender: { readonly file: Deno.FsFile; readonly ino: number | null } | undefined;

  constructor(dir: string) {
    this.#dir = dir;
    this.#path = join(dir, "journal");
  }

  async stamps(digest: string): Promise<readonly StatStamp[]> {
    await (this.#initial ??= this.refresh());
    return this.#stamps.get(digest) ?? [];
  }

  async uses(): Promise<ReadonlyMap<string, number>> {
    await this.refresh();
    return this.#uses;
  }

  append(...records: JournalRecord[]): void {
    for (const record of records) this.#remember(record);
    const text = records.map((record) => JSON.stringify(record) + "\n").join("");
    try {
      // One write, so that concurrent appenders' lines never interleave.
      this.#appendFile().writeSync(encoder.encode(text));
    } catch {
      // A read-only cache, say: only the speed-up is lost.
    }
  }

  /** Closes the file appends go to (the next append opens it again). */
  close(): void {
    this.#appender?.file.close();
    this.#appender = undefined;
  }

  /**
   * The journal opened for appending, kept open between appends: an open and a close per
   * line were a tenth of the main thread's work in a fetch of 200 small files. A compaction
   * (by any process) renames a new journal into place, and lines written to the old one
   * would be lost, so each append first checks that the path still names the open file —
   * a `stat`, a fraction of an open's cost.
   */
  #appendFile(): Deno.FsFile {
    const held = this.#appender;
    if (held !== undefined) {
      if (held.ino !== null && statOrUndefined(this.#path)?.ino === held.ino) return held.file;
      this.close();
    }
    const file = Deno.openSync(this.#path, { append: true, create: true });
    try {
      this.#appender = { file, ino: file.statSync().ino };
    } catch (error) {
      file.close();
      throw error;
    }
    return file;
  }

  /** Reads what was appended since the last read; true when there was anything new. */
  refresh(): Promise<boolean> {
    try {
      return Promise.resolve(this.#read());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Reads what was appended since the last read. Synchronous: a check of a file that no
   * stamp vouches for reads the journal again (another process may have stamped it), so a
   * fetch of 200 present files read it 200 times, and four asynchronous calls each time,
   * queued one behind the other, cost more than hashing the files (a small local file's
   * open, stat and read take microseconds). Being synchronous, reads cannot interleave.
   */
  #read(): boolean {
    // Nothing new, the usual answer to a second look: one stat instead of an open, a stat
    // and a close. A journal that was missing last time (a new cache, every present file
    // checked) likely still is: a probe answers that without the error a failed stat makes.
    const seen = statOrUndefined(this.#path, { likelyMissing: this.#missing });
    this.#missing = seen === undefined;
    if (seen === undefined) return false;
    if (seen.ino !== null && seen.ino === this.#ino && seen.size === this.#offset) return false;
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(this.#path, { read: true });
    } catch {
      return false;
    }
    try {
      const info = file.statSync();
      if (info.ino !== this.#ino || info.size < this.#offset) {
        // Compacted (a new file) since the last read: start over.
        this.#ino = info.ino;
        this.#offset = 0;
        this.#stamps = new Map();
        this.#uses = new Map();
      }
      if (info.size === this.#offset) return false;
      file.seekSync(this.#offset, Deno.SeekMode.Start);
      const bytes = new Uint8Array(info.size - this.#offset);
      let filled = 0;
      while (filled < bytes.length) {
        const read = file.readSync(bytes.subarray(filled));
        if (read === null) break;
        filled += read;
      }
      // Up to the last whole line; a line still being written is read next time. A newline
      // byte never occurs inside a multi-byte UTF-8 character, so it can be found in bytes.
      const end = bytes.subarray(0, filled).lastIndexOf(0x0a);
      if (end < 0) return false;
      const text = decoder.decode(bytes.subarray(0, end));
      for (const line of text.split("\n")) {
        const record = parseRecord(line);
        if (record !== undefined) this.#remember(record);
      }
      this.#offset += end + 1;
      return true;
    } finally {
      file.close();
    }
  }

  /** Rewrites the journal keeping the recent stamps and last use of digests still wanted. */
  async compact(keep: (digest: string) => Promise<boolean>): Promise<void> {
    // One compaction at a time; a busy lock means another process is doing it.
    using lock = await tryLock(join(this.#dir, "journal.lock"), { exclusive: true });
    if (lock === undefined) return;
    await this.refresh();
    const lines: string[] = [];
    const digests = new Set([...this.#stamps.keys(), ...this.#uses.keys()]);
    for (const digest of digests) {
      if (!(await keep(digest))) continue;
      for (const stamp of this.#stamps.get(digest) ?? []) {
        lines.push(JSON.stringify({ type: "stamp", digest, stamp }));
      }
      const at = this.#uses.get(digest);
      if (at !== undefined) lines.push(JSON.stringify({ type: "use", digest, at }));
    }
    const temp = `${this.#path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
    try {
      await Deno.writeTextFile(temp, lines.map((line) => line + "\n").join(""));
      await Deno.rename(temp, this.#path);
    } catch {
      await removeIfPresent(temp).catch(() => {});
    }
    this.#ino = null;
    this.#offset = 0;
    await this.refresh();
  }

  /** Compacts when the journal has grown large (called on open by fetch). */
  async compactIfLarge(keep: (digest: string) => Promise<boolean>): Promise<void> {
    const size = statOrUndefined(this.#path)?.size ?? 0;
    if (size > JOURNAL_COMPACT_BYTES) await this.compact(keep);
  }

  #remember(record: JournalRecord): void {
    if (record.type === "use") {
      this.#uses.set(record.digest, Math.max(record.at, this.#uses.get(record.digest) ?? 0));
      return;
    }
    const { stamp } = record;
    const others = (this.#stamps.get(record.digest) ?? []).filter((old) =>
      !(old.dev === stamp.dev && old.ino === stamp.ino)
    );
    this.#stamps.set(record.digest, [stamp, ...others].slice(0, MAX_STAMPS));
  }
}

function parseRecord(line: string): JournalRecord | undefined {
  try {
    const value = JSON.parse(line) as JournalRecord;
    if (typeof value.digest !== "string") return undefined;
    if (value.type === "use" && typeof value.at === "number") return value;
    if (value.type === "stamp" && typeof value.stamp?.ino === "number") return value;
  } catch {
    // A torn line (a writer killed mid-append): skip it.
  }
  return undefined;
}

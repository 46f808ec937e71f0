/**
 * Writes archive members into a fresh directory, after {@link TreeModel} accepted each one.
 * Format readers (tar, zip) describe members to an {@link Extractor}; it owns every file
 * system call of an extraction, so the safety rules are applied in exactly one place.
 *
 * All calls are synchronous on purpose: an extraction is thousands of tiny operations
 * (open, write, utime, close per member), and awaiting each one would cost more than the
 * work itself. The readers feed it from an async source, so the event loop still turns
 * between chunks.
 *
 * @module
 */

import {
  entryComponents,
  type EntryKind,
  EntryProblem,
  hasSpecialBits,
  safeMode,
  TreeModel,
} from "./safety.ts";
import { writeAllSync } from "../write_all.ts";

/** One member as a format reader describes it. */
export interface Member {
  /** The name as stored in the archive, for messages. */
  readonly name: string;
  readonly kind: EntryKind | "character-device" | "block-device" | "fifo" | "unsupported";
  /** The stored mode, special bits included; `undefined` when the format has none. */
  readonly mode: number | undefined;
  /** Seconds since the epoch; `undefined` to leave the time of extraction. */
  readonly mtime: number | undefined;
  /** Symbolic link target, or the member a hard link points to. */
  readonly linkTarget: string;
  /** For `unsupported`: what the format calls it, for the message. */
  readonly detail?: string;
}

interface DirectoryAttributes {
  readonly path: string;
  readonly depth: number;
  readonly mode: number;
  readonly mtime: number | undefined;
}

/** Totals for the caller's report. */
export interface ExtractStats {
  readonly entries: number;
  readonly bytes: number;
}

/**
 * Extracts members one by one into `root`, which must be an empty directory this process
 * created. Symbolic links and directory permissions are applied by {@link finish}, after the
 * last member: links so that nothing is ever written through one, permissions so that a
 * read-only directory does not block its own members.
 */
export class Extractor {
  readonly #root: string;
  readonly #model = new TreeModel();
  readonly #umask: number;
  readonly #directories: DirectoryAttributes[] = [];
  #file: Deno.FsFile | undefined;
  #fileMember: Member | undefined;
  #filePath = "";
  #fileMode = 0;
  #entries = 0;
  #bytes = 0;

  constructor(root: string) {
    this.#root = root;
    this.#umask = currentUmask();
  }

  /** What has been extracted so far. */
  get stats(): ExtractStats {
    return { entries: this.#entries, bytes: this.#bytes };
  }

  /**
   * Starts a member. Files are then given their data with {@link write} and closed with
   * {@link endFile}; every other kind is complete when this returns.
   */
  begin(member: Member): void {
    const kind = member.kind;
    switch (kind) {
      case "character-device":
      case "block-device":
        throw new EntryProblem(member.name, "is a device file");
      case "fifo":
        throw new EntryProblem(member.name, "is a FIFO");
      case "unsupported":
        throw new EntryProblem(
          member.name,
          `has an unsupported type${member.detail ? ` (${member.detail})` : ""}`,
        );
    }
    if (member.mode !== undefined && kind !== "symlink" && hasSpecialBits(member.mode)) {
      throw new EntryProblem(member.name, "is setuid or setgid");
    }
    const components = entryComponents(member.name);
    const placement = this.#model.add(member.name, components, kind, member.linkTarget);
    this.#entries++;
    const path = components.length === 0 ? this.#root : `${this.#root}/${components.join("/")}`;
    try {
      for (const directory of placement.newDirectories) {
        Deno.mkdirSync(`${this.#root}/${directory}`);
      }
      if (placement.replacesFile) Deno.removeSync(path);
      switch (kind) {
        case "directory":
          if (components.length === 0) return;
          if (!placement.directoryExists) Deno.mkdirSync(path);
          this.#directories.push({
            path,
            depth: components.length,
            mode: safeMode(member.mode ?? 0o755, "directory"),
            mtime: member.mtime,
          });
          return;
        case "file": {
          const mode = safeMode(member.mode ?? 0o644, "file");
          this.#file = Deno.openSync(path, { write: true, createNew: true, mode });
          this.#fileMember = member;
          this.#filePath = path;
          this.#fileMode = mode;
          return;
        }
        case "hardlink": {
          const target = entryComponents(member.linkTarget).join("/");
          Deno.linkSync(`${this.#root}/${target}`, path);
          return;
        }
        case "symlink":
          return; // created by finish(), once the whole tree is known
      }
    } catch (error) {
      throw osProblem(member.name, error);
    }
  }

  /** Appends data to the file begun last. */
  write(piece: Uint8Array): void {
    const file = this.#file;
    if (file === undefined) return;
    try {
      writeAllSync(file, piece);
    } catch (error) {
      throw osProblem(this.#fileMember?.name, error);
    }
    this.#bytes += piece.length;
  }

  /** Closes the file begun last, applying its time and, when the umask hid some, its mode. */
  endFile(): void {
    const file = this.#file;
    const member = this.#fileMember;
    if (file === undefined || member === undefined) return;
    this.#file = undefined;
    this.#fileMember = undefined;
    try {
      if (member.mtime !== undefined) file.utimeSync(member.mtime, member.mtime);
      file.close();
      if ((this.#fileMode & ~this.#umask) !== this.#fileMode) {
        Deno.chmodSync(this.#filePath, this.#fileMode);
      }
    } catch (error) {
      throw osProblem(member.name, error);
    }
  }

  /**
   * Creates the symbolic links, each judged against the complete tree, then applies
   * directory modes and times, deepest first so that a parent's time is set after its
   * children changed it.
   */
  finish(): ExtractStats {
    this.endFile();
    for (const link of this.#model.finish()) {
      try {
        Deno.symlinkSync(link.target, `${this.#root}/${link.path}`);
      } catch (error) {
        throw osProblem(link.path, error);
      }
    }
    this.#directories.sort((a, b) => b.depth - a.depth);
    for (const directory of this.#directories) {
      try {
        Deno.chmodSync(directory.path, directory.mode);
        if (directory.mtime !== undefined) {
          Deno.utimeSync(directory.path, directory.mtime, directory.mtime);
        }
      } catch (error) {
        throw osProblem(directory.path.slice(this.#root.length + 1), error);
      }
    }
    return this.stats;
  }

  /** Closes an open file after a failure; the caller removes the whole directory. */
  abort(): void {
    try {
      this.#file?.close();
    } catch {
      // Already closed or never opened: nothing left to release.
    }
    this.#file = undefined;
  }
}

function osProblem(name: string | undefined, error: unknown): Error {
  if (error instanceof EntryProblem) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new EntryProblem(name, `cannot be written: ${message}`);
}

/** The process umask, read once per extraction; 0o022 where it cannot be read. */
function currentUmask(): number {
  try {
    return Deno.umask();
  } catch {
    return 0o022;
  }
}

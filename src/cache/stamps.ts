/**
 * Stat stamps: what a file's metadata looked like when its content was verified, so a
 * later run can trust it without hashing it again (git's index works the same way). Pure,
 * but for reading the boot id.
 *
 * @module
 */

import { readBoundedFile } from "../bounded_read.ts";

/**
 * A file modified this recently may still be being written within the clock's resolution,
 * so a stamp taken now could miss the next write (git's "racy" entries). Such files are
 * hashed again next time rather than stamped. Two seconds also covers file systems that
 * keep times in whole seconds.
 */
const RACY_MARGIN_MS = 2_000;

/**
 * What a file's metadata looked like when its content was verified, git-index style.
 *
 * `entry` stamps describe a read-only cache entry and its hard links. Their ctime is not
 * compared, because every link and unlink of the inode (placing a file in a working tree,
 * `rm -rf` of an old one) changes it; content cannot change without moving mtime, and a
 * writable entry is never trusted. `file` stamps describe any other file (a copy in a
 * working tree) and compare everything.
 */
export interface StatStamp {
  readonly kind: "entry" | "file";
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  /**
   * The boot the stamp was taken in. Data written without fsync may not survive a crash,
   * so a stamp only vouches within the boot that took it; after a reboot files are hashed
   * once more.
   */
  readonly boot: string;
  /** When the stamp was recorded (epoch ms); the most recent stamps are kept. */
  readonly recordedAt: number;
}

/**
 * A stamp for a file as `info` describes it, or `undefined` when the platform gives no
 * inode or times to stamp with. Pure.
 */
export function stampOf(
  info: Deno.FileInfo,
  kind: StatStamp["kind"],
  boot: string,
  now: number,
): StatStamp | undefined {
  if (info.ino === null || info.dev === null || info.mtime === null) return undefined;
  return {
    kind,
    dev: info.dev,
    ino: info.ino,
    size: info.size,
    mtimeMs: info.mtime.getTime(),
    ctimeMs: info.ctime?.getTime() ?? 0,
    boot,
    recordedAt: now,
  };
}

/**
 * Whether `stamp` proves that the file `info` describes still has the content that was
 * verified: same device, inode, size and mtime, same boot; for an `entry` stamp the file
 * must also still be read-only, for a `file` stamp the ctime must match too. Pure.
 */
export function stampVouches(stamp: StatStamp, info: Deno.FileInfo, boot: string): boolean {
  if (!info.isFile || stamp.boot !== boot) return false;
  if (info.dev !== stamp.dev || info.ino !== stamp.ino || info.size !== stamp.size) return false;
  if (info.mtime === null || info.mtime.getTime() !== stamp.mtimeMs) return false;
  if (stamp.kind === "entry") return info.mode !== null && (info.mode & 0o222) === 0;
  return (info.ctime?.getTime() ?? 0) === stamp.ctimeMs;
}

/**
 * Whether a file's content changed so recently that a stamp taken now could be fooled.
 * Only mtime counts: every content write moves it, while ctime also moves for changes that
 * leave the content alone (the chmod that makes an entry read-only). Pure.
 */
export function isRacy(info: Deno.FileInfo, now: number): boolean {
  return now - (info.mtime?.getTime() ?? now) < RACY_MARGIN_MS;
}

let bootId: string | undefined;

/** The kernel's id of the current boot (Linux); "" where there is none. */
export async function readBootId(): Promise<string> {
  if (bootId !== undefined) return bootId;
  try {
    const bytes = await readBoundedFile("/proc/sys/kernel/random/boot_id", {
      limit: 4096,
      kinds: "regular",
    });
    bootId = new TextDecoder().decode(bytes).trim();
  } catch {
    bootId = "";
  }
  return bootId;
}

/**
 * Short, stable wording for file-system errors, for the detail part of a message
 * (`Cannot read manifest "m.tt": file not found`). Deno's own messages carry the OS
 * error number and the syscall (`No such file or directory (os error 2): open '/x'`),
 * which is noise for a user and differs between platforms.
 *
 * @module
 */

import { ToolError } from "./errors.ts";

/** Wording by errno name, for the errors Deno has no class of its own for. */
const BY_CODE: Readonly<Record<string, string>> = {
  EROFS: "read-only file system",
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  ENAMETOOLONG: "file name too long",
  EMFILE: "too many open files",
  ENFILE: "too many open files",
  EIO: "input/output error",
  ETXTBSY: "the file is busy",
  EXDEV: "not on the same file system",
  ELOOP: "too many levels of symbolic links",
  ENOTEMPTY: "directory not empty",
};

/** The detail for a message about a failed file operation: "file not found", etc. */
export function describeFsError(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "file not found";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.NotCapable) return "permission denied";
  if (error instanceof Deno.errors.IsADirectory) return "is a directory";
  if (error instanceof Deno.errors.NotADirectory) return "a parent is not a directory";
  if (error instanceof Deno.errors.AlreadyExists) return "already exists";
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && BY_CODE[code] !== undefined) {
    // Keep which path the system refused (`open '/x/.a.part'`): it says where to look.
    const syscall = error instanceof Error ? / \(os error \d+\): (.+)$/.exec(error.message) : null;
    return syscall ? `${BY_CODE[code]} (${syscall[1]})` : BY_CODE[code]!;
  }
  if (error instanceof Error) return error.message.replace(/ \(os error \d+\)/, "");
  return String(error);
}

/** Whether `error` is one of the file system's (it has an errno name like `EROFS`). */
export function isFsError(error: unknown): boolean {
  if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.PermissionDenied) {
    return true;
  }
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^E[A-Z]+$/.test(code);
}

/** A failed write, worded for the user; a full disk is not worth retrying. */
export function writeError(filename: string, error: unknown): ToolError {
  return new ToolError(`Cannot write "${filename}": ${describeFsError(error)}`, { cause: error });
}

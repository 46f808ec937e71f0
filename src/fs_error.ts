/**
 * Short, stable wording for file-system errors, for the detail part of a message
 * (`Cannot read manifest "m.tt": file not found`). Deno's own messages carry the OS
 * error number and the syscall (`No such file or directory (os error 2): open '/x'`),
 * which is noise for a user and differs between platforms.
 *
 * @module
 */

/** The detail for a message about a failed file operation: "file not found", etc. */
export function describeFsError(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "file not found";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.NotCapable) return "permission denied";
  if (error instanceof Deno.errors.IsADirectory) return "is a directory";
  if (error instanceof Deno.errors.NotADirectory) return "a parent is not a directory";
  if (error instanceof Deno.errors.AlreadyExists) return "already exists";
  if (error instanceof Error) return error.message.replace(/ \(os error \d+\)/, "");
  return String(error);
}

/**
 * The names of this tool's temporary files and folders in a working tree, recognisable so
 * that leftovers of a killed run can be found and removed.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";

/**
 * A fresh temporary name beside `path`, hidden, recognisable as ours
 * (`.NAME.tooltool-XXXXXXXX.part`) so leftovers of a killed run can be found and removed.
 */
export function tempPathBeside(path: string): string {
  return join(dirname(path), `.${basename(path)}.tooltool-${crypto.randomUUID().slice(0, 8)}.part`);
}

/** Whether a file name is one of our temporary files (see `tempPathBeside`). */
export function isTempName(name: string): boolean {
  return /^\..+\.tooltool-[0-9a-f]{8}\.part$/.test(name);
}

/**
 * The prefix of the folder an unpack extracts into, in the working directory
 * (`.tooltool-unpack-XXXX`). Its unpacker holds an exclusive lock on the folder itself while
 * it exists, so a later run can tell a killed unpack's leftover from a live one.
 */
export const UNPACK_TEMP_PREFIX = ".tooltool-unpack-";

/** Whether a name is an unpack's temporary folder (see `UNPACK_TEMP_PREFIX`). */
export function isUnpackTempName(name: string): boolean {
  return name.startsWith(UNPACK_TEMP_PREFIX) && name.length > UNPACK_TEMP_PREFIX.length;
}

/**
 * The names of this tool's temporary files and folders in a working tree, recognisable so
 * that leftovers of a killed run can be found and removed.
 *
 * @module
 */

import { basename, dirname, join } from "./paths.ts";

/**
 * The longest file name (one path component) common file systems allow, in UTF-8 bytes:
 * the limit the manifest holds filenames to, which leaves no room for a temp name's affixes.
 */
const MAX_NAME_BYTES = 255;

/**
 * A fresh temporary name beside `path`, hidden, recognisable as ours
 * (`.NAME.tooltool-XXXXXXXX.part`) so leftovers of a killed run can be found and removed.
 * NAME is cut short when the whole would not fit in a file name (see `hiddenName`).
 */
export function tempPathBeside(path: string): string {
  const suffix = `.tooltool-${crypto.randomUUID().slice(0, 8)}.part`;
  return join(dirname(path), hiddenName(basename(path), suffix));
}

/**
 * `.NAME` followed by `suffix`, NAME cut at a character boundary so that the whole takes at
 * most 255 UTF-8 bytes: a target may use the whole limit itself, and its temporary file
 * must still be creatable beside it. The start of the name is kept, so a leftover still
 * shows what it was for; the random part of `suffix` keeps two shortened names apart.
 */
export function hiddenName(name: string, suffix: string): string {
  const room = MAX_NAME_BYTES - 1 - utf8Length(suffix);
  if (utf8Length(name) <= room) return `.${name}${suffix}`;
  let kept = "";
  let bytes = 0;
  for (const char of name) {
    const size = utf8Length(char);
    if (bytes + size > room) break;
    kept += char;
    bytes += size;
  }
  return `.${kept}${suffix}`;
}

/** UTF-8 length of `value`; an unpaired surrogate counts as U+FFFD (3 bytes), as encoded. */
function utf8Length(value: string): number {
  let bytes = 0;
  for (const char of value) {
    const code = char.codePointAt(0) ?? 0;
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
  }
  return bytes;
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

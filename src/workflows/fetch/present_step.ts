/**
 * The first step of a record's fetch: is the file already in the working directory the one
 * the record describes? A stat stamp the cache recorded when it last verified the file spares
 * hashing it again; without one (or with `--rehash`) the file is hashed.
 *
 * @module
 */

import { hashFile } from "../../digest.ts";
import { ToolError } from "../../errors.ts";
import { describeFsError } from "../../fs_error.ts";
import type { FileRecord } from "../../manifest/manifest.ts";
import type { FetchOptions } from "./types.ts";

/** Whether the file in the working tree is the one the record describes. */
export async function checkPresent(
  record: FileRecord,
  destination: string,
  options: FetchOptions,
): Promise<"valid" | "invalid" | "absent"> {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(destination);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "absent";
    throw new ToolError(`Cannot check "${record.filename}": ${describeFsError(error)}`);
  }
  if (info.isDirectory) {
    throw new ToolError(
      `Cannot fetch "${record.filename}": a directory of that name is in the way`,
    );
  }
  if (!info.isFile || info.size !== record.size) return "invalid";
  const { cache } = options;
  if (
    !options.rehash && cache !== undefined && await cache.vouches(destination, record.digest, info)
  ) {
    options.log.debug(`${record.filename}: present, unchanged since it was verified`);
    return "valid";
  }
  const hashed = await hashFile(destination, {
    signal: options.signal,
    expectedSize: record.size,
    info,
  });
  if (hashed.digest !== record.digest) return "invalid";
  cache?.recordVerified(destination, record.digest, info);
  return "valid";
}

/**
 * Upload step 1: the manifest and its files, checked without the network.
 *
 * @module
 */

import type { Context } from "../../context.ts";
import { ManifestError } from "../../errors.ts";
import { formatBytes, plural } from "../../format.ts";
import type { FileRecord } from "../../manifest/manifest.ts";
import { readManifest } from "../../manifest/manifest_file.ts";
import type { Sha512 } from "../../sha512.ts";
import { checkFiles } from "../verify_files.ts";
import type { UploadItem } from "./types.ts";

/** Step 1: the manifest and its files, checked without the network. */
export async function checkManifest(manifest: string, ctx: Context): Promise<UploadItem[]> {
  const records = await readManifest(manifest, { cwd: ctx.cwd });
  if (records.length === 0) {
    throw new ManifestError(`Cannot upload manifest "${manifest}": it lists no files`);
  }
  const unset = records.filter((record) => record.visibility === undefined);
  if (unset.length > 0) {
    const names = unset.map((record) => `"${record.filename}"`).join(", ");
    throw new ManifestError(
      `Cannot upload manifest "${manifest}": no visibility for ${names}`,
      [],
      {
        hint:
          'every record needs "visibility": "public" or "internal" (tooltool add --visibility ...)',
      },
    );
  }
  const byDigest = new Map<Sha512, FileRecord[]>();
  for (const record of records) {
    const same = byDigest.get(record.digest) ?? [];
    same.push(record);
    byDigest.set(record.digest, same);
  }
  for (const same of byDigest.values()) {
    const visibilities = new Set(same.map((record) => record.visibility));
    if (visibilities.size > 1) {
      // The server keeps one visibility per digest and refuses the whole batch otherwise.
      const names = same.map((record) => `"${record.filename}"`).join(", ");
      throw new ManifestError(
        `Cannot upload manifest "${manifest}": ${names} have the same content but different visibilities`,
      );
    }
  }
  const total = records.reduce((sum, record) => sum + record.size, 0);
  ctx.output.info(
    `Checking ${plural(records.length, "file")} (${
      formatBytes(total)
    }) against manifest "${manifest}"`,
  );
  const statuses = await checkFiles(records, {
    cwd: ctx.cwd,
    signal: ctx.signal,
    concurrency: ctx.cores,
  });
  const bad = statuses.filter((status) => !status.valid);
  for (const status of bad) {
    ctx.output.error(
      status.present
        ? `"${status.record.filename}" is invalid: ${status.problem}`
        : `"${status.record.filename}" is ${status.problem}`,
    );
  }
  if (bad.length > 0) {
    const verb = bad.length === 1 ? "is" : "are";
    throw new ManifestError(
      `Cannot upload manifest "${manifest}": ${bad.length} of ${records.length} files ${verb} absent or invalid`,
      [],
      { hint: "the manifest must describe the files as they are now (tooltool validate)" },
    );
  }
  return [...byDigest.entries()].map(([digest, same]) => {
    const first = same[0]!;
    return {
      digest,
      size: first.size,
      visibility: first.visibility!,
      path: resolvePath(ctx.cwd, first.filename),
      records: same,
    };
  });
}

function resolvePath(cwd: string, filename: string): string {
  return cwd.endsWith("/") ? `${cwd}${filename}` : `${cwd}/${filename}`;
}

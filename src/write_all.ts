/**
 * Writing a whole buffer to a file, in pieces of at most {@link MAX_WRITE} bytes.
 *
 * Why the cap: on the Linux VMs CI runs on (measured here: kernel 6.18, ext4, virtio
 * balloon), one buffered `write()` of 256 KiB or more costs 4–12× the kernel time of the
 * same bytes written 128 KiB at a time — 1000 MiB took 0.8–2.4 s of sys time in 1 MiB
 * writes and 0.18–0.30 s in 128 KiB ones, nearly all of it in `copy_folio_from_iter_atomic`
 * (large writes get large page-cache folios, whose allocation is what costs). A GiB fetch
 * spent more kernel time writing than the whole floor spent downloading.
 * See docs/performance.md.
 *
 * @module
 */

/** The largest single `write()` this tool makes to a file. */
export const MAX_WRITE = 128 * 1024;

/** What {@link writeAll} needs of a file: `Deno.FsFile` has it. */
export interface AsyncWriter {
  write(bytes: Uint8Array): Promise<number>;
}

/** What {@link writeAllSync} needs of a file: `Deno.FsFile` has it. */
export interface SyncWriter {
  writeSync(bytes: Uint8Array): number;
}

/** Writes every byte of `bytes`, short writes included, {@link MAX_WRITE} at most per call. */
export async function writeAll(file: AsyncWriter, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.length;) {
    written += await file.write(bytes.subarray(written, written + MAX_WRITE));
  }
}

/** {@link writeAll}, blocking: for small buffers where a thread hand-off costs more. */
export function writeAllSync(file: SyncWriter, bytes: Uint8Array): void {
  for (let written = 0; written < bytes.length;) {
    written += file.writeSync(bytes.subarray(written, written + MAX_WRITE));
  }
}

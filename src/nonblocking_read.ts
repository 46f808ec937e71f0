/**
 * Reads a small regular file whole on the calling thread, with no call that can wait.
 *
 * `Deno.openSync` on a FIFO waits in `open(2)` for a writer, and with the main thread stuck
 * there no Ctrl-C is ever answered; `Deno.open` avoids that by opening on another thread,
 * but each such hand-off costs ~0.1 ms, more when another process keeps a core busy, and a
 * check of 200 present files paid it 200 times (a fifth of the run). Deno cannot pass
 * `O_NONBLOCK`, so this opens through libc: with it, opening a FIFO or a device returns at
 * once and reading one never waits. The descriptor is then stat'ed through
 * `/proc/self/fd` (`/dev/fd` on macOS) and must be the very file the caller stat'ed, so a
 * file swapped in between is never read as if it were the one checked.
 *
 * Anything unusual (no libc or no FFI permission, another platform, a failed call, another
 * file, more bytes than expected) gives `undefined`, and the caller takes its ordinary path,
 * which also reports the error properly.
 *
 * @module
 */

import { cPath, loadLibc } from "./libc.ts";

/**
 * Reads the regular file at `path`, which the caller stat'ed as `expected`, into `buffer`
 * and returns how many bytes it holds; `undefined` when that cannot be done without waiting
 * or the file is not that one, or holds `buffer.length` bytes or more.
 */
export function readSmallFileSync(
  path: string,
  expected: Deno.FileInfo,
  buffer: Uint8Array,
): number | undefined {
  const libc = loadLibc();
  const bytes = cPath(path);
  if (libc === null || bytes === undefined || !expected.isFile) return undefined;
  const { symbols, constants } = libc;
  const fd = symbols.open(bytes, constants.readNonblocking);
  if (fd < 0) return undefined;
  try {
    let opened: Deno.FileInfo;
    try {
      opened = Deno.statSync(`${constants.fdFolder}/${fd}`);
    } catch {
      return undefined;
    }
    if (!opened.isFile || opened.ino !== expected.ino || opened.dev !== expected.dev) {
      return undefined;
    }
    let filled = 0;
    while (filled < buffer.length) {
      const count = Number(
        symbols.read(fd, buffer.subarray(filled), BigInt(buffer.length - filled)),
      );
      if (count < 0) return undefined;
      if (count === 0) return filled;
      filled += count;
    }
    // As big as the buffer or bigger: not a small file after all.
    return undefined;
  } finally {
    symbols.close(fd);
  }
}

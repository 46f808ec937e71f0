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

const LIBC_SYMBOLS = {
  // open(2) is variadic; called with its two fixed arguments only, as no O_CREAT is passed.
  open: { parameters: ["buffer", "i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
} as const;

type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

interface Platform {
  readonly names: readonly string[];
  /** O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC. */
  readonly flags: number;
  readonly fdFolder: string;
}

function platform(): Platform | undefined {
  const { os, arch } = Deno.build;
  if (os === "linux" && (arch === "x86_64" || arch === "aarch64")) {
    return {
      names: ["libc.so.6", "libc.so"],
      flags: 0o4000 | 0o400 | 0o2000000,
      fdFolder: "/proc/self/fd",
    };
  }
  if (os === "darwin") {
    return {
      names: ["/usr/lib/libSystem.B.dylib"],
      flags: 0x4 | 0x20000 | 0x1000000,
      fdFolder: "/dev/fd",
    };
  }
  return undefined;
}

let loaded: { libc: Libc; platform: Platform } | null | undefined;

function load(): { libc: Libc; platform: Platform } | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  const chosen = platform();
  for (const name of chosen?.names ?? []) {
    try {
      loaded = { libc: Deno.dlopen(name, LIBC_SYMBOLS).symbols, platform: chosen! };
      break;
    } catch {
      // Not there, or no FFI permission: the next name, then the caller's ordinary path.
    }
  }
  return loaded;
}

const encoder = new TextEncoder();

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
  const chosen = load();
  if (chosen === null || !expected.isFile || path.includes("\0")) return undefined;
  const { libc } = chosen;
  const fd = libc.open(encoder.encode(`${path}\0`), chosen.platform.flags);
  if (fd < 0) return undefined;
  try {
    let opened: Deno.FileInfo;
    try {
      opened = Deno.statSync(`${chosen.platform.fdFolder}/${fd}`);
    } catch {
      return undefined;
    }
    if (!opened.isFile || opened.ino !== expected.ino || opened.dev !== expected.dev) {
      return undefined;
    }
    let filled = 0;
    while (filled < buffer.length) {
      const count = Number(libc.read(fd, buffer.subarray(filled), BigInt(buffer.length - filled)));
      if (count < 0) return undefined;
      if (count === 0) return filled;
      filled += count;
    }
    // As big as the buffer or bigger: not a small file after all.
    return undefined;
  } finally {
    libc.close(fd);
  }
}

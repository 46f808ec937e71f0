/**
 * The few libc calls Deno's own API cannot make, through FFI: an `open` with `O_NONBLOCK`
 * (see `nonblocking_read.ts`) and an existence probe that does not throw (`probeName`).
 * Linux (x86-64, arm64) and macOS; elsewhere, without FFI permission, or without the
 * library, `loadLibc` gives `null` and callers take Deno's API instead.
 *
 * @module
 */

const SYMBOLS = {
  // open(2) is variadic; called with its two fixed arguments only, as no O_CREAT is passed.
  open: { parameters: ["buffer", "i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  faccessat: { parameters: ["i32", "buffer", "i32", "i32"], result: "i32" },
} as const;

const ERRNO_SYMBOL = { parameters: [], result: "pointer" } as const;

/** The platform's constants. */
export interface LibcConstants {
  /** O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC. */
  readonly readNonblocking: number;
  readonly atCwd: number;
  readonly atSymlinkNoFollow: number;
  readonly enoent: number;
  /** Where an open descriptor can be stat'ed by path: `/proc/self/fd` or `/dev/fd`. */
  readonly fdFolder: string;
}

/** The loaded library. */
export interface Libc {
  readonly symbols: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
  readonly constants: LibcConstants;
  /** This thread's `errno`, as left by the last failed call. */
  errno(): number;
}

interface Platform {
  readonly names: readonly string[];
  readonly errnoName: string;
  readonly constants: LibcConstants;
}

function platform(): Platform | undefined {
  const { os, arch } = Deno.build;
  if (os === "linux" && (arch === "x86_64" || arch === "aarch64")) {
    return {
      names: ["libc.so.6", "libc.so"],
      errnoName: "__errno_location",
      constants: {
        readNonblocking: 0o4000 | 0o400 | 0o2000000,
        atCwd: -100,
        atSymlinkNoFollow: 0x100,
        enoent: 2,
        fdFolder: "/proc/self/fd",
      },
    };
  }
  if (os === "darwin") {
    return {
      names: ["/usr/lib/libSystem.B.dylib"],
      errnoName: "__error",
      constants: {
        readNonblocking: 0x4 | 0x20000 | 0x1000000,
        atCwd: -2,
        atSymlinkNoFollow: 0x20,
        enoent: 2,
        fdFolder: "/dev/fd",
      },
    };
  }
  return undefined;
}

let loaded: Libc | null | undefined;

/** The C library, loaded on first use; `null` when it cannot be used here. */
export function loadLibc(): Libc | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  const chosen = platform();
  for (const name of chosen?.names ?? []) {
    try {
      const library = Deno.dlopen(name, {
        ...SYMBOLS,
        errnoLocation: { ...ERRNO_SYMBOL, name: chosen!.errnoName },
      });
      const { errnoLocation, ...symbols } = library.symbols;
      // A thread's errno lives at one address for the thread's life, and only the thread
      // that loaded this module calls through it (a worker loads its own copy).
      const where = errnoLocation();
      const view = where === null ? undefined : new Deno.UnsafePointerView(where);
      loaded = {
        symbols,
        constants: chosen!.constants,
        errno: () => view?.getInt32() ?? -1,
      };
      break;
    } catch {
      // Not there, or no FFI permission: the next name, then Deno's API.
    }
  }
  return loaded;
}

const encoder = new TextEncoder();
/** Reused for paths that fit (most do): an allocation per call cost more than the call. */
const scratch = new Uint8Array(4096);

/**
 * `path` as the NUL-terminated bytes C wants; `undefined` if it holds a NUL itself. The
 * bytes may be a view of a buffer the next call reuses: pass them on at once.
 */
export function cPath(path: string): Uint8Array | undefined {
  if (path.includes("\0")) return undefined;
  // Three bytes per UTF-16 unit at most, plus the NUL.
  if (path.length * 3 + 1 > scratch.length) return encoder.encode(`${path}\0`);
  const { written } = encoder.encodeInto(path, scratch);
  scratch[written] = 0;
  return scratch.subarray(0, written + 1);
}

/**
 * Whether anything (a dangling symlink included) has the name `path`, without following a
 * final symlink: `true`, `false` (ENOENT), or `undefined` when the probe cannot tell (no
 * libc, another error such as a permission): then ask `Deno.lstatSync`. It exists because a
 * `Deno.lstatSync` of a missing name throws, and the error costs ~20 µs to build: three per
 * file of a cold fetch.
 */
export function probeName(path: string): boolean | undefined {
  const libc = loadLibc();
  const bytes = cPath(path);
  if (libc === null || bytes === undefined) return undefined;
  const { atCwd, atSymlinkNoFollow, enoent } = libc.constants;
  // F_OK is 0 everywhere.
  if (libc.symbols.faccessat(atCwd, bytes, 0, atSymlinkNoFollow) === 0) return true;
  return libc.errno() === enoent ? false : undefined;
}

/**
 * `join`, `resolve`, `dirname` and `basename` with the exact results of `node:path`, without
 * loading it on POSIX systems.
 *
 * Why: `node:path` is the first `node:` module most commands import, and importing it
 * boots a good part of Deno's Node compatibility layer (its error classes, `inspect`,
 * `assert`, buffers): about 5 ms of every command's start-up, a quarter of `version`'s. The
 * four functions the tool uses are small and pure on POSIX, so they are written here and
 * checked against `node:path` in `paths_test.ts`. On Windows, where drive letters, UNC
 * names and both separators make the rules much longer, each call goes to `node:path`
 * itself, loaded on first use.
 *
 * @module
 */

type NodePath = typeof import("node:path");

let windowsPath: NodePath | undefined;

function nodePath(): NodePath {
  const process = (globalThis as unknown as {
    process: { getBuiltinModule(id: string): unknown };
  }).process;
  return windowsPath ??= process.getBuiltinModule("node:path") as NodePath;
}

const onWindows = Deno.build.os === "windows";

/**
 * The segments of `path` with `.` and empty ones dropped and `..` applied. Above the root a
 * `..` is dropped for an absolute path and kept for a relative one.
 */
function normalizedSegments(path: string, absolute: boolean): string {
  const kept: string[] = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment !== "..") kept.push(segment);
    else if (kept.length > 0 && kept[kept.length - 1] !== "..") kept.pop();
    else if (!absolute) kept.push("..");
  }
  return kept.join("/");
}

/** `node:path`'s `normalize` on POSIX: a trailing slash is kept, `""` becomes `"."`. */
function normalizePosix(path: string): string {
  const absolute = path.startsWith("/");
  let normalized = normalizedSegments(path, absolute);
  if (normalized === "" && !absolute) normalized = ".";
  if (normalized !== "" && path.endsWith("/")) normalized += "/";
  return absolute ? `/${normalized}` : normalized;
}

/** The parts joined with the platform's separator and normalized; `"."` when all are empty. */
export function join(...parts: string[]): string {
  if (onWindows) return nodePath().join(...parts);
  const joined = parts.filter((part) => part !== "").join("/");
  return joined === "" ? "." : normalizePosix(joined);
}

/**
 * The absolute path the parts lead to, read right to left until one is absolute, then
 * against the current directory; normalized, without a trailing slash.
 */
export function resolve(...parts: string[]): string {
  if (onWindows) return nodePath().resolve(...parts);
  let path = "";
  for (let index = parts.length - 1; index >= -1 && !path.startsWith("/"); index--) {
    const part = index >= 0 ? parts[index]! : Deno.cwd();
    if (part !== "") path = path === "" ? part : `${part}/${path}`;
  }
  const absolute = path.startsWith("/");
  const normalized = normalizedSegments(path, absolute);
  if (absolute) return `/${normalized}`;
  return normalized === "" ? "." : normalized;
}

/** The path without its last segment (and the slashes before that segment). */
export function dirname(path: string): string {
  if (onWindows) return nodePath().dirname(path);
  if (path === "") return ".";
  const rooted = path.startsWith("/");
  // The slash that ends the parent: the first one met, from the end, after a non-slash.
  let end = -1;
  let sawName = false;
  for (let index = path.length - 1; index >= 1; index--) {
    if (path[index] !== "/") sawName = true;
    else if (sawName) {
      end = index;
      break;
    }
  }
  if (end === -1) return rooted ? "/" : ".";
  if (rooted && end === 1) return "//";
  return path.slice(0, end);
}

/** The last segment of the path, trailing slashes ignored; `""` for the root. */
export function basename(path: string): string {
  if (onWindows) return nodePath().basename(path);
  let end = path.length;
  while (end > 0 && path[end - 1] === "/") end--;
  return path.slice(path.lastIndexOf("/", end - 1) + 1, end);
}

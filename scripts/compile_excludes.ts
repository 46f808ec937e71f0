/**
 * What `deno compile` must leave out of the binary. With `nodeModulesDir: "manual"` it
 * embeds the whole `node_modules` folder, which holds Deno itself (the npm package `deno`
 * and its ~100 MB platform binary) and the test-only packages: the binary grew from ~100 MB
 * to ~300 MB. Only the runtime dependencies and what they depend on are kept.
 *
 * Pure: the caller reads `package.json`, `package-lock.json` and the folder listing.
 *
 * @module
 */

/** The packages a build-time tool brings that the program never imports. */
const BUILD_ONLY = new Set(["deno"]);

/** `package.json` as far as this module reads it. */
export interface PackageJson {
  readonly dependencies?: Readonly<Record<string, string>>;
}

/** One package of a lockfile, as far as this module reads it. */
export interface LockedPackage {
  readonly dependencies?: Readonly<Record<string, string>>;
  readonly optionalDependencies?: Readonly<Record<string, string>>;
  readonly peerDependencies?: Readonly<Record<string, string>>;
}

/** `package-lock.json` (lockfile version 2 or 3) as far as this module reads it. */
export interface PackageLock {
  readonly packages?: Readonly<Record<string, LockedPackage>>;
}

/**
 * The top-level `node_modules` folders the compiled program needs: the runtime
 * dependencies and, transitively, what they depend on (plain, optional and peer). A
 * dependency is looked up as Node does, from the folder of the package that needs it up to
 * the top (`node_modules/a/node_modules/b`, then `node_modules/b`); a nested package is kept
 * with the top-level folder that holds it. A name the lockfile does not know is kept.
 */
export function runtimePackages(manifest: PackageJson, lock: PackageLock): Set<string> {
  const packages = lock.packages ?? {};
  const needed = new Set<string>();
  const seen = new Set<string>();
  const pending = Object.keys(manifest.dependencies ?? {})
    .filter((name) => !BUILD_ONLY.has(name))
    .map((name) => ({ name, from: "" }));
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const path = installedPath(packages, next.from, next.name);
    if (path === undefined) {
      if (next.from === "") needed.add(next.name);
      continue;
    }
    if (seen.has(path)) continue;
    seen.add(path);
    needed.add(topLevelName(path));
    const entry = packages[path] ?? {};
    for (
      const name of new Set([
        ...Object.keys(entry.dependencies ?? {}),
        ...Object.keys(entry.optionalDependencies ?? {}),
        ...Object.keys(entry.peerDependencies ?? {}),
      ])
    ) {
      pending.push({ name, from: path });
    }
  }
  return needed;
}

/** Where Node finds `name` for the package installed at `from` ("" for the project). */
function installedPath(
  packages: Readonly<Record<string, LockedPackage>>,
  from: string,
  name: string,
): string | undefined {
  for (let base = from;; base = parentPackage(base)) {
    const candidate = base === "" ? `node_modules/${name}` : `${base}/node_modules/${name}`;
    if (Object.hasOwn(packages, candidate)) return candidate;
    if (base === "") return undefined;
  }
}

/** `node_modules/a/node_modules/@s/b` → `node_modules/a`; `node_modules/a` → "". */
function parentPackage(path: string): string {
  const at = path.lastIndexOf("/node_modules/");
  return at < 0 ? "" : path.slice(0, at);
}

/** `node_modules/@s/b/node_modules/c` → `@s/b`. */
function topLevelName(path: string): string {
  const parts = path.slice("node_modules/".length).split("/");
  return parts[0]?.startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0] ?? "";
}

/**
 * The `node_modules/...` paths to exclude: every installed package (`name`, or
 * `@scope/name`) that `needed` does not list. `installed` are the package names found in
 * the folder.
 */
export function excludedPackagePaths(
  installed: readonly string[],
  needed: ReadonlySet<string>,
): string[] {
  return installed.filter((name) => !needed.has(name)).map((name) => `node_modules/${name}`)
    .sort();
}

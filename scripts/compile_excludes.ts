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

/** `package-lock.json` (lockfile version 2 or 3) as far as this module reads it. */
export interface PackageLock {
  readonly packages?: Readonly<
    Record<string, { readonly dependencies?: Readonly<Record<string, string>> }>
  >;
}

/** The names of the packages the compiled program needs: runtime dependencies, transitively. */
export function runtimePackages(manifest: PackageJson, lock: PackageLock): Set<string> {
  const needed = new Set<string>();
  const pending = Object.keys(manifest.dependencies ?? {}).filter((name) => !BUILD_ONLY.has(name));
  for (let name = pending.pop(); name !== undefined; name = pending.pop()) {
    if (needed.has(name)) continue;
    needed.add(name);
    const entry = lock.packages?.[`node_modules/${name}`];
    pending.push(...Object.keys(entry?.dependencies ?? {}));
  }
  return needed;
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

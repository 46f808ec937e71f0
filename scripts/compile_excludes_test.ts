import assert from "node:assert/strict";
import { excludedPackagePaths, runtimePackages } from "./compile_excludes.ts";

Deno.test("runtimePackages() keeps runtime dependencies and theirs, never Deno itself", () => {
  const needed = runtimePackages(
    { dependencies: { deno: "2.9.6", commander: "14", zod: "4" } },
    {
      packages: {
        "": {},
        "node_modules/commander": {},
        "node_modules/zod": { dependencies: { "@zod/core": "1", commander: "14" } },
        "node_modules/@zod/core": { dependencies: { tslib: "2" } },
        "node_modules/tslib": {},
        "node_modules/fast-check": { dependencies: { "pure-rand": "6" } },
      },
    },
  );
  assert.deepEqual([...needed].sort(), ["@zod/core", "commander", "tslib", "zod"]);
});

Deno.test("runtimePackages() follows optional, peer and nested dependencies as Node resolves them", () => {
  const needed = runtimePackages(
    { dependencies: { a: "1", "@s/b": "1" } },
    {
      packages: {
        "": {},
        "node_modules/a": {
          optionalDependencies: { native: "1" },
          peerDependencies: { peer: "1" },
        },
        "node_modules/native": {},
        "node_modules/peer": {},
        // @s/b needs its own c (nested), which needs d (hoisted to the top).
        "node_modules/@s/b": { dependencies: { c: "2" } },
        "node_modules/@s/b/node_modules/c": { dependencies: { d: "1" } },
        "node_modules/c": { dependencies: { unused: "1" } },
        "node_modules/d": {},
        "node_modules/unused": {},
      },
    },
  );
  assert.deepEqual([...needed].sort(), ["@s/b", "a", "d", "native", "peer"]);
});

Deno.test("runtimePackages() keeps a runtime dependency the lockfile does not know", () => {
  assert.deepEqual([...runtimePackages({ dependencies: { x: "1" } }, {})], ["x"]);
});

Deno.test("excludedPackagePaths() names every other installed package", () => {
  const excluded = excludedPackagePaths(
    ["commander", "deno", "@deno/linux-x64-glibc", "@types/node", "fast-check", "zod"],
    new Set(["commander", "zod"]),
  );
  assert.deepEqual(excluded, [
    "node_modules/@deno/linux-x64-glibc",
    "node_modules/@types/node",
    "node_modules/deno",
    "node_modules/fast-check",
  ]);
});

Deno.test("this repository's runtime packages are the ones the program imports", () => {
  const needed = runtimePackages(
    JSON.parse(Deno.readTextFileSync(new URL("../package.json", import.meta.url))),
    JSON.parse(Deno.readTextFileSync(new URL("../package-lock.json", import.meta.url))),
  );
  assert.deepEqual([...needed].sort(), [
    "@commander-js/extra-typings",
    "commander",
    "xz-decompress",
    "zod",
  ]);
});

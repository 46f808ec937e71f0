/**
 * `deno task compile [--target TRIPLE] [--output PATH]`: builds the single `tooltool`
 * binary with every permission baked in.
 *
 * `deno compile` downloads the matching `denort` runtime unless `DENORT_BIN` names one.
 * Where neither works (no network), this says so in one line instead of Deno's long
 * error chain. The end-to-end tests run against the result with `TOOLTOOL_BIN=dist/tooltool`.
 *
 * @module
 */

import { excludedPackagePaths, runtimePackages } from "./compile_excludes.ts";

const args = [...Deno.args];
function takeFlag(name: string): string | undefined {
  const index = args.indexOf(name);
  if (index === -1) return undefined;
  const [, value] = args.splice(index, 2);
  return value;
}
const target = takeFlag("--target");
const output = takeFlag("--output") ?? "dist/tooltool";

/** The package names installed in `node_modules`, scoped ones as `@scope/name`. */
function installedPackages(): string[] {
  const names: string[] = [];
  for (const entry of Deno.readDirSync("node_modules")) {
    if (!entry.isDirectory || entry.name.startsWith(".")) continue;
    if (!entry.name.startsWith("@")) {
      names.push(entry.name);
      continue;
    }
    for (const scoped of Deno.readDirSync(`node_modules/${entry.name}`)) {
      if (scoped.isDirectory) names.push(`${entry.name}/${scoped.name}`);
    }
  }
  return names;
}

const needed = runtimePackages(
  JSON.parse(Deno.readTextFileSync("package.json")),
  JSON.parse(Deno.readTextFileSync("package-lock.json")),
);
// Scratch folders of a working checkout would be embedded too (links to node_modules).
const scratch = [".tmp", ".bench", "dist"].filter((path) => {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
});
const excludes = [...excludedPackagePaths(installedPackages(), needed), ...scratch];

const compileArgs = [
  "compile",
  "--allow-all",
  "--no-check",
  // Loaded with `new Worker(...)`, which the module graph does not follow (src/hash_pool.ts).
  "--include",
  "src/hash_worker.ts",
  ...excludes.flatMap((path) => ["--exclude", path]),
  "--output",
  output,
  ...(target ? ["--target", target] : []),
  "main.ts",
];
const { code, stderr } = await new Deno.Command(Deno.execPath(), {
  args: compileArgs,
  env: { RUST_BACKTRACE: "0" },
  stdout: "inherit",
  stderr: "piped",
}).output();
const message = new TextDecoder().decode(stderr);
if (code === 0) {
  console.log(`Built ${output}`);
  Deno.exit(0);
}
if (/denort|base binary|error sending request|dns error/i.test(message)) {
  const runtime = `denort ${Deno.version.deno}`;
  console.error(
    `error: cannot compile: deno compile needs the ${runtime} runtime and cannot download it here; set DENORT_BIN to a local ${runtime} binary`,
  );
  Deno.exit(1);
}
console.error(message.trim());
Deno.exit(code);

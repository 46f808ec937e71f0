/**
 * `deno task bench [workloads] [hash] [fetch] [unpack] [upload] [trees] [--busy] [--touch-memory]`:
 * runs the benchmarks side by side on this machine and prints one markdown table each. A
 * benchmark is a script that prints numbers, never a timed test.
 *
 * @module
 */

const flags = Deno.args.filter((arg) => arg.startsWith("--"));
const BENCHES: Record<string, () => Promise<string>> = {
  workloads: async () => (await import("./bench/workloads.ts")).benchWorkloads(flags),
  hash: async () => (await import("./bench/hash.ts")).benchHash(),
  fetch: async () => (await import("./bench/fetch.ts")).benchFetch(),
  unpack: async () => (await import("./bench/unpack.ts")).benchUnpack(),
  upload: async () => (await import("./bench/upload.ts")).benchUpload(),
  trees: async () => (await import("./bench/trees.ts")).benchTrees(),
};

const named = Deno.args.filter((arg) => !arg.startsWith("--"));
const chosen = named.length > 0 ? named : Object.keys(BENCHES);
let failed = false;
for (const name of chosen) {
  const bench = BENCHES[name];
  if (bench === undefined) {
    console.error(`error: unknown benchmark "${name}" (known: ${Object.keys(BENCHES).join(", ")})`);
    Deno.exit(2);
  }
  console.log(`\n## ${name}\n`);
  try {
    console.log(await bench());
  } catch (error) {
    failed = true;
    console.log(`${name} benchmark failed: ${error instanceof Error ? error.message : error}`);
  }
}
Deno.exit(failed ? 1 : 0);

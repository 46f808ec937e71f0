/**
 * Guards the start-up path: `tooltool version` and `validate --schema-only` (a pre-commit
 * hook) must start fast, so the modules they load may not include commander (a CommonJS
 * package: Deno's CommonJS loader and several `node:` polyfills), any other npm package,
 * or any `node:` module (even node:path costs about 6 ms). Read from `deno info --json`,
 * which lists every import with whether it is dynamic.
 *
 * @module
 */

import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

interface Dependency {
  readonly code?: { readonly specifier: string };
  readonly isDynamic?: boolean;
}

interface GraphModule {
  readonly specifier: string;
  readonly kind: string;
  readonly dependencies?: readonly Dependency[];
}

/** The module graph of main.ts: each module's code imports, split into static and dynamic. */
async function moduleGraph(): Promise<Map<string, GraphModule>> {
  const { success, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "main.ts"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(success, new TextDecoder().decode(stderr));
  const info = JSON.parse(new TextDecoder().decode(stdout)) as { modules: GraphModule[] };
  return new Map(info.modules.map((module) => [module.specifier, module]));
}

function imports(module: GraphModule | undefined, dynamic: boolean): string[] {
  return (module?.dependencies ?? []).flatMap((dependency) =>
    dependency.code !== undefined && (dependency.isDynamic ?? false) === dynamic
      ? [dependency.code.specifier]
      : []
  );
}

/** Every module loaded with `roots`, following static imports only. */
function staticClosure(graph: Map<string, GraphModule>, roots: readonly string[]): Set<string> {
  const seen = new Set<string>();
  const pending = [...roots];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (seen.has(next)) continue;
    seen.add(next);
    pending.push(...imports(graph.get(next), false));
  }
  return seen;
}

function local(path: string): string {
  return new URL(path, ROOT).href;
}

/** npm packages and `node:` modules: what makes a start slow. */
function heavy(graph: Map<string, GraphModule>, specifier: string): boolean {
  const kind = graph.get(specifier)?.kind;
  return specifier.startsWith("node:") || specifier.includes("/node_modules/") ||
    kind === "npm" || kind === "node" || kind === "external";
}

Deno.test("version and validate --schema-only load no npm package and no node: module", async () => {
  const graph = await moduleGraph();
  const main = local("main.ts");
  // What main.ts loads on every run, then the command module it imports for each command.
  for (const command of ["commands/version.ts", "commands/validate.ts"]) {
    assert.ok(imports(graph.get(main), true).includes(local(command)), command);
    const loaded = staticClosure(graph, [main, local(command)]);
    const offending = [...loaded].filter((specifier) => heavy(graph, specifier));
    assert.deepEqual(offending, [], command);
  }
});

Deno.test("commander is reached only through main.ts's dynamic import of the help module", async () => {
  const graph = await moduleGraph();
  const help = local("commands/help.ts");
  const commander = [...staticClosure(graph, [help])].filter((specifier) =>
    specifier.includes("/node_modules/@commander-js/") ||
    specifier.includes("/node_modules/commander/")
  );
  // Not vacuous: the help module does bring commander.
  assert.ok(commander.length > 0);
  const main = local("main.ts");
  assert.ok(imports(graph.get(main), true).includes(help));
  assert.ok(!staticClosure(graph, [main]).has(help));
  // Nothing else on any path, static or dynamic, imports the help module or commander.
  for (const [specifier, module] of graph) {
    if (specifier === main) continue;
    const all = [...imports(module, false), ...imports(module, true)];
    if (specifier !== help) {
      assert.ok(!all.includes(help), `${specifier} imports the help module`);
      if (!commander.includes(specifier)) {
        assert.deepEqual(all.filter((dep) => commander.includes(dep)), [], specifier);
      }
    }
  }
});

Deno.test("fetch loads the download code and the HTTP/1.1 client only when a file is downloaded", async () => {
  const graph = await moduleGraph();
  const loaded = staticClosure(graph, [local("main.ts"), local("commands/fetch.ts")]);
  // A fetch that finds every file present or in the cache needs none of these.
  for (
    const module of [
      "src/workflows/fetch/download_step.ts",
      "src/transport/download.ts",
      "src/transport/http1.ts",
      "src/transport/hashing_sink.ts",
      "src/transport/watchdog.ts",
    ]
  ) {
    assert.ok(graph.has(local(module)), `${module} is in the graph (the test is not vacuous)`);
    assert.ok(!loaded.has(local(module)), `${module} is loaded before a download needs it`);
  }
});

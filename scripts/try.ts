/**
 * `deno task try`: one command to see the tool work end to end, offline. Seeds the fake
 * server with a few sample artifacts (small generated files and a .tar.gz marked unpack),
 * writes their manifest into a fresh temp work dir, runs
 * `deno run -A main.ts --url <server> fetch -m manifest.tt -c <cache>` there, and reports
 * what the tool printed, which files it produced, and what the server saw.
 *
 * ```
 * deno task try [--fault JSON]... [--keep]
 * ```
 * `--fault` adds a fault rule first (see docs/fake-server.md), e.g.
 * `--fault '{"kind":"status","status":500,"times":1}'`; `--keep` leaves the work dir.
 * Exits with the tool's exit code.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { manifestRecord, tarGz } from "../test/fake_server/fixtures.ts";
import { parseFaultRule, startFakeServer } from "../test/fake_server/server.ts";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));
const TOOL_TIMEOUT_MS = 120_000;

async function sha512File(path: string): Promise<string> {
  const hash = createHash("sha512");
  using file = await Deno.open(path);
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

/** Lists a directory tree, relative paths, directories with a trailing slash. */
async function tree(dir: string, prefix = ""): Promise<string[]> {
  const lines: string[] = [];
  const entries = [];
  for await (const entry of Deno.readDir(join(dir, prefix))) entries.push(entry);
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const entry of entries) {
    const path = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory) {
      lines.push(`${path}/`);
      lines.push(...await tree(dir, path));
    } else {
      const { size } = await Deno.lstat(join(dir, path));
      lines.push(`${path}  (${size} bytes${entry.isSymlink ? ", symlink" : ""})`);
    }
  }
  return lines;
}

function section(title: string): void {
  console.log(`\n== ${title}`);
}

async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      fault: { type: "string", multiple: true },
      keep: { type: "boolean" },
    },
    strict: true,
  });
  const faults = (values.fault ?? []).map((text) => parseFaultRule(JSON.parse(text)));

  const workDir = await Deno.makeTempDir({ prefix: "tooltool-try-" });
  const cacheDir = join(workDir, ".cache");
  const server = await startFakeServer();
  try {
    const encoder = new TextEncoder();
    const samples = [
      { name: "hello.txt", content: encoder.encode("Hello from the fake ToolTool server!\n") },
      { name: "random.bin", content: crypto.getRandomValues(new Uint8Array(48 * 1024)) },
      {
        name: "toolchain.tar.gz",
        content: tarGz([
          { name: "toolchain/" },
          { name: "toolchain/bin/" },
          { name: "toolchain/bin/hello", content: "#!/bin/sh\necho hello\n", mode: 0o755 },
          { name: "toolchain/README", content: "A sample toolchain.\n" },
        ]),
        unpack: true,
      },
    ];
    const manifest = [];
    for (const sample of samples) {
      await server.addFile(sample.content);
      manifest.push(
        manifestRecord(sample.name, sample.content, {
          visibility: "public",
          ...(sample.unpack ? { unpack: true } : {}),
        }),
      );
    }
    await Deno.writeTextFile(
      join(workDir, "manifest.tt"),
      JSON.stringify(manifest, null, 2) + "\n",
    );
    for (const rule of faults) server.fault(rule);

    const command = [
      "run",
      "-A",
      join(repoRoot, "main.ts"),
      "--url",
      server.url,
      "fetch",
      "-m",
      "manifest.tt",
      "-c",
      cacheDir,
    ];
    section("setup");
    console.log(`server   ${server.url} (storage ${server.storageUrl})`);
    console.log(`work dir ${workDir}`);
    console.log(
      `manifest ${manifest.map((r) => r.filename + (r.unpack ? " (unpack)" : "")).join(", ")}`,
    );
    if (faults.length > 0) {
      console.log(`faults   ${faults.map((f) => JSON.stringify(f)).join(" ")}`);
    }
    console.log(`$ deno ${command.join(" ")}`);

    // The tool runs in its own process, so the server keeps answering while we wait.
    const child = new Deno.Command(Deno.execPath(), {
      args: command,
      cwd: workDir,
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(TOOL_TIMEOUT_MS),
    }).spawn();
    const [status, stdout, stderr] = await Promise.all([
      child.status,
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
    ]);

    section(`tool exited with ${status.code}${status.signal ? ` (${status.signal})` : ""}`);
    if (stdout.trim() !== "") console.log(`-- stdout\n${stdout.trimEnd()}`);
    if (stderr.trim() !== "") console.log(`-- stderr\n${stderr.trimEnd()}`);

    section("work dir after fetch");
    for (const line of await tree(workDir)) {
      if (!line.startsWith(".cache")) console.log(`  ${line}`);
    }

    section("manifest files");
    for (const record of manifest) {
      const path = join(workDir, record.filename);
      let verdict: string;
      try {
        verdict = await sha512File(path) === record.digest ? "ok" : "DIGEST MISMATCH";
      } catch {
        verdict = "missing";
      }
      console.log(`  ${record.filename.padEnd(18)} ${verdict}`);
    }

    section("requests the server saw");
    for (const r of server.requests) {
      const path = new URL(r.url).pathname.replace(/[0-9a-f]{128}/, (d) => `${d.slice(0, 12)}…`);
      const extras = [r.range ? `range ${r.range}` : "", r.hasAuthorization ? "auth" : ""]
        .filter((x) => x !== "").join(", ");
      console.log(
        `  ${r.origin.padEnd(7)} ${r.method.padEnd(4)} ${String(r.status).padEnd(3)} ${path}${
          extras ? `  (${extras})` : ""
        }`,
      );
    }
    return status.code;
  } finally {
    await server.close();
    if (values.keep) {
      console.log(`\nkept ${workDir}`);
    } else {
      await Deno.remove(workDir, { recursive: true });
    }
  }
}

Deno.exit(await main(Deno.args));

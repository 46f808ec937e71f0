/**
 * End-to-end: nothing a server, a manifest or an archive sends reaches the terminal raw.
 * The CLI runs against a fake server that puts escape sequences, CR/LF and forged `error:`
 * lines wherever a client echoes text (problem details, S3 XML messages, archive member
 * names, manifest filenames); every stream must show them as visible escapes.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runTool, tempDir, type ToolRun } from "./cli.ts";
import { tar } from "./helpers/archives.ts";
import { FAST_ENV } from "./fetch_fixture.ts";
import { manifestRecord } from "./fake_server/fixtures.ts";
import { type FakeServer, startFakeServer } from "./fake_server/server.ts";

/** What a hostile server tries: retitle the window, forge a line, recolour, CSI by C1, bidi. */
const HOSTILE = "\x1b]0;pwned\x07 \r\nerror: fake \x1b[31mred \x9b2J \u202egnp.exe";

/** Any character a terminal acts on, or that breaks a line. */
// deno-lint-ignore no-control-regex -- finding control characters is the point
const RAW_CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;

function assertNothingRaw(run: ToolRun): void {
  for (const [name, text] of [["stdout", run.stdout], ["stderr", run.stderr]] as const) {
    const found = RAW_CONTROL.exec(text);
    assert.equal(
      found,
      null,
      `${name} holds a raw U+${found?.[0].codePointAt(0)?.toString(16)}:\n${text}`,
    );
  }
  assert.doesNotMatch(run.stderr, /^error: fake/m, "a forged error line got through");
}

async function withServer(
  fn: (server: FakeServer, dir: string) => Promise<void>,
): Promise<void> {
  await using dir = await tempDir();
  const server = await startFakeServer();
  try {
    await fn(server, dir.path);
  } finally {
    await server.close();
  }
}

async function writeManifest(dir: string, records: unknown[]): Promise<void> {
  await Deno.writeTextFile(join(dir, "manifest.tt"), JSON.stringify(records, null, 2));
}

function fetchWith(server: FakeServer, dir: string, args: string[] = []): Promise<ToolRun> {
  return runTool(["--url", server.url, "fetch", ...args], { cwd: dir, env: FAST_ENV });
}

Deno.test("fetch escapes control characters in a server's problem detail, on stderr and in --json", () =>
  withServer(async (server, dir) => {
    const content = new TextEncoder().encode("x");
    await server.addFile(content);
    await writeManifest(dir, [manifestRecord("a.txt", content)]);
    server.fault({
      kind: "status",
      status: 400,
      origin: "api",
      contentType: "application/problem+json",
      body: JSON.stringify({ status: 400, title: "Bad Request", detail: HOSTILE }),
    });
    const run = await fetchWith(server, dir);
    assert.equal(run.code, 1);
    assertNothingRaw(run);
    assert.ok(
      run.stderr.includes(
        String.raw`\x1b]0;pwned\x07 \r\nerror: fake \x1b[31mred \x9b2J \u202egnp.exe`,
      ),
      run.stderr,
    );

    const json = await fetchWith(server, dir, ["--json"]);
    assert.equal(json.code, 1);
    assertNothingRaw(json);
    // JSON escapes, once: the report parses back to exactly what the server said.
    const report = JSON.parse(json.stdout) as { files: { error: string }[] };
    assert.ok(report.files[0]?.error.includes(HOSTILE), json.stdout);
    assert.ok(json.stdout.includes(String.raw`\u001b]0;pwned\u0007`), json.stdout);
    assert.ok(json.stdout.includes(String.raw`\u009b2J \u202egnp`), json.stdout);
  }));

Deno.test("fetch escapes control characters in storage's S3 XML error message", () =>
  withServer(async (server, dir) => {
    const content = new TextEncoder().encode("x");
    await server.addFile(content);
    await writeManifest(dir, [manifestRecord("a.txt", content)]);
    server.fault({
      kind: "status",
      status: 400,
      origin: "storage",
      contentType: "application/xml",
      body:
        `<?xml version="1.0"?><Error><Code>Bad\x1b[2J</Code><Message>${HOSTILE}</Message></Error>`,
    });
    const run = await fetchWith(server, dir);
    assert.equal(run.code, 1);
    assertNothingRaw(run);
    assert.match(run.stderr, /storage returned 400 Bad Request \(Bad\\x1b\[2J: \\x1b\]0;pwned/);
  }));

Deno.test("fetch escapes the name of a refused archive member in its error", () =>
  withServer(async (server, dir) => {
    const archive = tar([{ name: `../\x1b]0;pwned\x07\r\nerror: fake`, data: "boom" }]);
    await server.addFile(archive);
    await writeManifest(dir, [{ ...manifestRecord("evil.tar", archive), unpack: true }]);
    const run = await fetchWith(server, dir);
    assert.equal(run.code, 1);
    assertNothingRaw(run);
    assert.match(run.stderr, /^error: Cannot unpack "evil\.tar": .*\\x1b\]0;pwned\\x07\\r\\n/m);
  }));

Deno.test("fetch shows a manifest filename's bidi override as an escape in every line", () =>
  withServer(async (server, dir) => {
    const content = new TextEncoder().encode("x");
    await server.addFile(content);
    const name = "invoice\u202efdp.exe";
    await writeManifest(dir, [manifestRecord(name, content)]);
    for (const args of [[], ["-v"], ["--json"]]) {
      await Deno.remove(join(dir, name)).catch(() => {});
      const run = await fetchWith(server, dir, args);
      assert.equal(run.code, 0, run.stderr);
      assertNothingRaw(run);
      assert.ok(Deno.statSync(join(dir, name)).isFile);
    }
    const list = await runTool(["list"], { cwd: dir });
    assert.equal(list.stdout, "P\tV\tinvoice\\u202efdp.exe\n");
  }));

Deno.test("a manifest filename refused for a C1 control is shown escaped, by every command", () =>
  withServer(async (server, dir) => {
    const content = new TextEncoder().encode("x");
    await writeManifest(dir, [manifestRecord("a\x9b2Jb", content)]);
    for (
      const args of [
        ["fetch"],
        ["list"],
        ["validate"],
        ["validate", "--schema-only"],
        ["validate", "--schema-only", "--json"],
      ]
    ) {
      const run = await runTool(["--url", server.url, ...args], { cwd: dir });
      assert.equal(run.code, 1, args.join(" "));
      assertNothingRaw(run);
      assert.match(run.stderr, /must not contain control characters, got U\+009B in "a\\x9b2Jb"/);
    }
  }));

Deno.test("check escapes control characters a server puts in a probe's answer", () =>
  withServer(async (server, dir) => {
    server.fault({
      kind: "status",
      status: 503,
      path: "/__heartbeat__",
      contentType: "application/json",
      body: JSON.stringify({ database: HOSTILE }),
    });
    const run = await runTool(["--url", server.url, "check"], { cwd: dir });
    assert.equal(run.code, 1);
    assertNothingRaw(run);
    assert.match(run.stdout, /^FAIL heartbeat: .*database: \\x1b\]0;pwned\\x07 \\r\\n/m);
    const json = await runTool(["--url", server.url, "check", "--json"], { cwd: dir });
    assertNothingRaw(json);
  }));

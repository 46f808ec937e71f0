/**
 * End-to-end: `--json` always prints one report on stdout, even when the run fails before
 * its command could write one (bad manifest, bad credentials, usage errors), and never two.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runTool, tempDir } from "./cli.ts";

function failureOf(stdout: string) {
  return JSON.parse(stdout) as {
    ok: boolean;
    error: { message: string; hint: string | null; exitCode: number };
  };
}

Deno.test("--json reports a manifest that cannot be parsed", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(join(dir.path, "manifest.tt"), "{not json");
  const run = await runTool(["fetch", "--json", "--url", "http://127.0.0.1:9/"], {
    cwd: dir.path,
  });
  assert.equal(run.code, 1);
  const report = failureOf(run.stdout);
  assert.equal(report.ok, false);
  assert.equal(report.error.exitCode, 1);
  assert.match(report.error.message, /^Cannot parse manifest "manifest\.tt"/);
  assert.match(run.stderr, /^error: Cannot parse manifest/);
});

Deno.test("--json reports bad credentials with their hint", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(join(dir.path, "manifest.tt"), "[]");
  const run = await runTool(
    ["fetch", "--json", "--url", "http://127.0.0.1:9/", "--authentication-file", "missing.json"],
    { cwd: dir.path },
  );
  assert.equal(run.code, 1);
  assert.deepEqual(failureOf(run.stdout), {
    ok: false,
    error: {
      message: 'Cannot read credentials "missing.json": file not found',
      hint: "--authentication-file names a JSON file with clientId and accessToken",
      exitCode: 1,
    },
  });
});

Deno.test("--json reports usage errors, from the parser and from a command", async () => {
  await using dir = await tempDir();
  const parser = await runTool(["fetch", "--json", "--no-such-flag"], { cwd: dir.path });
  assert.equal(parser.code, 2);
  assert.equal(failureOf(parser.stdout).error.exitCode, 2);
  const command = await runTool(["upload", "--json", "--url", "http://127.0.0.1:9/"], {
    cwd: dir.path,
  });
  assert.equal(command.code, 2);
  assert.match(failureOf(command.stdout).error.message, /requires --message/);
});

Deno.test("--json prints one report, not two, when the command already wrote its own", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(
    join(dir.path, "manifest.tt"),
    JSON.stringify([{ filename: "a", size: 1, algorithm: "sha512", digest: "a".repeat(128) }]),
  );
  const run = await runTool(
    ["fetch", "--json", "--url", "http://127.0.0.1:9/"],
    { cwd: dir.path, env: { TOOLTOOL_RETRY_BASE_MS: "1" } },
  );
  assert.equal(run.code, 1);
  const report = JSON.parse(run.stdout);
  assert.equal(report.ok, false);
  assert.equal(report.files.length, 1);
  assert.equal(report.error, undefined);
});

Deno.test("without --json a failure prints nothing on stdout", async () => {
  await using dir = await tempDir();
  const run = await runTool(["fetch", "--url", "http://127.0.0.1:9/"], { cwd: dir.path });
  assert.equal(run.code, 1);
  assert.equal(run.stdout, "");
});

import assert from "node:assert/strict";
import { runTool, tempDir } from "./cli.ts";

Deno.test("tooltool --help prints usage on stdout and exits 0", async () => {
  await using dir = await tempDir();
  const run = await runTool(["--help"], { cwd: dir.path });
  assert.equal(run.code, 0);
  assert.match(run.stdout, /^Usage: tooltool \[options\] <command>/);
  assert.equal(run.stderr, "");
});

Deno.test("tooltool with no command is a usage error (exit 2), as with tooltool.py", async () => {
  await using dir = await tempDir();
  const run = await runTool(["-q"], { cwd: dir.path });
  assert.equal(run.code, 2);
  assert.equal(
    run.stderr,
    'error: You must specify a command\nhint: run "tooltool --help" for usage\n',
  );
});

Deno.test("an unknown option or command gives one error line and exit 2", async () => {
  await using dir = await tempDir();
  for (const args of [["list", "--bogus"], ["frobnicate"], ["-d", "md5", "list"]]) {
    const run = await runTool(args, { cwd: dir.path });
    assert.equal(run.code, 2, args.join(" "));
    assert.equal(run.stderr.split("\n")[0]?.startsWith("error: "), true);
    assert.doesNotMatch(run.stderr, /Uncaught|\n\s+at /);
  }
});

Deno.test("tooltool version prints the program version; --version stays the record flag", async () => {
  await using dir = await tempDir();
  const run = await runTool(["version"], { cwd: dir.path });
  assert.equal(run.code, 0);
  assert.match(run.stdout, /^tooltool \d+\.\d+\.\d+ \(deno /);
  const flag = await runTool(["--version"], { cwd: dir.path });
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /argument missing|You must specify a command/);
});

Deno.test("a bad --url stops only the commands that talk to a server", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(`${dir.path}/manifest.tt`, "[]");
  await Deno.writeTextFile(`${dir.path}/f.txt`, "f");
  for (
    const args of [
      ["validate", "--schema-only"],
      ["validate"],
      ["list"],
      ["add", "f.txt"],
    ]
  ) {
    const run = await runTool(["--url", "ftp://x", ...args], { cwd: dir.path });
    assert.equal(run.code, 0, `${args.join(" ")}: ${run.stderr}`);
  }
  const server = await runTool(["--url", "ftp://x", "whoami"], { cwd: dir.path });
  assert.equal(server.code, 2);
  assert.equal(
    server.stderr,
    'error: Invalid --url "ftp://x/": only http and https URLs are supported, not ftp:\n',
  );
});

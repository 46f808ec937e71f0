/**
 * End-to-end: `--authentication-file` pointed at the wrong kind of file — a FIFO nobody
 * writes to, a device — ends at once with a clear error instead of hanging or eating
 * memory, and a file others can read is used with a warning.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runTool, tempDir } from "./cli.ts";
import { spawnTool } from "./fetch_fixture.ts";

Deno.test("--authentication-file on a FIFO fails at once, and never outlives a SIGTERM", async () => {
  await using dir = await tempDir();
  const fifo = join(dir.path, "creds");
  await new Deno.Command("mkfifo", { args: [fifo] }).output();
  await Deno.writeTextFile(join(dir.path, "manifest.tt"), "[]");
  const child = spawnTool(
    ["fetch", "--url", "http://127.0.0.1:9/", "--authentication-file", fifo],
    { cwd: dir.path },
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  const signalled = new Promise<"late">((resolve) => {
    timer = setTimeout(() => {
      child.kill("SIGTERM");
      resolve("late");
      // One that ignores SIGTERM too must not hang the suite.
      setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // Already gone.
        }
      }, 5_000);
    }, 10_000);
  });
  const output = child.output();
  const first = await Promise.race([output.then(() => "done" as const), signalled]);
  clearTimeout(timer);
  const { code, stderr } = await output;
  assert.equal(first, "done", "it had to be stopped with SIGTERM");
  assert.equal(code, 1);
  assert.equal(
    new TextDecoder().decode(stderr).split("\n")[0],
    `error: Cannot read credentials "${fifo}": it is a FIFO (named pipe), not a regular file`,
  );
});

Deno.test("--authentication-file /dev/zero fails at once without reading it", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(join(dir.path, "manifest.tt"), "[]");
  const run = await runTool(
    ["fetch", "--url", "http://127.0.0.1:9/", "--authentication-file", "/dev/zero"],
    { cwd: dir.path },
  );
  assert.equal(run.code, 1);
  assert.match(
    run.stderr,
    /^error: Cannot read credentials "\/dev\/zero": it is a character device, not a regular file$/m,
  );
});

Deno.test("fetch warns once about credentials others can read, and still uses them", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(join(dir.path, "manifest.tt"), "[]");
  const creds = join(dir.path, "my creds.json");
  await Deno.writeTextFile(creds, '{"clientId": "me", "accessToken": "s3cret-token"}');
  await Deno.chmod(creds, 0o644);
  const run = await runTool(
    ["fetch", "-q", "--url", "http://127.0.0.1:9/", "--authentication-file", creds],
    { cwd: dir.path },
  );
  assert.equal(run.code, 0, run.stderr);
  assert.equal(
    run.stderr,
    `warning: credentials "${creds}" are accessible to others (mode 0644); protect them with: chmod 600 '${creds}'\n`,
  );
  assert.ok(!run.stderr.includes("s3cret"));
});

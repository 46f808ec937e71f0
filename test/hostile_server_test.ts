/**
 * End-to-end: `tooltool` against servers that misbehave on purpose — redirects to local
 * files and other schemes, huge or compressed error bodies, trickling bodies, broken HTTP —
 * and against bad URLs given on the command line. Each server here is a few lines in the
 * test process (`Deno.serve`, or a raw `Deno.listen` for what no HTTP server would send).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runTool, tempDir } from "./cli.ts";
import { FAST_ENV } from "./fetch_fixture.ts";
import { sha512Hex } from "../src/digest.ts";

const CONTENT = new TextEncoder().encode("hello, tooltool\n");
const DIGEST = sha512Hex(CONTENT);

/** An HTTP server on a free local port, answering with `handler`; closed by the disposer. */
function httpServer(handler: (request: Request) => Response | Promise<Response>) {
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, handler);
  return {
    url: `http://127.0.0.1:${server.addr.port}/`,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

async function writeManifest(dir: string, filename = "a.bin"): Promise<void> {
  await Deno.writeTextFile(
    join(dir, "manifest.tt"),
    JSON.stringify([{ filename, size: CONTENT.length, algorithm: "sha512", digest: DIGEST }]),
  );
}

/** Serves `CONTENT` for its digest, at `/blob` (what a good storage does). */
function goodServer() {
  return httpServer((request) => {
    const { pathname } = new URL(request.url);
    if (pathname === `/sha512/${DIGEST}`) {
      return new Response(null, { status: 302, headers: { Location: "/blob" } });
    }
    return pathname === "/blob" ? new Response(CONTENT) : new Response("no", { status: 404 });
  });
}

for (const location of ["file:///etc/passwd", "file:///dev/stdin", "data:text/plain,hello"]) {
  Deno.test(`fetch refuses an API redirect to ${location.split(",")[0]} and falls back to the next --url`, async () => {
    await using dir = await tempDir();
    await writeManifest(dir.path);
    await using hostile = httpServer(() =>
      new Response(null, { status: 302, headers: { Location: location } })
    );
    await using good = goodServer();
    const run = await runTool(["fetch", "--url", hostile.url, "--url", good.url, "--json"], {
      cwd: dir.path,
      env: FAST_ENV,
    });
    assert.equal(run.code, 0, run.stderr);
    const [file] = JSON.parse(run.stdout).files;
    assert.equal(file.source, "network");
    assert.equal(file.attempts, 2, "one refused attempt, no retries of it");
    assert.deepEqual(await Deno.readFile(join(dir.path, "a.bin")), CONTENT);
  });
}

Deno.test("fetch fails, naming the scheme, when the only server redirects to file:", async () => {
  await using dir = await tempDir();
  await writeManifest(dir.path, "passwd");
  let asked = 0;
  await using hostile = httpServer(() => {
    asked++;
    return new Response(null, { status: 302, headers: { Location: "file:///etc/passwd" } });
  });
  const run = await runTool(["fetch", "--url", hostile.url], { cwd: dir.path, env: FAST_ENV });
  assert.equal(run.code, 1);
  assert.match(
    run.stderr,
    /^error: Cannot fetch "passwd" from http:\/\/127\.0\.0\.1:\d+\/: the server redirected to a file: URL; only http and https are followed$/m,
  );
  assert.match(run.stderr, /0 downloaded.*1 failed/);
  assert.equal(asked, 1, "not retried");
  await assert.rejects(Deno.stat(join(dir.path, "passwd")), Deno.errors.NotFound);
});

Deno.test("fetch refuses --url ftp:// at once as a usage error", async () => {
  await using dir = await tempDir();
  await writeManifest(dir.path);
  const run = await runTool(["fetch", "--url", "ftp://mirror.test/"], { cwd: dir.path });
  assert.equal(run.code, 2);
  assert.equal(
    run.stderr,
    'error: Invalid --url "ftp://mirror.test/": only http and https URLs are supported, not ftp:\n',
  );
});

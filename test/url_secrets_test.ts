/**
 * End-to-end: secrets in URLs are never printed. A `--url` with userinfo
 * (`http://user:PASSWORD@host/`) and a presigned storage URL's signature must appear in no
 * progress line, error, `-v` detail or `--json` report, whether the run succeeds or fails;
 * and the userinfo never travels to storage.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runTool, tempDir, type ToolRun } from "./cli.ts";
import { FAST_ENV } from "./fetch_fixture.ts";
import { manifestRecord } from "./fake_server/fixtures.ts";
import { type FakeServer, SCOPE_PREFIX, startFakeServer } from "./fake_server/server.ts";

const PASSWORD = "s3cret";
const SIGNATURE = "SIGNATUREsecret";
const ACCESS_KEY = "AKIDsecret";

function assertNoSecret(run: ToolRun, ...secrets: string[]): void {
  for (const secret of [PASSWORD, ...secrets]) {
    assert.ok(!run.stdout.includes(secret), `stdout shows ${secret}:\n${run.stdout}`);
    assert.ok(!run.stderr.includes(secret), `stderr shows ${secret}:\n${run.stderr}`);
  }
}

/** A local port nothing listens on (Deno refuses to connect to port 1 at all). */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** `http://user:s3cret@127.0.0.1:PORT/` for a server URL. */
function withUserinfo(url: string): string {
  return url.replace("http://", `http://user:${PASSWORD}@`);
}

const UPLOADER = { clientId: "uploader", accessToken: "uploader-token" };

async function withServer(
  fn: (server: FakeServer, dir: string) => Promise<void>,
): Promise<void> {
  await using dir = await tempDir();
  const server = await startFakeServer({
    clients: { uploader: { accessToken: UPLOADER.accessToken, scopes: [`${SCOPE_PREFIX}/*`] } },
    uploadExpiresSeconds: 1,
  });
  try {
    await fn(server, dir.path);
  } finally {
    await server.close();
  }
}

async function fetchManifest(server: FakeServer, dir: string): Promise<void> {
  const content = new TextEncoder().encode("hello\n");
  await server.addFile(content);
  await Deno.writeTextFile(
    join(dir, "manifest.tt"),
    JSON.stringify([manifestRecord("a.txt", content)]),
  );
}

Deno.test("fetch with a password in --url never prints it, and never sends it to storage", () =>
  withServer(async (server, dir) => {
    await fetchManifest(server, dir);
    const url = withUserinfo(server.url);
    for (const args of [[], ["-v"], ["--json"], ["-v", "-c", "cache"]]) {
      await Deno.remove(join(dir, "a.txt")).catch(() => {});
      const run = await runTool(["--url", url, "fetch", ...args], { cwd: dir, env: FAST_ENV });
      assert.equal(run.code, 0, run.stderr);
      assertNoSecret(run);
    }
    const storage = server.requests.filter((request) => request.origin === "storage");
    assert.ok(storage.length > 0);
    assert.ok(storage.every((request) => !request.hasAuthorization));
  }));

Deno.test("fetch from a failing server with a password in --url shows the server as ***", () =>
  withServer(async (server, dir) => {
    await fetchManifest(server, dir);
    server.fault({ kind: "status", status: 503, origin: "api" });
    const urls = [withUserinfo(server.url), `http://user:${PASSWORD}@127.0.0.1:${closedPort()}/`];
    for (const args of [[], ["-v"], ["--json"]]) {
      const run = await runTool(["--url", urls[0]!, "--url", urls[1]!, "fetch", ...args], {
        cwd: dir,
        env: { ...FAST_ENV, TOOLTOOL_RETRY_BASE_MS: "1" },
      });
      assert.equal(run.code, 1);
      assertNoSecret(run);
      const shown = args.includes("--json") ? run.stdout : run.stderr;
      assert.match(shown, /Cannot fetch \\?"a\.txt\\?" from http:\/\/\*\*\*@127\.0\.0\.1:\d+\//);
    }
  }));

Deno.test("upload with a password in --url and Taskcluster credentials signs with Hawk and prints no password", () =>
  withServer(async (server, dir) => {
    const content = new TextEncoder().encode("upload me\n");
    await Deno.writeFile(join(dir, "u.txt"), content);
    await Deno.writeTextFile(
      join(dir, "manifest.tt"),
      JSON.stringify([manifestRecord("u.txt", content, { visibility: "public" })]),
    );
    await Deno.writeTextFile(join(dir, "creds"), JSON.stringify(UPLOADER));
    const run = await runTool([
      "--url",
      withUserinfo(server.url),
      "upload",
      "--message",
      "Bug 1 - test",
      "--authentication-file",
      "creds",
      "-v",
      "--json",
    ], { cwd: dir });
    assert.equal(run.code, 0, run.stderr);
    assertNoSecret(run);
    const report = JSON.parse(run.stdout) as { server: string; uploaded: number };
    assert.equal(report.uploaded, 1);
    assert.equal(report.server, server.url.replace("http://", "http://***@"));
  }));

Deno.test("upload and delete refused for lack of credentials print no password", () =>
  withServer(async (server, dir) => {
    const content = new TextEncoder().encode("x");
    await Deno.writeFile(join(dir, "u.txt"), content);
    await Deno.writeTextFile(
      join(dir, "manifest.tt"),
      JSON.stringify([manifestRecord("u.txt", content, { visibility: "public" })]),
    );
    const url = withUserinfo(server.url);
    const upload = await runTool(["--url", url, "upload", "--message", "m"], { cwd: dir });
    assert.equal(upload.code, 1);
    assertNoSecret(upload);
    assert.match(upload.stderr, /to http:\/\/\*\*\*@127\.0\.0\.1:\d+\//);
    const remove = await runTool(["--url", url, "delete", "--digest", "ab".repeat(64)], {
      cwd: dir,
    });
    assert.equal(remove.code, 1);
    assertNoSecret(remove);
  }));

Deno.test("check with a password in --url shows every probe URL without it", () =>
  withServer(async (server, dir) => {
    const { digest } = await server.addFile(new TextEncoder().encode("public\n"));
    const url = withUserinfo(server.url);
    for (const args of [[], ["--json"]]) {
      const run = await runTool(["--url", url, "check", "--public-digest", digest, ...args], {
        cwd: dir,
      });
      assert.equal(run.code, 0, run.stderr);
      assertNoSecret(run);
    }
    server.fault({ kind: "status", status: 503, path: "/__heartbeat__" });
    const failing = await runTool(["--url", url, "check", "-v"], { cwd: dir });
    assert.equal(failing.code, 1);
    assertNoSecret(failing);
    assert.match(failing.stdout, /^FAIL heartbeat: GET http:\/\/\*\*\*@127\.0\.0\.1:\d+\//m);
  }));

/** An API that redirects every download to a presigned URL on a port nothing listens on. */
async function withSignedRedirect(fn: (api: string, dir: string) => Promise<void>) {
  await using dir = await tempDir();
  const location =
    `http://127.0.0.1:${closedPort()}/bucket/blob?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${ACCESS_KEY}%2F20240101&X-Amz-Expires=60&X-Amz-Signature=${SIGNATURE}`;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response(null, { status: 302, headers: { Location: location } }),
  );
  try {
    await fn(`http://user:${PASSWORD}@127.0.0.1:${server.addr.port}/`, dir.path);
  } finally {
    await server.shutdown();
  }
}

Deno.test("a presigned storage URL's signature is printed by no fetch message, -v or --json", () =>
  withSignedRedirect(async (api, dir) => {
    const content = new TextEncoder().encode("x");
    await Deno.writeTextFile(
      join(dir, "manifest.tt"),
      JSON.stringify([manifestRecord("a.txt", content)]),
    );
    for (const args of [["-v"], ["--json"]]) {
      const run = await runTool(["--url", api, "fetch", ...args], {
        cwd: dir,
        env: { ...FAST_ENV, TOOLTOOL_RETRY_BASE_MS: "1" },
      });
      assert.equal(run.code, 1);
      assertNoSecret(run, SIGNATURE, ACCESS_KEY);
    }
    const check = await runTool(["--url", api, "check", "--public-digest", "ab".repeat(64)], {
      cwd: dir,
    });
    assertNoSecret(check, SIGNATURE, ACCESS_KEY);
    assert.match(check.stdout, /302 to http:\/\/127\.0\.0\.1:\d+\/bucket\/blob$/m);
  }));

/** `check` end to end: the CLI as a subprocess against the fake server. */

import assert from "node:assert/strict";
import { redact, runTool, tempDir } from "./cli.ts";
import { type FakeServer, SCOPE_PREFIX, startFakeServer } from "./fake_server/server.ts";

async function withServer(fn: (server: FakeServer, dir: string) => Promise<void>): Promise<void> {
  await using dir = await tempDir();
  const server = await startFakeServer({
    clients: { admin: { accessToken: "admin-SECRET", scopes: [`${SCOPE_PREFIX}/*`] } },
  });
  try {
    await fn(server, dir.path);
  } finally {
    await server.close();
  }
}

function ports(text: string, server: FakeServer): string {
  return redact(text, { [server.url]: "API/", [server.storageUrl]: "STORAGE/" });
}

Deno.test("check passes every probe of a healthy server, anonymously", async () => {
  await withServer(async (server, dir) => {
    const pub = await server.addFile(new TextEncoder().encode("public\n"));
    const internal = await server.addFile(new TextEncoder().encode("internal\n"), {
      visibility: "internal",
    });
    const run = await runTool([
      "--url",
      server.url,
      "check",
      "--public-digest",
      pub.digest,
      "--internal-digest",
      internal.digest,
    ], {
      cwd: dir,
      // Credentials in the environment must not change what the probes see.
      env: { TASKCLUSTER_CLIENT_ID: "admin", TASKCLUSTER_ACCESS_TOKEN: "admin-SECRET" },
    });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(
      ports(run.stdout, server),
      [
        "ok   heartbeat: GET API/__heartbeat__: expected 200, got 200 OK",
        "ok   lbheartbeat: GET API/__lbheartbeat__: expected 200, got 200 OK",
        "ok   version: GET API/__version__: expected 200 with a JSON version, got 200 (version fake)",
        "ok   malformed digest: GET API/file/sha512/not-a-sha512-digest: expected 400, " +
        "got 400 Bad Request (Invalid sha512 digest)",
        `ok   public file redirects: GET API/sha512/${pub.digest}: expected 302 to storage, ` +
        `got 302 to STORAGE/sha512/${pub.digest}`,
        `ok   storage serves the public file: GET STORAGE/sha512/${pub.digest}: ` +
        "expected 206 or 200, got 206 Partial Content",
        `ok   internal file refused: GET API/sha512/${internal.digest}: expected 403, ` +
        "got 403 Forbidden (You don't have the permission to access the requested resource. " +
        "It is either read-protected or not readable by the server.)",
        "",
      ].join("\n"),
    );
    assert.equal(run.stderr, "All 7 probes passed\n");
    assert.ok(server.requests.every((r) => !r.hasAuthorization), "a probe carried credentials");
  });
});

Deno.test("check --internal-digest of a file without stored copies says the protection could not be tested", async () => {
  await withServer(async (server, dir) => {
    const run = await runTool(
      ["--url", server.url, "check", "--internal-digest", "0".repeat(128)],
      { cwd: dir },
    );
    assert.equal(run.code, 1);
    assert.match(
      ports(run.stdout, server),
      /^FAIL internal file refused: GET API\/sha512\/0{128}: expected 403, got 404 Not Found: the server holds no stored copy of this file, so whether it is protected could not be tested/m,
    );
  });
});

Deno.test("check reports each failing probe and exits 1, with a --json report", async () => {
  await withServer(async (server, dir) => {
    const internal = await server.addFile(new TextEncoder().encode("x"), {
      visibility: "internal",
    });
    server.fault({ kind: "status", status: 502, path: "/__heartbeat__", body: '{"db": "down"}' });
    const run = await runTool([
      "--url",
      server.url,
      "check",
      "--json",
      "--public-digest",
      internal.digest,
    ], { cwd: dir });
    assert.equal(run.code, 1);
    const report = JSON.parse(run.stdout);
    assert.equal(report.ok, false);
    const failed = report.probes.filter((p: { ok: boolean }) => !p.ok);
    assert.deepEqual(failed.map((p: { name: string; got: string }) => [p.name, p.got]), [
      ["heartbeat", "502 Bad Gateway (db: down)"],
      [
        "public file redirects",
        "403 Forbidden (You don't have the permission to access the requested resource. " +
        "It is either read-protected or not readable by the server.)",
      ],
    ]);
    assert.equal(run.stderr, "error: 2 of 5 probes failed\n");
  });
});

Deno.test("check says when a server does not answer at all", async () => {
  await using dir = await tempDir();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const url = `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/`;
  listener.close();
  const run = await runTool(["--url", url, "check"], { cwd: dir.path });
  assert.equal(run.code, 1);
  assert.match(
    run.stdout,
    /^FAIL heartbeat: GET .*: expected 200, got no answer: connection refused$/m,
  );
  assert.equal(run.stderr, "error: 4 of 4 probes failed\n");
});

Deno.test("check refuses a malformed --public-digest as a usage error", async () => {
  await using dir = await tempDir();
  const run = await runTool(["--url", "http://127.0.0.1:9/", "check", "--public-digest", "abc"], {
    cwd: dir.path,
  });
  assert.equal(run.code, 2);
  assert.match(run.stderr, /^error: Invalid sha512 digest in --public-digest/);
});

/**
 * Rejected credentials against the fake in its production default (a bad signature goes on
 * as anonymous): the hint tells "not accepted" (with the clock skew) from "lacks a scope",
 * and `whoami` shows what the service sees.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runTool, tempDir, type ToolRun } from "./cli.ts";
import { manifestRecord } from "./fake_server/fixtures.ts";
import {
  type FakeServer,
  type FakeServerOptions,
  SCOPE_PREFIX,
  startFakeServer,
} from "./fake_server/server.ts";

const CLIENTS = {
  uploader: { accessToken: "uploader-SECRET", scopes: [`${SCOPE_PREFIX}/*`, "queue:other"] },
  "public-only": { accessToken: "public-only-SECRET", scopes: [`${SCOPE_PREFIX}/upload/public`] },
};

async function withServer(
  options: FakeServerOptions,
  fn: (server: FakeServer, dir: string) => Promise<void>,
): Promise<void> {
  await using dir = await tempDir();
  const server = await startFakeServer({ clients: CLIENTS, ...options });
  try {
    await fn(server, dir.path);
  } finally {
    await server.close();
  }
}

async function credentialsFile(dir: string, clientId: string, accessToken: string) {
  const path = join(dir, `${clientId}.json`);
  await Deno.writeTextFile(path, JSON.stringify({ clientId, accessToken }));
  return path;
}

async function uploadInternal(server: FakeServer, dir: string, auth: string): Promise<ToolRun> {
  const content = new TextEncoder().encode("internal bytes\n");
  await Deno.writeFile(join(dir, "a.bin"), content);
  await Deno.writeTextFile(
    join(dir, "manifest.tt"),
    JSON.stringify([manifestRecord("a.bin", content, { visibility: "internal" })]),
  );
  return runTool(
    ["--url", server.url, "upload", "--message", "Bug 1 - x", "--authentication-file", auth],
    { cwd: dir },
  );
}

Deno.test("upload with a wrong accessToken says the service did not accept the credentials, not that a scope is missing", async () => {
  await withServer({}, async (server, dir) => {
    const run = await uploadInternal(server, dir, await credentialsFile(dir, "uploader", "wrong"));
    assert.equal(run.code, 1);
    assert.match(run.stderr, /server returned 403 Forbidden .*no permission to upload internal/);
    assert.match(
      run.stderr,
      /hint: the service did not accept the credentials of clientId "uploader" and treated the request as anonymous: wrong accessToken\? .*\(the clock is within \d+ s of the server's\)\n/,
    );
    assert.doesNotMatch(run.stderr, /lacks|needs the scope/);
    assert.ok(!run.stderr.includes("SECRET"));
    assert.equal(server.requests.find((r) => r.method === "POST")?.authRejection, "Bad mac");
  });
});

Deno.test("upload from a machine whose clock is 20 minutes ahead says so, from the server's Date", async () => {
  await withServer({ clockOffsetSeconds: -20 * 60 }, async (server, dir) => {
    const auth = await credentialsFile(dir, "uploader", CLIENTS.uploader.accessToken);
    const run = await uploadInternal(server, dir, auth);
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      /hint: the service did not accept the credentials of clientId "uploader" .*: this machine's clock is 20 min ahead of the server's, and Taskcluster refuses signatures more than 15 min off: fix the clock\n/,
    );
  });
});

Deno.test("upload by a client without the scope names the clientId, the scope and what it has", async () => {
  await withServer({}, async (server, dir) => {
    const auth = await credentialsFile(dir, "public-only", CLIENTS["public-only"].accessToken);
    const run = await uploadInternal(server, dir, auth);
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      /hint: clientId "public-only" lacks the scope project:releng:services\/tooltool\/api\/upload\/internal \(it has project:releng:services\/tooltool\/api\/upload\/public\)\n/,
    );
  });
});

Deno.test("change-visibility with a wrong accessToken explains production's 401 Invalid user permissions", async () => {
  await withServer({}, async (server, dir) => {
    const { digest } = await server.addFile(new TextEncoder().encode("x"));
    const run = await runTool([
      "--url",
      server.url,
      "--authentication-file",
      await credentialsFile(dir, "uploader", "wrong"),
      "change-visibility",
      "--digest",
      digest,
      "--visibility",
      "internal",
    ], { cwd: dir });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /401 .*Invalid user permissions/);
    assert.match(
      run.stderr,
      /hint: the service did not accept the credentials of clientId "uploader"/,
    );
  });
});

Deno.test("whoami prints the clientId and its ToolTool scopes, or --json", async () => {
  await withServer({}, async (server, dir) => {
    const auth = await credentialsFile(dir, "uploader", CLIENTS.uploader.accessToken);
    const run = await runTool(["--url", server.url, "--authentication-file", auth, "whoami"], {
      cwd: dir,
    });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, `clientId: uploader\nscope: ${SCOPE_PREFIX}/*\n`);
    const json = await runTool(
      ["--url", server.url, "--authentication-file", auth, "whoami", "--json"],
      { cwd: dir },
    );
    const identity = JSON.parse(json.stdout);
    assert.equal(identity.clientId, "uploader");
    assert.deepEqual(identity.scopes, [`${SCOPE_PREFIX}/*`, "queue:other"]);
    assert.deepEqual(identity.tooltoolScopes, [`${SCOPE_PREFIX}/*`]);
    assert.equal(typeof identity.clockSkewSeconds, "number");
  });
});

Deno.test("whoami says anonymous for rejected credentials and for none", async () => {
  await withServer({}, async (server, dir) => {
    const wrong = await credentialsFile(dir, "uploader", "wrong");
    for (const args of [["--authentication-file", wrong], []]) {
      const run = await runTool(["--url", server.url, ...args, "whoami", "--json"], { cwd: dir });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(JSON.parse(run.stdout).clientId, null);
    }
    const plain = await runTool(["--url", server.url, "whoami"], { cwd: dir });
    assert.match(plain.stdout, /^anonymous \(http:\/\/127\.0\.0\.1:\d+\/ did not authenticate/);
  });
});

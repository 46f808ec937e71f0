/**
 * `upload` end to end: the CLI as a subprocess against the fake server, with every kind of
 * credentials Taskcluster issues, the 409 wait, failing and expiring PUTs; plus the
 * library in-process where a test needs short timeouts (stalls, the bound on waiting).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { redact, runTool, tempDir, type ToolRun } from "./cli.ts";
import { manifestRecord } from "./fake_server/fixtures.ts";
import {
  createTemporaryCredentials,
  type FakeServer,
  SCOPE_PREFIX,
  startFakeServer,
} from "./fake_server/server.ts";
import type { Context } from "../src/context.ts";
import { memoryOutput } from "../src/output.ts";
import { putFile } from "../src/transport/storage_put.ts";
import { uploadManifest } from "../src/workflows/upload/run.ts";
import { randomBytes } from "./helpers/data.ts";

const UPLOADER = { clientId: "uploader", accessToken: "uploader-SECRET-token" };
const CLIENTS = {
  uploader: { accessToken: UPLOADER.accessToken, scopes: [`${SCOPE_PREFIX}/*`] },
  "public-only": { accessToken: "public-only-SECRET", scopes: [`${SCOPE_PREFIX}/upload/public`] },
  issuer: {
    accessToken: "issuer-SECRET-token",
    scopes: [`${SCOPE_PREFIX}/upload/*`, `${SCOPE_PREFIX}/download/*`],
  },
};

interface Workspace {
  readonly dir: string;
  readonly files: Record<string, Uint8Array>;
  readonly tokenFile: string;
}

/** A working directory with the files, a manifest of them and an auth file. */
async function workspace(
  dir: string,
  files: Record<string, { content: Uint8Array; visibility?: "public" | "internal" }>,
  credentials: unknown = UPLOADER,
): Promise<Workspace> {
  const records = [];
  const contents: Record<string, Uint8Array> = {};
  for (const [name, { content, visibility }] of Object.entries(files)) {
    await Deno.writeFile(join(dir, name), content);
    contents[name] = content;
    records.push(manifestRecord(name, content, visibility ? { visibility } : {}));
  }
  await Deno.writeTextFile(join(dir, "manifest.tt"), JSON.stringify(records, null, 2));
  const tokenFile = join(dir, "token");
  await Deno.writeTextFile(
    tokenFile,
    typeof credentials === "string" ? credentials : JSON.stringify(credentials),
    // As a careful user keeps credentials: others get no access, so no warning.
    { mode: 0o600 },
  );
  return { dir, files: contents, tokenFile };
}

function upload(server: FakeServer, ws: Workspace, extra: string[] = []): Promise<ToolRun> {
  return runTool([
    "--url",
    server.url,
    "upload",
    "--message",
    "Bug 1 - test upload",
    "--authentication-file",
    ws.tokenFile,
    ...extra,
  ], { cwd: ws.dir });
}

async function withServer(
  options: Parameters<typeof startFakeServer>[0],
  fn: (server: FakeServer, dir: string) => Promise<void>,
): Promise<void> {
  await using dir = await tempDir();
  const server = await startFakeServer({ clients: CLIENTS, uploadExpiresSeconds: 1, ...options });
  try {
    await fn(server, dir.path);
  } finally {
    await server.close();
  }
}

/** What an anonymous download of `digest` gives, through the API's redirect. */
async function download(server: FakeServer, digest: string): Promise<Uint8Array | number> {
  const response = await fetch(`${server.url}sha512/${digest}`);
  if (!response.ok) {
    await response.body?.cancel();
    return response.status;
  }
  return new Uint8Array(await response.arrayBuffer());
}

function apiCalls(server: FakeServer, path: string): { method: string; status: number }[] {
  return server.requests
    .filter((r) => r.origin === "api" && new URL(r.url).pathname.startsWith(path))
    .map(({ method, status }) => ({ method, status }));
}

function storagePuts(server: FakeServer): number[] {
  return server.requests.filter((r) => r.origin === "storage" && r.method === "PUT")
    .map((r) => r.status);
}

Deno.test("upload sends new files, waits out the 409, and never gives storage credentials", async () => {
  await withServer({}, async (server, dir) => {
    const big = randomBytes(3 * 1024 * 1024 + 17);
    const ws = await workspace(dir, {
      "big.bin": { content: big, visibility: "public" },
      "notes.txt": {
        content: new TextEncoder().encode("internal notes\n"),
        visibility: "internal",
      },
      "empty.txt": { content: new Uint8Array(0), visibility: "public" },
    });
    const run = await upload(server, ws, ["-v"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /Uploaded "big\.bin" \(3\.0 MiB\)/);
    assert.match(run.stderr, /Uploaded "notes\.txt" \(15 B\)/);
    assert.match(
      run.stderr,
      /Waiting for the server to verify 3 files: .* upload URLs have expired/,
    );
    assert.match(run.stderr, /done: 3 uploaded \(3\.0 MiB\) in [\d.]+ s\n$/);

    const storage = server.requests.filter((r) => r.origin === "storage");
    assert.deepEqual(storage.map((r) => r.status), [200, 200, 200]);
    assert.ok(storage.every((r) => !r.hasAuthorization), "credentials reached storage");
    const api = server.requests.filter((r) => r.origin === "api");
    assert.ok(api.every((r) => r.hasAuthorization));
    // Production authenticates the batch; upload/complete never looks at the caller.
    assert.equal(api.find((r) => r.method === "POST")?.clientId, "uploader");
    const completes = apiCalls(server, "/upload/complete/");
    assert.deepEqual(completes.filter((c) => c.status === 202).length, 3);
    assert.ok(completes.every((c) => c.status === 202 || c.status === 409));

    // The server verified the bytes: they come back as they were.
    assert.deepEqual(await download(server, manifestRecord("big.bin", big).digest), big);
    for (const text of [run.stdout, run.stderr]) {
      assert.ok(!text.includes("SECRET"), "a secret was printed");
    }
  });
});

Deno.test("upload reports files already on the server and sends them no bytes", async () => {
  await withServer({}, async (server, dir) => {
    const held = randomBytes(1000);
    await server.addFile(held, { visibility: "internal" });
    const ws = await workspace(dir, {
      "held.bin": { content: held, visibility: "internal" },
      "new.bin": { content: randomBytes(2000), visibility: "internal" },
    });
    const run = await upload(server, ws, ["--json", "-r", "us-east-1"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /"held\.bin" is already on the server/);
    const post = server.requests.find((r) => r.method === "POST");
    assert.equal(new URL(post?.url ?? "http://x/").search, "?region=us-east-1");
    const report = JSON.parse(run.stdout);
    assert.deepEqual(
      report.files.map((f: { filename: string; status: string }) => [f.filename, f.status]),
      [["held.bin", "present"], ["new.bin", "uploaded"]],
    );
    assert.equal(report.uploaded, 1);
    assert.equal(report.present, 1);
    assert.equal(report.bytesUploaded, 2000);
    assert.equal(report.message, "Bug 1 - test upload");
    assert.deepEqual(storagePuts(server), [200]);
  });
});

Deno.test("upload sends content found under two names once, and reports both names uploaded", async () => {
  await withServer({}, async (server, dir) => {
    const same = randomBytes(4000);
    const ws = await workspace(dir, {
      "first.bin": { content: same, visibility: "public" },
      "second.bin": { content: same, visibility: "public" },
      "other.bin": { content: randomBytes(100), visibility: "public" },
    });
    const run = await upload(server, ws, ["--json"]);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout);
    assert.deepEqual(
      report.files.map((f: { filename: string; status: string }) => [f.filename, f.status]),
      [["first.bin", "uploaded"], ["other.bin", "uploaded"], ["second.bin", "uploaded"]],
    );
    assert.equal(report.bytesUploaded, 4100);
    // Production answers 500 to a batch naming one digest twice: one batch, one PUT each.
    assert.deepEqual(apiCalls(server, "/upload").filter((c) => c.method === "POST"), [
      { method: "POST", status: 200 },
    ]);
    assert.deepEqual(storagePuts(server), [200, 200]);
    assert.deepEqual(await download(server, manifestRecord("first.bin", same).digest), same);
  });
});

Deno.test("upload sends an empty file listed under two names once", async () => {
  await withServer({}, async (server, dir) => {
    const empty = new Uint8Array(0);
    const ws = await workspace(dir, {
      "placeholder": { content: empty, visibility: "public" },
      "empty.txt": { content: empty, visibility: "public" },
    });
    const run = await upload(server, ws, ["--json"]);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout);
    assert.deepEqual(
      report.files.map((f: { filename: string; status: string }) => [f.filename, f.status]),
      [["empty.txt", "uploaded"], ["placeholder", "uploaded"]],
    );
    assert.equal(report.uploaded, 2);
    assert.deepEqual(storagePuts(server), [200]);
    assert.deepEqual(
      apiCalls(server, "/upload/complete/").filter((c) => c.status === 202).length,
      1,
    );
    assert.deepEqual(await download(server, manifestRecord("empty.txt", empty).digest), empty);
  });
});

Deno.test("upload checks the message, visibility and files before any request", async () => {
  await withServer({}, async (server, dir) => {
    const ws = await workspace(dir, {
      "a.bin": { content: randomBytes(100), visibility: "public" },
      "b.bin": { content: randomBytes(100) },
    });
    let run = await runTool(["--url", server.url, "upload"], { cwd: dir });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^error: The upload command requires --message\n/);

    run = await upload(server, ws);
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      /^error: Cannot upload manifest "manifest.tt": no visibility for "b.bin"\n/,
    );

    await workspace(dir, {
      "a.bin": { content: randomBytes(100), visibility: "public" },
      "b.bin": { content: randomBytes(100), visibility: "public" },
    });
    await Deno.writeFile(join(dir, "a.bin"), randomBytes(100));
    await Deno.remove(join(dir, "b.bin"));
    run = await upload(server, ws);
    assert.equal(run.code, 1);
    assert.equal(
      redact(run.stderr, { [dir]: "<dir>" }).replace(/sha512 is \w+…, expected \w+…/, "<sha>"),
      'Checking 2 files (200 B) against manifest "manifest.tt"\n' +
        'error: "a.bin" is invalid: <sha>\n' +
        'error: "b.bin" is absent\n' +
        'error: Cannot upload manifest "manifest.tt": 2 of 2 files are absent or invalid\n' +
        "hint: the manifest must describe the files as they are now (tooltool validate)\n",
    );

    await Deno.writeTextFile(ws.tokenFile, '{"clientId": "uploader", "accessToken": ');
    run = await upload(server, ws);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /the file is not valid JSON/);
    assert.deepEqual(server.requests, [], "a request was sent");
  });
});

Deno.test("upload without credentials stops before any request", async () => {
  await withServer({}, async (server, dir) => {
    await workspace(dir, { "a.bin": { content: randomBytes(10), visibility: "public" } });
    const run = await runTool(["--url", server.url, "upload", "--message", "m"], { cwd: dir });
    assert.equal(run.code, 1);
    assert.equal(
      run.stderr,
      `error: Cannot upload manifest "manifest.tt" to ${server.url}: no credentials\n` +
        "hint: give --authentication-file FILE, or set TASKCLUSTER_CLIENT_ID and TASKCLUSTER_ACCESS_TOKEN\n",
    );
    assert.deepEqual(server.requests, []);
  });
});

Deno.test("upload retries a PUT that failed while its URL is valid", async () => {
  await withServer({ uploadExpiresSeconds: 2 }, async (server, dir) => {
    const ws = await workspace(dir, {
      "a.bin": { content: randomBytes(5000), visibility: "public" },
    });
    server.fault({ kind: "status", status: 500, origin: "storage", method: "PUT", times: 1 });
    const run = await upload(server, ws);
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stderr,
      /storage returned 500 Internal Server Error \(InternalError: .*\); retrying in/,
    );
    assert.deepEqual(storagePuts(server), [500, 200]);
    assert.equal(apiCalls(server, "/upload").filter((c) => c.method === "POST").length, 1);
  });
});

Deno.test("upload asks for a new batch when storage says the URL expired", async () => {
  await withServer({}, async (server, dir) => {
    const content = randomBytes(5000);
    const ws = await workspace(dir, { "a.bin": { content, visibility: "public" } });
    server.fault({
      kind: "status",
      status: 403,
      origin: "storage",
      method: "PUT",
      times: 1,
      contentType: "application/xml",
      body: "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
    });
    const run = await upload(server, ws, ["--json"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /The upload URLs of 1 file expired; asking .* for new ones/);
    assert.deepEqual(storagePuts(server), [403, 200]);
    assert.deepEqual(JSON.parse(run.stdout).batches, [1, 2]);
    assert.deepEqual(await download(server, manifestRecord("a.bin", content).digest), content);
  });
});

Deno.test("upload with a clock 5 min ahead of the service reports storage's real refusal, not an expiry", async () => {
  // The service's clock runs 5 min behind ours: by our clock every SigV2 Expires has passed.
  await withServer({ clockOffsetSeconds: -300 }, async (server, dir) => {
    const ws = await workspace(dir, {
      "a.bin": { content: randomBytes(100), visibility: "public" },
    });
    server.fault({
      kind: "status",
      status: 403,
      origin: "storage",
      method: "PUT",
      contentType: "application/xml",
      body: "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
    });
    const run = await upload(server, ws);
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      /error: Cannot upload "a\.bin" to http:\/\/127\.0\.0\.1:\d+\/: storage returned 403 Forbidden \(AccessDenied: Access Denied\)\n/,
    );
    assert.doesNotMatch(run.stderr, /expired/);
    assert.equal(apiCalls(server, "/upload").filter((c) => c.method === "POST").length, 1);
    assert.deepEqual(storagePuts(server), [403]);
  });
});

Deno.test("upload with a clock 5 min ahead of the service retries a failed PUT on the same URL", async () => {
  await withServer({ clockOffsetSeconds: -300, uploadExpiresSeconds: 5 }, async (server, dir) => {
    const content = randomBytes(3000);
    const ws = await workspace(dir, { "a.bin": { content, visibility: "public" } });
    server.fault({ kind: "status", status: 500, origin: "storage", method: "PUT", times: 1 });
    const run = await upload(server, ws);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(storagePuts(server), [500, 200]);
    assert.equal(apiCalls(server, "/upload").filter((c) => c.method === "POST").length, 1);
    assert.deepEqual(await download(server, manifestRecord("a.bin", content).digest), content);
  });
});

Deno.test("upload asks for a new batch when a retry could not start before the URL expires", async () => {
  await withServer({}, async (server, dir) => {
    const ws = await workspace(dir, {
      "a.bin": { content: randomBytes(100), visibility: "public" },
    });
    // Storage asks for a 3 s pause; the URL lives 1 s.
    server.fault({
      kind: "retry-after",
      status: 503,
      seconds: 3,
      origin: "storage",
      method: "PUT",
      times: 1,
    });
    const run = await upload(server, ws);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(storagePuts(server), [503, 200]);
    assert.equal(apiCalls(server, "/upload").filter((c) => c.method === "POST").length, 2);
  });
});

Deno.test("upload fails a file whose PUT keeps failing, and says so", async () => {
  await withServer({}, async (server, dir) => {
    const ws = await workspace(dir, {
      "good.bin": { content: randomBytes(100), visibility: "public" },
      "bad.bin": { content: randomBytes(200), visibility: "public" },
    });
    const bad = manifestRecord("bad.bin", ws.files["bad.bin"]!).digest;
    server.fault({ kind: "status", status: 400, origin: "storage", method: "PUT", digest: bad });
    const run = await upload(server, ws, ["--json"]);
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      /error: Cannot upload "bad\.bin" to http:\/\/127\.0\.0\.1:\d+\/: storage returned 400 Bad Request/,
    );
    assert.match(
      run.stderr,
      /error: Cannot upload 1 of 2 files to http:.*: 1 uploaded \(100 B\), 1 failed in/,
    );
    const report = JSON.parse(run.stdout);
    assert.equal(report.failed, 1);
    assert.equal(report.files[0].filename, "bad.bin");
    assert.match(report.files[0].error, /storage returned 400/);
    // The signed URL is never printed: it lets anyone write the object until it expires.
    assert.ok(!run.stderr.includes("Signature="));
  });
});

Deno.test("upload without the scope for a visibility names the scope", async () => {
  await withServer({}, async (server, dir) => {
    const ws = await workspace(
      dir,
      { "a.bin": { content: randomBytes(10), visibility: "internal" } },
      { clientId: "public-only", accessToken: CLIENTS["public-only"].accessToken },
    );
    const run = await upload(server, ws, ["-v"]);
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      /error: Cannot upload "a\.bin" to http:\/\/127\.0\.0\.1:\d+\/: server returned 403 Forbidden \((?:403 Forbidden: )?no permission to upload internal files\)\nhint: clientId "public-only" lacks the scope project:releng:services\/tooltool\/api\/upload\/internal \(it has project:releng:services\/tooltool\/api\/upload\/public\)\n/,
    );
    assert.ok(!run.stderr.includes("SECRET"));
    assert.deepEqual(storagePuts(server), []);
  });
});

Deno.test("upload works with temporary credentials, with and without authorizedScopes", async () => {
  await withServer({}, async (server, dir) => {
    const now = Date.now();
    const temporary = createTemporaryCredentials(
      { clientId: "issuer", accessToken: CLIENTS.issuer.accessToken },
      { scopes: [`${SCOPE_PREFIX}/upload/*`], start: now - 60_000, expiry: now + 3600_000 },
    );
    const ws = await workspace(
      dir,
      { "a.bin": { content: randomBytes(10), visibility: "internal" } },
      temporary,
    );
    let run = await upload(server, ws, ["-v"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /Using Taskcluster client "issuer" \(temporary credentials\)/);
    assert.ok(!run.stderr.includes(temporary.accessToken));

    // authorizedScopes narrower than the certificate: allowed for what they cover...
    await workspace(dir, { "b.bin": { content: randomBytes(20), visibility: "internal" } }, {
      ...temporary,
      authorizedScopes: [`${SCOPE_PREFIX}/upload/internal`],
    });
    run = await upload(server, ws);
    assert.equal(run.code, 0, run.stderr);

    // ...refused for what they leave out...
    await workspace(dir, { "c.bin": { content: randomBytes(30), visibility: "public" } }, {
      ...temporary,
      authorizedScopes: [`${SCOPE_PREFIX}/upload/internal`],
    });
    run = await upload(server, ws);
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      /403 Forbidden \((?:403 Forbidden: )?no permission to upload public files\)/,
    );
    assert.match(
      run.stderr,
      /hint: clientId "issuer" lacks the scope .*\/upload\/public \(it has .*\/upload\/internal\)/,
    );

    // ...and authorizedScopes beyond the credentials' own scopes are not credentials at all.
    await workspace(dir, { "d.bin": { content: randomBytes(40), visibility: "public" } }, {
      ...temporary,
      authorizedScopes: [`${SCOPE_PREFIX}/manage`],
    });
    run = await upload(server, ws);
    assert.equal(run.code, 1);
    // Production goes on as anonymous: a 403, which the hint explains.
    assert.match(run.stderr, /server returned 403 Forbidden \(.*no permission to upload public/);
    assert.match(
      run.stderr,
      /hint: the service did not accept the credentials of clientId "issuer" .*authorizedScopes the client does not hold\?/,
    );
  });
});

Deno.test("upload refuses expired temporary credentials before any request", async () => {
  await withServer({}, async (server, dir) => {
    const now = Date.now();
    const expired = createTemporaryCredentials(
      { clientId: "issuer", accessToken: CLIENTS.issuer.accessToken },
      { scopes: [`${SCOPE_PREFIX}/upload/*`], start: now - 7200_000, expiry: now - 3600_000 },
    );
    const ws = await workspace(
      dir,
      { "a.bin": { content: randomBytes(10), visibility: "public" } },
      expired,
    );
    const run = await upload(server, ws);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /the temporary credentials expired at /);
    assert.deepEqual(server.requests, []);
  });
});

Deno.test("upload takes credentials from TASKCLUSTER_* variables, and never prints them", async () => {
  await withServer({}, async (server, dir) => {
    await workspace(dir, { "a.bin": { content: randomBytes(10), visibility: "public" } });
    const run = await runTool(["--url", server.url, "-v", "upload", "--message", "m"], {
      cwd: dir,
      env: {
        TASKCLUSTER_CLIENT_ID: UPLOADER.clientId,
        TASKCLUSTER_ACCESS_TOKEN: UPLOADER.accessToken,
      },
    });
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stderr,
      /Using Taskcluster client "uploader" from the TASKCLUSTER_\* environment/,
    );
    assert.ok(!run.stderr.includes("SECRET") && !run.stdout.includes("SECRET"));
  });
});

Deno.test("upload sends a bearer token, which the ToolTool service treats as anonymous", async () => {
  await withServer({}, async (server, dir) => {
    const ws = await workspace(
      dir,
      { "a.bin": { content: randomBytes(10), visibility: "public" } },
      "bearer-SECRET-token\n",
    );
    const run = await upload(server, ws, ["-v"]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /Using a bearer token from/);
    assert.match(
      run.stderr,
      /server returned 403 Forbidden \((?:403 Forbidden: )?no permission to upload public files\)/,
    );
    assert.match(run.stderr, /hint: .*bearer token/);
    assert.ok(!run.stderr.includes("SECRET"));
    assert.ok(server.requests.every((r) => r.clientId === undefined));
  });
});

Deno.test("upload falls back to the next --url when the first does not answer", async () => {
  await withServer({}, async (server, dir) => {
    const ws = await workspace(dir, {
      "a.bin": { content: randomBytes(10), visibility: "public" },
    });
    const dead = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const deadUrl = `http://127.0.0.1:${(dead.addr as Deno.NetAddr).port}/`;
    dead.close();
    const run = await runTool([
      "--url",
      deadUrl,
      "--url",
      server.url,
      "upload",
      "--message",
      "m",
      "--authentication-file",
      ws.tokenFile,
      "--json",
    ], { cwd: dir });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, new RegExp(`; trying ${server.url}`));
    assert.equal(JSON.parse(run.stdout).server, server.url);
  });
});

Deno.test({
  name: "fetch gets back exactly what upload sent",
  // `fetch` is being written elsewhere; this runs as soon as the command exists.
  ignore: (await Deno.readTextFile(new URL("../commands/fetch.ts", import.meta.url)))
    .includes("not implemented yet"),
  async fn() {
    await withServer({}, async (server, dir) => {
      const content = randomBytes(300_000);
      const ws = await workspace(dir, {
        "tool.bin": { content, visibility: "internal" },
        "pub.txt": { content: new TextEncoder().encode("public\n"), visibility: "public" },
      });
      const run = await upload(server, ws);
      assert.equal(run.code, 0, run.stderr);
      const down = join(dir, "down");
      await Deno.mkdir(down);
      await Deno.copyFile(join(dir, "manifest.tt"), join(down, "manifest.tt"));
      const fetched = await runTool([
        "--url",
        server.url,
        "fetch",
        "--authentication-file",
        ws.tokenFile,
      ], { cwd: down });
      assert.equal(fetched.code, 0, fetched.stderr);
      assert.deepEqual(await Deno.readFile(join(down, "tool.bin")), content);
      assert.equal(await Deno.readTextFile(join(down, "pub.txt")), "public\n");
    });
  },
});

function testContext(cwd: string, options: { stderrIsTerminal?: boolean } = {}) {
  const { output, stderr } = memoryOutput({ verbosity: "verbose", ...options });
  const env: Record<string, string> = {};
  const ctx: Context = {
    cwd,
    env: (name) => env[name],
    output,
    fetch: globalThis.fetch,
    signal: new AbortController().signal,
    cores: 2,
  };
  return { ctx, stderr };
}

Deno.test("uploadManifest() abandons a stalled PUT and sends it again", async () => {
  await withServer({ uploadExpiresSeconds: 2 }, async (server, dir) => {
    const ws = await workspace(dir, {
      "a.bin": { content: randomBytes(1000), visibility: "public" },
    });
    server.fault({ kind: "hang", origin: "storage", method: "PUT", times: 1 });
    const { ctx, stderr } = testContext(dir);
    const report = await uploadManifest({
      manifest: "manifest.tt",
      message: "m",
      urls: [server.url],
      authenticationFile: ws.tokenFile,
      tuning: { stallTimeoutMs: 300, backoff: { baseMs: 10, maxMs: 10 }, completeWaitMs: 10_000 },
    }, ctx);
    assert.equal(report.uploaded, 1, stderr());
    assert.match(stderr(), /no progress for 0.3 s; retrying/);
    assert.equal(storagePuts(server).at(-1), 200);
  });
});

Deno.test("uploadManifest() stops waiting for verification after the bound, and says so", async () => {
  await withServer({ uploadExpiresSeconds: 60 }, async (server, dir) => {
    const ws = await workspace(dir, {
      "a.bin": { content: randomBytes(10), visibility: "public" },
    });
    const { ctx, stderr } = testContext(dir);
    const started = Date.now();
    const report = await uploadManifest({
      manifest: "manifest.tt",
      message: "m",
      urls: [server.url],
      authenticationFile: ws.tokenFile,
      tuning: { completeWaitMs: 200 },
    }, ctx);
    assert.ok(Date.now() - started < 5_000);
    assert.equal(report.uploaded, 1);
    assert.equal(report.files[0]?.verification, "pending");
    assert.match(stderr(), /Stopped waiting for 1 upload URL to expire; the server will verify/);
  });
});

/** Lines of `stderr` about the wait for verification. */
function waitLines(stderr: string): string[] {
  return stderr.split("\n").filter((line) => /wait/i.test(line));
}

Deno.test("upload says once that it waits for verification, then a heartbeat, not a line per 409", async () => {
  await withServer({}, async (server, dir) => {
    const ws = await workspace(dir, {
      "a.bin": { content: randomBytes(10), visibility: "public" },
    });
    // The server asks to come back in 0.3 s, a dozen times over.
    server.fault({
      kind: "retry-after",
      status: 409,
      seconds: 0.3,
      path: "/upload/complete/",
      times: 12,
    });
    const started = Date.now();
    const run = await runTool([
      "--url",
      server.url,
      "upload",
      "--message",
      "Bug 1 - test",
      "--authentication-file",
      ws.tokenFile,
    ], { cwd: ws.dir, env: { TOOLTOOL_HEARTBEAT_MS: "1000" } });
    const elapsed = Date.now() - started;
    assert.equal(run.code, 0, run.stderr);
    const answered409 = apiCalls(server, "/upload/complete/").filter((c) => c.status === 409);
    assert.ok(answered409.length >= 12);
    const lines = waitLines(run.stderr);
    assert.match(lines[0] ?? "", /^Waiting for the server to verify 1 file: .*\(at most 5 min\)$/);
    const beats = lines.slice(1);
    assert.ok(
      beats.every((line) =>
        /^Still waiting for the server to verify 1 file: \d+ s so far$/.test(line)
      ),
      run.stderr,
    );
    assert.ok(beats.length >= 1 && beats.length <= Math.ceil(elapsed / 1000), run.stderr);
  });
});

Deno.test("uploadManifest() keeps the log to a line per change and a heartbeat, however many 409s", async () => {
  await withServer({ uploadExpiresSeconds: 60 }, async (server, dir) => {
    const ws = await workspace(dir, {
      "a.bin": { content: randomBytes(10), visibility: "public" },
      "b.bin": { content: randomBytes(11), visibility: "public" },
    });
    // Come back at once, every time: a round every 10 ms until the bound.
    server.fault({ kind: "retry-after", status: 409, seconds: 0, path: "/upload/complete/" });
    const { ctx, stderr } = testContext(dir);
    const started = Date.now();
    const report = await uploadManifest({
      manifest: "manifest.tt",
      message: "m",
      urls: [server.url],
      authenticationFile: ws.tokenFile,
      tuning: { completeWaitMs: 1_500, heartbeatMs: 400, minCompleteRetryMs: 10 },
    }, ctx);
    const elapsed = Date.now() - started;
    assert.equal(report.uploaded, 2);
    const rounds = apiCalls(server, "/upload/complete/").length / 2;
    assert.ok(rounds >= 20, `only ${rounds} rounds`);
    const lines = waitLines(stderr());
    assert.match(lines[0] ?? "", /^Waiting for the server to verify 2 files: /);
    assert.match(lines.at(-1) ?? "", /^warning: Stopped waiting for 2 upload URLs to expire/);
    const beats = lines.slice(1, -1);
    assert.ok(beats.length <= Math.ceil(elapsed / 400), stderr());
    assert.ok(beats.every((line) => /^Still waiting .*: \d+ s so far$/.test(line)), stderr());
  });
});

Deno.test("uploadManifest() on a terminal keeps the verification wait on one live line", async () => {
  await withServer({ uploadExpiresSeconds: 3 }, async (server, dir) => {
    const ws = await workspace(dir, {
      "a.bin": { content: randomBytes(10), visibility: "public" },
    });
    server.fault({
      kind: "retry-after",
      status: 409,
      seconds: 0,
      path: "/upload/complete/",
      times: 40,
    });
    const { ctx, stderr } = testContext(dir, { stderrIsTerminal: true });
    const report = await uploadManifest({
      manifest: "manifest.tt",
      message: "m",
      urls: [server.url],
      authenticationFile: ws.tokenFile,
      tuning: { minCompleteRetryMs: 10 },
    }, ctx);
    assert.equal(report.files[0]?.verification, "requested");
    // The upload's live frame is cleared (cursor codes) before the wait's first line.
    const cursorCodes = new RegExp(String.raw`^(\u001b\[[0-9;]*[A-Za-z])+`);
    const lines = waitLines(stderr()).map((line) => line.replace(cursorCodes, ""));
    // The first line, then live updates redrawn in place (\r), never new lines.
    assert.match(lines[0] ?? "", /^Waiting for the server to verify 1 file: /);
    const finished = lines.slice(1).map((line) => line.split("\r").at(-1));
    assert.ok(finished.every((line) => !/wait/i.test(line ?? "")), stderr());
    assert.match(
      stderr(),
      new RegExp(
        String.raw`\r\u001b\[KStill waiting for the server to verify 1 file: \d+ s so far`,
      ),
    );
  });
});

Deno.test("uploadManifest() fails a file rewritten (same size) while its PUT was being sent", async () => {
  await withServer({ uploadExpiresSeconds: 60 }, async (server, dir) => {
    const original = randomBytes(1024 * 1024);
    const ws = await workspace(dir, { "a.bin": { content: original, visibility: "public" } });
    const path = join(dir, "a.bin");
    let rewritten = false;
    // After the first chunk has gone out, the end of the file changes under the upload; the
    // bytes still to be read are the new ones. No timing involved.
    const put: typeof putFile = (url, file, size, options) =>
      putFile(url, file, size, {
        ...options,
        onBytes: (count) => {
          if (!rewritten) {
            rewritten = true;
            using handle = Deno.openSync(path, { write: true });
            handle.seekSync(size - 4096, Deno.SeekMode.Start);
            handle.writeSync(randomBytes(4096));
          }
          options.onBytes(count);
        },
      });
    const { ctx, stderr } = testContext(dir);
    const report = await uploadManifest({
      manifest: "manifest.tt",
      message: "m",
      urls: [server.url],
      authenticationFile: ws.tokenFile,
      tuning: { completeWaitMs: 5_000 },
      put,
    }, ctx);
    assert.ok(rewritten);
    assert.equal(report.uploaded, 0);
    assert.equal(report.failed, 1);
    assert.equal(report.files[0]?.status, "failed");
    assert.match(
      stderr(),
      /Cannot upload "a\.bin" to http:\/\/127\.0\.0\.1:\d+\/: the file changed while it was being uploaded/,
    );
    assert.equal(storagePuts(server).length, 1, "not sent again");
  });
});

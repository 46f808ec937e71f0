/**
 * End-to-end: `tooltool fetch` as a subprocess against the fake server — the basic
 * behaviour, the report, FILE arguments, URLs and regions, failures and credentials.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { createTemporaryCredentials, SCOPE_PREFIX } from "./fake_server/server.ts";
import { runTool } from "./cli.ts";
import { FAST_ENV, listNames, withFetchFixture } from "./fetch_fixture.ts";
import { tar } from "./helpers/archives.ts";

Deno.test("fetch downloads every file of the manifest, verified, and prints nothing on stdout", () =>
  withFetchFixture({ "a.bin": 300_000, "b.txt": 20 }, async (fx) => {
    const run = await fx.run(["fetch"]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, "");
    for (const file of fx.files) {
      assert.deepEqual(await Deno.readFile(join(fx.work, file.filename)), file.content);
    }
    assert.deepEqual(await listNames(fx.work), ["a.bin", "b.txt", "manifest.tt"]);
    assert.match(run.stderr, /^Downloading a\.bin \(293 KiB\) from http:\/\/127\.0\.0\.1:\d+\/$/m);
    assert.match(run.stderr, /^Downloaded a\.bin: 293 KiB in /m);
    assert.match(
      run.stderr,
      /^Fetch: 2 files in [\d.]+s: 2 downloaded \(293 KiB\), 0 from the cache, 0 already present$/m,
    );
  }));

Deno.test("fetch --json reports each file's source, bytes, attempts and time", () =>
  withFetchFixture({ "a.bin": 1000, "b.bin": 2000 }, async (fx) => {
    await Deno.writeFile(join(fx.work, "b.bin"), fx.file("b.bin").content);
    const run = await fx.run(["fetch", "--json"]);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout);
    assert.equal(report.ok, true);
    const [a, b] = report.files;
    assert.deepEqual(
      { ...a, seconds: typeof a.seconds },
      {
        filename: "a.bin",
        digest: fx.file("a.bin").digest,
        size: 1000,
        source: "network",
        bytes: 1000,
        attempts: 1,
        seconds: "number",
        unpacked: null,
        unpackMethod: null,
        error: null,
      },
    );
    assert.equal(b.source, "present");
    assert.equal(b.bytes, 0);
    assert.equal(b.attempts, 0);
  }));

Deno.test("fetch FILE fetches only the named files and fails for a name not in the manifest", () =>
  withFetchFixture({ "a.bin": 100, "b.bin": 100, "c.bin": 100 }, async (fx) => {
    const run = await fx.run(["fetch", "b.bin", "nope.bin"]);
    assert.equal(run.code, 1);
    assert.deepEqual(await listNames(fx.work), ["b.bin", "manifest.tt"]);
    assert.match(
      run.stderr,
      /^error: Cannot fetch "nope\.bin": it is not in the manifest "manifest\.tt"$/m,
    );
    assert.match(run.stderr, /^error: Failed to fetch 1 of 2 files: nope\.bin$/m);
  }));

Deno.test("fetch keeps a valid file without any request and replaces an invalid one", () =>
  withFetchFixture({ "a.bin": 5000, "b.bin": 5000 }, async (fx) => {
    await Deno.writeFile(join(fx.work, "a.bin"), fx.file("a.bin").content);
    await Deno.writeTextFile(join(fx.work, "b.bin"), "not the right content");
    const run = await fx.run(["fetch"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /^a\.bin: already present and valid$/m);
    assert.match(run.stderr, /^b\.bin is present but does not match the manifest: replacing it$/m);
    assert.deepEqual(await Deno.readFile(join(fx.work, "b.bin")), fx.file("b.bin").content);
    assert.equal(
      fx.server.requests.filter((r) => r.url.includes(fx.file("a.bin").digest)).length,
      0,
    );
  }));

Deno.test("fetch --region asks for that region, and goes without when the server refuses it", () =>
  withFetchFixture({ "a.bin": 100 }, async (fx) => {
    const run = await fx.run(["fetch", "--region", "us-west-2"]);
    assert.equal(run.code, 0, run.stderr);
    const api = fx.server.requests.filter((r) => r.origin === "api");
    assert.deepEqual(api.map((r) => [new URL(r.url).searchParams.get("region"), r.status]), [
      ["us-west-2", 400],
      [null, 302],
    ]);
    assert.match(
      run.stderr,
      /^warning: .* does not accept --region for downloads \(.*\): fetching without it$/m,
    );
  }));

Deno.test("fetch falls back to the next --url when the first fails", () =>
  withFetchFixture({ "a.bin": 100 }, async (fx) => {
    const run = await runTool(
      ["--url", "http://127.0.0.1:9/", "--url", fx.server.url, "fetch"],
      { cwd: fx.work, env: FAST_ENV },
    );
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stderr,
      /^Cannot fetch "a\.bin" from http:\/\/127\.0\.0\.1:9\/: .*; retrying/m,
    );
    assert.ok(run.stderr.includes(`a.bin: trying ${fx.server.url}\n`));
    assert.deepEqual(await Deno.readFile(join(fx.work, "a.bin")), fx.file("a.bin").content);
  }));

Deno.test("fetch reports every failed file with its reason and exits 1, leaving nothing partial", () =>
  withFetchFixture({ "a.bin": 100_000, "b.bin": 100, "c.bin": 100 }, async (fx) => {
    fx.server.fault({
      kind: "status",
      status: 404,
      digest: fx.file("b.bin").digest,
      origin: "api",
    });
    fx.server.fault({
      kind: "status",
      status: 503,
      digest: fx.file("a.bin").digest,
      origin: "storage",
    });
    const run = await fx.run(["fetch"]);
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      /^error: Cannot fetch "b\.bin" from http:\/\/127\.0\.0\.1:\d+\/: server returned 404 Not Found.*$/m,
    );
    assert.match(run.stderr, /^hint: no file with this digest is stored on this server$/m);
    assert.match(
      run.stderr,
      /^error: Cannot fetch "a\.bin" from .*: storage returned 503 Service Unavailable/m,
    );
    assert.equal(fx.downloads(fx.file("a.bin").digest), 0);
    assert.equal(
      fx.server.requests.filter((r) =>
        r.origin === "storage" && r.url.includes(fx.file("a.bin").digest)
      ).length,
      5,
    );
    assert.match(run.stderr, /^error: Failed to fetch 2 of 3 files: a\.bin, b\.bin$/m);
    assert.deepEqual(await listNames(fx.work), ["c.bin", "manifest.tt"]);
  }));

Deno.test("fetch with no --url reachable reports a connection error per file", () =>
  withFetchFixture({ "a.bin": 100 }, async (fx) => {
    const run = await runTool(["--url", "http://127.0.0.1:9/", "fetch"], {
      cwd: fx.work,
      env: FAST_ENV,
    });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^error: Cannot fetch "a\.bin" from http:\/\/127\.0\.0\.1:9\/: /m);
    assert.deepEqual(await listNames(fx.work), ["manifest.tt"]);
  }));

const TOKEN = "s3cr3t-access-token-that-must-not-leak";

Deno.test("fetch signs API requests with Hawk, sends nothing to storage, and never prints the secret", () =>
  withFetchFixture(
    { "public.bin": 100, "internal.bin": { size: 100, visibility: "internal" } },
    async (fx) => {
      const credentials = join(fx.root, "creds.json");
      await Deno.writeTextFile(
        credentials,
        JSON.stringify({ clientId: "tester", accessToken: TOKEN }),
      );
      const run = await fx.run(["fetch", "-v", "--authentication-file", credentials]);
      assert.equal(run.code, 0, run.stderr);
      assert.ok(!run.stdout.includes(TOKEN) && !run.stderr.includes(TOKEN));
      assert.match(run.stderr, /Using credentials from ".*creds\.json"/);
      const api = fx.server.requests.filter((r) => r.origin === "api");
      assert.ok(api.length === 2 && api.every((r) => r.hasAuthorization));
      // Production only checks the signature where it needs a caller: the internal file.
      const internal = api.find((r) => r.url.includes(fx.file("internal.bin").digest));
      assert.equal(internal?.clientId, "tester");
      const storage = fx.server.requests.filter((r) => r.origin === "storage");
      assert.equal(storage.length, 2);
      assert.ok(storage.every((r) => !r.hasAuthorization));
    },
    { clients: { tester: { accessToken: TOKEN, scopes: [`${SCOPE_PREFIX}/download/*`] } } },
  ));

Deno.test("fetch takes Taskcluster credentials from the environment, temporary ones too", () =>
  withFetchFixture(
    { "internal.bin": { size: 100, visibility: "internal" } },
    async (fx) => {
      const temporary = createTemporaryCredentials({ clientId: "tester", accessToken: TOKEN }, {
        scopes: [`${SCOPE_PREFIX}/download/internal`],
        start: Date.now() - 60_000,
        expiry: Date.now() + 3_600_000,
      });
      const run = await fx.run(["fetch", "-v"], {
        env: {
          TASKCLUSTER_CLIENT_ID: temporary.clientId,
          TASKCLUSTER_ACCESS_TOKEN: temporary.accessToken,
          TASKCLUSTER_CERTIFICATE: JSON.stringify(temporary.certificate),
        },
      });
      assert.equal(run.code, 0, run.stderr);
      assert.ok(!run.stderr.includes(temporary.accessToken) && !run.stderr.includes(TOKEN));
      assert.ok(
        fx.server.requests.filter((r) => r.origin === "storage").every((r) => !r.hasAuthorization),
      );
    },
    { clients: { tester: { accessToken: TOKEN, scopes: [`${SCOPE_PREFIX}/download/*`] } } },
  ));

Deno.test("fetch refuses an internal file without credentials, with a hint naming the scope", () =>
  withFetchFixture({ "internal.bin": { size: 100, visibility: "internal" } }, async (fx) => {
    const run = await fx.run(["fetch"]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^error: Cannot fetch "internal\.bin" from .*: server returned 403/m);
    assert.match(run.stderr, /^hint: .*download\/internal/m);
    assert.equal(fx.server.requests.length, 1, "a 403 is not retried");
  }));

Deno.test("fetch sends a bearer token only to the API and never prints it", () =>
  withFetchFixture({ "a.bin": 100 }, async (fx) => {
    const tokenFile = join(fx.root, "token");
    await Deno.writeTextFile(tokenFile, `${TOKEN}\n`);
    const run = await fx.run(["fetch", "-v", "--authentication-file", tokenFile]);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(!run.stdout.includes(TOKEN) && !run.stderr.includes(TOKEN));
    const api = fx.server.requests.filter((r) => r.origin === "api");
    assert.ok(api.every((r) => r.hasAuthorization));
    assert.ok(
      fx.server.requests.filter((r) => r.origin === "storage").every((r) => !r.hasAuthorization),
    );
  }));

Deno.test("fetch stops before any request when the credentials file is malformed", () =>
  withFetchFixture({ "a.bin": 100 }, async (fx) => {
    const credentials = join(fx.root, "creds.json");
    await Deno.writeTextFile(
      credentials,
      `{"clientId": "tester", "accessToken": ${JSON.stringify(TOKEN)}`,
    );
    const run = await fx.run(["fetch", "--authentication-file", credentials]);
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      /^error: Cannot use credentials ".*creds\.json": the file is not valid JSON$/m,
    );
    assert.ok(!run.stderr.includes(TOKEN));
    assert.equal(fx.server.requests.length, 0);
  }));

Deno.test("fetch sends no credentials of its own through TASKCLUSTER_PROXY_URL", () =>
  withFetchFixture({ "a.bin": 100 }, async (fx) => {
    const run = await fx.run(["fetch"], {
      env: {
        TASKCLUSTER_PROXY_URL: fx.server.url.replace(/\/$/, ""),
        TASKCLUSTER_CLIENT_ID: "tester",
        TASKCLUSTER_ACCESS_TOKEN: TOKEN,
      },
    });
    assert.equal(run.code, 0, run.stderr);
    assert.ok(fx.server.requests.every((r) => !r.hasAuthorization));
  }));

Deno.test("fetch unpacks archives marked unpack, whether downloaded or already present", () =>
  withFetchFixture({}, async (fx) => {
    const source = join(fx.root, "src");
    await Deno.mkdir(join(source, "tool"), { recursive: true });
    await Deno.writeTextFile(join(source, "tool", "README"), "hello\n");
    const tar = await new Deno.Command("tar", {
      args: ["-czf", join(fx.root, "tool.tar.gz"), "-C", source, "tool"],
    }).output();
    assert.equal(tar.code, 0);
    const content = await Deno.readFile(join(fx.root, "tool.tar.gz"));
    const { digest, size } = await fx.server.addFile(content);
    await fx.writeManifest([{ filename: "tool.tar.gz", content, digest, size, unpack: true }]);
    const run = await fx.run(["fetch", "--json"]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(await Deno.readTextFile(join(fx.work, "tool", "README")), "hello\n");
    assert.equal(JSON.parse(run.stdout).files[0].unpacked, true);
    await Deno.remove(join(fx.work, "tool"), { recursive: true });
    const again = await fx.run(["fetch"]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(await Deno.readTextFile(join(fx.work, "tool", "README")), "hello\n");
  }));

Deno.test("fetch reports an archive that cannot be unpacked as a failed file", () =>
  withFetchFixture({}, async (fx) => {
    const content = new TextEncoder().encode("this is not a tarball at all");
    const { digest, size } = await fx.server.addFile(content);
    await fx.writeManifest([{ filename: "broken.tar.gz", content, digest, size, unpack: true }]);
    const run = await fx.run(["fetch"]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^error: .*broken\.tar\.gz/m);
    assert.match(run.stderr, /^error: Failed to fetch 1 of 1 file: broken\.tar\.gz$/m);
  }));

Deno.test("fetch writes files whose names take 255 bytes, with and without a cache", async () => {
  // The longest names a manifest may hold: their temporary files must fit beside them too.
  const ascii = `${"a".repeat(251)}.bin`;
  const accented = `${"é".repeat(125)}x.bin`;
  assert.equal(new TextEncoder().encode(ascii).length, 255);
  assert.equal(new TextEncoder().encode(accented).length, 255);
  await withFetchFixture({ [ascii]: 1000, [accented]: 2000 }, async (fx) => {
    for (
      const [label, args, env] of [
        ["no cache", [], {}],
        ["a copying cache", ["-c", fx.cache], { TOOLTOOL_CACHE_LINKS: "0" }],
      ] as const
    ) {
      const run = await fx.run(["fetch", ...args], { env });
      assert.equal(run.code, 0, `${label}: ${run.stderr}`);
      for (const file of fx.files) {
        assert.deepEqual(await Deno.readFile(join(fx.work, file.filename)), file.content, label);
      }
      assert.deepEqual(
        await listNames(fx.work),
        [ascii, accented, "manifest.tt"].sort(),
        `${label}: no temporary file is left`,
      );
      for (const file of fx.files) await Deno.remove(join(fx.work, file.filename));
    }
  });
});

Deno.test("fetch unpacks an archive whose name takes 255 bytes, with and without the tree cache", () =>
  withFetchFixture({}, async (fx) => {
    const content = tar([{ name: "tool/README", data: "hello\n", mtime: 1_600_000_000 }]);
    const { digest, size } = await fx.server.addFile(content);
    const filename = `${"t".repeat(251)}.tar`;
    await fx.writeManifest([{ filename, content, digest, size, unpack: true }]);
    for (const args of [[], ["-c", fx.cache], ["-c", fx.cache]]) {
      const run = await fx.run(["fetch", ...args], { env: { TOOLTOOL_CACHE_LINKS: "0" } });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(await Deno.readTextFile(join(fx.work, "tool", "README")), "hello\n");
      assert.deepEqual(await listNames(fx.work), [filename, "manifest.tt", "tool"].sort());
      await Deno.remove(join(fx.work, filename));
      await Deno.remove(join(fx.work, "tool"), { recursive: true });
    }
  }));

Deno.test("fetch replaces a dangling symlink in a file's place, with or without the cache", () =>
  withFetchFixture({ "a.bin": 1000, "b.bin": 2000 }, async (fx) => {
    const outside = join(fx.work, "..", "never-written");
    await Deno.symlink(outside, join(fx.work, "a.bin"));
    await Deno.symlink(outside, join(fx.work, "b.bin"));
    const plain = await fx.run(["fetch", "a.bin"]);
    assert.equal(plain.code, 0, plain.stderr);
    const cached = await fx.run(["fetch", "-c", fx.cache, "b.bin"]);
    assert.equal(cached.code, 0, cached.stderr);
    for (const name of ["a.bin", "b.bin"]) {
      const info = await Deno.lstat(join(fx.work, name));
      assert.ok(info.isFile, `${name} is a file now, not a symlink`);
      assert.deepEqual(await Deno.readFile(join(fx.work, name)), fx.file(name).content);
    }
    await assert.rejects(Deno.lstat(outside), Deno.errors.NotFound, "nothing written through it");
  }));

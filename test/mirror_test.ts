/**
 * End-to-end: `fetch --mirror` (content-addressed mirrors tried before the API) and
 * `tooltool mirror --to DIR`, against the fake server and a small static file server.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { listNames, withFetchFixture } from "./fetch_fixture.ts";
import { startStaticServer } from "./helpers/static_server.ts";

interface JsonFile {
  filename: string;
  source: string | null;
  error: string | null;
}

function sources(stdout: string): Record<string, string | null> {
  const files: JsonFile[] = JSON.parse(stdout).files;
  return Object.fromEntries(files.map((file) => [file.filename, file.source]));
}

Deno.test("mirror --to DIR fills DIR/sha512/<digest> with public files, and a rerun finds them there", () =>
  withFetchFixture({ "a.bin": 50_000, "b.bin": 1000 }, async (fx) => {
    const dir = join(fx.root, "mirror");
    const first = await fx.run(["mirror", "--to", dir]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /public +a\.bin \(.*\): downloaded/);
    assert.deepEqual(await listNames(join(dir, "sha512")), fx.files.map((f) => f.digest).sort());
    for (const file of fx.files) {
      assert.deepEqual(await Deno.readFile(join(dir, "sha512", file.digest)), file.content);
    }
    const again = await fx.run(["mirror", "--to", dir, "--json"]);
    assert.equal(again.code, 0, again.stderr);
    const actions = JSON.parse(again.stdout).files.map((f: { action: string }) => f.action);
    assert.deepEqual(actions, ["present", "present"]);
  }));

Deno.test("mirror copies from the cache folder without downloading", () =>
  withFetchFixture({ "a.bin": 20_000 }, async (fx) => {
    const fetched = await fx.run(["fetch", "-c", fx.cache]);
    assert.equal(fetched.code, 0, fetched.stderr);
    const storageBefore = fx.downloads(fx.file("a.bin").digest);
    const dir = join(fx.root, "mirror");
    const run = await fx.run(["mirror", "-c", fx.cache, "--to", dir]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /a\.bin .*copied from the cache/);
    assert.equal(fx.downloads(fx.file("a.bin").digest), storageBefore);
  }));

Deno.test("mirror skips internal files and names them, unless --include-internal", () =>
  withFetchFixture({
    "pub.bin": 1000,
    "secret.bin": { size: 1000, visibility: "internal" },
  }, async (fx) => {
    const dir = join(fx.root, "mirror");
    const run = await fx.run(["mirror", "--to", dir]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /internal +secret\.bin .*skipped: internal \(pass --include-internal/);
    assert.deepEqual(await listNames(join(dir, "sha512")), [fx.file("pub.bin").digest]);
    // Allowed, it is attempted; anonymously the service refuses it, and the run says so.
    const allowed = await fx.run(["mirror", "--to", dir, "--include-internal", "--json"]);
    const actions = JSON.parse(allowed.stdout).files.map((f: { action: string }) => f.action);
    assert.deepEqual(actions, ["present", "failed"]);
    assert.equal(allowed.code, 1);
  }));

Deno.test("mirror without --to is a usage error", () =>
  withFetchFixture({ "a.bin": 10 }, async (fx) => {
    const run = await fx.run(["mirror"]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /--to DIR is required/);
  }));

Deno.test("fetch --mirror takes files from the mirror and never asks the API", () =>
  withFetchFixture({ "a.bin": 50_000, "b.bin": 1000 }, async (fx) => {
    const dir = join(fx.root, "mirror");
    assert.equal((await fx.run(["mirror", "--to", dir])).code, 0);
    fx.server.requests.length = 0;
    const mirror = startStaticServer(dir);
    try {
      const run = await fx.run(["fetch", "--mirror", mirror.url, "--json"]);
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(sources(run.stdout), { "a.bin": "mirror", "b.bin": "mirror" });
      assert.match(run.stderr, /2 from mirrors/);
      assert.deepEqual(fx.server.requests, []);
      for (const file of fx.files) {
        assert.deepEqual(await Deno.readFile(join(fx.work, file.filename)), file.content);
      }
    } finally {
      await mirror.close();
    }
  }));

Deno.test("fetch falls through quietly to the API for a file the mirror lacks", () =>
  withFetchFixture({ "a.bin": 5000, "b.bin": 1000 }, async (fx) => {
    const dir = join(fx.root, "mirror");
    assert.equal((await fx.run(["mirror", "--to", dir])).code, 0);
    await Deno.remove(join(dir, "sha512", fx.file("b.bin").digest));
    const mirror = startStaticServer(dir);
    try {
      const run = await fx.run(["fetch", "--mirror", mirror.url, "--json"]);
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(sources(run.stdout), { "a.bin": "mirror", "b.bin": "network" });
      assert.doesNotMatch(run.stderr, /warning|retrying/i);
    } finally {
      await mirror.close();
    }
  }));

Deno.test("a corrupted mirror file is refused once, reported, and fetched from the API", () =>
  withFetchFixture({ "a.bin": 5000 }, async (fx) => {
    const dir = join(fx.root, "mirror");
    assert.equal((await fx.run(["mirror", "--to", dir])).code, 0);
    const path = join(dir, "sha512", fx.file("a.bin").digest);
    const bad = await Deno.readFile(path);
    bad[10] = (bad[10] ?? 0) ^ 0xff;
    await Deno.writeFile(path, bad);
    const mirror = startStaticServer(dir);
    try {
      const run = await fx.run(["fetch", "--mirror", mirror.url, "--json"]);
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(sources(run.stdout), { "a.bin": "network" });
      assert.match(run.stderr, /Mirror refused: Cannot fetch "a\.bin" from .*sha512/);
      assert.equal(mirror.requests.length, 1, "a wrong body is not asked for again");
      assert.deepEqual(await Deno.readFile(join(fx.work, "a.bin")), fx.file("a.bin").content);
    } finally {
      await mirror.close();
    }
  }));

Deno.test("only the mirror token goes to a mirror, and never to the API", () =>
  withFetchFixture({ "a.bin": 1000, "b.bin": 1000 }, async (fx) => {
    const dir = join(fx.root, "mirror");
    assert.equal((await fx.run(["mirror", "--to", dir])).code, 0);
    await Deno.remove(join(dir, "sha512", fx.file("b.bin").digest));
    await Deno.writeTextFile(join(fx.root, "api-token"), "api-secret\n");
    await Deno.writeTextFile(join(fx.root, "mirror-token"), "mirror-secret\n");
    fx.server.requests.length = 0;
    const mirror = startStaticServer(dir);
    try {
      const run = await fx.run([
        "fetch",
        "--authentication-file",
        join(fx.root, "api-token"),
        "--mirror-auth-file",
        join(fx.root, "mirror-token"),
        "--mirror",
        mirror.url,
      ]);
      assert.equal(run.code, 0, run.stderr);
      assert.ok(mirror.requests.length >= 2);
      for (const request of mirror.requests) {
        assert.equal(request.authorization, "Bearer mirror-secret");
      }
      const api = fx.server.requests.filter((r) => r.origin === "api");
      assert.ok(api.length >= 1 && api.every((r) => r.hasAuthorization));
      assert.ok(
        fx.server.requests.filter((r) => r.origin === "storage").every((r) => !r.hasAuthorization),
      );
    } finally {
      await mirror.close();
    }
  }));

Deno.test("TOOLTOOL_MIRRORS lists mirrors separated by commas or spaces; a bad one is a usage error", () =>
  withFetchFixture({ "a.bin": 1000 }, async (fx) => {
    const dir = join(fx.root, "mirror");
    assert.equal((await fx.run(["mirror", "--to", dir])).code, 0);
    const empty = startStaticServer(join(fx.root, "nothing"));
    const mirror = startStaticServer(dir);
    try {
      const run = await fx.run(["fetch", "--json"], {
        env: { TOOLTOOL_MIRRORS: `${empty.url}, ${mirror.url}` },
      });
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(sources(run.stdout), { "a.bin": "mirror" });
      assert.equal(empty.requests.length, 1);
      const bad = await fx.run(["fetch", "--mirror", "ftp://mirror.example/"]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /Invalid --mirror "ftp:\/\/mirror\.example\/": only http and https/);
      const secret = await fx.run(["fetch", "--mirror", "https://me:pw@mirror.example/"]);
      assert.equal(secret.code, 2);
      assert.match(secret.stderr, /cannot carry a user or password/);
      assert.doesNotMatch(secret.stderr, /pw/);
    } finally {
      await Promise.all([empty.close(), mirror.close()]);
    }
  }));

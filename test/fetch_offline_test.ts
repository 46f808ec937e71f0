/**
 * End-to-end: `fetch --distdir DIR` (local folders searched before the network, verified)
 * and `fetch --offline` / `TOOLTOOL_OFFLINE=1` (no network connection at all).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runTool } from "./cli.ts";
import { FAST_ENV, listNames, withFetchFixture } from "./fetch_fixture.ts";

function sources(stdout: string): (string | null)[] {
  return JSON.parse(stdout).files.map((file: { source: string | null }) => file.source);
}

/** A TCP listener that counts the connections made to it and answers none. */
function connectionRecorder(): { url: string; connections: () => number; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let count = 0;
  (async () => {
    for await (const connection of listener) {
      count++;
      connection.close();
    }
  })().catch(() => {});
  return {
    url: `http://127.0.0.1:${listener.addr.port}/`,
    connections: () => count,
    close: () => listener.close(),
  };
}

Deno.test("fetch --distdir takes files by digest, by sha512/<digest> and by name, without the network", () =>
  withFetchFixture({ "a.bin": 10_000, "b.bin": 20_000, "c.bin": 30_000 }, async (fx) => {
    const dist = join(fx.root, "dist");
    await Deno.mkdir(join(dist, "sha512"), { recursive: true });
    const [a, b, c] = [fx.file("a.bin"), fx.file("b.bin"), fx.file("c.bin")];
    await Deno.writeFile(join(dist, a.digest), a.content);
    await Deno.writeFile(join(dist, "sha512", b.digest), b.content);
    await Deno.writeFile(join(dist, "c.bin"), c.content);
    const run = await fx.run(["fetch", "--distdir", dist, "-c", fx.cache, "--json"]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(sources(run.stdout), ["distdir", "distdir", "distdir"]);
    assert.equal(fx.server.requests.length, 0);
    for (const file of fx.files) {
      assert.deepEqual(await Deno.readFile(join(fx.work, file.filename)), file.content);
      // Copied into the cache like a download, so the next fetch needs no distdir.
      assert.deepEqual(await Deno.readFile(join(fx.cache, file.digest)), file.content);
    }
    assert.match(run.stderr, /3 from a --distdir/);
  }));

Deno.test("fetch --distdir skips a damaged or wrong-sized copy and downloads the file instead", () =>
  withFetchFixture({ "a.bin": 10_000, "b.bin": 20_000 }, async (fx) => {
    const dist = join(fx.root, "dist");
    await Deno.mkdir(dist);
    const damaged = new Uint8Array(fx.file("a.bin").content);
    damaged[5] = (damaged[5] ?? 0) ^ 0xff;
    await Deno.writeFile(join(dist, "a.bin"), damaged);
    await Deno.writeFile(join(dist, "b.bin"), new Uint8Array(10));
    const run = await fx.run(["fetch", "--distdir", dist, "--json"]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(sources(run.stdout), ["network", "network"]);
    assert.match(run.stderr, /Ignoring ".*a\.bin" for "a\.bin": its sha512 does not match/);
    assert.match(run.stderr, /Ignoring ".*b\.bin" for "b\.bin": 10 bytes, the manifest says 20000/);
    for (const file of fx.files) {
      assert.deepEqual(await Deno.readFile(join(fx.work, file.filename)), file.content);
    }
    assert.deepEqual(await listNames(fx.work), ["a.bin", "b.bin", "manifest.tt"]);
  }));

Deno.test("fetch --offline opens no connection, uses cache and distdir, and lists every missing file", () =>
  withFetchFixture({ "a.bin": 1000, "b.bin": 2000, "c.bin": 3000, "d.bin": 4000 }, async (fx) => {
    const recorder = connectionRecorder();
    try {
      const dist = join(fx.root, "dist");
      await Deno.mkdir(dist);
      await Deno.mkdir(fx.cache);
      const [a, b] = [fx.file("a.bin"), fx.file("b.bin")];
      await Deno.writeFile(join(fx.cache, a.digest), a.content);
      await Deno.writeFile(join(dist, "b.bin"), b.content);
      const run = await runTool(
        ["--url", recorder.url, "fetch", "--offline", "-c", fx.cache, "--distdir", dist, "--json"],
        { cwd: fx.work, env: FAST_ENV },
      );
      assert.equal(run.code, 1, run.stderr);
      assert.deepEqual(sources(run.stdout), ["cache", "distdir", null, null]);
      assert.match(
        run.stderr,
        /error: Cannot fetch "c\.bin" offline: it is not in the working directory, the cache or a --distdir\n/,
      );
      assert.match(run.stderr, /error: Cannot fetch "d\.bin" offline/);
      assert.match(run.stderr, /Failed to fetch 2 of 4 files: (d\.bin, c\.bin|c\.bin, d\.bin)/);
      assert.equal(recorder.connections(), 0, "no connection may be attempted offline");
      assert.equal(fx.server.requests.length, 0);
    } finally {
      recorder.close();
    }
  }));

Deno.test("TOOLTOOL_OFFLINE=1 means --offline", () =>
  withFetchFixture({ "a.bin": 1000 }, async (fx) => {
    const recorder = connectionRecorder();
    try {
      const run = await runTool(["--url", recorder.url, "fetch"], {
        cwd: fx.work,
        env: { ...FAST_ENV, TOOLTOOL_OFFLINE: "1" },
      });
      assert.equal(run.code, 1, run.stderr);
      assert.match(
        run.stderr,
        /Cannot fetch "a\.bin" offline: it is not in the working directory, the cache\n/,
      );
      assert.equal(recorder.connections(), 0);
    } finally {
      recorder.close();
    }
  }));

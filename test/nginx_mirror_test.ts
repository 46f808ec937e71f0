/**
 * End-to-end with a real nginx as the fleet mirror: a folder filled by `tooltool mirror`,
 * served by nginx on a loopback port, fetched through with the ToolTool service down, then
 * with a file missing from the mirror, then with a corrupted one. Where nginx cannot run,
 * the test is skipped and says why on stderr (never silently).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runTool } from "./cli.ts";
import { FAST_ENV, withFetchFixture } from "./fetch_fixture.ts";
import { findNginx, startNginx } from "./helpers/nginx.ts";

const nginx = await findNginx();
if (!nginx.ok) console.error(`SKIPPING the nginx mirror test: ${nginx.reason}`);

function sources(stdout: string): Record<string, string | null> {
  const files: { filename: string; source: string | null }[] = JSON.parse(stdout).files;
  return Object.fromEntries(files.map((file) => [file.filename, file.source]));
}

Deno.test({
  name: "fetch through a real nginx mirror: service down, a missing file, a corrupted file",
  ignore: !nginx.ok,
  fn: () =>
    withFetchFixture({ "a.bin": 300_000, "b.bin": 20_000, "c.bin": 1000 }, async (fx) => {
      if (!nginx.ok) return;
      const dir = join(fx.root, "mirror");
      const filled = await fx.run(["mirror", "--to", dir]);
      assert.equal(filled.code, 0, filled.stderr);
      const server = await startNginx(nginx.binary, dir);
      try {
        const fresh = async (name: string) => {
          const work = join(fx.root, name);
          await Deno.mkdir(work);
          await fx.writeManifest(fx.files, work);
          return work;
        };
        // The service is down: nothing listens at its URL.
        const down = await fresh("down");
        const offline = await runTool(
          ["--url", "http://127.0.0.1:9/", "fetch", "--mirror", server.url, "--json"],
          { cwd: down, env: FAST_ENV },
        );
        assert.equal(offline.code, 0, offline.stderr);
        assert.deepEqual(sources(offline.stdout), {
          "a.bin": "mirror",
          "b.bin": "mirror",
          "c.bin": "mirror",
        });
        for (const file of fx.files) {
          assert.deepEqual(await Deno.readFile(join(down, file.filename)), file.content);
        }

        await Deno.remove(join(dir, "sha512", fx.file("b.bin").digest));
        const missing = await fx.run(["fetch", "--mirror", server.url, "--json"], {
          cwd: await fresh("missing"),
        });
        assert.equal(missing.code, 0, missing.stderr);
        assert.deepEqual(sources(missing.stdout), {
          "a.bin": "mirror",
          "b.bin": "network",
          "c.bin": "mirror",
        });
        assert.doesNotMatch(missing.stderr, /warning/i);

        const path = join(dir, "sha512", fx.file("a.bin").digest);
        const bytes = await Deno.readFile(path);
        bytes[1234] = (bytes[1234] ?? 0) ^ 0x01;
        await Deno.writeFile(path, bytes);
        const work = await fresh("corrupt");
        const corrupt = await fx.run(["fetch", "--mirror", server.url, "--json"], { cwd: work });
        assert.equal(corrupt.code, 0, corrupt.stderr);
        assert.equal(sources(corrupt.stdout)["a.bin"], "network");
        assert.match(corrupt.stderr, /Mirror refused: Cannot fetch "a\.bin".*sha512/);
        assert.deepEqual(await Deno.readFile(join(work, "a.bin")), fx.file("a.bin").content);
        const log = await server.accessLog();
        assert.ok(log.some((line) => line.startsWith("404 ")), log.join("\n"));
      } finally {
        await server.close();
      }
    }),
});

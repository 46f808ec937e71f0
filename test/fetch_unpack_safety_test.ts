/**
 * End-to-end: a manifest or an archive cannot make `fetch` delete or overwrite what it does
 * not own — a dot-directory, the manifest being fetched, a file the fetch just verified.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { tar, type TarSpec } from "./helpers/archives.ts";
import { type FetchFixture, type FixtureFile, withFetchFixture } from "./fetch_fixture.ts";

async function archiveFile(
  fx: FetchFixture,
  filename: string,
  members: TarSpec[],
): Promise<FixtureFile & { unpack: true }> {
  const content = tar(members);
  const { digest, size } = await fx.server.addFile(content);
  return { filename, content, digest, size, unpack: true };
}

Deno.test("fetch refuses to remove .git/ for a record .git.tar.gz and leaves it intact", () =>
  withFetchFixture({}, async (fx) => {
    await Deno.mkdir(join(fx.work, ".git"));
    await Deno.writeTextFile(join(fx.work, ".git", "HEAD"), "ref: refs/heads/main\n");
    await fx.writeManifest([await archiveFile(fx, ".git.tar.gz", [{ name: "x", data: "x" }])]);
    const run = await fx.run(["fetch"]);
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      /^error: Cannot unpack "\.git\.tar\.gz": will not remove the directory "\.git": a hidden directory is never one an unpack left$/m,
    );
    assert.equal(await Deno.readTextFile(join(fx.work, ".git", "HEAD")), "ref: refs/heads/main\n");
  }));

Deno.test("fetch of manifest.tt.tar.gz marked unpack keeps the manifest", () =>
  withFetchFixture({}, async (fx) => {
    await fx.writeManifest([
      await archiveFile(fx, "manifest.tt.tar.gz", [{ name: "tool/a", data: "a" }]),
    ]);
    const manifest = await Deno.readTextFile(join(fx.work, "manifest.tt"));
    const run = await fx.run(["fetch"]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(await Deno.readTextFile(join(fx.work, "manifest.tt")), manifest);
    assert.equal(await Deno.readTextFile(join(fx.work, "tool", "a")), "a");
  }));

Deno.test("fetch says which directory of an earlier unpack it removes", () =>
  withFetchFixture({}, async (fx) => {
    await fx.writeManifest([await archiveFile(fx, "tool.tar", [{ name: "tool/a", data: "a" }])]);
    assert.equal((await fx.run(["fetch"])).code, 0);
    await Deno.writeTextFile(join(fx.work, "tool", "stale"), "old");
    const again = await fx.run(["fetch"]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /^Removing tool\/ \(left by an earlier unpack of tool\.tar\)$/m);
    assert.equal(await Deno.stat(join(fx.work, "tool", "stale")).catch(() => "gone"), "gone");
  }));

Deno.test("fetch refuses a record that would overwrite the manifest in use, and fetches the rest", () =>
  withFetchFixture({ "a.bin": 1000, "manifest.tt": 50 }, async (fx) => {
    const manifest = await Deno.readTextFile(join(fx.work, "manifest.tt"));
    const run = await fx.run(["fetch"]);
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      /^error: Cannot fetch "manifest\.tt": it would overwrite the manifest in use \("manifest\.tt"\)$/m,
    );
    assert.equal(await Deno.readTextFile(join(fx.work, "manifest.tt")), manifest);
    assert.deepEqual(await Deno.readFile(join(fx.work, "a.bin")), fx.file("a.bin").content);
  }));

Deno.test("fetch -m with another spelling of the manifest path still protects it", () =>
  withFetchFixture({ "manifest.tt": 50 }, async (fx) => {
    const manifest = await Deno.readTextFile(join(fx.work, "manifest.tt"));
    const run = await fx.run(["-m", "./sub/../manifest.tt", "fetch"]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /it would overwrite the manifest in use/);
    assert.equal(await Deno.readTextFile(join(fx.work, "manifest.tt")), manifest);
  }));

Deno.test("fetch -m through a symlink protects the file the link points at", () =>
  withFetchFixture({ "a.bin": 1000, "real.tt": 50 }, async (fx) => {
    const manifest = await Deno.readTextFile(join(fx.work, "manifest.tt"));
    await Deno.writeTextFile(join(fx.work, "real.tt"), manifest);
    await Deno.symlink("real.tt", join(fx.work, "link.tt"));
    const run = await fx.run(["-m", "link.tt", "fetch"]);
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      /^error: Cannot fetch "real\.tt": it would overwrite the manifest in use \("link\.tt"\)$/m,
    );
    assert.equal(await Deno.readTextFile(join(fx.work, "real.tt")), manifest);
    assert.deepEqual(await Deno.readFile(join(fx.work, "a.bin")), fx.file("a.bin").content);
  }));

Deno.test("fetch refuses an archive member named like a sibling record or the manifest", () =>
  withFetchFixture({ "a.bin": 1000 }, async (fx) => {
    const a = fx.file("a.bin");
    for (const member of ["a.bin", "manifest.tt"]) {
      await fx.writeManifest([
        a,
        await archiveFile(fx, `evil-${member}.tar`, [
          { name: "first/x", data: "x" },
          { name: member, data: "replaced" },
        ]),
      ]);
      const manifest = await Deno.readTextFile(join(fx.work, "manifest.tt"));
      const run = await fx.run(["fetch"]);
      assert.equal(run.code, 1, run.stderr);
      const what = member === "a.bin"
        ? 'the fetched file "a.bin"'
        : 'the manifest in use ("manifest.tt")';
      assert.ok(
        run.stderr.includes(
          `error: Cannot unpack "evil-${member}.tar": entry "${member}" would replace ${what}\n`,
        ),
        run.stderr,
      );
      assert.deepEqual(await Deno.readFile(join(fx.work, "a.bin")), a.content);
      assert.equal(await Deno.readTextFile(join(fx.work, "manifest.tt")), manifest);
      // Checked before anything moved: not even the harmless member is there.
      assert.equal(await Deno.stat(join(fx.work, "first")).catch(() => "absent"), "absent");
    }
  }));

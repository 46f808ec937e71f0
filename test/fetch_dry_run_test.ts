/**
 * End-to-end: `fetch --dry-run` says where each file would come from and how many bytes
 * would move, and changes nothing on disk.
 */

import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { withFetchFixture } from "./fetch_fixture.ts";
import { tar } from "./helpers/archives.ts";

/** Every path under `root` with its size and mtime, to compare before and after. */
async function snapshot(root: string): Promise<string[]> {
  const lines: string[] = [];
  async function walk(dir: string): Promise<void> {
    for await (const entry of Deno.readDir(dir)) {
      const path = join(dir, entry.name);
      const info = await Deno.lstat(path);
      lines.push(`${relative(root, path)} ${info.size} ${info.mtime?.getTime()} ${info.mode}`);
      if (entry.isDirectory) await walk(path);
    }
  }
  await walk(root);
  return lines.sort();
}

Deno.test("fetch --dry-run --json plans present, cache, distdir and service files and writes nothing", () =>
  withFetchFixture(
    { "present.bin": 1000, "cached.bin": 2000, "local.bin": 3000, "remote.bin": 4000 },
    async (fx) => {
      const dist = join(fx.root, "dist");
      await Deno.mkdir(dist);
      await Deno.mkdir(fx.cache);
      const [present, cached, local] = ["present.bin", "cached.bin", "local.bin"].map((name) =>
        fx.file(name)
      ) as [typeof fx.files[0], typeof fx.files[0], typeof fx.files[0]];
      await Deno.writeFile(join(fx.work, "present.bin"), present.content);
      await Deno.writeFile(join(fx.cache, cached.digest), cached.content);
      await Deno.writeFile(join(dist, local.digest), local.content);
      // A stale file of the name of one to download: it would be replaced.
      await Deno.writeFile(join(fx.work, "remote.bin"), new Uint8Array(4000));
      await fx.writeManifest([
        ...fx.files.filter((file) => file.filename !== "remote.bin"),
        { ...fx.file("remote.bin"), unpack: true },
      ]);
      const before = await snapshot(fx.root);
      const run = await fx.run(["fetch", "--dry-run", "--json", "-c", fx.cache, "--distdir", dist]);
      assert.equal(run.code, 0, run.stderr);
      const plan = JSON.parse(run.stdout);
      assert.equal(plan.ok, true);
      assert.equal(plan.dryRun, true);
      assert.equal(plan.download, 4000);
      assert.equal(plan.unpack, 4000);
      assert.deepEqual(
        plan.files.map((
          f: Record<string, unknown>,
        ) => [f.filename, f.source, f.download, f.replaces]),
        [
          ["present.bin", "present", 0, false],
          ["cached.bin", "cache", 0, false],
          ["local.bin", "distdir", 0, false],
          ["remote.bin", "service", 4000, true],
        ],
      );
      assert.equal(plan.files[3].from, fx.server.url);
      assert.equal(plan.files[2].from, join(dist, local.digest));
      assert.deepEqual(await snapshot(fx.root), before, "a dry run changes nothing on disk");
      assert.equal(fx.server.requests.length, 0, "a dry run makes no request");
    },
  ));

Deno.test("fetch --dry-run prints one line per file and creates no cache folder", () =>
  withFetchFixture({ "a.bin": 1000, "b.bin": 2000 }, async (fx) => {
    await Deno.writeFile(join(fx.work, "a.bin"), fx.file("a.bin").content);
    const before = await snapshot(fx.root);
    const run = await fx.run(["fetch", "--dry-run", "-c", fx.cache]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(
      run.stdout,
      `a.bin: present\nb.bin: service ${fx.server.url}, 2.0 KiB to download\n`,
    );
    assert.match(
      run.stderr,
      /Dry run: 2 files: 1 to download \(2\.0 KiB\), 0 B of archives to unpack; nothing was changed/,
    );
    assert.deepEqual(await snapshot(fx.root), before);
  }));

Deno.test("fetch --dry-run --offline reports the files nothing local holds and exits 1", () =>
  withFetchFixture({ "a.bin": 1000, "b.bin": 2000 }, async (fx) => {
    await Deno.writeFile(join(fx.work, "a.bin"), fx.file("a.bin").content);
    const run = await fx.run(["fetch", "--dry-run", "--offline", "--json"]);
    assert.equal(run.code, 1, run.stderr);
    const plan = JSON.parse(run.stdout);
    assert.equal(plan.ok, false);
    assert.deepEqual(plan.files.map((f: { source: string }) => f.source), ["present", "missing"]);
    assert.match(
      run.stderr,
      /error: Cannot fetch "b\.bin" offline: it is not in the working directory, the cache\n/,
    );
  }));

Deno.test("fetch --dry-run says an unpack would come from a ready tree, unless the tree cache is off", () =>
  withFetchFixture({ "plain.bin": 1000 }, async (fx) => {
    const content = tar([
      { name: "tool/", type: "5" },
      { name: "tool/bin", data: "#!/bin/sh\n", mode: 0o755, mtime: 1_600_000_000 },
    ]);
    const { digest, size } = await fx.server.addFile(content);
    const archive = { filename: "tool.tar", content, digest, size, unpack: true };
    await fx.writeManifest([...fx.files, archive]);
    const cold = await fx.run(["fetch", "--dry-run", "--json", "-c", fx.cache]);
    assert.equal(cold.code, 0, cold.stderr);
    assert.deepEqual(
      JSON.parse(cold.stdout).files.map((f: Record<string, unknown>) => [f.source, f.unpackFrom]),
      [["service", null], ["service", "archive"]],
    );

    const real = await fx.run(["fetch", "-c", fx.cache]);
    assert.equal(real.code, 0, real.stderr);
    const before = await snapshot(fx.root);
    const requests = fx.server.requests.length;
    const warm = await fx.run(["fetch", "--dry-run", "--json", "-c", fx.cache]);
    assert.equal(warm.code, 0, warm.stderr);
    const plan = JSON.parse(warm.stdout);
    assert.deepEqual(
      plan.files.map((
        f: Record<string, unknown>,
      ) => [f.filename, f.source, f.unpack, f.unpackFrom]),
      [["plain.bin", "present", 0, null], ["tool.tar", "present", size, "tree"]],
    );
    const text = await fx.run(["fetch", "--dry-run", "-c", fx.cache]);
    assert.equal(text.code, 0, text.stderr);
    assert.equal(
      text.stdout,
      "plain.bin: present\ntool.tar: present, unpack from the tree cache\n",
    );
    assert.match(
      text.stderr,
      /of archives to unpack \(1 from the tree cache\); nothing was changed/,
    );

    assert.deepEqual(await snapshot(fx.root), before, "the dry runs changed nothing");

    // Without the archive in the working directory, the entry is the source; the tree still serves.
    await Deno.remove(join(fx.work, "tool.tar"));
    const removed = await snapshot(fx.root);
    const fromCache = await fx.run(["fetch", "--dry-run", "-c", fx.cache, "tool.tar"]);
    assert.equal(
      fromCache.stdout,
      `tool.tar: cache ${join(fx.cache, digest)}, unpack from the tree cache\n`,
    );
    for (
      const off of [
        { args: ["--no-tree-cache"], env: {} },
        { args: [], env: { TOOLTOOL_TREE_CACHE: "0" } },
      ]
    ) {
      const run = await fx.run(["fetch", "--dry-run", "-c", fx.cache, ...off.args, "tool.tar"], {
        env: off.env,
      });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(
        run.stdout,
        `tool.tar: cache ${join(fx.cache, digest)}, unpack from the archive\n`,
      );
    }
    assert.deepEqual(await snapshot(fx.root), removed, "the dry runs changed nothing");
    assert.equal(fx.server.requests.length, requests, "the dry runs made no request");
  }));

Deno.test("fetch --dry-run -c on a folder of user files creates nothing in it", () =>
  withFetchFixture({ "a.bin": 1000 }, async (fx) => {
    const folder = join(fx.root, "photos");
    await Deno.mkdir(folder);
    await Deno.writeTextFile(join(folder, "cat.jpg"), "meow");
    const before = await snapshot(fx.root);
    const run = await fx.run(["fetch", "--dry-run", "-c", folder]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, `a.bin: service ${fx.server.url}, 1000 B to download\n`);
    assert.deepEqual(await snapshot(fx.root), before);
  }));

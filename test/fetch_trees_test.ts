/**
 * End-to-end: the tree cache. A warm fetch of an `unpack` archive places the tree the cache
 * keeps instead of extracting again, with the result of an extraction; a tree changed
 * through a hard link is rebuilt, never placed; the opt-out always extracts; a killed build
 * leaves nothing taken for a tree; concurrent fetches build it once.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { type NodeSnapshot, snapshot, tar, type TarSpec } from "./helpers/archives.ts";
import {
  type FetchFixture,
  type FixtureFile,
  listNames,
  spawnTool,
  waitFor,
  withFetchFixture,
} from "./fetch_fixture.ts";

const MEMBERS: TarSpec[] = [
  { name: "tool/", type: "5", mode: 0o755, mtime: 1_600_000_000 },
  { name: "tool/bin/", type: "5", mode: 0o750, mtime: 1_600_000_000 },
  { name: "tool/bin/cc", data: "#!/bin/sh\necho cc\n", mode: 0o755, mtime: 1_600_000_000 },
  { name: "tool/bin/c++", type: "2", linkName: "cc" },
  { name: "tool/lib/", type: "5", mtime: 1_600_000_000 },
  { name: "tool/lib/libc.a", data: "x".repeat(5000), mode: 0o644, mtime: 1_600_000_000 },
  { name: "tool/lib/libc2.a", type: "1", linkName: "tool/lib/libc.a" },
  { name: "tool/empty/", type: "5", mode: 0o700, mtime: 1_600_000_000 },
  { name: "tool/README", data: "read me", mode: 0o444, mtime: 1_600_000_000 },
];

async function toolArchive(fx: FetchFixture): Promise<FixtureFile & { unpack: true }> {
  const content = tar(MEMBERS);
  const { digest, size } = await fx.server.addFile(content);
  return { filename: "tool.tar", content, digest, size, unpack: true };
}

/** The tree without write bits, which hard-linked (read-only) files lack by design. */
function withoutWriteBits(tree: Record<string, NodeSnapshot>): Record<string, NodeSnapshot> {
  return Object.fromEntries(
    Object.entries(tree).map(([path, node]) => [
      path,
      node.type === "file" && node.mode !== undefined
        ? { ...node, mode: node.mode & ~0o222 }
        : node,
    ]),
  );
}

function treeDir(fx: FetchFixture, digest: string): string {
  return join(fx.cache, ".tooltool", "trees", digest);
}

function unpackOf(stdout: string): unknown {
  return JSON.parse(stdout).files[0].unpackMethod;
}

Deno.test("a warm fetch places the cached tree by hard links, identical to an extraction but for write bits", () =>
  withFetchFixture({}, async (fx) => {
    const archive = await toolArchive(fx);
    await fx.writeManifest([archive]);
    const plain = await fx.run(["fetch", "--no-tree-cache", "--json"]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(unpackOf(plain.stdout), "extract");
    const extracted = snapshot(join(fx.work, "tool"));

    const cold = await fx.run(["fetch", "-c", fx.cache, "--json", "-v"]);
    assert.equal(cold.code, 0, cold.stderr);
    assert.match(cold.stderr, /^tool\.tar: tree built in the cache$/m);
    assert.deepEqual(snapshot(join(fx.work, "tool")), withoutWriteBits(extracted));

    await Deno.remove(join(fx.work, "tool"), { recursive: true });
    const warm = await fx.run(["fetch", "-c", fx.cache, "--json", "-v"]);
    assert.equal(warm.code, 0, warm.stderr);
    assert.equal(unpackOf(warm.stdout), "hardlink");
    assert.match(warm.stderr, /^tool\.tar: placed from the tree cache \(hardlink\)$/m);
    assert.doesNotMatch(warm.stderr, /tree built/);
    assert.deepEqual(snapshot(join(fx.work, "tool")), withoutWriteBits(extracted));
    const lib = Deno.statSync(join(fx.work, "tool", "lib", "libc.a"));
    const lib2 = Deno.statSync(join(fx.work, "tool", "lib", "libc2.a"));
    assert.equal(lib.ino, lib2.ino, "a hard link of the archive stays one");
  }));

Deno.test("TOOLTOOL_TREE_CACHE=copy places the cached tree identical to an extraction, modes included", () =>
  withFetchFixture({}, async (fx) => {
    await fx.writeManifest([await toolArchive(fx)]);
    assert.equal((await fx.run(["fetch", "--no-tree-cache"])).code, 0);
    const extracted = snapshot(join(fx.work, "tool"));
    const env = { TOOLTOOL_TREE_CACHE: "copy" };
    assert.equal((await fx.run(["fetch", "-c", fx.cache], { env })).code, 0);
    await Deno.remove(join(fx.work, "tool"), { recursive: true });
    const warm = await fx.run(["fetch", "-c", fx.cache, "--json"], { env });
    assert.equal(warm.code, 0, warm.stderr);
    assert.match(String(unpackOf(warm.stdout)), /^(copy|reflink)$/);
    assert.deepEqual(snapshot(join(fx.work, "tool")), extracted);
    const placed = Deno.statSync(join(fx.work, "tool", "bin", "cc"));
    assert.equal(placed.mtime?.getTime(), 1_600_000_000_000);
  }));

Deno.test("a cached tree modified through a hard link is rebuilt from the archive, never placed", () =>
  withFetchFixture({}, async (fx) => {
    const archive = await toolArchive(fx);
    await fx.writeManifest([archive]);
    assert.equal((await fx.run(["fetch", "-c", fx.cache])).code, 0);
    // What a build running as root (or after chmod) does: write in place through the link.
    const linked = join(fx.work, "tool", "bin", "cc");
    Deno.chmodSync(linked, 0o755);
    Deno.writeTextFileSync(linked, "#!/bin/sh\necho hacked\n");
    Deno.chmodSync(linked, 0o555);
    const cached = join(treeDir(fx, archive.digest), "tree", "tool", "bin", "cc");
    assert.equal(Deno.readTextFileSync(cached), "#!/bin/sh\necho hacked\n");

    const again = await fx.run(["fetch", "-c", fx.cache, "--json"]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(
      again.stderr,
      /^tool\.tar: the cached tree had changed \("tool\/bin\/cc" was modified\): rebuilt it from the archive$/m,
    );
    assert.equal(Deno.readTextFileSync(join(fx.work, "tool", "bin", "cc")), "#!/bin/sh\necho cc\n");
    assert.equal(Deno.readTextFileSync(cached), "#!/bin/sh\necho cc\n");
  }));

Deno.test("--no-tree-cache and TOOLTOOL_TREE_CACHE=0 extract and build no tree", () =>
  withFetchFixture({}, async (fx) => {
    const archive = await toolArchive(fx);
    await fx.writeManifest([archive]);
    const flag = await fx.run(["fetch", "-c", fx.cache, "--no-tree-cache", "--json"]);
    assert.equal(flag.code, 0, flag.stderr);
    assert.equal(unpackOf(flag.stdout), "extract");
    const env = await fx.run(["fetch", "-c", fx.cache, "--json"], {
      env: { TOOLTOOL_TREE_CACHE: "0" },
    });
    assert.equal(env.code, 0, env.stderr);
    assert.equal(unpackOf(env.stdout), "extract");
    assert.deepEqual(await listNames(join(fx.cache, ".tooltool", "trees")), []);
    // Extracted files are the working tree's own: writable as the archive says.
    assert.equal((Deno.statSync(join(fx.work, "tool", "bin", "cc")).mode ?? 0) & 0o777, 0o755);
  }));

Deno.test("a build killed with SIGKILL leaves no tree; the next fetch removes its folder and builds", () =>
  withFetchFixture({}, async (fx) => {
    // Big enough that the build is still running when it is killed.
    const members: TarSpec[] = [{ name: "big/", type: "5" }];
    for (let i = 0; i < 400; i++) {
      members.push({ name: `big/f${i}`, data: new Uint8Array(64 * 1024).fill(i & 0xff) });
    }
    const content = tar(members);
    const { digest, size } = await fx.server.addFile(content);
    await fx.writeManifest([{ filename: "big.tar", content, digest, size, unpack: true }]);
    assert.equal((await fx.run(["fetch", "-c", fx.cache, "--no-tree-cache"])).code, 0);
    await Deno.remove(join(fx.work, "big"), { recursive: true });

    const trees = join(fx.cache, ".tooltool", "trees");
    const child = spawnTool(["--url", fx.server.url, "fetch", "-c", fx.cache], { cwd: fx.work });
    await waitFor(
      async () => {
        const names = await listNames(trees);
        const build = names.find((name) => name.startsWith(".build-"));
        if (build === undefined) return false;
        return (await listNames(join(trees, build, "tree", "big"))).length > 5;
      },
      "the tree build to start",
      20_000,
    );
    child.kill("SIGKILL");
    await child.status;
    await child.stdout.cancel();
    await child.stderr.cancel();
    const left = await listNames(trees);
    assert.ok(!left.includes(digest), `no finished tree after the kill: ${left.join(", ")}`);

    const again = await fx.run(["fetch", "-c", fx.cache, "--json", "-v"]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /^big\.tar: tree built in the cache$/m);
    assert.deepEqual(
      (await listNames(trees)).filter((name) => name.startsWith(".build-")),
      [],
    );
    assert.equal((await listNames(join(fx.work, "big"))).length, 400);
  }));

Deno.test("six concurrent fetches of one archive build its tree once and all get the full tree", () =>
  withFetchFixture({}, async (fx) => {
    const archive = await toolArchive(fx);
    await fx.writeManifest([archive]);
    assert.equal((await fx.run(["fetch", "-c", fx.cache, "--no-tree-cache"])).code, 0);
    const expected = withoutWriteBits(snapshot(join(fx.work, "tool")));
    const works: string[] = [];
    for (let i = 0; i < 6; i++) {
      const work = join(fx.root, `work${i}`);
      await Deno.mkdir(work);
      await fx.writeManifest([archive], work);
      works.push(work);
    }
    const runs = await Promise.all(
      works.map((work) => fx.run(["fetch", "-c", fx.cache, "-v"], { cwd: work })),
    );
    for (const run of runs) assert.equal(run.code, 0, run.stderr);
    const builds = runs.filter((run) => /^tool\.tar: tree built in the cache$/m.test(run.stderr));
    assert.equal(builds.length, 1, "exactly one process built the tree");
    for (const work of works) assert.deepEqual(snapshot(join(work, "tool")), expected);
  }));

Deno.test("a warm tree placement keeps the clean-the-base-directory rule of an extraction", () =>
  withFetchFixture({}, async (fx) => {
    await fx.writeManifest([await toolArchive(fx)]);
    assert.equal((await fx.run(["fetch", "-c", fx.cache])).code, 0);
    await Deno.writeTextFile(join(fx.work, "tool", "stale"), "old");
    const again = await fx.run(["fetch", "-c", fx.cache]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /^Removing tool\/ \(left by an earlier unpack of tool\.tar\)$/m);
    assert.equal(await Deno.stat(join(fx.work, "tool", "stale")).catch(() => "gone"), "gone");
  }));

Deno.test("purge counts a tree in its archive's size and removes both, whole", () =>
  withFetchFixture({}, async (fx) => {
    const archive = await toolArchive(fx);
    await fx.writeManifest([archive]);
    assert.equal((await fx.run(["fetch", "-c", fx.cache])).code, 0);
    const run = await fx.run(["purge", "-c", fx.cache, "--json"]);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout);
    // The archive plus each file of its tree once: cc, libc.a (linked twice), README.
    const treeBytes = "#!/bin/sh\necho cc\n".length + 5000 + "read me".length;
    assert.deepEqual(report.removed.map((item: { size: number }) => item.size), [
      archive.size + treeBytes,
    ]);
    assert.deepEqual(await listNames(join(fx.cache, ".tooltool", "trees")), []);
  }));

Deno.test("purge keeps an archive and its tree while a fetch holds the tree", () =>
  withFetchFixture({}, async (fx) => {
    const archive = await toolArchive(fx);
    await fx.writeManifest([archive]);
    assert.equal((await fx.run(["fetch", "-c", fx.cache])).code, 0);
    // What a fetch placing the tree holds.
    const lockPath = `${treeDir(fx, archive.digest)}.lock`;
    using file = await Deno.open(lockPath, { read: true });
    await file.lock(false);
    const run = await fx.run(["purge", "-c", fx.cache]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stderr,
      new RegExp(`^Kept ${archive.digest}: another process is using it$`, "m"),
    );
    assert.ok(Deno.statSync(join(treeDir(fx, archive.digest), "meta.json")).isFile);
    assert.ok(Deno.statSync(join(fx.cache, archive.digest)).isFile);
  }));

Deno.test("purge removes a tree whose archive another tool purged", () =>
  withFetchFixture({}, async (fx) => {
    const archive = await toolArchive(fx);
    await fx.writeManifest([archive]);
    assert.equal((await fx.run(["fetch", "-c", fx.cache])).code, 0);
    await Deno.remove(join(fx.cache, archive.digest));
    const run = await fx.run(["purge", "-c", fx.cache, "--max-age", "30"]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(await listNames(join(fx.cache, ".tooltool", "trees")), []);
  }));

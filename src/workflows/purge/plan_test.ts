import assert from "node:assert/strict";
import { join } from "node:path";
import { Cache, type CacheEntryInfo } from "../../cache/cache.ts";
import { sha512Hex } from "../../digest.ts";
import { isFullPurge, planPurge, purgeCache } from "./plan.ts";

const GIB = 1024 ** 3;
const DAY = 24 * 60 * 60 * 1000;
const NOW = 100 * DAY;

function entry(name: string, size: number, lastUsedMs: number): CacheEntryInfo {
  return { name, path: `/cache/${name}`, size, lastUsedMs };
}

const ENTRIES = [
  entry("new", 1 * GIB, NOW - 1 * DAY),
  entry("old", 2 * GIB, NOW - 30 * DAY),
  entry("mid", 3 * GIB, NOW - 10 * DAY),
];

Deno.test("isFullPurge() is tooltool.py's rule: no -s and no new limits", () => {
  assert.ok(isFullPurge({ freeGb: 0 }));
  assert.equal(isFullPurge({ freeGb: 5 }), false);
  assert.equal(isFullPurge({ freeGb: 0, maxAgeDays: 7 }), false);
  assert.equal(isFullPurge({ freeGb: 0, maxSizeGb: 0 }), false);
});

Deno.test("planPurge() deletes everything, oldest first, in a full purge", () => {
  const { due, rest } = planPurge(ENTRIES, { freeGb: 0 }, NOW);
  assert.deepEqual(due.map((item) => [item.name, item.reason]), [
    ["old", "all"],
    ["mid", "all"],
    ["new", "all"],
  ]);
  assert.deepEqual(rest, []);
});

Deno.test("planPurge() deletes entries unused for longer than --max-age", () => {
  const { due, rest } = planPurge(ENTRIES, { freeGb: 0, maxAgeDays: 7 }, NOW);
  assert.deepEqual(due.map((item) => [item.name, item.reason]), [["old", "age"], ["mid", "age"]]);
  assert.deepEqual(rest.map((item) => item.name), ["new"]);
});

Deno.test("planPurge() deletes the least recently used until under --max-size", () => {
  const { due, rest } = planPurge(ENTRIES, { freeGb: 0, maxSizeGb: 4 }, NOW);
  assert.deepEqual(due.map((item) => [item.name, item.reason]), [["old", "size"]]);
  assert.deepEqual(rest.map((item) => item.name), ["mid", "new"]);
  assert.equal(planPurge(ENTRIES, { freeGb: 0, maxSizeGb: 6 }, NOW).due.length, 0);
});

Deno.test("planPurge() leaves -s to the free-space loop", () => {
  const { due, rest } = planPurge(ENTRIES, { freeGb: 10 }, NOW);
  assert.deepEqual(due, []);
  assert.deepEqual(rest.map((item) => item.name), ["old", "mid", "new"]);
});

async function withFilledCache(
  fn: (cache: Cache, digests: string[]) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tooltool-purge-" });
  try {
    using cache = await Cache.open(join(dir, "cache"));
    const digests: string[] = [];
    for (const [index, ageDays] of [30, 10, 1].entries()) {
      const content = new Uint8Array(1000 * (index + 1)).fill(index);
      const digest = sha512Hex(content);
      digests.push(digest);
      await Deno.writeFile(cache.entryPath(digest), content);
      const when = new Date(Date.now() - ageDays * DAY);
      await Deno.utime(cache.entryPath(digest), when, when);
    }
    await fn(cache, digests);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function names(path: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(path))).map((entry) => entry.name).sort();
}

Deno.test("purgeCache() with no limits empties the cache but keeps its state folder", () =>
  withFilledCache(async (cache) => {
    const result = await purgeCache(cache, { policy: { freeGb: 0 }, freeSpace: () => undefined });
    assert.equal(result.removed.length, 3);
    assert.equal(result.removedBytes, 6000);
    assert.equal(result.freedBytes, 6000);
    assert.equal(result.entriesLeft, 0);
    assert.deepEqual(await names(cache.root), [".tooltool"]);
  }));

Deno.test("purgeCache() leaves and reports every file that is not named by a digest", () =>
  withFilledCache(async (cache) => {
    await Deno.writeTextFile(join(cache.root, "manifest.tt"), "[]");
    await Deno.writeTextFile(join(cache.root, "notes.txt"), "tooltool.py deletes any file");
    await Deno.writeTextFile(join(cache.root, "a".repeat(127)), "one short of a digest");
    const result = await purgeCache(cache, { policy: { freeGb: 0 }, freeSpace: () => undefined });
    assert.equal(result.removed.length, 3);
    assert.deepEqual(result.ignored.map((item) => item.name), [
      "a".repeat(127),
      "manifest.tt",
      "notes.txt",
    ]);
    assert.deepEqual(await names(cache.root), [
      ".tooltool",
      "a".repeat(127),
      "manifest.tt",
      "notes.txt",
    ]);
  }));

Deno.test("purgeCache() never deletes a digest-named directory, nor follows a digest-named symlink", () =>
  withFilledCache(async (cache) => {
    const outside = join(cache.root, "..", "precious.bin");
    await Deno.writeTextFile(outside, "not the cache's");
    const dirName = sha512Hex("dir");
    const linkName = sha512Hex("link");
    await Deno.mkdir(cache.entryPath(dirName));
    await Deno.writeTextFile(join(cache.entryPath(dirName), "inside.txt"), "kept");
    await Deno.symlink(outside, cache.entryPath(linkName));
    const result = await purgeCache(cache, { policy: { freeGb: 0 }, freeSpace: () => undefined });
    assert.equal(result.removed.length, 3);
    assert.deepEqual(result.ignored.map((item) => item.reason).sort(), ["directory", "symlink"]);
    assert.equal(await Deno.readTextFile(outside), "not the cache's");
    assert.equal(await Deno.readTextFile(join(cache.entryPath(dirName), "inside.txt")), "kept");
    assert.ok((await Deno.lstat(cache.entryPath(linkName))).isSymlink);
  }));

Deno.test("purgeCache() keeps an entry another process holds", () =>
  withFilledCache(async (cache, digests) => {
    const busy = digests[0] as string;
    using _reader = await cache.lockEntry(busy, { exclusive: false });
    const result = await purgeCache(cache, { policy: { freeGb: 0 }, freeSpace: () => undefined });
    assert.deepEqual(result.inUse.map((item) => item.name), [busy]);
    assert.equal(result.removed.length, 2);
    assert.deepEqual((await names(cache.root)).filter((name) => name !== ".tooltool"), [busy]);
  }));

Deno.test("purgeCache() with -s deletes oldest first until enough is free", () =>
  withFilledCache(async (cache, digests) => {
    // A disk with 1 GiB - 1500 bytes free that gains what is deleted.
    let free = GIB - 1500;
    const result = await purgeCache(cache, {
      policy: { freeGb: 1 },
      freeSpace: () => free,
      onRemove: (item) => free += item.size,
    });
    assert.deepEqual(result.removed.map((item) => [item.name, item.reason]), [
      [digests[0], "space"],
      [digests[1], "space"],
    ]);
    assert.equal(result.spaceAlreadyFree, false);
    assert.equal(result.entriesLeft, 1);
  }));

Deno.test("purgeCache() with -s does nothing when the space is already free", () =>
  withFilledCache(async (cache) => {
    const result = await purgeCache(cache, { policy: { freeGb: 1 }, freeSpace: () => 2 * GIB });
    assert.equal(result.removed.length, 0);
    assert.ok(result.spaceAlreadyFree);
  }));

Deno.test("purgeCache() counts a hard-linked entry as removed but not freed", () =>
  withFilledCache(async (cache, digests) => {
    const linked = join(cache.root, "..", "working-copy");
    await Deno.link(cache.entryPath(digests[2] as string), linked);
    const result = await purgeCache(cache, {
      policy: { freeGb: 0, maxAgeDays: 0 },
      freeSpace: () => undefined,
    });
    assert.equal(result.removedBytes, 6000);
    assert.equal(result.freedBytes, 3000);
    assert.equal((await Deno.stat(linked)).size, 3000);
  }));

Deno.test("purgeCache() removes a partial download a killed job left", () =>
  withFilledCache(async (cache) => {
    const digest = sha512Hex("never finished");
    await Deno.writeFile(cache.partPath(digest), new Uint8Array(500));
    const result = await purgeCache(cache, {
      policy: { freeGb: 0, maxAgeDays: 365 },
      freeSpace: () => undefined,
    });
    assert.equal(result.removed.length, 0);
    assert.equal(result.freedBytes, 500);
    await assert.rejects(Deno.stat(cache.partPath(digest)), Deno.errors.NotFound);
  }));

Deno.test("purgeCache() of a peeked tooltool.py cache deletes its entries and creates nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tooltool-purge-" });
  try {
    const root = join(dir, "cache");
    await Deno.mkdir(root);
    const digest = sha512Hex("made by tooltool.py");
    await Deno.writeTextFile(join(root, digest), "made by tooltool.py");
    using cache = await Cache.peek(root);
    assert.ok(cache !== undefined);
    const result = await purgeCache(cache, { policy: { freeGb: 0 }, freeSpace: () => undefined });
    assert.deepEqual(result.removed.map((item) => item.name), [digest]);
    assert.deepEqual(await names(root), [], "no .tooltool/ (no trees folder, lock or journal)");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

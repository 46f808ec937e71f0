import assert from "node:assert/strict";
import { join } from "node:path";
import { Cache, STATE_DIR } from "./cache.ts";
import { isRacy, stampOf, stampVouches, type StatStamp } from "./stamps.ts";
import { isTempName, tempPathBeside } from "../temp_names.ts";
import { sha512Hex } from "../digest.ts";
import type { Sha512 } from "../sha512.ts";

const BOOT = "boot-1";

function info(overrides: Partial<Deno.FileInfo> = {}): Deno.FileInfo {
  return {
    isFile: true,
    isDirectory: false,
    isSymlink: false,
    size: 10,
    mtime: new Date(1_000_000),
    atime: new Date(1_000_000),
    birthtime: new Date(1_000_000),
    ctime: new Date(1_000_000),
    dev: 1,
    ino: 42,
    mode: 0o100444,
    nlink: 1,
    uid: 0,
    gid: 0,
    rdev: 0,
    blksize: 4096,
    blocks: 1,
    isBlockDevice: false,
    isCharDevice: false,
    isFifo: false,
    isSocket: false,
    ...overrides,
  };
}

function stamp(kind: StatStamp["kind"], of: Deno.FileInfo = info()): StatStamp {
  const made = stampOf(of, kind, BOOT, 5_000_000);
  assert.ok(made);
  return made;
}

Deno.test("stampVouches() accepts an unchanged file", () => {
  assert.ok(stampVouches(stamp("file"), info(), BOOT));
  assert.ok(stampVouches(stamp("entry"), info(), BOOT));
});

Deno.test("stampVouches() refuses a changed size, mtime, inode or device", () => {
  for (const change of [{ size: 11 }, { mtime: new Date(1_000_001) }, { ino: 43 }, { dev: 2 }]) {
    assert.equal(stampVouches(stamp("entry"), info(change), BOOT), false, JSON.stringify(change));
    assert.equal(stampVouches(stamp("file"), info(change), BOOT), false, JSON.stringify(change));
  }
});

Deno.test("stampVouches() refuses a stamp taken in another boot", () => {
  assert.equal(stampVouches(stamp("entry"), info(), "boot-2"), false);
});

Deno.test("stampVouches() ignores ctime for a read-only entry, whose links change it", () => {
  assert.ok(stampVouches(stamp("entry"), info({ ctime: new Date(9_000_000), nlink: 3 }), BOOT));
});

Deno.test("stampVouches() refuses an entry that became writable", () => {
  assert.equal(stampVouches(stamp("entry"), info({ mode: 0o100644 }), BOOT), false);
});

Deno.test("stampVouches() compares ctime for a working-tree copy", () => {
  const copy = info({ mode: 0o100644 });
  assert.ok(stampVouches(stamp("file", copy), copy, BOOT));
  assert.equal(
    stampVouches(stamp("file", copy), { ...copy, ctime: new Date(2_000_000) }, BOOT),
    false,
  );
});

Deno.test("isRacy() flags content written within the last two seconds", () => {
  assert.ok(isRacy(info({ mtime: new Date(10_000) }), 11_000));
  assert.equal(isRacy(info({ mtime: new Date(10_000) }), 13_000), false);
});

Deno.test("isRacy() ignores a recent metadata change such as a chmod", () => {
  assert.equal(isRacy(info({ mtime: new Date(10_000), ctime: new Date(12_900) }), 13_000), false);
});

Deno.test("tempPathBeside() names a hidden temp file that isTempName() recognises", () => {
  const path = tempPathBeside("/work/dir/clang.tar.xz");
  assert.ok(path.startsWith("/work/dir/.clang.tar.xz.tooltool-"));
  assert.ok(isTempName(path.slice("/work/dir/".length)));
  assert.equal(isTempName("clang.tar.xz"), false);
});

interface Fixture {
  readonly dir: string;
  readonly cache: Cache;
  readonly content: Uint8Array;
  readonly digest: Sha512;
}

async function withCache(
  fn: (fixture: Fixture) => Promise<void>,
  options: { links?: boolean; cacheDir?: string } = {},
): Promise<void> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "tooltool-cache-" }));
  try {
    // A clock a minute ahead: files written by the test are not "racy" for it.
    using cache = await Cache.open(options.cacheDir ?? join(dir, "cache"), {
      links: options.links,
      now: () => Date.now() + 60_000,
      boot: BOOT,
    });
    const content = new TextEncoder().encode("some artifact bytes\n".repeat(100));
    await fn({ dir, cache, content, digest: sha512Hex(content) });
  } finally {
    await Deno.remove(dir, { recursive: true });
    if (options.cacheDir) await Deno.remove(options.cacheDir, { recursive: true }).catch(() => {});
  }
}

Deno.test("Cache.open() creates the state folder inside the cache", () =>
  withCache(async ({ cache }) => {
    assert.ok((await Deno.stat(join(cache.root, STATE_DIR, "tmp"))).isDirectory);
  }));

Deno.test("lockEntry() shares an entry between readers and reports a missing one", () =>
  withCache(async ({ cache, digest, content }) => {
    assert.equal(await cache.lockEntry(digest, { exclusive: false }), undefined);
    await Deno.writeFile(cache.entryPath(digest), content);
    using first = await cache.lockEntry(digest, { exclusive: false });
    using second = await cache.lockEntry(digest, { exclusive: false });
    assert.ok(first && second);
    assert.equal(await cache.tryLockEntry(digest, true), "busy");
  }));

Deno.test("lockPart() lets one writer at a time hold a digest's part file", () =>
  withCache(async ({ cache, digest }) => {
    const first = await cache.lockPart(digest);
    let taken = false;
    const waiting = cache.lockPart(digest).then((lock) => {
      taken = true;
      return lock;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(taken, false);
    first.release();
    using second = await waiting;
    assert.ok(second.held);
  }));

Deno.test("checkEntry() reports a missing entry", () =>
  withCache(async ({ cache, digest, content }) => {
    assert.deepEqual(await cache.checkEntry(digest, content.length), { kind: "missing" });
  }));

Deno.test("checkEntry() hashes a tooltool.py-placed entry once, then trusts its stamp", () =>
  withCache(async ({ cache, digest, content }) => {
    await Deno.writeFile(cache.entryPath(digest), content, { mode: 0o644 });
    assert.deepEqual(await cache.checkEntry(digest, content.length), {
      kind: "valid",
      checked: "hash",
    });
    const mode = (await Deno.stat(cache.entryPath(digest))).mode ?? 0;
    assert.equal(mode & 0o222, 0, "the entry is made read-only");
    assert.deepEqual(await cache.checkEntry(digest, content.length), {
      kind: "valid",
      checked: "stamp",
    });
    assert.deepEqual(await cache.checkEntry(digest, content.length, { rehash: true }), {
      kind: "valid",
      checked: "hash",
    });
  }));

Deno.test("checkEntry() finds an entry corrupted in place after it was stamped", () =>
  withCache(async ({ cache, digest, content }) => {
    const path = cache.entryPath(digest);
    await Deno.writeFile(path, content);
    assert.equal((await cache.checkEntry(digest, content.length)).kind, "valid");
    await Deno.chmod(path, 0o644);
    const file = await Deno.open(path, { write: true });
    await file.write(new Uint8Array([0x58]));
    file.close();
    assert.deepEqual(await cache.checkEntry(digest, content.length), {
      kind: "invalid",
      reason: "its sha512 does not match",
    });
  }));

Deno.test("checkEntry() finds a truncated entry without hashing it", () =>
  withCache(async ({ cache, digest, content }) => {
    await Deno.writeFile(cache.entryPath(digest), content.subarray(0, 10));
    assert.deepEqual(await cache.checkEntry(digest, content.length), {
      kind: "invalid",
      reason: `10 bytes instead of ${content.length}`,
    });
    await cache.evict(digest);
    assert.deepEqual(await cache.checkEntry(digest, content.length), { kind: "missing" });
  }));

Deno.test("admit() makes a verified download a read-only, stamped entry", () =>
  withCache(async ({ cache, digest, content }) => {
    using part = await cache.lockPart(digest);
    await Deno.writeFile(part.path, content);
    cache.admit(part.path, digest);
    const entry = await Deno.stat(cache.entryPath(digest));
    assert.equal((entry.mode ?? 0) & 0o777, 0o444);
    assert.ok(await cache.vouches(cache.entryPath(digest), digest));
    await assert.rejects(Deno.stat(part.path), Deno.errors.NotFound);
    // The writer's lock moved with the file: readers wait until it lets go.
    assert.equal(await cache.tryLockEntry(digest, false), "busy");
  }));

Deno.test("a stamp recorded by one process is seen by another that opened the cache earlier", () =>
  withCache(async ({ cache, digest, content }) => {
    using other = await Cache.open(cache.root, { boot: BOOT, now: () => Date.now() + 60_000 });
    assert.equal(await other.vouches(cache.entryPath(digest), digest), false);
    const part = cache.partPath(digest);
    await Deno.writeFile(part, content);
    cache.admit(part, digest);
    assert.ok(await other.vouches(cache.entryPath(digest), digest));
  }));

Deno.test("place() hard-links the entry, so a stamp vouches for the working-tree file", () =>
  withCache(async ({ dir, cache, digest, content }) => {
    const part = cache.partPath(digest);
    await Deno.writeFile(part, content);
    cache.admit(part, digest);
    const destination = join(dir, "tool.bin");
    assert.equal(await cache.place(digest, destination), "link");
    const [placed, entry] = await Promise.all([
      Deno.stat(destination),
      Deno.stat(cache.entryPath(digest)),
    ]);
    assert.equal(placed.ino, entry.ino);
    assert.ok(await cache.vouches(destination, digest));
    // A writer that replaces the file (rename over it) leaves the entry alone.
    await Deno.writeFile(`${destination}.new`, new TextEncoder().encode("changed"));
    await Deno.rename(`${destination}.new`, destination);
    assert.equal(await cache.vouches(destination, digest), false);
    assert.deepEqual(await cache.checkEntry(digest, content.length), {
      kind: "valid",
      checked: "stamp",
    });
  }));

Deno.test("place() replaces an existing file with a link", () =>
  withCache(async ({ dir, cache, digest, content }) => {
    await Deno.writeFile(cache.entryPath(digest), content);
    await cache.checkEntry(digest, content.length);
    const destination = join(dir, "tool.bin");
    await Deno.writeTextFile(destination, "old");
    assert.equal(await cache.place(digest, destination), "link");
    assert.deepEqual(await Deno.readFile(destination), content);
    const leftovers = [...Deno.readDirSync(dir)].filter((e) => isTempName(e.name));
    assert.deepEqual(leftovers, []);
  }));

Deno.test("place() copies when links are off, and the copy is writable and stamped", () =>
  withCache(async ({ dir, cache, digest, content }) => {
    await Deno.writeFile(cache.entryPath(digest), content);
    await cache.checkEntry(digest, content.length);
    const destination = join(dir, "tool.bin");
    assert.equal(await cache.place(digest, destination), "copy");
    const [placed, entry] = await Promise.all([
      Deno.stat(destination),
      Deno.stat(cache.entryPath(digest)),
    ]);
    assert.notEqual(placed.ino, entry.ino);
    assert.equal((placed.mode ?? 0) & 0o200, 0o200);
    assert.deepEqual(await Deno.readFile(destination), content);
    // Only the clock's margin lets the test's fresh copy count as non-racy.
    assert.ok(await cache.vouches(destination, digest));
    await Deno.writeTextFile(destination, "edited in place");
    assert.equal(await cache.vouches(destination, digest), false);
  }, { links: false }));

Deno.test("place() copies across file systems, where a hard link is impossible", async () => {
  let shm: string;
  try {
    shm = await Deno.makeTempDir({ dir: "/dev/shm", prefix: "tooltool-cache-" });
  } catch {
    return; // No second file system to try with.
  }
  await withCache(async ({ dir, cache, digest, content }) => {
    await Deno.writeFile(cache.entryPath(digest), content);
    await cache.checkEntry(digest, content.length);
    assert.equal(await cache.place(digest, join(dir, "tool.bin")), "copy");
  }, { cacheDir: shm });
});

Deno.test("recordVerified() stamps a hashed working-tree file, unless it is racy", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tooltool-cache-" });
  try {
    const content = new TextEncoder().encode("present");
    const digest = sha512Hex(content);
    const path = join(dir, "present.bin");
    await Deno.writeFile(path, content);
    const before = await Deno.stat(path);
    using racy = await Cache.open(join(dir, "cache"), { boot: BOOT });
    racy.recordVerified(path, digest, before);
    assert.equal(await racy.vouches(path, digest), false, "just written: not stamped");
    using later = await Cache.open(join(dir, "cache"), {
      boot: BOOT,
      now: () => Date.now() + 5_000,
    });
    later.recordVerified(path, digest, before);
    assert.ok(await later.vouches(path, digest));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("list() gives digest-named files as entries with their last use, the rest as foreign", () =>
  withCache(async ({ cache, digest, content }) => {
    await Deno.writeFile(cache.entryPath(digest), content);
    await Deno.writeTextFile(join(cache.root, "stray.txt"), "x");
    await Deno.utime(cache.entryPath(digest), 1_000, 1_000);
    cache.markUsed(digest);
    const { entries, foreign } = await cache.list();
    assert.deepEqual(entries.map((entry) => entry.name), [digest]);
    assert.ok((entries[0]?.lastUsedMs ?? 0) > 1_000_000);
    assert.deepEqual(foreign, [{ name: "stray.txt", reason: "name" }]);
  }));

Deno.test("list() never counts a digest-named directory or symlink, or an upper-case digest, as an entry", () =>
  withCache(async ({ cache, digest, content }) => {
    const outside = join(cache.root, "..", "outside.bin");
    await Deno.writeFile(outside, content);
    const asDir = sha512Hex("a directory");
    const upper = sha512Hex("upper").toUpperCase();
    await Deno.mkdir(cache.entryPath(asDir));
    await Deno.symlink(outside, cache.entryPath(digest));
    await Deno.writeFile(join(cache.root, upper), content);
    const { entries, foreign } = await cache.list();
    assert.deepEqual(entries, []);
    assert.deepEqual(
      foreign,
      [
        { name: asDir, reason: "directory" },
        { name: digest, reason: "symlink" },
        { name: upper, reason: "name" },
      ].sort((a, b) => a.name < b.name ? -1 : 1),
    );
  }));

Deno.test("sweep() removes a partial download nobody writes, and keeps one being written", () =>
  withCache(async ({ cache, digest, content }) => {
    const other = sha512Hex("other");
    await Deno.writeFile(cache.partPath(digest), content.subarray(0, 100));
    using writing = await cache.lockPart(other);
    await Deno.writeFile(writing.path, content.subarray(0, 50));
    const swept = await cache.sweep();
    assert.deepEqual(swept, { files: 1, bytes: 100 });
    await assert.rejects(Deno.stat(cache.partPath(digest)), Deno.errors.NotFound);
    assert.equal((await Deno.stat(cache.partPath(other))).size, 50);
  }));

Deno.test("compact() keeps only what concerns entries still in the cache", () =>
  withCache(async ({ cache, digest, content }) => {
    await Deno.writeFile(cache.entryPath(digest), content);
    await cache.checkEntry(digest, content.length);
    const gone = sha512Hex("gone");
    cache.markUsed(gone);
    cache.markUsed(digest);
    await cache.compact();
    const journal = await Deno.readTextFile(join(cache.root, STATE_DIR, "journal"));
    assert.ok(journal.includes(digest));
    assert.ok(!journal.includes(gone));
    using reopened = await Cache.open(cache.root, { boot: BOOT });
    assert.ok(await reopened.vouches(cache.entryPath(digest), digest));
  }));

Deno.test("a use recorded after another process compacted the journal is not lost", () =>
  withCache(async ({ cache, digest, content }) => {
    await Deno.writeFile(cache.entryPath(digest), content);
    const early = sha512Hex("early");
    // This cache keeps the journal open for appending from here on.
    cache.markUsed(early);
    using other = await Cache.open(cache.root, { boot: BOOT });
    await other.compact();
    cache.markUsed(digest);
    const journal = await Deno.readTextFile(join(cache.root, STATE_DIR, "journal"));
    assert.ok(journal.includes(digest), "the append went to the compacted journal");
    assert.ok(!journal.includes(early), "compaction dropped what has no entry");
  }));

Deno.test("many concurrent lookups while the journal grows all succeed", () =>
  withCache(async ({ cache }) => {
    using writer = await Cache.open(cache.root, { boot: BOOT, now: () => Date.now() + 60_000 });
    const digests: Sha512[] = [];
    for (let index = 0; index < 40; index++) {
      const content = new TextEncoder().encode(`file ${index}`);
      const digest = sha512Hex(content);
      digests.push(digest);
      await Deno.writeFile(writer.partPath(digest), content);
    }
    const lookups: Promise<boolean>[] = [];
    for (const digest of digests) {
      writer.admit(writer.partPath(digest), digest);
      lookups.push(cache.vouches(cache.entryPath(digest), digest));
    }
    assert.ok((await Promise.all(lookups)).every((vouched) => vouched));
  }));

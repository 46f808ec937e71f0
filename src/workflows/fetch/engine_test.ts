import assert from "node:assert/strict";
import { join } from "node:path";
import { type FakeServer, startFakeServer } from "../../../test/fake_server/server.ts";
import { Cache, STATE_DIR } from "../../cache/cache.ts";
import { isTempName } from "../../temp_names.ts";
import { sha512Hex } from "../../digest.ts";
import { type FetchOptions, fetchRecords, type Unpacker } from "./engine.ts";
import { ApiClient } from "../../transport/http.ts";
import { tryLock } from "../../lock.ts";
import type { FileRecord, SafeFilename } from "../../manifest/manifest.ts";
import type { Sha512 } from "../../sha512.ts";
import { ProgressModel } from "../../progress.ts";
import { patternBytes } from "../../../test/helpers/data.ts";

interface Setup {
  readonly server: FakeServer;
  readonly dir: string;
  readonly records: FileRecord[];
  readonly contents: Map<string, Uint8Array>;
  readonly messages: string[];
  readonly options: (extra?: Partial<FetchOptions>) => FetchOptions;
}

async function withSetup(
  sizes: Record<string, number>,
  fn: (setup: Setup) => Promise<void>,
): Promise<void> {
  const server = await startFakeServer();
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "tooltool-fetch-" }));
  try {
    const records: FileRecord[] = [];
    const contents = new Map<string, Uint8Array>();
    for (const [index, [filename, size]] of Object.entries(sizes).entries()) {
      const content = patternBytes(index + 1, size);
      const { digest } = await server.addFile(content);
      contents.set(filename, content);
      records.push({
        filename: filename as SafeFilename,
        size,
        algorithm: "sha512",
        digest: digest as Sha512,
      });
    }
    const messages: string[] = [];
    const client = new ApiClient({
      baseUrl: server.url,
      credentials: { kind: "none" },
      fetch: globalThis.fetch,
      env: () => undefined,
    });
    const options = (extra: Partial<FetchOptions> = {}): FetchOptions => ({
      cwd: join(dir, "work"),
      jobs: 4,
      rehash: false,
      sources: (record) => [{
        name: server.url,
        resolve: () => client.resolveDownload(record.digest),
      }],
      fetch: globalThis.fetch,
      signal: new AbortController().signal,
      backoff: { baseMs: 1, maxMs: 5 },
      model: new ProgressModel(),
      log: {
        info: (message) => messages.push(message),
        debug: () => {},
        warn: (message) => messages.push(`warning: ${message}`),
      },
      unpacker: () => Promise.reject(new Error("no unpacking in this test")),
      ...extra,
    });
    await Deno.mkdir(join(dir, "work"));
    await fn({ server, dir, records, contents, messages, options });
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function storageGets(server: FakeServer): number {
  return server.requests.filter((request) => request.origin === "storage").length;
}

async function listDir(path: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(path))).map((entry) => entry.name).sort();
}

Deno.test("fetchRecords() downloads every file and reports where each came from", () =>
  withSetup({ "a.bin": 300_000, "b.txt": 12 }, async ({ server, records, contents, options }) => {
    const opts = options();
    const outcomes = await fetchRecords(records, opts);
    assert.deepEqual(outcomes.map((o) => [o.filename, o.source, o.error]), [
      ["a.bin", "network", null],
      ["b.txt", "network", null],
    ]);
    assert.equal(outcomes[0]?.bytes, 300_000);
    assert.equal(outcomes[0]?.attempts, 1);
    for (const [name, content] of contents) {
      assert.deepEqual(await Deno.readFile(join(opts.cwd, name)), content);
    }
    assert.deepEqual(await listDir(opts.cwd), ["a.bin", "b.txt"]);
    assert.equal(storageGets(server), 2);
  }));

Deno.test("fetchRecords() keeps a valid file and replaces an invalid one", () =>
  withSetup({ "a.bin": 1000, "b.bin": 1000 }, async ({ records, contents, messages, options }) => {
    const opts = options();
    await Deno.writeFile(join(opts.cwd, "a.bin"), contents.get("a.bin") as Uint8Array);
    await Deno.writeFile(join(opts.cwd, "b.bin"), new Uint8Array(1000));
    const outcomes = await fetchRecords(records, opts);
    assert.deepEqual(outcomes.map((o) => o.source), ["present", "network"]);
    assert.deepEqual(await Deno.readFile(join(opts.cwd, "b.bin")), contents.get("b.bin"));
    assert.ok(messages.includes("b.bin is present but does not match the manifest: replacing it"));
  }));

Deno.test("fetchRecords() leaves nothing behind for a file that cannot be fetched", () =>
  withSetup({ "a.bin": 1000 }, async ({ server, records, options }) => {
    server.fault({ kind: "status", status: 500, origin: "storage" });
    const opts = options({ attempts: 2 });
    await Deno.writeFile(join(opts.cwd, "a.bin"), new Uint8Array(5));
    const [outcome] = await fetchRecords(records, opts);
    assert.equal(outcome?.source, null);
    assert.equal(outcome?.attempts, 2);
    assert.match(outcome?.error ?? "", /^Cannot fetch "a\.bin" from .*: storage returned 500/);
    assert.deepEqual(await listDir(opts.cwd), [], "neither the wrong file nor a temp file");
  }));

Deno.test("fetchRecords() fills the cache, then places from it without the network", () =>
  withSetup({ "a.bin": 200_000 }, async ({ server, dir, records, contents, options }) => {
    const cache = await Cache.open(join(dir, "cache"));
    await fetchRecords(records, options({ cache }));
    const digest = records[0]?.digest as Sha512;
    assert.deepEqual(await Deno.readFile(cache.entryPath(digest)), contents.get("a.bin"));
    await Deno.remove(join(dir, "work", "a.bin"));
    const [again] = await fetchRecords(records, options({ cache }));
    assert.equal(again?.source, "cache");
    assert.equal(storageGets(server), 1);
    const [placed, entry] = await Promise.all([
      Deno.stat(join(dir, "work", "a.bin")),
      Deno.stat(cache.entryPath(digest)),
    ]);
    assert.equal(placed.ino, entry.ino, "placed by hard link");
    const [present] = await fetchRecords(records, options({ cache }));
    assert.equal(present?.source, "present");
  }));

Deno.test("fetchRecords() downloads a digest once when two runs share the cache", () =>
  withSetup({ "a.bin": 400_000, "b.bin": 300_000 }, async ({ server, dir, records, options }) => {
    server.fault({ kind: "slow", bytesPerSecond: 4_000_000 });
    const cache = await Cache.open(join(dir, "cache"));
    await Deno.mkdir(join(dir, "other"));
    const [first, second] = await Promise.all([
      fetchRecords(records, options({ cache })),
      fetchRecords(records, options({ cache, cwd: join(dir, "other") })),
    ]);
    const sources = [...(first ?? []), ...(second ?? [])].map((o) => o.source).sort();
    assert.deepEqual(sources, ["cache", "cache", "network", "network"]);
    assert.equal(storageGets(server), 2);
  }));

Deno.test("fetchRecords() evicts a damaged cache entry and fetches the file again", () =>
  withSetup({ "a.bin": 10_000 }, async ({ server, dir, records, contents, messages, options }) => {
    const cache = await Cache.open(join(dir, "cache"));
    const digest = records[0]?.digest as Sha512;
    const damaged = (contents.get("a.bin") as Uint8Array).slice();
    damaged[5] = (damaged[5] ?? 0) ^ 1;
    await Deno.writeFile(cache.entryPath(digest), damaged);
    const [outcome] = await fetchRecords(records, options({ cache }));
    assert.equal(outcome?.source, "network");
    assert.deepEqual(await Deno.readFile(join(dir, "work", "a.bin")), contents.get("a.bin"));
    assert.deepEqual(await Deno.readFile(cache.entryPath(digest)), contents.get("a.bin"));
    assert.ok(messages.some((m) => /^warning: The cached copy of "a\.bin" .* is damaged/.test(m)));
    assert.equal(storageGets(server), 1);
  }));

Deno.test("fetchRecords() removes temp files of a dead run but not those of a live one", () =>
  withSetup({ "a.bin": 1000 }, async ({ records, options }) => {
    const opts = options();
    const dead = join(opts.cwd, ".a.bin.tooltool-0123abcd.part");
    const live = join(opts.cwd, ".a.bin.tooltool-4567cdef.part");
    await Deno.writeFile(dead, new Uint8Array(10));
    assert.ok(isTempName(".a.bin.tooltool-0123abcd.part"));
    using _writer = await tryLock(live, { exclusive: true });
    await fetchRecords(records, opts);
    assert.deepEqual(await listDir(opts.cwd), [".a.bin.tooltool-4567cdef.part", "a.bin"]);
  }));

Deno.test("fetchRecords() unpacks archives in manifest order once every file is in place", () =>
  withSetup({ "a.tar": 100, "b.bin": 100, "c.zip": 100 }, async ({ records, options }) => {
    const unpacked: string[] = [];
    const unpacker: Unpacker = (path) => {
      unpacked.push(path.split("/").pop() ?? "");
      if (path.endsWith(".zip")) return Promise.reject(new Error('Cannot unpack "c.zip": corrupt'));
      return Promise.resolve({ entries: 1, bytes: 1 });
    };
    const marked = records.map((record) =>
      record.filename === "b.bin" ? record : { ...record, unpack: true }
    );
    const outcomes = await fetchRecords(
      marked,
      options({ unpacker: () => Promise.resolve(unpacker) }),
    );
    assert.deepEqual(unpacked, ["a.tar", "c.zip"]);
    assert.deepEqual(outcomes.map((o) => [o.unpacked, o.error]), [
      [true, null],
      [null, null],
      [false, 'Cannot unpack "c.zip": corrupt'],
    ]);
  }));

Deno.test("fetchRecords() stops on abort and leaves no temp file", () =>
  withSetup({ "a.bin": 2_000_000 }, async ({ server, dir, records, options }) => {
    server.fault({ kind: "slow", bytesPerSecond: 1_000_000 });
    const cache = await Cache.open(join(dir, "cache"));
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("interrupted")), 300);
    const opts = options({ cache, signal: controller.signal });
    await assert.rejects(fetchRecords(records, opts), /interrupted/);
    assert.deepEqual(await listDir(opts.cwd), []);
    assert.deepEqual(await listDir(join(dir, "cache", STATE_DIR, "tmp")), []);
  }));

Deno.test("fetchRecords() trusts a stamp for a present file, and --rehash does not", () =>
  withSetup({ "a.bin": 5000 }, async ({ dir, records, options }) => {
    // A clock ahead of the files, so that nothing counts as "racy".
    const cache = await Cache.open(join(dir, "cache"), { now: () => Date.now() + 60_000 });
    await fetchRecords(records, options({ cache }));
    const path = join(dir, "work", "a.bin");
    // Damage the file but keep size and mtime: only --rehash can notice.
    const before = await Deno.stat(path);
    await Deno.chmod(path, 0o644);
    const file = await Deno.open(path, { write: true });
    await file.write(new Uint8Array([0]));
    file.close();
    await Deno.utime(path, before.atime ?? new Date(), before.mtime ?? new Date());
    await Deno.chmod(path, 0o444);
    const [trusted] = await fetchRecords(records, options({ cache }));
    assert.equal(trusted?.source, "present");
    const [rehashed] = await fetchRecords(records, options({ cache, rehash: true }));
    assert.equal(rehashed?.source, "network");
    assert.equal(sha512Hex(await Deno.readFile(path)), records[0]?.digest);
  }));

Deno.test("fetchRecords() falls back to the working directory when the cache cannot be written, warning once", () =>
  withSetup(
    { "a.bin": 5000, "b.bin": 4000, "c.bin": 3000, "hit.bin": 100 },
    async ({ dir, records, contents, messages, options }) => {
      const cache = await Cache.open(join(dir, "cache"));
      const hit = records.find((record) => record.filename === "hit.bin") as FileRecord;
      await Deno.writeFile(cache.entryPath(hit.digest), contents.get("hit.bin") as Uint8Array);
      // Every write into the cache now fails: its temp folder is a plain file.
      const tmp = join(dir, "cache", STATE_DIR, "tmp");
      await Deno.remove(tmp, { recursive: true });
      await Deno.writeTextFile(tmp, "not a directory");
      const opts = options({ cache, jobs: 2 });
      const outcomes = await fetchRecords(records, opts);
      assert.deepEqual(outcomes.map((o) => [o.filename, o.source, o.error]), [
        ["a.bin", "network", null],
        ["b.bin", "network", null],
        ["c.bin", "network", null],
        ["hit.bin", "cache", null],
      ]);
      for (const [name, content] of contents) {
        assert.deepEqual(await Deno.readFile(join(opts.cwd, name)), content);
      }
      const warnings = messages.filter((message) => message.startsWith("warning: "));
      assert.deepEqual(warnings, [
        `warning: Cannot write to the cache folder "${
          join(dir, "cache")
        }": a parent is not a directory; fetching into the working directory without the cache for the rest of this run`,
      ]);
      assert.deepEqual(await listDir(opts.cwd), ["a.bin", "b.bin", "c.bin", "hit.bin"]);
    },
  ));

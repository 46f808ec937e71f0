/**
 * End-to-end: `tooltool fetch -c CACHE` — cache hits without the network, hard links and
 * copies, stamps, damaged entries, and a cache shared with tooltool.py both ways.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { STATE_DIR } from "../src/cache/cache.ts";
import { listNames, withFetchFixture } from "./fetch_fixture.ts";

const TOOLTOOL_PY = Deno.env.get("TOOLTOOL_PY") ?? "/work/ref/client/tooltool.py";

function sources(stdout: string): (string | null)[] {
  return JSON.parse(stdout).files.map((file: { source: string | null }) => file.source);
}

function storageCount(requests: readonly { origin: string }[]): number {
  return requests.filter((r) => r.origin === "storage").length;
}

Deno.test("fetch -c fills the cache, and a second folder gets its files from it by hard link", () =>
  withFetchFixture({ "a.bin": 200_000, "b.bin": 1000 }, async (fx) => {
    const cold = await fx.run(["fetch", "-c", fx.cache, "--json"]);
    assert.equal(cold.code, 0, cold.stderr);
    assert.deepEqual(sources(cold.stdout), ["network", "network"]);
    const other = join(fx.root, "other");
    await Deno.mkdir(other);
    await fx.writeManifest(fx.files, other);
    const warm = await fx.run(["fetch", "-c", fx.cache, "--json"], { cwd: other });
    assert.equal(warm.code, 0, warm.stderr);
    assert.deepEqual(sources(warm.stdout), ["cache", "cache"]);
    assert.equal(storageCount(fx.server.requests), 2);
    for (const file of fx.files) {
      const [placed, entry] = await Promise.all([
        Deno.stat(join(other, file.filename)),
        Deno.stat(join(fx.cache, file.digest)),
      ]);
      assert.equal(placed.ino, entry.ino);
      assert.equal((entry.mode ?? 0) & 0o222, 0, "cache entries are read-only");
      assert.deepEqual(await Deno.readFile(join(other, file.filename)), file.content);
    }
    const noop = await fx.run(["fetch", "-c", fx.cache, "--json"], { cwd: other });
    assert.deepEqual(sources(noop.stdout), ["present", "present"]);
  }));

Deno.test("fetch uses a tooltool.py-style cache entry placed by hand", () =>
  withFetchFixture({ "a.bin": 50_000 }, async (fx) => {
    const { digest, content } = fx.file("a.bin");
    await Deno.mkdir(fx.cache);
    await Deno.writeFile(join(fx.cache, digest), content, { mode: 0o644 });
    const run = await fx.run(["fetch", "-c", fx.cache, "--json"]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(sources(run.stdout), ["cache"]);
    assert.equal(fx.server.requests.length, 0);
    assert.deepEqual(await Deno.readFile(join(fx.work, "a.bin")), content);
    assert.deepEqual(await listNames(join(fx.cache, STATE_DIR)), ["journal", "tmp"]);
  }));

Deno.test("fetch evicts a cache entry damaged in place and fetches the file again", () =>
  withFetchFixture({ "a.bin": 50_000 }, async (fx) => {
    const { digest, content } = fx.file("a.bin");
    assert.equal((await fx.run(["fetch", "-c", fx.cache])).code, 0);
    await Deno.remove(join(fx.work, "a.bin"));
    const entry = join(fx.cache, digest);
    await Deno.chmod(entry, 0o644);
    const file = await Deno.open(entry, { write: true });
    await file.seek(1234, Deno.SeekMode.Start);
    await file.write(new Uint8Array([(content[1234] ?? 0) ^ 0xff]));
    file.close();
    const run = await fx.run(["fetch", "-c", fx.cache, "--json"]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(sources(run.stdout), ["network"]);
    assert.match(
      run.stderr,
      /^warning: The cached copy of "a\.bin" \(.*\) is damaged \(its sha512 does not match\): removing it and fetching the file again$/m,
    );
    assert.deepEqual(await Deno.readFile(join(fx.work, "a.bin")), content);
    assert.deepEqual(await Deno.readFile(entry), content);
  }));

Deno.test("fetch evicts a truncated cache entry without hashing it", () =>
  withFetchFixture({ "a.bin": 50_000 }, async (fx) => {
    const { digest, content } = fx.file("a.bin");
    await Deno.mkdir(fx.cache);
    await Deno.writeFile(join(fx.cache, digest), content.subarray(0, 1000));
    const run = await fx.run(["fetch", "-c", fx.cache]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /is damaged \(1000 bytes instead of 50000\)/);
    assert.deepEqual(await Deno.readFile(join(fx.work, "a.bin")), content);
  }));

Deno.test("fetch --rehash finds damage that kept the size and mtime", () =>
  withFetchFixture({ "a.bin": 50_000 }, async (fx) => {
    const { digest, content } = fx.file("a.bin");
    assert.equal((await fx.run(["fetch", "-c", fx.cache])).code, 0);
    await Deno.remove(join(fx.work, "a.bin"));
    const entry = join(fx.cache, digest);
    const before = await Deno.stat(entry);
    await Deno.chmod(entry, 0o644);
    const file = await Deno.open(entry, { write: true });
    await file.write(new Uint8Array([(content[0] ?? 0) ^ 1]));
    file.close();
    await Deno.utime(entry, before.atime ?? new Date(), before.mtime ?? new Date());
    await Deno.chmod(entry, 0o444);
    const run = await fx.run(["fetch", "-c", fx.cache, "--rehash", "--json"]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(sources(run.stdout), ["network"]);
    assert.deepEqual(await Deno.readFile(join(fx.work, "a.bin")), content);
  }));

Deno.test("fetch copies from the cache when links are turned off, and the copy is the tree's own", () =>
  withFetchFixture({ "a.bin": 50_000 }, async (fx) => {
    const env = { TOOLTOOL_CACHE_LINKS: "0" };
    assert.equal((await fx.run(["fetch", "-c", fx.cache], { env })).code, 0);
    await Deno.remove(join(fx.work, "a.bin"));
    const run = await fx.run(["fetch", "-c", fx.cache, "--json"], { env });
    assert.deepEqual(sources(run.stdout), ["cache"]);
    const placed = await Deno.stat(join(fx.work, "a.bin"));
    const entry = await Deno.stat(join(fx.cache, fx.file("a.bin").digest));
    assert.notEqual(placed.ino, entry.ino);
    assert.equal((placed.mode ?? 0) & 0o200, 0o200);
    // Writing the copy in place leaves the cache entry alone and is noticed next time.
    await Deno.writeTextFile(join(fx.work, "a.bin"), "edited");
    const again = await fx.run(["fetch", "-c", fx.cache, "--json"], { env });
    assert.deepEqual(sources(again.stdout), ["cache"]);
    assert.deepEqual(await Deno.readFile(join(fx.work, "a.bin")), fx.file("a.bin").content);
  }));

async function runTooltoolPy(
  args: string[],
  cwd: string,
): Promise<{ code: number; stderr: string } | undefined> {
  try {
    await Deno.stat(TOOLTOOL_PY);
    const output = await new Deno.Command("python3", {
      args: [TOOLTOOL_PY, ...args],
      cwd,
      stdout: "piped",
      stderr: "piped",
      clearEnv: true,
      env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: Deno.env.get("HOME") ?? "/" },
    }).output();
    return { code: output.code, stderr: new TextDecoder().decode(output.stderr) };
  } catch {
    return undefined;
  }
}

Deno.test("tooltool.py fetches from a cache this tool filled, and this tool from one it filled", () =>
  withFetchFixture({ "a.bin": 50_000, "b.bin": 2000 }, async (fx) => {
    const [a, b] = [fx.file("a.bin"), fx.file("b.bin")];
    // This tool fills the cache with a.bin only.
    const ours = await fx.run(["fetch", "-c", fx.cache, "a.bin"]);
    assert.equal(ours.code, 0, ours.stderr);
    const pyDir = join(fx.root, "py");
    await Deno.mkdir(pyDir);
    await fx.writeManifest(fx.files, pyDir);
    const py = await runTooltoolPy(["--url", fx.server.url, "fetch", "-c", fx.cache], pyDir);
    if (py === undefined) return; // No python3 or tooltool.py here.
    assert.equal(py.code, 0, py.stderr);
    assert.deepEqual(await Deno.readFile(join(pyDir, "a.bin")), a.content);
    assert.deepEqual(await Deno.readFile(join(pyDir, "b.bin")), b.content);
    assert.equal(fx.downloads(a.digest), 1, "tooltool.py took a.bin from the cache");
    assert.equal(fx.downloads(b.digest), 1, "and downloaded b.bin into it");
    // tooltool.py's own entry, b.bin, serves this tool without the network.
    await Deno.remove(join(fx.work, "a.bin"));
    const back = await fx.run(["fetch", "-c", fx.cache, "--json"]);
    assert.equal(back.code, 0, back.stderr);
    assert.deepEqual(sources(back.stdout), ["cache", "cache"]);
    assert.equal(fx.downloads(b.digest), 1);
  }));

Deno.test("tooltool.py's purge leaves this tool's state folder alone", () =>
  withFetchFixture({ "a.bin": 1000 }, async (fx) => {
    assert.equal((await fx.run(["fetch", "-c", fx.cache])).code, 0);
    const py = await runTooltoolPy(["purge", "-c", fx.cache], fx.work);
    if (py === undefined) return;
    assert.deepEqual(await listNames(fx.cache), [STATE_DIR]);
    assert.equal((await fx.run(["fetch", "-c", fx.cache])).code, 0);
  }));

/** Mounts a tmpfs of `megabytes` at `path`; false (with the reason) when not permitted. */
async function mountTmpfs(path: string, megabytes: number): Promise<true | string> {
  try {
    const mounted = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", `size=${megabytes}m`, "tmpfs", path],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (mounted.code === 0) return true;
    return new TextDecoder().decode(mounted.stderr).trim() || `mount exited ${mounted.code}`;
  } catch (error) {
    return String(error);
  }
}

Deno.test("fetch with a cache too small for the file warns once and fetches into the working directory", () =>
  withFetchFixture({ "big.bin": 30_000_000, "small.bin": 1000 }, async (fx) => {
    await Deno.mkdir(fx.cache);
    const mounted = await mountTmpfs(fx.cache, 20);
    if (mounted !== true) {
      console.warn(`SKIPPED: cannot mount a 20 MB tmpfs for the cache (${mounted}); needs root`);
      return;
    }
    try {
      const run = await fx.run(["fetch", "-c", fx.cache, "-j", "1"]);
      assert.equal(run.code, 0, run.stderr);
      for (const name of ["big.bin", "small.bin"]) {
        assert.deepEqual(await Deno.readFile(join(fx.work, name)), fx.file(name).content);
      }
      const warnings = run.stderr.split("\n").filter((line) => line.startsWith("warning: "));
      assert.deepEqual(warnings, [
        `warning: Cannot write to the cache folder "${fx.cache}": no space left on device; fetching into the working directory without the cache for the rest of this run`,
      ]);
      // Nothing half-written is left in the cache, nor beside the files.
      assert.deepEqual(await listNames(join(fx.cache, STATE_DIR, "tmp")), []);
      assert.deepEqual(await listNames(fx.work), ["big.bin", "manifest.tt", "small.bin"]);
    } finally {
      await new Deno.Command("umount", { args: [fx.cache] }).output();
    }
  }));

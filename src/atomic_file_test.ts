import assert from "node:assert/strict";
import { join } from "node:path";
import { writeFileAtomic } from "./atomic_file.ts";
import { withTempDir } from "../test/helpers/temp.ts";

const isWindows = Deno.build.os === "windows";

async function entries(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
}

Deno.test("writeFileAtomic() creates a file with the given text or bytes", async () => {
  await withTempDir(async (dir) => {
    await writeFileAtomic(join(dir, "a.txt"), "héllo");
    await writeFileAtomic(join(dir, "b.bin"), new Uint8Array([0, 255]));
    assert.equal(await Deno.readTextFile(join(dir, "a.txt")), "héllo");
    assert.deepEqual(await Deno.readFile(join(dir, "b.bin")), new Uint8Array([0, 255]));
    assert.deepEqual(await entries(dir), ["a.txt", "b.bin"], "no temporary file is left");
  });
});

Deno.test("writeFileAtomic() replaces a file and keeps its mode", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "m.tt");
    await Deno.writeTextFile(path, "old content that is longer");
    if (!isWindows) await Deno.chmod(path, 0o640);
    await writeFileAtomic(path, "new");
    assert.equal(await Deno.readTextFile(path), "new");
    if (!isWindows) assert.equal((await Deno.stat(path)).mode! & 0o777, 0o640);
    assert.deepEqual(await entries(dir), ["m.tt"]);
  });
});

Deno.test({
  name: "writeFileAtomic() gives a new file the requested mode",
  ignore: isWindows,
  async fn() {
    await withTempDir(async (dir) => {
      await writeFileAtomic(join(dir, "x"), "x", { mode: 0o600 });
      assert.equal((await Deno.stat(join(dir, "x"))).mode! & 0o777, 0o600);
    });
  },
});

Deno.test({
  name: "writeFileAtomic() refuses a read-only file and leaves it alone",
  ignore: isWindows,
  async fn() {
    await withTempDir(async (dir) => {
      const path = join(dir, "m.tt");
      await Deno.writeTextFile(path, "old");
      await Deno.chmod(path, 0o444);
      await assert.rejects(() => writeFileAtomic(path, "new"), Deno.errors.PermissionDenied);
      assert.equal(await Deno.readTextFile(path), "old");
      assert.deepEqual(await entries(dir), ["m.tt"]);
    });
  },
});

Deno.test("writeFileAtomic() removes its temporary file when the rename fails", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "target");
    await Deno.mkdir(join(path, "child"), { recursive: true });
    await assert.rejects(() => writeFileAtomic(path, "data"));
    assert.deepEqual(await entries(dir), ["target"]);
    assert.deepEqual(await entries(path), ["child"], "the directory is untouched");
  });
});

Deno.test("writeFileAtomic() fails cleanly when the directory does not exist", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(
      () => writeFileAtomic(join(dir, "missing", "m.tt"), "x"),
      Deno.errors.NotFound,
    );
    assert.deepEqual(await entries(dir), []);
  });
});

Deno.test("writeFileAtomic() leaves the old file and no temporary file when aborted", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "m.tt");
    await Deno.writeTextFile(path, "old");
    const controller = new AbortController();
    controller.abort(new Error("stop"));
    await assert.rejects(() => writeFileAtomic(path, "new", { signal: controller.signal }), {
      message: "stop",
    });
    assert.equal(await Deno.readTextFile(path), "old");
    assert.deepEqual(await entries(dir), ["m.tt"]);
  });
});

Deno.test({
  name: "writeFileAtomic() writes through a symbolic link and keeps the link",
  ignore: isWindows,
  async fn() {
    await withTempDir(async (dir) => {
      await Deno.mkdir(join(dir, "real"));
      const real = join(dir, "real", "m.tt");
      await Deno.writeTextFile(real, "old");
      await Deno.symlink(real, join(dir, "link.tt"));
      await writeFileAtomic(join(dir, "link.tt"), "new");
      assert.ok((await Deno.lstat(join(dir, "link.tt"))).isSymlink);
      assert.equal(await Deno.readTextFile(real), "new");
      assert.deepEqual(await entries(join(dir, "real")), ["m.tt"]);
    });
  },
});

Deno.test("writeFileAtomic() lets concurrent writers each leave a whole file", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "m.tt");
    const contents = Array.from({ length: 20 }, (_, i) => String(i).repeat(10_000));
    await Promise.all(contents.map((text) => writeFileAtomic(path, text)));
    assert.ok(contents.includes(await Deno.readTextFile(path)));
    assert.deepEqual(await entries(dir), ["m.tt"]);
  });
});

Deno.test("writeFileAtomic() writes a file whose name takes 255 bytes", async () => {
  await withTempDir(async (dir) => {
    const name = `${"m".repeat(252)}.tt`;
    await writeFileAtomic(join(dir, name), "[]");
    assert.equal(await Deno.readTextFile(join(dir, name)), "[]");
    assert.deepEqual(await entries(dir), [name], "no temporary file is left");
  });
});

import assert from "node:assert/strict";
import { join } from "node:path";
import { ManifestError } from "../errors.ts";
import { type FileRecord, type SafeFilename, serializeManifest } from "./manifest.ts";
import { type Sha512 } from "../sha512.ts";
import { lockManifest, readManifest, readManifestText, writeManifest } from "./manifest_file.ts";
import { withTempDir } from "../../test/helpers/temp.ts";

const RECORD: FileRecord = {
  filename: "a.tgz" as SafeFilename,
  size: 3,
  algorithm: "sha512",
  digest: "0".repeat(128) as Sha512,
};

async function manifestError(promise: Promise<unknown>): Promise<ManifestError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ManifestError, `not a ManifestError: ${error}`);
    return error;
  }
  assert.fail("did not throw");
}

Deno.test("readManifest() resolves a relative path against cwd", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "m.tt"), serializeManifest([RECORD]));
    assert.deepEqual(await readManifest("m.tt", { cwd: dir }), [RECORD]);
    assert.deepEqual(await readManifest(join(dir, "m.tt"), { cwd: "/elsewhere" }), [RECORD]);
  });
});

Deno.test("readManifest() and writeManifest() resolve ./ and ../ as node:path does", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "sub"));
    await writeManifest("../m.tt", [RECORD], { cwd: join(dir, "sub") });
    assert.deepEqual(await readManifest("./m.tt", { cwd: dir }), [RECORD]);
    assert.deepEqual(await readManifest("sub/../m.tt", { cwd: `${dir}/` }), [RECORD]);
    // Lexically, as before: no "missing" folder is needed to go up from it.
    assert.deepEqual(await readManifest("missing/../m.tt", { cwd: dir }), [RECORD]);
    assert.deepEqual(await readManifest(`${dir}/missing/../m.tt`, { cwd: "/elsewhere" }), [
      RECORD,
    ]);
    const lock = await lockManifest("../m.tt", { cwd: join(dir, "sub") });
    assert.ok(lock !== undefined);
    lock.release();
  });
});

Deno.test("readManifest() names a missing file as given, with a problem for the checker", async () => {
  await withTempDir(async (dir) => {
    const error = await manifestError(readManifest("m.tt", { cwd: dir }));
    assert.equal(error.message, 'Cannot read manifest "m.tt": file not found');
    assert.deepEqual(error.problems, [
      { path: "m.tt", line: 0, column: 0, message: "cannot read manifest: file not found" },
    ]);
    assert.ok(error.cause instanceof Deno.errors.NotFound);
  });
});

Deno.test("readManifest() returns no records for a missing file when allowed", async () => {
  await withTempDir(async (dir) => {
    assert.deepEqual(await readManifest("m.tt", { cwd: dir, allowMissing: true }), []);
  });
});

Deno.test("readManifest() rejects a directory", async () => {
  await withTempDir(async (dir) => {
    const error = await manifestError(readManifest(".", { cwd: dir, allowMissing: true }));
    assert.equal(error.message, 'Cannot read manifest ".": is a directory');
  });
});

Deno.test("readManifest() rejects a path through a file", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "f"), "");
    const error = await manifestError(readManifest("f/m.tt", { cwd: dir }));
    assert.equal(error.message, 'Cannot read manifest "f/m.tt": a parent is not a directory');
  });
});

Deno.test("readManifest() passes parse errors through with the path as given", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "m.tt"), "[\n  1\n]");
    const error = await manifestError(readManifest("m.tt", { cwd: dir }));
    assert.equal(
      error.message,
      'Cannot parse manifest "m.tt": line 2, column 3: record 1: expected an object, got a number (1)',
    );
  });
});

Deno.test("readManifest() locates the first byte that is not UTF-8", async () => {
  await withTempDir(async (dir) => {
    const cases: [number[], string, string][] = [
      [[0x5b, 0x0a, 0x20, 0xff, 0x5d], "2:2", "bad byte 0xff at offset 3"],
      [[0x5b, 0xc3, 0xa9, 0xe2, 0x82, 0x5d], "1:3", "bad byte 0xe2 at offset 3"],
      [[0x5b, 0xe2, 0x82], "1:2", "bad byte 0xe2 at offset 1"],
      [[0xc0, 0x80], "1:1", "bad byte 0xc0 at offset 0"],
      [[0x5b, 0xed, 0xa0, 0x80, 0x5d], "1:2", "bad byte 0xed at offset 1"],
    ];
    for (const [bytes, position, detail] of cases) {
      await Deno.writeFile(join(dir, "m.tt"), new Uint8Array(bytes));
      const error = await manifestError(readManifest("m.tt", { cwd: dir }));
      const [problem] = error.problems;
      assert.equal(
        `${problem?.line}:${problem?.column}: ${problem?.message}`,
        `${position}: the file is not valid UTF-8: ${detail}`,
        JSON.stringify(bytes),
      );
    }
  });
});

Deno.test("readManifestText() keeps a byte order mark for the parser to report", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "m.tt"), "\ufeff[]");
    assert.equal(await readManifestText("m.tt", { cwd: dir }), "\ufeff[]");
    const error = await manifestError(readManifest("m.tt", { cwd: dir }));
    assert.match(error.message, /byte order mark/);
  });
});

Deno.test("writeManifest() writes tooltool.py's format and leaves no temporary file", async () => {
  await withTempDir(async (dir) => {
    await writeManifest("m.tt", [RECORD], { cwd: dir });
    assert.equal(await Deno.readTextFile(join(dir, "m.tt")), serializeManifest([RECORD]));
    assert.deepEqual(
      (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name),
      ["m.tt"],
    );
  });
});

Deno.test({
  name: "writeManifest() leaves a read-only manifest unchanged and says why",
  ignore: Deno.build.os === "windows",
  async fn() {
    await withTempDir(async (dir) => {
      await Deno.writeTextFile(join(dir, "m.tt"), "[]");
      await Deno.chmod(join(dir, "m.tt"), 0o444);
      const error = await manifestError(writeManifest("m.tt", [RECORD], { cwd: dir }));
      assert.equal(error.message, 'Cannot write manifest "m.tt": the file is read-only');
      assert.equal(await Deno.readTextFile(join(dir, "m.tt")), "[]");
    });
  },
});

Deno.test("writeManifest() reports a missing directory", async () => {
  await withTempDir(async (dir) => {
    const error = await manifestError(writeManifest("no/m.tt", [], { cwd: dir }));
    assert.equal(error.message, 'Cannot write manifest "no/m.tt": file not found');
  });
});

Deno.test("lockManifest() excludes a second writer of the same manifest, even through a symlink", async () => {
  const dir = await Deno.makeTempDir({ prefix: "manifest-lock-" });
  try {
    await Deno.mkdir(join(dir, "real"));
    await Deno.writeTextFile(join(dir, "real", "manifest.tt"), "[]");
    await Deno.symlink(join(dir, "real", "manifest.tt"), join(dir, "link.tt"));
    const first = await lockManifest("real/manifest.tt", { cwd: dir });
    assert.ok(first !== undefined);
    let waited = false;
    const second = lockManifest("link.tt", {
      cwd: dir,
      onWait: () => {
        waited = true;
        first.release();
      },
    });
    const lock = await second;
    assert.ok(waited, "the second taker had to wait for the first");
    lock?.release();
    assert.deepEqual(
      (await Array.fromAsync(Deno.readDir(join(dir, "real")))).map((e) => e.name),
      ["manifest.tt"],
      "no lock file is left",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readManifest() refuses a device at once instead of reading it to the limit", async () => {
  await assert.rejects(
    readManifest("/dev/zero"),
    (error: unknown) =>
      error instanceof ManifestError &&
      error.message ===
        'Cannot read manifest "/dev/zero": it is a character device, not a regular file',
  );
});

Deno.test("readManifest() reads a manifest from a pipe (-m <(cmd))", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const fifo = `${dir}/fifo`;
    await new Deno.Command("mkfifo", { args: [fifo] }).output();
    const writer = new Deno.Command("sh", { args: ["-c", `printf '[]' > ${fifo}`] }).spawn();
    assert.deepEqual(await readManifest(fifo), []);
    await writer.status;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

import assert from "node:assert/strict";
import { join } from "node:path";
import { addFiles, mergeRecords, sameRecord } from "./add.ts";
import { ManifestError, PartialFailureError, ToolError } from "../errors.ts";
import { recordFor, testContext, withTempDir } from "../../test/helpers/workflow_context.ts";
import { type FileRecord, parseManifest, serializeManifest } from "../manifest/manifest.ts";

const A = recordFor("a", "a");
const B = recordFor("b", "b");

Deno.test("sameRecord() compares as tooltool.py's FileRecord.__eq__, ignoring unpack", () => {
  assert.ok(sameRecord(A, { ...A }));
  assert.ok(sameRecord(A, { ...A, unpack: true }));
  assert.ok(sameRecord(A, { ...A, version: "" }), "an empty version is no version");
  assert.ok(!sameRecord(A, { ...A, version: "1" }));
  assert.ok(!sameRecord(A, { ...A, visibility: "public" }));
  assert.ok(!sameRecord(A, { ...A, size: 2 }));
  assert.ok(!sameRecord(A, { ...A, digest: B.digest }));
});

Deno.test("mergeRecords() puts new records first, then every old one", () => {
  const C = recordFor("c", "c");
  const merge = mergeRecords([A, B], [C]);
  assert.deepEqual(merge.records, [C, A, B]);
  assert.deepEqual(merge.added, [C]);
});

Deno.test("mergeRecords() skips identical records and refuses conflicting names", () => {
  const otherA = recordFor("a", "different content");
  const merge = mergeRecords([A, B], [{ ...B, unpack: true }, otherA]);
  assert.deepEqual(merge.records, [A, B]);
  assert.deepEqual(merge.alreadyPresent, [{ ...B, unpack: true }]);
  assert.deepEqual(merge.conflicts, [otherA]);
  assert.deepEqual(merge.added, []);
});

interface Setup {
  dir: string;
  run: (
    files: string[],
    options?: { visibility?: "public" | "internal"; unpack?: boolean; version?: string },
  ) => Promise<void>;
  manifest: () => Promise<string>;
  stderr: () => string;
}

async function withAddSetup(fn: (setup: Setup) => Promise<void>): Promise<void> {
  await withTempDir(async (dir) => {
    const { ctx, stderr } = testContext(dir);
    await fn({
      dir,
      run: (files, options = {}) => addFiles("manifest.tt", files, { ...options, ctx }),
      manifest: () => Deno.readTextFile(join(dir, "manifest.tt")),
      stderr,
    });
  });
}

Deno.test("addFiles() creates a manifest, byte for byte as tooltool.py writes it", async () => {
  await withAddSetup(async ({ dir, run, manifest, stderr }) => {
    await Deno.writeTextFile(join(dir, "a"), "a");
    await run(["a"]);
    assert.equal(await manifest(), serializeManifest([A]));
    assert.equal(
      await manifest(),
      `[\n  {\n    "filename": "a",\n    "size": 1,\n    "algorithm": "sha512",\n` +
        `    "digest": "${A.digest}"\n  }\n]`,
    );
    assert.equal(stderr(), "");
  });
});

Deno.test("addFiles() records --visibility, --unpack and --version on the new records", async () => {
  await withAddSetup(async ({ dir, run, manifest }) => {
    await Deno.writeTextFile(join(dir, "a"), "a");
    await run(["a"], { visibility: "internal", unpack: true, version: "1.0" });
    assert.deepEqual(parseManifest(await manifest(), "m"), [
      { ...A, unpack: true, version: "1.0", visibility: "internal" },
    ]);
  });
});

Deno.test("addFiles() treats --version '' as no version", async () => {
  await withAddSetup(async ({ dir, run, manifest }) => {
    await Deno.writeTextFile(join(dir, "a"), "a");
    await run(["a"], { version: "" });
    assert.equal(await manifest(), serializeManifest([A]));
  });
});

Deno.test("addFiles() records a path under its base name, new records before old ones", async () => {
  await withAddSetup(async ({ dir, run, manifest }) => {
    await Deno.writeTextFile(join(dir, "manifest.tt"), serializeManifest([B]));
    await Deno.mkdir(join(dir, "sub"));
    await Deno.writeTextFile(join(dir, "sub", "a"), "a");
    await Deno.writeTextFile(join(dir, "c"), "c");
    await run(["c", "sub/a"]);
    assert.equal(await manifest(), serializeManifest([recordFor("c", "c"), A, B]));
  });
});

Deno.test("addFiles() with no files rewrites the manifest as tooltool.py does", async () => {
  await withAddSetup(async ({ dir, run, manifest }) => {
    await run([]);
    assert.equal(await manifest(), "[]");
    await Deno.writeTextFile(join(dir, "manifest.tt"), JSON.stringify([B]));
    await run([]);
    assert.equal(await manifest(), serializeManifest([B]));
  });
});

Deno.test("addFiles() reports a file already recorded, writes, then fails", async () => {
  await withAddSetup(async ({ dir, run, manifest, stderr }) => {
    await Deno.writeTextFile(join(dir, "manifest.tt"), serializeManifest([A]));
    await Deno.writeTextFile(join(dir, "a"), "a");
    await Deno.writeTextFile(join(dir, "b"), "b");
    await assert.rejects(() => run(["b", "a"]), (error) => {
      assert.ok(error instanceof PartialFailureError);
      assert.equal(error.message, '1 of 2 files not added to manifest "manifest.tt"');
      assert.deepEqual(error.failures.map((f) => f.target), ["a"]);
      return true;
    });
    assert.equal(await manifest(), serializeManifest([B, A]));
    assert.equal(stderr(), 'error: "a" is already in manifest "manifest.tt"\n');
  });
});

Deno.test("addFiles() refuses a different file under a recorded name, keeping the old record", async () => {
  await withAddSetup(async ({ dir, run, manifest, stderr }) => {
    await Deno.writeTextFile(join(dir, "manifest.tt"), serializeManifest([A]));
    await Deno.mkdir(join(dir, "sub"));
    await Deno.writeTextFile(join(dir, "sub", "a"), "changed");
    await assert.rejects(() => run(["sub/a"]), {
      name: "PartialFailureError",
      message: '1 of 1 files not added to manifest "manifest.tt"',
    });
    assert.equal(await manifest(), serializeManifest([A]));
    assert.equal(
      stderr(),
      'error: Cannot add "sub/a": manifest "manifest.tt" already has a different file named "a"\n',
    );
  });
});

Deno.test("addFiles() refuses a name the manifest has in another Unicode normalisation", async () => {
  await withAddSetup(async ({ dir, run, manifest, stderr }) => {
    const nfc = recordFor("caf\u00e9", "old");
    await Deno.writeTextFile(join(dir, "manifest.tt"), serializeManifest([nfc]));
    await Deno.writeTextFile(join(dir, "cafe\u0301"), "new");
    await assert.rejects(() => run(["cafe\u0301"]), PartialFailureError);
    assert.equal(await manifest(), serializeManifest([nfc]));
    assert.equal(
      stderr(),
      'error: Cannot add "cafe\u0301": manifest "manifest.tt" already has a different file ' +
        'named "caf\u00e9" (the same name up to Unicode normalisation: "e\u0301" (U+0065 U+0301) ' +
        'and "\u00e9" (U+00E9))\n',
    );
  });
});

Deno.test("addFiles() counts a new version of the same file as a different file", async () => {
  await withAddSetup(async ({ dir, run }) => {
    await Deno.writeTextFile(join(dir, "manifest.tt"), serializeManifest([A]));
    await Deno.writeTextFile(join(dir, "a"), "a");
    await assert.rejects(() => run(["a"], { version: "2" }), PartialFailureError);
  });
});

/** Asserts that `run` fails with exactly `message` and leaves the manifest as it was. */
async function assertUntouched(setup: Setup, files: string[], message: string): Promise<void> {
  const before: FileRecord[] = [B];
  await Deno.writeTextFile(join(setup.dir, "manifest.tt"), JSON.stringify(before));
  const original = await setup.manifest();
  await assert.rejects(() => setup.run(files), (error) => {
    assert.ok(error instanceof ToolError);
    assert.equal(error.message, message);
    return true;
  });
  assert.equal(await setup.manifest(), original);
  assert.deepEqual(
    (await Array.fromAsync(Deno.readDir(setup.dir))).filter((e) => e.name.endsWith(".tmp")),
    [],
  );
}

Deno.test("addFiles() leaves the manifest untouched when a file is missing", async () => {
  await withAddSetup(async (setup) => {
    await Deno.writeTextFile(join(setup.dir, "a"), "a");
    await assertUntouched(setup, ["a", "missing.tgz"], 'Cannot add "missing.tgz": file not found');
    assert.equal(setup.stderr(), "");
  });
});

Deno.test("addFiles() leaves the manifest untouched for a directory or a bad name", async () => {
  await withAddSetup(async (setup) => {
    await Deno.mkdir(join(setup.dir, "d"));
    await assertUntouched(setup, ["d"], 'Cannot add "d": is a directory');
    await assertUntouched(setup, [".."], 'Cannot add "..": invalid file name: must not be ".."');
    await assertUntouched(
      setup,
      ["a\nb"],
      'Cannot add "a\\nb": invalid file name: must not contain control characters, got U+000A in "a\\nb"',
    );
  });
});

Deno.test("addFiles() lists every unusable file in argument order, then one summary", async () => {
  await withAddSetup(async (setup) => {
    await Deno.mkdir(join(setup.dir, "d"));
    await assertUntouched(
      setup,
      ["z", "d", "y"],
      'Cannot add 3 of 3 files: manifest "manifest.tt" is unchanged',
    );
    assert.equal(
      setup.stderr(),
      'error: Cannot add "z": file not found\n' +
        'error: Cannot add "d": is a directory\n' +
        'error: Cannot add "y": file not found\n',
    );
  });
});

Deno.test("addFiles() refuses two files with the same base name", async () => {
  await withAddSetup(async (setup) => {
    await Deno.mkdir(join(setup.dir, "x"));
    await Deno.mkdir(join(setup.dir, "y"));
    await Deno.writeTextFile(join(setup.dir, "x", "a"), "1");
    await Deno.writeTextFile(join(setup.dir, "y", "a"), "2");
    await assertUntouched(
      setup,
      ["x/a", "y/a"],
      'Cannot add "y/a": "x/a" has the same file name, "a"',
    );
  });
});

Deno.test("addFiles() adds the same path given twice once", async () => {
  await withAddSetup(async ({ dir, run, manifest }) => {
    await Deno.writeTextFile(join(dir, "a"), "a");
    await run(["a", "./a"]);
    assert.equal(await manifest(), serializeManifest([A]));
  });
});

Deno.test("addFiles() refuses to rewrite a manifest that does not parse", async () => {
  await withAddSetup(async ({ dir, run, manifest }) => {
    await Deno.writeTextFile(join(dir, "manifest.tt"), "[1]");
    await Deno.writeTextFile(join(dir, "a"), "a");
    await assert.rejects(() => run(["a"]), ManifestError);
    assert.equal(await manifest(), "[1]");
  });
});

Deno.test("addFiles() warns once that unknown keys are dropped, as tooltool.py drops them", async () => {
  await withAddSetup(async ({ dir, run, manifest, stderr }) => {
    await Deno.writeTextFile(
      join(dir, "manifest.tt"),
      JSON.stringify([{ ...B, setup: "setup.sh", extra: 1 }]),
    );
    await Deno.writeTextFile(join(dir, "a"), "a");
    await run(["a"]);
    assert.equal(await manifest(), serializeManifest([A, B]));
    assert.equal(
      stderr(),
      'warning: dropping keys tooltool does not know from manifest "manifest.tt", as ' +
        'tooltool.py does: "setup" (record "b"), "extra" (record "b")\n',
    );
  });
});

Deno.test({
  name: "addFiles() keeps the manifest's file mode",
  ignore: Deno.build.os === "windows",
  async fn() {
    await withAddSetup(async ({ dir, run }) => {
      await Deno.writeTextFile(join(dir, "manifest.tt"), "[]");
      await Deno.chmod(join(dir, "manifest.tt"), 0o664);
      await Deno.writeTextFile(join(dir, "a"), "a");
      await run(["a"]);
      assert.equal((await Deno.stat(join(dir, "manifest.tt"))).mode! & 0o777, 0o664);
    });
  },
});

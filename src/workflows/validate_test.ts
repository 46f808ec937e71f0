import assert from "node:assert/strict";
import { join } from "node:path";
import { ManifestError, PartialFailureError } from "../errors.ts";
import {
  recordFor,
  testContext,
  withTempDir,
  writeFileRecord,
} from "../../test/helpers/workflow_context.ts";
import { serializeManifest } from "../manifest/manifest.ts";
import { validateManifest } from "./validate.ts";

Deno.test("validateManifest() succeeds silently when every file is present and valid", async () => {
  await withTempDir(async (dir) => {
    const records = [await writeFileRecord(dir, "a", "a"), await writeFileRecord(dir, "b", "b")];
    await Deno.writeTextFile(join(dir, "m.tt"), serializeManifest(records));
    const { ctx, stdout, stderr } = testContext(dir);
    await validateManifest("m.tt", ctx);
    assert.equal(stdout(), "");
    assert.equal(stderr(), "");
  });
});

Deno.test("validateManifest() says which files are valid with -v", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(
      join(dir, "m.tt"),
      serializeManifest([await writeFileRecord(dir, "a", "a")]),
    );
    const { ctx, stderr } = testContext(dir, { verbosity: "verbose" });
    await validateManifest("m.tt", ctx);
    assert.equal(stderr(), '"a" is present and valid\n');
  });
});

Deno.test("validateManifest() lists each absent or invalid file, then fails with a count", async () => {
  await withTempDir(async (dir) => {
    const good = await writeFileRecord(dir, "good", "good");
    const bad = recordFor("bad", "expected");
    await Deno.writeTextFile(join(dir, "bad"), "other");
    await Deno.mkdir(join(dir, "dir"));
    const records = [recordFor("gone", "x"), bad, good, recordFor("dir", "")];
    await Deno.writeTextFile(join(dir, "m.tt"), serializeManifest(records));
    const { ctx, stdout, stderr } = testContext(dir, { verbosity: "quiet" });
    await assert.rejects(() => validateManifest("m.tt", ctx), (error) => {
      assert.ok(error instanceof PartialFailureError);
      assert.equal(error.message, '3 of 4 files in manifest "m.tt" are absent or invalid');
      assert.deepEqual(error.failures.map((f) => f.target), ["gone", "bad", "dir"]);
      return true;
    });
    assert.equal(
      stderr(),
      'error: "gone" is absent\n' +
        'error: "bad" is invalid: size is 5 bytes, expected 8\n' +
        'error: "dir" is invalid: a directory, not a file\n',
    );
    assert.equal(stdout(), "");
  });
});

Deno.test("validateManifest() uses the singular for one failure", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "m.tt"), serializeManifest([recordFor("gone", "x")]));
    const { ctx } = testContext(dir);
    await assert.rejects(() => validateManifest("m.tt", ctx), {
      message: '1 of 1 files in manifest "m.tt" is absent or invalid',
    });
  });
});

Deno.test("validateManifest() with --json reports every file, then still fails", async () => {
  await withTempDir(async (dir) => {
    const good = await writeFileRecord(dir, "good", "good");
    await Deno.writeTextFile(join(dir, "m.tt"), serializeManifest([good, recordFor("gone", "")]));
    const { ctx, stdout } = testContext(dir, { json: true });
    await assert.rejects(() => validateManifest("m.tt", ctx), PartialFailureError);
    const report = JSON.parse(stdout());
    assert.equal(report.manifest, "m.tt");
    assert.deepEqual(
      report.files.map((f: Record<string, unknown>) => [f.filename, f.present, f.valid, f.problem]),
      [["good", true, true, null], ["gone", false, false, "absent"]],
    );
  });
});

Deno.test("validateManifest() fails on a missing manifest", async () => {
  await withTempDir(async (dir) => {
    const { ctx } = testContext(dir);
    await assert.rejects(() => validateManifest("m.tt", ctx), {
      name: "ManifestError",
      message: 'Cannot read manifest "m.tt": file not found',
    });
    await assert.rejects(() => validateManifest("m.tt", ctx), ManifestError);
  });
});

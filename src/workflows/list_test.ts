import assert from "node:assert/strict";
import { join } from "node:path";
import { ManifestError } from "../errors.ts";
import {
  recordFor,
  testContext,
  withTempDir,
  writeFileRecord,
} from "../../test/helpers/workflow_context.ts";
import { listManifest } from "./list.ts";
import { serializeManifest } from "../manifest/manifest.ts";

Deno.test("listManifest() prints P and V columns as tooltool.py's test_list expects", async () => {
  await withTempDir(async (dir) => {
    const foo = await writeFileRecord(dir, "foo.txt", "FOO!");
    const bar = await writeFileRecord(dir, "bar.txt", "BAR!");
    await Deno.writeTextFile(join(dir, "bar.txt"), "bar is invalid");
    const ogg = recordFor("test_file.ogg", "absent");
    await Deno.writeTextFile(join(dir, "manifest.tt"), serializeManifest([ogg, foo, bar]));
    const { ctx, stdout, stderr } = testContext(dir);
    await listManifest("manifest.tt", ctx);
    assert.equal(stdout(), "-\t-\ttest_file.ogg\nP\tV\tfoo.txt\nP\t-\tbar.txt\n");
    assert.equal(stderr(), "");
  });
});

Deno.test("listManifest() prints nothing for an empty manifest", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "m.tt"), "[]");
    const { ctx, stdout } = testContext(dir);
    await listManifest("m.tt", ctx);
    assert.equal(stdout(), "");
  });
});

Deno.test("listManifest() with --json prints only the report", async () => {
  await withTempDir(async (dir) => {
    const foo = await writeFileRecord(dir, "foo.txt", "FOO!");
    await Deno.writeTextFile(join(dir, "m.tt"), serializeManifest([foo, recordFor("gone", "")]));
    const { ctx, stdout } = testContext(dir, { json: true });
    await listManifest("m.tt", ctx);
    assert.deepEqual(JSON.parse(stdout()), {
      manifest: "m.tt",
      files: [
        {
          filename: "foo.txt",
          size: 4,
          digest: foo.digest,
          present: true,
          valid: true,
          problem: null,
        },
        {
          filename: "gone",
          size: 0,
          digest: recordFor("gone", "").digest,
          present: false,
          valid: false,
          problem: "absent",
        },
      ],
    });
  });
});

Deno.test("listManifest() fails on a manifest that does not parse", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "m.tt"), "BOGUS");
    const { ctx, stdout } = testContext(dir);
    await assert.rejects(() => listManifest("m.tt", ctx), ManifestError);
    assert.equal(stdout(), "");
  });
});

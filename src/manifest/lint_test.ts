import assert from "node:assert/strict";
import { join } from "node:path";
import { PartialFailureError } from "../errors.ts";
import { recordFor, testContext, withTempDir } from "../../test/helpers/workflow_context.ts";
import { serializeManifest } from "./manifest.ts";
import { checkManifestSchemas, formatProblem, validateManifestSchemas } from "./lint.ts";

Deno.test("formatProblem() writes path:line:column: message, or path: message", () => {
  assert.equal(
    formatProblem({ path: "a.tt", line: 3, column: 7, message: "bad" }),
    "a.tt:3:7: bad",
  );
  assert.equal(formatProblem({ path: "a.tt", line: 0, column: 0, message: "gone" }), "a.tt: gone");
});

Deno.test("checkManifestSchemas() checks each manifest on its own, without the files", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "ok.tt"), serializeManifest([recordFor("absent", "x")]));
    await Deno.writeTextFile(join(dir, "bad.tt"), "[1, 2]");
    const results = await checkManifestSchemas(["ok.tt", "bad.tt", "none.tt"], { cwd: dir });
    assert.deepEqual(results.map((r) => [r.path, r.records, r.problems.length]), [
      ["ok.tt", 1, 0],
      ["bad.tt", 0, 2],
      ["none.tt", 0, 1],
    ]);
  });
});

Deno.test("validateManifestSchemas() is silent when every manifest is valid", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "a.tt"), "[]");
    await Deno.writeTextFile(join(dir, "b.tt"), serializeManifest([recordFor("x", "x")]));
    const { ctx, stdout, stderr } = testContext(dir);
    await validateManifestSchemas(["a.tt", "b.tt"], ctx);
    assert.equal(stdout() + stderr(), "");
  });
});

Deno.test("validateManifestSchemas() prints every problem of every manifest, then a count", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "sub"));
    await Deno.writeTextFile(join(dir, "a.tt"), "[]");
    await Deno.writeTextFile(
      join(dir, "sub", "b.tt"),
      '[\n  {"filename": "../x", "size": -1, "algorithm": "sha512"}\n]',
    );
    await Deno.writeTextFile(join(dir, "c.tt"), "[");
    const { ctx, stdout, stderr } = testContext(dir, { verbosity: "quiet" });
    await assert.rejects(
      () => validateManifestSchemas(["a.tt", "sub/b.tt", "c.tt", "d.tt"], ctx),
      (error) => {
        assert.ok(error instanceof PartialFailureError);
        assert.equal(error.message, "3 of 4 manifests are invalid: 5 problems");
        return true;
      },
    );
    assert.equal(
      stderr(),
      'sub/b.tt:2:3: record 1: "digest" is missing\n' +
        'sub/b.tt:2:16: record 1: "filename" must be a bare file name without "/", got "../x"\n' +
        'sub/b.tt:2:32: record 1: "size" must not be negative, got -1\n' +
        "c.tt:1:2: invalid JSON: unexpected end of input: expected a JSON value\n" +
        "d.tt: cannot read manifest: file not found\n",
    );
    assert.equal(stdout(), "");
  });
});

Deno.test("validateManifestSchemas() with --json reports each manifest's problems", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "a.tt"), "[]");
    await Deno.writeTextFile(join(dir, "b.tt"), "{}");
    const { ctx, stdout } = testContext(dir, { json: true });
    await assert.rejects(() => validateManifestSchemas(["a.tt", "b.tt"], ctx), {
      message: "1 of 2 manifests is invalid: 1 problem",
    });
    assert.deepEqual(JSON.parse(stdout()), {
      manifests: [
        { path: "a.tt", valid: true, records: 0, problems: [] },
        {
          path: "b.tt",
          valid: false,
          records: 0,
          problems: [{
            line: 1,
            column: 1,
            message: "expected a JSON array of file records, got an object",
          }],
        },
      ],
    });
  });
});

import assert from "node:assert/strict";
import { join } from "node:path";
import { CHECK_WINDOW, checkFiles, fileReportEntry, streamFileChecks } from "./verify_files.ts";
import { recordFor, withTempDir, writeFileRecord } from "../../test/helpers/workflow_context.ts";
import type { FileRecord } from "../manifest/manifest.ts";
import type { Sha512 } from "../sha512.ts";

const isWindows = Deno.build.os === "windows";

function summary(statuses: { present: boolean; valid: boolean; problem: string | undefined }[]) {
  return statuses.map(({ present, valid, problem }) => ({ present, valid, problem }));
}

Deno.test("checkFiles() finds a file with the right size and sha512 valid", async () => {
  await withTempDir(async (dir) => {
    const records = [
      await writeFileRecord(dir, "a.txt", "hello"),
      await writeFileRecord(dir, "empty", ""),
    ];
    assert.deepEqual(summary(await checkFiles(records, { cwd: dir })), [
      { present: true, valid: true, problem: undefined },
      { present: true, valid: true, problem: undefined },
    ]);
  });
});

Deno.test("checkFiles() reports absent, wrong size and wrong content, in record order", async () => {
  await withTempDir(async (dir) => {
    const good = await writeFileRecord(dir, "good", "good");
    const wrongSize = recordFor("size", "expected content");
    await Deno.writeTextFile(join(dir, "size"), "short");
    const wrongDigest: FileRecord = {
      ...recordFor("digest", "abc"),
      digest: "0".repeat(128) as Sha512,
    };
    await Deno.writeTextFile(join(dir, "digest"), "abc");
    const actual = recordFor("digest", "abc").digest;
    const statuses = await checkFiles([recordFor("absent", "x"), wrongSize, wrongDigest, good], {
      cwd: dir,
    });
    assert.deepEqual(summary(statuses), [
      { present: false, valid: false, problem: "absent" },
      { present: true, valid: false, problem: "size is 5 bytes, expected 16" },
      {
        present: true,
        valid: false,
        problem: `sha512 is ${actual.slice(0, 12)}…, expected 000000000000…`,
      },
      { present: true, valid: true, problem: undefined },
    ]);
    assert.deepEqual(statuses.map((s) => s.record), [
      recordFor("absent", "x"),
      wrongSize,
      wrongDigest,
      good,
    ]);
  });
});

Deno.test("checkFiles() calls a directory present but invalid", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "d"));
    assert.deepEqual(summary(await checkFiles([recordFor("d", "")], { cwd: dir })), [
      { present: true, valid: false, problem: "a directory, not a file" },
    ]);
  });
});

Deno.test({
  name: "checkFiles() follows symlinks and calls a dangling one absent",
  ignore: isWindows,
  async fn() {
    await withTempDir(async (dir) => {
      await Deno.writeTextFile(join(dir, "target"), "data");
      await Deno.symlink(join(dir, "target"), join(dir, "link"));
      await Deno.symlink(join(dir, "nowhere"), join(dir, "dangling"));
      const statuses = await checkFiles([recordFor("link", "data"), recordFor("dangling", "")], {
        cwd: dir,
      });
      assert.deepEqual(summary(statuses), [
        { present: true, valid: true, problem: undefined },
        { present: false, valid: false, problem: "absent" },
      ]);
    });
  },
});

Deno.test({
  name: "checkFiles() does not read a FIFO (it would block)",
  ignore: isWindows,
  async fn() {
    await withTempDir(async (dir) => {
      const made = await new Deno.Command("mkfifo", { args: [join(dir, "fifo")] }).output();
      assert.ok(made.success);
      assert.deepEqual(summary(await checkFiles([recordFor("fifo", "")], { cwd: dir })), [
        { present: true, valid: false, problem: "not a regular file" },
      ]);
    });
  },
});

Deno.test("checkFiles() checks many files in parallel and keeps their order", async () => {
  await withTempDir(async (dir) => {
    const records = await Promise.all(
      Array.from({ length: 40 }, (_, i) => writeFileRecord(dir, `f${i}`, "x".repeat(i * 1000))),
    );
    const statuses = await checkFiles(records, { cwd: dir, concurrency: 4 });
    assert.deepEqual(statuses.map((s) => s.record.filename), records.map((r) => r.filename));
    assert.ok(statuses.every((s) => s.valid));
  });
});

Deno.test("streamFileChecks() keeps a bounded window in flight and yields before stating the rest", async () => {
  // Counts operations, not time: one stat per record, never more than the window at once.
  // Stating every record at once is what made a 239k-record `list` take 40 s and 850 MB.
  const records = Array.from({ length: 20_000 }, (_, i) => recordFor(`f${i}`, ""));
  let calls = 0;
  let active = 0;
  let maxActive = 0;
  const stat = async (_path: string): Promise<Deno.FileInfo> => {
    calls++;
    maxActive = Math.max(maxActive, ++active);
    await Promise.resolve();
    active--;
    throw new Deno.errors.NotFound("absent");
  };
  let seen = 0;
  let callsAtFirst = 0;
  for await (const status of streamFileChecks(records, { cwd: "/nowhere", stat })) {
    if (seen === 0) callsAtFirst = calls;
    assert.equal(status.record, records[seen]);
    assert.equal(status.problem, "absent");
    seen++;
  }
  assert.equal(seen, records.length);
  assert.equal(calls, records.length);
  assert.ok(maxActive <= CHECK_WINDOW, `${maxActive} stats at once`);
  assert.ok(callsAtFirst <= CHECK_WINDOW, `${callsAtFirst} stats before the first status`);
});

Deno.test("checkFiles() stops when aborted", async () => {
  await withTempDir(async (dir) => {
    const record = await writeFileRecord(dir, "a", "a");
    const controller = new AbortController();
    controller.abort(new Error("stop"));
    await assert.rejects(() => checkFiles([record], { cwd: dir, signal: controller.signal }), {
      message: "stop",
    });
  });
});

Deno.test("fileReportEntry() has the stable --json field names", () => {
  const record = recordFor("a", "a");
  assert.deepEqual(
    fileReportEntry({ record, present: false, valid: false, problem: "absent" }),
    {
      filename: "a",
      size: 1,
      digest: record.digest,
      present: false,
      valid: false,
      problem: "absent",
    },
  );
  assert.equal(
    fileReportEntry({ record, present: true, valid: true, problem: undefined }).problem,
    null,
  );
});

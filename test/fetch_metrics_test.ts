/**
 * End-to-end: the `PERFHERDER_DATA` line under `MOZ_AUTOMATION`, and the storage CDN
 * headers logged (and reported in `--json`) when a transfer is retried, fails or is slow.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { withFetchFixture } from "./fetch_fixture.ts";

const CDN = {
  "x-cache": "Miss from cloudfront",
  "x-amz-cf-pop": "FRA56-P1",
  via: "1.1 abcdef.cloudfront.net (CloudFront)",
  age: "12",
};
const CDN_LINE =
  "x-cache: Miss from cloudfront, x-amz-cf-pop: FRA56-P1, via: 1.1 abcdef.cloudfront.net (CloudFront), age: 12";

function perfherder(stderr: string): unknown[] {
  return stderr.split("\n").filter((line) => line.startsWith("PERFHERDER_DATA: "))
    .map((line) => JSON.parse(line.slice("PERFHERDER_DATA: ".length)));
}

Deno.test("with MOZ_AUTOMATION, fetch ends with one PERFHERDER_DATA line of its numbers", () =>
  withFetchFixture({ "big.bin": 50_000, "cached.bin": 2000 }, async (fx) => {
    await Deno.mkdir(fx.cache);
    const cached = fx.file("cached.bin");
    await Deno.writeFile(join(fx.cache, cached.digest), cached.content);
    fx.server.fault({ kind: "drop-after", bytes: 1000, times: 1 });
    const run = await fx.run(["fetch", "-c", fx.cache], { env: { MOZ_AUTOMATION: "1" } });
    assert.equal(run.code, 0, run.stderr);
    const lines = perfherder(run.stderr);
    assert.equal(lines.length, 1);
    assert.ok(run.stderr.trimEnd().endsWith("}"), "the line comes last");
    const data = lines[0] as {
      framework: unknown;
      suites: { name: string; value: number; subtests: { name: string; value: number }[] }[];
    };
    assert.deepEqual(data.framework, { name: "build_metrics" });
    assert.equal(data.suites.length, 1);
    const [suite] = data.suites;
    assert.equal(suite?.name, "tooltool_fetch");
    assert.equal(typeof suite?.value, "number");
    const values = Object.fromEntries(suite?.subtests.map((s) => [s.name, s.value]) ?? []);
    assert.equal(values.seconds, suite?.value);
    assert.deepEqual({ ...values, seconds: 0 }, {
      seconds: 0,
      files: 2,
      bytes_downloaded: 50_000,
      bytes_from_cache: 2000,
      bytes_from_mirror: 0,
      bytes_from_distdir: 0,
      files_unpacked: 0,
      retries: 1,
      files_failed: 0,
    });
  }));

Deno.test("without MOZ_AUTOMATION, fetch prints no PERFHERDER_DATA", () =>
  withFetchFixture({ "a.bin": 1000 }, async (fx) => {
    const run = await fx.run(["fetch"]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(perfherder(run.stderr), []);
  }));

Deno.test("a digest mismatch logs the storage CDN headers and --json reports them", () =>
  withFetchFixture({ "a.bin": 20_000, "b.bin": 1000 }, async (fx) => {
    fx.server.fault({ kind: "flip-byte", offset: 100, digest: fx.file("a.bin").digest, times: 1 });
    const run = await fx.run(["fetch", "--json"]);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(
      run.stderr.includes(`a.bin: storage CDN headers (retried): ${CDN_LINE}\n`),
      run.stderr,
    );
    const [a, b] = JSON.parse(run.stdout).files;
    assert.deepEqual(a.cdn, CDN);
    assert.equal(b.cdn, undefined, "a clean transfer logs no CDN headers");
    assert.doesNotMatch(run.stderr, /b\.bin: storage CDN headers/);
  }, { storageHeaders: CDN }));

Deno.test("a download that fails for good logs the CDN headers of its last response", () =>
  withFetchFixture({ "a.bin": 20_000 }, async (fx) => {
    fx.server.fault({ kind: "drop-after", bytes: 10, origin: "storage" });
    const run = await fx.run(["fetch", "--json"], { env: { TOOLTOOL_RETRY_BASE_MS: "1" } });
    assert.equal(run.code, 1, run.stderr);
    assert.ok(
      run.stderr.includes(`a.bin: storage CDN headers (failed): ${CDN_LINE}\n`),
      run.stderr,
    );
    assert.deepEqual(JSON.parse(run.stdout).files[0].cdn, CDN);
  }, { storageHeaders: CDN }));

Deno.test("a slow download logs the storage CDN headers", () =>
  withFetchFixture({ "a.bin": 20_000 }, async (fx) => {
    const run = await fx.run(["fetch", "--json"], { env: { TOOLTOOL_SLOW_TRANSFER_MS: "1" } });
    assert.equal(run.code, 0, run.stderr);
    assert.ok(run.stderr.includes(`a.bin: storage CDN headers (slow): ${CDN_LINE}\n`), run.stderr);
    assert.deepEqual(JSON.parse(run.stdout).files[0].cdn, CDN);
  }, { storageHeaders: CDN }));

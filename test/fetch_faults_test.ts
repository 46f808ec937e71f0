/**
 * End-to-end: `tooltool fetch` on a network that fails — retries, resumes, stalls,
 * corrupt bodies, throttling, expired URLs, a full disk — and its log output while it waits.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { STATE_DIR } from "../src/cache/cache.ts";
import { listNames, withFetchFixture } from "./fetch_fixture.ts";

function reportOf(stdout: string) {
  return JSON.parse(stdout).files as {
    filename: string;
    source: string | null;
    bytes: number;
    attempts: number;
    error: string | null;
  }[];
}

Deno.test("fetch retries 5xx answers from the API and from storage", () =>
  withFetchFixture({ "a.bin": 10_000 }, async (fx) => {
    fx.server.fault({ kind: "status", status: 502, origin: "api", times: 1 });
    fx.server.fault({ kind: "status", status: 500, origin: "storage", times: 1 });
    const run = await fx.run(["fetch", "--json"]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(reportOf(run.stdout)[0]?.attempts, 3);
    assert.match(run.stderr, /server returned 502 Bad Gateway.*; retrying in .* \(attempt 2\)$/m);
    assert.match(
      run.stderr,
      /storage returned 500 Internal Server Error.*; retrying in .* \(attempt 3\)$/m,
    );
    assert.deepEqual(await Deno.readFile(join(fx.work, "a.bin")), fx.file("a.bin").content);
  }));

Deno.test("fetch honours a 429's Retry-After", () =>
  withFetchFixture({ "a.bin": 1000 }, async (fx) => {
    fx.server.fault({ kind: "retry-after", status: 429, seconds: 1, origin: "storage", times: 1 });
    const started = performance.now();
    const run = await fx.run(["fetch"]);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(performance.now() - started >= 1000);
    assert.match(
      run.stderr,
      /storage returned 429 Too Many Requests.*; retrying in 1\.0s \(attempt 2\)$/m,
    );
  }));

Deno.test("fetch resumes a dropped download with a Range request", () =>
  withFetchFixture({ "a.bin": 1_000_000 }, async (fx) => {
    fx.server.fault({ kind: "drop-after", bytes: 400_000, times: 1 });
    const run = await fx.run(["fetch", "--json", "-c", fx.cache]);
    assert.equal(run.code, 0, run.stderr);
    const [entry] = reportOf(run.stdout);
    assert.equal(entry?.attempts, 2);
    assert.ok((entry?.bytes ?? 0) <= 1_000_000 + 400_000);
    const ranges = fx.server.requests.filter((r) => r.origin === "storage").map((r) => r.range);
    assert.equal(ranges.length, 2);
    assert.match(ranges[1] ?? "", /^bytes=[1-9]\d*-$/);
    assert.match(run.stderr, /the connection broke after .*; retrying in .*, resuming at /);
    assert.deepEqual(await Deno.readFile(join(fx.work, "a.bin")), fx.file("a.bin").content);
  }));

Deno.test("fetch downloads a corrupted body again from the start, and never caches it", () =>
  withFetchFixture({ "a.bin": 300_000 }, async (fx) => {
    fx.server.fault({ kind: "flip-byte", offset: 250_000, times: 1 });
    const run = await fx.run(["fetch", "-c", fx.cache]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /the downloaded bytes do not match the manifest's sha512/);
    const ranges = fx.server.requests.filter((r) => r.origin === "storage").map((r) => r.range);
    assert.deepEqual(ranges, [undefined, undefined]);
    const { content, digest } = fx.file("a.bin");
    assert.deepEqual(await Deno.readFile(join(fx.work, "a.bin")), content);
    assert.deepEqual(await Deno.readFile(join(fx.cache, digest)), content);
  }));

Deno.test("fetch gives up on a file that always arrives corrupt, leaving nothing of it", () =>
  withFetchFixture({ "a.bin": 100_000, "b.bin": 100 }, async (fx) => {
    fx.server.fault({ kind: "flip-byte", offset: 10, digest: fx.file("a.bin").digest });
    const run = await fx.run(["fetch", "--json", "-c", fx.cache]);
    assert.equal(run.code, 1);
    const [a, b] = reportOf(run.stdout);
    assert.equal(a?.source, null);
    assert.equal(a?.attempts, 5);
    assert.match(a?.error ?? "", /do not match the manifest's sha512/);
    assert.equal(b?.source, "network");
    assert.deepEqual(await listNames(fx.work), ["b.bin", "manifest.tt"]);
    assert.deepEqual(await listNames(join(fx.cache, STATE_DIR, "tmp")), []);
    assert.deepEqual((await listNames(fx.cache)).filter((n) => n !== STATE_DIR), [
      fx.file("b.bin").digest,
    ]);
  }));

Deno.test("fetch refuses at once a file whose size on the server differs from the manifest", () =>
  withFetchFixture({ "a.bin": 1000 }, async (fx) => {
    await fx.writeManifest([{ ...fx.file("a.bin"), size: 999 }]);
    const run = await fx.run(["fetch"]);
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      /^error: Cannot fetch "a\.bin" from .*: the server has 1000 bytes, the manifest lists 999$/m,
    );
    assert.equal(fx.server.requests.filter((r) => r.origin === "storage").length, 1);
  }));

Deno.test("fetch treats a body that stalls as a failure, not a hang, and resumes", () =>
  withFetchFixture({ "a.bin": 200_000 }, async (fx) => {
    fx.server.fault({ kind: "hang", afterBytes: 70_000, times: 1 });
    const run = await fx.run(["fetch", "--json"], { env: { TOOLTOOL_STALL_TIMEOUT_MS: "300" } });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /: no data for 0\.3 s; retrying in .*, resuming at /);
    assert.equal(reportOf(run.stdout)[0]?.attempts, 2);
    assert.deepEqual(await Deno.readFile(join(fx.work, "a.bin")), fx.file("a.bin").content);
  }));

Deno.test("fetch treats storage that never answers as a failure and tries again", () =>
  withFetchFixture({ "a.bin": 1000 }, async (fx) => {
    fx.server.fault({ kind: "hang", origin: "storage", times: 1 });
    const run = await fx.run(["fetch"], { env: { TOOLTOOL_STALL_TIMEOUT_MS: "300" } });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /: no data for 0\.3 s; retrying/);
  }));

Deno.test("fetch asks for a fresh URL when the signed one has expired", () =>
  withFetchFixture({ "a.bin": 1000 }, async (fx) => {
    fx.server.fault({ kind: "expired-redirect", times: 1 });
    const run = await fx.run(["fetch"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stderr,
      /storage returned 403 Forbidden \(AccessDenied: Request has expired\); retrying now/,
    );
    assert.deepEqual(
      fx.server.requests.map((r) => `${r.origin} ${r.status}`),
      ["api 302", "storage 403", "api 302", "storage 200"],
    );
  }));

Deno.test("fetch logs a heartbeat while a slow download runs", () =>
  withFetchFixture({ "a.bin": 300_000 }, async (fx) => {
    fx.server.fault({ kind: "slow", bytesPerSecond: 400_000 });
    const run = await fx.run(["fetch"], { env: { TOOLTOOL_HEARTBEAT_MS: "150" } });
    assert.equal(run.code, 0, run.stderr);
    const beats = run.stderr.split("\n").filter((line) => line.startsWith("Progress: "));
    assert.ok(beats.length >= 2, run.stderr);
    assert.match(
      beats[0] ?? "",
      /^Progress: 0\/1 files, .* of 293 KiB \(\d+%\), .* — a\.bin: .* of 293 KiB/,
    );
  }));

Deno.test("fetch -q prints only errors", () =>
  withFetchFixture({ "a.bin": 1000, "b.bin": 1000 }, async (fx) => {
    fx.server.fault({
      kind: "status",
      status: 404,
      origin: "api",
      digest: fx.file("b.bin").digest,
    });
    const run = await fx.run(["fetch", "-q"], { env: { TOOLTOOL_HEARTBEAT_MS: "10" } });
    assert.equal(run.code, 1);
    assert.deepEqual(run.stderr.split("\n").filter((line) => !/^(error|hint): /.test(line)), [""]);
  }));

Deno.test("fetch says clearly when the disk is full and leaves nothing partial", async () => {
  await withFetchFixture({ "a.bin": 2_000_000 }, async (fx) => {
    const mountPoint = join(fx.root, "tiny");
    await Deno.mkdir(mountPoint);
    const mounted = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mountPoint],
      stdout: "null",
      stderr: "null",
    }).output().catch(() => undefined);
    if (mounted?.code !== 0) return; // Needs root; nothing to check without a small disk.
    try {
      await fx.writeManifest(fx.files, mountPoint);
      const run = await fx.run(["fetch"], { cwd: mountPoint });
      assert.equal(run.code, 1);
      assert.match(run.stderr, /^error: Cannot write "a\.bin": no space left on device$/m);
      assert.deepEqual(await listNames(mountPoint), ["manifest.tt"]);
      assert.equal(
        fx.server.requests.filter((r) => r.origin === "storage").length,
        1,
        "not retried",
      );
    } finally {
      await new Deno.Command("umount", { args: [mountPoint] }).output();
    }
  });
});

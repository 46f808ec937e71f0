import assert from "node:assert/strict";
import { join } from "node:path";
import { startFakeServer } from "../../test/fake_server/server.ts";
import { sha512Hex } from "../digest.ts";
import { HttpError, IntegrityError, NetworkError } from "../errors.ts";
import type { Sha512 } from "../sha512.ts";
import { downloadVerified } from "./download.ts";
import { randomBytes } from "../../test/helpers/data.ts";
import {
  routedDownload,
  sourceFor,
  storageRequests,
  withDownload,
} from "../../test/helpers/download.ts";

Deno.test("downloadVerified() writes the file and sends no credentials to storage", () =>
  withDownload(3_000_000, async ({ server, dir, content, options }) => {
    const path = join(dir, "out");
    const positions: number[] = [];
    const result = await downloadVerified(path, options({ onPosition: (p) => positions.push(p) }));
    assert.deepEqual(await Deno.readFile(path), content);
    assert.equal(result.attempts, 1);
    assert.equal(result.received, content.length);
    assert.equal(positions.at(-1), content.length);
    assert.ok(storageRequests(server).every((request) => !request.hasAuthorization));
  }));

Deno.test("downloadVerified() resumes a dropped body with a Range request and a fresh URL", () =>
  withDownload(3_000_000, async ({ server, dir, content, options }) => {
    server.fault({ kind: "drop-after", bytes: 1_200_000, times: 1 });
    const path = join(dir, "out");
    const result = await downloadVerified(path, options());
    assert.deepEqual(await Deno.readFile(path), content);
    assert.equal(result.attempts, 2);
    const apiCalls = server.requests.filter((request) => request.origin === "api").length;
    assert.equal(apiCalls, 2, "the redirect is resolved again for the resumed attempt");
    const ranges = storageRequests(server).map((request) => request.range);
    assert.equal(ranges[0], undefined);
    assert.match(ranges[1] ?? "", /^bytes=\d+-$/);
    const resumedAt = Number(/(\d+)/.exec(ranges[1] ?? "")?.[1]);
    assert.ok(resumedAt > 0 && resumedAt <= 1_200_000);
    assert.ok(result.received < content.length + 1_200_000);
  }));

Deno.test("downloadVerified() starts over after a digest mismatch", () =>
  withDownload(500_000, async ({ server, dir, content, options }) => {
    server.fault({ kind: "flip-byte", offset: 123_456, times: 1 });
    const retries: unknown[] = [];
    const path = join(dir, "out");
    const result = await downloadVerified(
      path,
      options({ onRetry: (error) => retries.push(error) }),
    );
    assert.deepEqual(await Deno.readFile(path), content);
    assert.equal(result.attempts, 2);
    assert.ok(retries[0] instanceof IntegrityError);
    assert.equal(storageRequests(server)[1]?.range, undefined, "no resume from bad bytes");
  }));

Deno.test("downloadVerified() retries 5xx from the API and storage with backoff", () =>
  withDownload(10_000, async ({ server, dir, content, options }) => {
    server.fault({ kind: "status", status: 503, origin: "api", times: 2 });
    server.fault({ kind: "status", status: 500, origin: "storage", times: 1 });
    const delays: number[] = [];
    const path = join(dir, "out");
    const result = await downloadVerified(
      path,
      options({ onRetry: (_error, _next, delay) => delays.push(delay) }),
    );
    assert.deepEqual(await Deno.readFile(path), content);
    assert.equal(result.attempts, 4);
    assert.equal(delays.length, 3);
    assert.ok(delays.every((delay) => delay >= 0 && delay <= 5));
  }));

Deno.test("downloadVerified() waits as long as a 429's Retry-After asks", () =>
  withDownload(10_000, async ({ server, dir, options }) => {
    server.fault({ kind: "retry-after", status: 429, seconds: 1, origin: "storage", times: 1 });
    const delays: number[] = [];
    const started = performance.now();
    await downloadVerified(
      join(dir, "out"),
      options({ onRetry: (_error, _next, delay) => delays.push(delay) }),
    );
    assert.deepEqual(delays, [1000]);
    assert.ok(performance.now() - started >= 950);
  }));

Deno.test("downloadVerified() treats a stalled body as a failure and resumes", () =>
  withDownload(400_000, async ({ server, dir, content, options }) => {
    server.fault({ kind: "hang", afterBytes: 100_000, times: 1 });
    const retries: unknown[] = [];
    const path = join(dir, "out");
    const result = await downloadVerified(
      path,
      options({ stallTimeoutMs: 300, onRetry: (error) => retries.push(error) }),
    );
    assert.deepEqual(await Deno.readFile(path), content);
    assert.equal(result.attempts, 2);
    assert.ok(retries[0] instanceof NetworkError);
    assert.match((retries[0] as Error).message, /no data for 0\.3 s/);
  }));

Deno.test("downloadVerified() lets a slow body run past the stall timeout while bytes keep coming", () =>
  // 200 KB at 200 KB/s: a second in all, never 0.3 s without a byte.
  withDownload(200_000, async ({ server, dir, content, options }) => {
    server.fault({ kind: "slow", bytesPerSecond: 200_000, times: 1 });
    const path = join(dir, "out");
    const started = performance.now();
    const result = await downloadVerified(path, options({ stallTimeoutMs: 300 }));
    assert.ok(performance.now() - started >= 600, "the body really took longer than the timeout");
    assert.equal(result.attempts, 1);
    assert.deepEqual(await Deno.readFile(path), content);
  }));

Deno.test("downloadVerified() renews an expired storage URL at once", () =>
  withDownload(10_000, async ({ server, dir, options }) => {
    server.fault({ kind: "expired-redirect", times: 1 });
    const delays: number[] = [];
    const result = await downloadVerified(
      join(dir, "out"),
      options({ onRetry: (_error, _next, delay) => delays.push(delay) }),
    );
    assert.equal(result.attempts, 2);
    assert.deepEqual(delays, [0]);
    assert.deepEqual(storageRequests(server).map((request) => request.status), [403, 200]);
  }));

Deno.test("downloadVerified() falls back to the next base URL after a 404", async () => {
  const empty = await startFakeServer();
  try {
    await withDownload(10_000, async ({ server, dir, content, options }) => {
      const result = await downloadVerified(
        join(dir, "out"),
        options({ sources: [sourceFor(empty.url), sourceFor(server.url)] }),
      );
      assert.deepEqual(await Deno.readFile(join(dir, "out")), content);
      assert.equal(result.source, server.url);
      assert.equal(result.attempts, 2);
      assert.deepEqual(empty.requests.map((request) => request.status), [404]);
    });
  } finally {
    await empty.close();
  }
});

Deno.test("downloadVerified() gives up after the attempts and throws the last error", () =>
  withDownload(10_000, async ({ server, dir, options }) => {
    server.fault({ kind: "status", status: 500, origin: "storage" });
    await assert.rejects(
      downloadVerified(join(dir, "out"), options({ attempts: 3 })),
      (error) => {
        assert.ok(error instanceof HttpError);
        assert.equal(error.status, 500);
        assert.match(
          error.message,
          /^Cannot fetch "tool\.bin" from http:\/\/127\.0\.0\.1:\d+\/: storage returned 500/,
        );
        return true;
      },
    );
    assert.equal(storageRequests(server).length, 3);
  }));

Deno.test("downloadVerified() keeps the bytes a killed run left when asked to resume", () =>
  withDownload(300_000, async ({ server, dir, content, options }) => {
    const path = join(dir, "out");
    await Deno.writeFile(path, content.subarray(0, 100_000));
    const result = await downloadVerified(path, options({ resume: true }));
    assert.deepEqual(await Deno.readFile(path), content);
    assert.equal(result.resumedFrom, 100_000);
    assert.equal(result.received, 200_000);
    assert.equal(storageRequests(server)[0]?.range, "bytes=100000-");
  }));

Deno.test("downloadVerified() stops at once when its signal aborts", () =>
  withDownload(2_000_000, async ({ server, dir, options }) => {
    server.fault({ kind: "slow", bytesPerSecond: 200_000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("interrupted")), 200);
    const started = performance.now();
    await assert.rejects(
      downloadVerified(join(dir, "out"), options({ signal: controller.signal })),
      /interrupted/,
    );
    assert.ok(performance.now() - started < 1_500);
  }));

Deno.test("downloadVerified() starts no new attempt once retryMaxTimeMs passed without progress", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tooltool-transfer-" });
  try {
    const content = randomBytes(10);
    const slow500 = () => new Response("busy", { status: 503 });
    const { seen, options, path } = routedDownload(dir, content, sha512Hex(content) as Sha512, {
      "http://one.test/blob": slow500,
    }, ["http://one.test/blob"]);
    const fetchSlowly: typeof globalThis.fetch = async (input, init) => {
      await new Promise((resolve) => setTimeout(resolve, 40));
      return options.fetch(input, init);
    };
    await assert.rejects(
      downloadVerified(path, {
        ...options,
        fetch: fetchSlowly,
        attempts: 20,
        limits: { retryMaxTimeMs: 100 },
      }),
      /503/,
    );
    assert.ok(seen.length >= 2 && seen.length <= 4, `${seen.length} attempts`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a mirror's 404 moves on to the next source without a retry", async () => {
  const content = randomBytes(100);
  const digest = sha512Hex(content);
  const failed: unknown[] = [];
  let retries = 0;
  const fetchStub = (input: URL | RequestInfo) =>
    Promise.resolve(
      String(input).startsWith("https://mirror.example/")
        ? new Response("no", { status: 404 })
        : new Response(content),
    );
  const dir = await Deno.makeTempDir({ prefix: "tooltool-mirror-miss-" });
  try {
    const result = await downloadVerified(join(dir, "f"), {
      filename: "f",
      digest,
      size: content.length,
      sources: [
        {
          name: "mirror",
          kind: "mirror",
          resolve: () => Promise.resolve(new URL("https://mirror.example/sha512/x")),
        },
        { name: "api", resolve: () => Promise.resolve(new URL("https://storage.example/x")) },
      ],
      fetch: fetchStub as typeof globalThis.fetch,
      signal: new AbortController().signal,
      onSourceFailed: (error) => failed.push(error),
      onRetry: () => retries++,
    });
    assert.equal(result.kind, "service");
    assert.equal(result.attempts, 2);
    assert.equal(retries, 0);
    assert.ok(failed[0] instanceof HttpError && failed[0].status === 404);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("downloadVerified() writes through a handle it is given and leaves it open", () =>
  withDownload(300_000, async ({ dir, content, options }) => {
    const path = join(dir, "out");
    await Deno.writeTextFile(path, "stale bytes of an earlier run, longer than nothing");
    using handle = await Deno.open(path, { read: true, write: true });
    await downloadVerified(path, options({ file: handle }));
    assert.deepEqual(await Deno.readFile(path), content, "truncated first, then written");
    assert.equal(handle.statSync().size, content.length, "still open for its owner");
  }));

Deno.test("downloadVerified() resumes through a given handle from byte 0, wherever it stood", () =>
  withDownload(300_000, async ({ dir, content, options }) => {
    const path = join(dir, "out");
    await Deno.writeFile(path, content.subarray(0, 1000));
    using handle = await Deno.open(path, { read: true, write: true });
    handle.seekSync(0, Deno.SeekMode.End);
    const result = await downloadVerified(path, options({ file: handle, resume: true }));
    assert.equal(result.resumedFrom, 1000);
    assert.deepEqual(await Deno.readFile(path), content);
  }));

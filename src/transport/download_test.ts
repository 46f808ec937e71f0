import assert from "node:assert/strict";
import { join } from "node:path";
import { startFakeServer } from "../../test/fake_server/server.ts";
import type { FakeServer } from "../../test/fake_server/server.ts";
import { sha512Hex } from "../digest.ts";
import { HttpError, IntegrityError, NetworkError, UnsafeUrlError } from "../errors.ts";
import { ApiClient } from "./http.ts";
import type { Sha512 } from "../sha512.ts";
import {
  type DownloadOptions,
  type DownloadSource,
  downloadVerified,
  parseContentRange,
} from "./download.ts";
import { randomBytes } from "../../test/helpers/data.ts";

const FAST = { baseMs: 1, maxMs: 5 };

function sourceFor(url: string): DownloadSource {
  const client = new ApiClient({
    baseUrl: url,
    credentials: { kind: "none" },
    fetch: globalThis.fetch,
    env: () => undefined,
  });
  return { name: url, resolve: () => client.resolveDownload(DIGEST_HOLDER.digest) };
}

/** The digest the current test's sources resolve (set per test). */
const DIGEST_HOLDER = { digest: "" };

interface Setup {
  readonly server: FakeServer;
  readonly dir: string;
  readonly content: Uint8Array;
  readonly digest: Sha512;
  readonly options: (extra?: Partial<DownloadOptions>) => DownloadOptions;
}

async function withDownload(size: number, fn: (setup: Setup) => Promise<void>): Promise<void> {
  const server = await startFakeServer();
  const dir = await Deno.makeTempDir({ prefix: "tooltool-transfer-" });
  try {
    const content = randomBytes(size);
    const { digest } = await server.addFile(content);
    DIGEST_HOLDER.digest = digest;
    const options = (extra: Partial<DownloadOptions> = {}): DownloadOptions => ({
      filename: "tool.bin",
      digest: digest as Sha512,
      size,
      sources: [sourceFor(server.url)],
      fetch: globalThis.fetch,
      signal: new AbortController().signal,
      backoff: FAST,
      stallTimeoutMs: 2_000,
      ...extra,
    });
    await fn({ server, dir, content, digest: digest as Sha512, options });
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function storageRequests(server: FakeServer) {
  return server.requests.filter((request) => request.origin === "storage");
}

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

Deno.test("downloadVerified() refuses a body whose Content-Length disagrees with the manifest", () =>
  withDownload(10_000, async ({ dir, options }) => {
    await assert.rejects(
      downloadVerified(join(dir, "out"), options({ size: 9_999 })),
      (error) => {
        assert.ok(error instanceof IntegrityError);
        assert.equal(error.retriable, false);
        assert.match(error.message, /the server has 10000 bytes, the manifest lists 9999/);
        return true;
      },
    );
  }));

Deno.test("downloadVerified() reads the whole body again when the server ignores Range", async () => {
  const content = randomBytes(200_000);
  const digest = sha512Hex(content);
  let calls = 0;
  const fakeFetch: typeof globalThis.fetch = (_input, init) => {
    calls++;
    const range = new Headers(init?.headers).get("Range");
    if (calls === 1) {
      // Headers promise everything; the body stops halfway, as when a connection breaks.
      let pulls = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (pulls++ === 0) controller.enqueue(content.slice(0, 80_000));
          else controller.error(new Error("connection reset"));
        },
      }, { highWaterMark: 0 });
      return Promise.resolve(new Response(body, { status: 200 }));
    }
    assert.equal(range, "bytes=80000-");
    return Promise.resolve(new Response(content, { status: 200 }));
  };
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "out");
    const result = await downloadVerified(path, {
      filename: "tool.bin",
      digest,
      size: content.length,
      sources: [{ name: "stub", resolve: () => Promise.resolve(new URL("http://127.0.0.1:9/x")) }],
      fetch: fakeFetch,
      signal: new AbortController().signal,
      backoff: FAST,
    });
    assert.deepEqual(await Deno.readFile(path), content);
    assert.equal(result.attempts, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

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

Deno.test("parseContentRange() reads start, end and total", () => {
  assert.deepEqual(parseContentRange("bytes 100-199/200"), { start: 100, end: 199, total: 200 });
  assert.deepEqual(parseContentRange("bytes 0-9/*"), { start: 0, end: 9, total: undefined });
  assert.equal(parseContentRange("bytes 10-9/200"), undefined);
  assert.equal(parseContentRange("items 0-1/2"), undefined);
  assert.equal(parseContentRange(null), undefined);
});

/** Download options whose fetch answers from `routes` (URL -> response) and records URLs. */
function routedDownload(
  dir: string,
  content: Uint8Array<ArrayBuffer>,
  digest: Sha512,
  routes: Record<string, () => Response>,
  sources: readonly string[],
) {
  const seen: string[] = [];
  const fetch = ((input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input instanceof Request ? input.url : input);
    seen.push(url);
    assert.equal(init?.redirect, "manual", "fetch must never follow redirects itself");
    const route = routes[url];
    return Promise.resolve(route ? route() : new Response(content, { status: 200 }));
  }) as typeof globalThis.fetch;
  const options: DownloadOptions = {
    filename: "tool.bin",
    digest,
    size: content.length,
    sources: sources.map((url) => ({ name: url, resolve: () => Promise.resolve(new URL(url)) })),
    fetch,
    signal: new AbortController().signal,
    backoff: FAST,
    stallTimeoutMs: 2_000,
  };
  return { seen, options, path: join(dir, "out") };
}

const redirect = (location: string, status = 302) => () =>
  new Response(null, { status, headers: { Location: location } });

Deno.test("downloadVerified() refuses a storage redirect to a non-http scheme, then tries the next source", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tooltool-transfer-" });
  try {
    const content = randomBytes(1000);
    const digest = sha512Hex(content) as Sha512;
    for (
      const target of [
        "file:///etc/passwd",
        "file:///dev/stdin",
        "data:text/plain,hello",
        "ftp://ftp.test/x",
        "blob:http://x.test/1",
      ]
    ) {
      const { seen, options, path } = routedDownload(dir, content, digest, {
        "https://one.test/blob": redirect(target, 307),
      }, ["https://one.test/blob", "https://two.test/blob"]);
      const retried: unknown[] = [];
      const result = await downloadVerified(path, { ...options, onRetry: (e) => retried.push(e) });
      assert.equal(result.source, "https://two.test/blob", target);
      assert.deepEqual(seen, ["https://one.test/blob", "https://two.test/blob"], target);
      assert.deepEqual(retried, [], "not retried as if transient");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("downloadVerified() names the scheme a redirect pointed at when no source is left", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tooltool-transfer-" });
  try {
    const content = randomBytes(10);
    const { options, path } = routedDownload(dir, content, sha512Hex(content) as Sha512, {
      "http://one.test/blob": redirect("file:///etc/passwd"),
    }, ["http://one.test/blob"]);
    await assert.rejects(
      downloadVerified(path, options),
      (error: unknown) =>
        error instanceof UnsafeUrlError &&
        /from http:\/\/one\.test\/: the server redirected to a file: URL; only http and https are followed$/
          .test(error.message),
    );
    assert.equal((await Deno.stat(path)).size, 0, "nothing of the local file was read");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("downloadVerified() follows http(s) storage redirects but never from https to http", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tooltool-transfer-" });
  try {
    const content = randomBytes(100);
    const digest = sha512Hex(content) as Sha512;
    const ok = routedDownload(dir, content, digest, {
      "http://one.test/blob": redirect("https://s3.test/a"),
      "https://s3.test/a": redirect("/b", 301),
    }, ["http://one.test/blob"]);
    await downloadVerified(ok.path, ok.options);
    assert.deepEqual(ok.seen, ["http://one.test/blob", "https://s3.test/a", "https://s3.test/b"]);

    const down = routedDownload(dir, content, digest, {
      "https://one.test/blob": redirect("http://s3.test/a"),
    }, ["https://one.test/blob"]);
    await assert.rejects(downloadVerified(down.path, down.options), /from https to plain http/);
    assert.deepEqual(down.seen, ["https://one.test/blob"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("downloadVerified() gives up on a storage redirect loop", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tooltool-transfer-" });
  try {
    const content = randomBytes(10);
    const { seen, options, path } = routedDownload(dir, content, sha512Hex(content) as Sha512, {
      "https://one.test/blob": redirect("https://one.test/blob"),
    }, ["https://one.test/blob"]);
    await assert.rejects(downloadVerified(path, options), /storage redirected more than 5 times/);
    assert.equal(seen.length, 6);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("downloadVerified() reads a bounded start of a storage error body and clips its message", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tooltool-transfer-" });
  try {
    const content = randomBytes(10);
    let cancelled = false;
    const xml = new TextEncoder().encode(
      `<Error><Code>NoSuchKey</Code><Message>${"m".repeat(5000)}</Message></Error>`,
    );
    const endless = () =>
      new Response(
        new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(xml);
          },
          pull(controller) {
            controller.enqueue(new Uint8Array(64 * 1024));
          },
          cancel() {
            cancelled = true;
          },
        }),
        { status: 404 },
      );
    const { options, path } = routedDownload(dir, content, sha512Hex(content) as Sha512, {
      "http://one.test/blob": endless,
    }, ["http://one.test/blob"]);
    await assert.rejects(
      downloadVerified(path, options),
      (error: unknown) =>
        error instanceof HttpError &&
        /\(NoSuchKey: m{500}… \(4500 more bytes\)\)$/.test(error.message),
    );
    assert.ok(cancelled);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

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

Deno.test("a mirror's own headers go to its origin only, never along a redirect elsewhere", async () => {
  const content = randomBytes(1000);
  const digest = sha512Hex(content);
  const seen: { url: string; authorization: string | null }[] = [];
  const fetchStub = (input: URL | RequestInfo, init?: RequestInit) => {
    const url = String(input);
    seen.push({ url, authorization: new Headers(init?.headers).get("Authorization") });
    if (url.startsWith("https://mirror.example/")) {
      return Promise.resolve(
        new Response(null, { status: 302, headers: { Location: "https://cdn.example/blob" } }),
      );
    }
    return Promise.resolve(new Response(content));
  };
  const dir = await Deno.makeTempDir({ prefix: "tooltool-mirror-headers-" });
  try {
    const result = await downloadVerified(join(dir, "f"), {
      filename: "f",
      digest,
      size: content.length,
      sources: [{
        name: "https://mirror.example/",
        kind: "mirror",
        headers: { Authorization: "Bearer t" },
        resolve: () => Promise.resolve(new URL(`https://mirror.example/sha512/${digest}`)),
      }],
      fetch: fetchStub as typeof globalThis.fetch,
      signal: new AbortController().signal,
    });
    assert.equal(result.kind, "mirror");
    assert.deepEqual(seen.map((s) => s.authorization), ["Bearer t", null]);
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

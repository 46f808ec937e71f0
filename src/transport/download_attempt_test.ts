import assert from "node:assert/strict";
import { join } from "node:path";
import { sha512Hex } from "../digest.ts";
import { HttpError, IntegrityError, UnsafeUrlError } from "../errors.ts";
import type { Sha512 } from "../sha512.ts";
import { downloadVerified } from "./download.ts";
import { parseContentRange } from "./download_attempt.ts";
import { randomBytes } from "../../test/helpers/data.ts";
import { FAST, routedDownload, withDownload } from "../../test/helpers/download.ts";

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

Deno.test("parseContentRange() reads start, end and total", () => {
  assert.deepEqual(parseContentRange("bytes 100-199/200"), { start: 100, end: 199, total: 200 });
  assert.deepEqual(parseContentRange("bytes 0-9/*"), { start: 0, end: 9, total: undefined });
  assert.equal(parseContentRange("bytes 10-9/200"), undefined);
  assert.equal(parseContentRange("items 0-1/2"), undefined);
  assert.equal(parseContentRange(null), undefined);
});

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

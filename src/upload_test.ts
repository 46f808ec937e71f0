import assert from "node:assert/strict";
import { NetworkError, ToolError } from "./errors.ts";
import { formatBytes, putFile, putUrlDeadline, storageError } from "./upload.ts";

function putOptions(overrides: Partial<Parameters<typeof putFile>[3]> = {}) {
  let sent = 0;
  const options = {
    target: "a.bin",
    signal: new AbortController().signal,
    stallTimeoutMs: 5_000,
    onBytes: (count: number) => void (sent += count),
    ...overrides,
  };
  return { options, sent: () => sent };
}

async function tempFile(bytes: Uint8Array): Promise<string> {
  const path = await Deno.makeTempFile({ prefix: "upload-test-" });
  await Deno.writeFile(path, bytes);
  return path;
}

Deno.test("putFile() streams the file with Content-Length, not chunked, and no credentials", async () => {
  const seen: {
    length: string | null;
    chunked: string | null;
    auth: boolean;
    type: string | null;
  }[] = [];
  let received = 0;
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (r) => {
    seen.push({
      length: r.headers.get("content-length"),
      chunked: r.headers.get("transfer-encoding"),
      auth: r.headers.has("authorization"),
      type: r.headers.get("content-type"),
    });
    for await (const chunk of r.body!) received += chunk.length;
    return new Response(null, { status: 200 });
  });
  const size = 3 * 256 * 1024 + 5;
  const path = await tempFile(new Uint8Array(size).fill(7));
  try {
    const { options, sent } = putOptions();
    const answer = await putFile(
      new URL(`http://127.0.0.1:${server.addr.port}/sha512/x?X-Amz-Expires=60`),
      path,
      size,
      options,
    );
    assert.equal(answer.status, 200);
    assert.deepEqual(seen, [{
      length: String(size),
      chunked: null,
      auth: false,
      type: "application/octet-stream",
    }]);
    assert.equal(received, size);
    assert.equal(sent(), size);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("putFile() returns storage's early answer without sending the whole body", async () => {
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () =>
      new Response(
        "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
        {
          status: 403,
        },
      ),
  );
  const size = 8 * 1024 * 1024;
  const path = await tempFile(new Uint8Array(size));
  try {
    const answer = await putFile(
      new URL(`http://127.0.0.1:${server.addr.port}/x`),
      path,
      size,
      putOptions().options,
    );
    assert.equal(answer.status, 403);
    assert.match(answer.body, /Request has expired/);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("putFile() refuses a file that became shorter than its record", async () => {
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (r) => {
    await r.body?.cancel();
    return new Response(null, { status: 200 });
  });
  const path = await tempFile(new Uint8Array(10));
  try {
    await assert.rejects(
      putFile(new URL(`http://127.0.0.1:${server.addr.port}/x`), path, 20, putOptions().options),
      (error: unknown) =>
        error instanceof ToolError && !(error instanceof NetworkError) &&
        /became shorter/.test(error.message),
    );
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("putFile() reports a refused connection as a NetworkError naming the file", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const path = await tempFile(new Uint8Array(10));
  try {
    await assert.rejects(
      putFile(new URL(`http://127.0.0.1:${port}/x`), path, 10, putOptions().options),
      (error: unknown) =>
        error instanceof NetworkError &&
        error.message.startsWith(`Cannot upload "a.bin" to http://127.0.0.1:${port}/: `),
    );
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("putUrlDeadline() reads X-Amz-Expires from our clock, or falls back", () => {
  const at = 1_000_000;
  assert.equal(putUrlDeadline(new URL("https://s3/k?X-Amz-Expires=60"), at, 5_000), at + 60_000);
  assert.equal(putUrlDeadline(new URL("https://s3/k?Expires=2000"), at, 5_000), 2_000_000);
  assert.equal(putUrlDeadline(new URL("https://s3/k"), at, 5_000), at + 5_000);
});

Deno.test("storageError() quotes S3's code and message but never the signed URL", () => {
  const url = new URL("https://bucket.s3.amazonaws.com/sha512/abc?X-Amz-Signature=deadbeef");
  const error = storageError("clang.tar.xz", url, {
    status: 403,
    statusText: "Forbidden",
    body: "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
    retryAfter: null,
  });
  assert.equal(
    error.message,
    'Cannot upload "clang.tar.xz" to https://bucket.s3.amazonaws.com/: storage returned 403 Forbidden (AccessDenied: Request has expired)',
  );
  assert.equal(error.url, "https://bucket.s3.amazonaws.com/sha512/abc");
  assert.equal(error.problem?.detail, "Request has expired");
});

Deno.test("formatBytes() uses binary units", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(1023), "1023 B");
  assert.equal(formatBytes(3 * 1024 * 1024), "3.0 MiB");
  assert.equal(formatBytes(1.5 * 1024 ** 3), "1.5 GiB");
});

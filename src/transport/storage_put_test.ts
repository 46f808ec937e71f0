import assert from "node:assert/strict";
import { NetworkError, networkReason, ToolError } from "../errors.ts";
import { sha512Hex } from "../digest.ts";
import { parseAnswer, putFile } from "./storage_put.ts";

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
  // The server waits for the whole declared body, as S3 does: answering early would race
  // the client's own discovery that the file is short.
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (r) => {
    await r.arrayBuffer().catch(() => {});
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

Deno.test("putFile() abandons a PUT that stalls, and says after how long", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) accepted.push(conn); // never answers
  })();
  const path = await tempFile(new Uint8Array(100));
  try {
    await assert.rejects(
      putFile(
        new URL(`http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/x`),
        path,
        100,
        putOptions({ stallTimeoutMs: 100 }).options,
      ),
      (error: unknown) =>
        error instanceof NetworkError && /: no progress for 0.1 s$/.test(error.message),
    );
  } finally {
    listener.close();
    await accepting.catch(() => {});
    for (const conn of accepted) conn.close();
    await Deno.remove(path);
  }
});

Deno.test("putFile() stops at once when the signal aborts", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) accepted.push(conn);
  })();
  const path = await tempFile(new Uint8Array(100));
  const controller = new AbortController();
  try {
    const put = putFile(
      new URL(`http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/x`),
      path,
      100,
      putOptions({ signal: controller.signal }).options,
    );
    setTimeout(() => controller.abort(new Error("interrupted")), 50);
    await assert.rejects(put, /^Error: interrupted$/);
  } finally {
    listener.close();
    await accepting.catch(() => {});
    for (const conn of accepted) conn.close();
    await Deno.remove(path);
  }
});

Deno.test("parseAnswer() waits for the whole body, skips 100 Continue and reads chunked bodies", () => {
  const bytes = (text: string) => new TextEncoder().encode(text);
  assert.equal(parseAnswer(bytes("HTTP/1.1 200 OK\r\nContent-Len"), false), undefined);
  assert.equal(
    parseAnswer(bytes("HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\n\r\nab"), false),
    undefined,
  );
  assert.deepEqual(
    parseAnswer(
      bytes("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
      false,
    ),
    { status: 200, statusText: "OK", body: "", retryAfter: null },
  );
  assert.deepEqual(
    parseAnswer(
      bytes(
        "HTTP/1.1 503 Slow Down\r\nRetry-After: 3\r\nTransfer-Encoding: chunked\r\n\r\n" +
          "4\r\n<Err\r\n3\r\nor>\r\n0\r\n\r\n",
      ),
      false,
    ),
    { status: 503, statusText: "Slow Down", body: "<Error>", retryAfter: "3" },
  );
  assert.deepEqual(parseAnswer(bytes("HTTP/1.0 500 Oops\r\n\r\nbody to the end"), true), {
    status: 500,
    statusText: "Oops",
    body: "body to the end",
    retryAfter: null,
  });
  assert.throws(() => parseAnswer(bytes("SSH-2.0-OpenSSH\r\n\r\n"), false), /not an HTTP answer/);
});

Deno.test("networkReason() keeps the words a person needs", () => {
  const error = new TypeError("fetch failed", {
    cause: new Error(
      "error sending request for url (http://h/): client error (Connect): tcp connect error: Connection refused (os error 111)",
    ),
  });
  assert.equal(networkReason(error), "connection refused");
  assert.equal(networkReason(new Error("Broken pipe (os error 32)")), "broken pipe");
});

Deno.test("putFile() reports the sha512 of the bytes it sent, even when the file changed meanwhile", async () => {
  let received: Uint8Array | undefined;
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (r) => {
    received = new Uint8Array(await r.arrayBuffer());
    return new Response(null, { status: 200 });
  });
  const size = 1024 * 1024;
  const original = new Uint8Array(size).fill(7);
  const path = await tempFile(original);
  try {
    const url = new URL(`http://127.0.0.1:${server.addr.port}/x`);
    const unchanged = await putFile(url, path, size, putOptions().options);
    assert.equal(unchanged.sentDigest, sha512Hex(original));
    let changed = false;
    const answer = await putFile(url, path, size, {
      ...putOptions().options,
      // The chunks not yet read when the first one has gone out are read after this.
      onBytes: () => {
        if (changed) return;
        changed = true;
        using file = Deno.openSync(path, { write: true });
        file.seekSync(size - 10, Deno.SeekMode.Start);
        file.writeSync(new Uint8Array(10).fill(9));
      },
    });
    assert.equal(answer.status, 200);
    assert.ok(received !== undefined);
    assert.equal(answer.sentDigest, sha512Hex(received));
    assert.notEqual(answer.sentDigest, sha512Hex(original));
  } finally {
    await Deno.remove(path);
  }
});

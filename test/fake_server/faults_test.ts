import assert from "node:assert/strict";
import { parseFaultRule } from "./faults.ts";
import type { FakeServer } from "./server.ts";
import { bytes, request, withServer } from "./test_util.ts";

const content = bytes("0123456789abcdefghijklmnopqrstuvwxyz");

async function locationOf(server: FakeServer, digest: string): Promise<string> {
  const response = await request(`${server.url}sha512/${digest}`);
  assert.equal(response.status, 302);
  return response.headers.get("location")!;
}

/** Reads a body to the end, returning what arrived and the error that ended it, if any. */
async function readAll(response: Response): Promise<{ body: Uint8Array; error: unknown }> {
  const chunks: Uint8Array[] = [];
  let error: unknown;
  try {
    for await (const chunk of response.body!) chunks.push(chunk);
  } catch (caught) {
    error = caught;
  }
  const body = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.length;
  }
  return { body, error };
}

Deno.test("a status rule fails the first N matching requests, then retires", async () => {
  await withServer({}, async (server) => {
    const { digest } = await server.addFile(content);
    server.fault({ kind: "status", status: 500, times: 2 });
    const first = await request(`${server.url}sha512/${digest}`);
    assert.equal(first.status, 500);
    assert.equal(first.headers.get("content-type"), "application/json");
    assert.match(JSON.parse(first.text).error.title, /^500 Internal Server Error: /);
    assert.equal((await request(`${server.url}sha512/${digest}`)).status, 500);
    assert.equal((await request(`${server.url}sha512/${digest}`)).status, 302);
    assert.deepEqual(server.requests.map((r) => r.status), [500, 500, 302]);
  });
});

Deno.test("a status rule with a digest only hits requests naming that digest", async () => {
  await withServer({}, async (server) => {
    const one = await server.addFile(bytes("one"));
    const two = await server.addFile(bytes("two"));
    server.fault({ kind: "status", status: 503, digest: one.digest });
    assert.equal((await request(`${server.url}sha512/${two.digest}`)).status, 302);
    assert.equal((await request(`${server.url}sha512/${one.digest}`)).status, 503);
    assert.equal((await request(`${server.url}file/sha512/${one.digest}`)).status, 503);
  });
});

Deno.test("a status rule on the storage origin answers an S3 error document", async () => {
  await withServer({}, async (server) => {
    const { digest } = await server.addFile(content);
    server.fault({ kind: "status", status: 503, origin: "storage", times: 1 });
    const location = await locationOf(server, digest);
    const failed = await request(location);
    assert.equal(failed.status, 503);
    assert.equal(failed.headers.get("content-type"), "application/xml");
    assert.match(failed.text, /<Code>SlowDown<\/Code>/);
    assert.equal((await request(location)).status, 200);
  });
});

Deno.test("a status rule may carry its own body, like an HTML page from a proxy", async () => {
  await withServer({}, async (server) => {
    server.fault({
      kind: "status",
      status: 502,
      body: "<html>Bad Gateway</html>",
      contentType: "text/html",
    });
    const response = await request(`${server.url}__heartbeat__`);
    assert.equal(response.status, 502);
    assert.equal(response.text, "<html>Bad Gateway</html>");
    assert.equal(response.headers.get("content-type"), "text/html");
  });
});

Deno.test("a retry-after rule answers 429 with Retry-After", async () => {
  await withServer({}, async (server) => {
    const { digest } = await server.addFile(content);
    server.fault({ kind: "retry-after", seconds: 7, times: 1 });
    const response = await request(`${server.url}sha512/${digest}`);
    assert.equal(response.status, 429);
    assert.equal(response.headers.get("retry-after"), "7");
    server.fault({ kind: "retry-after", status: 503, seconds: 2, times: 1, origin: "storage" });
    const storage = await request(await locationOf(server, digest));
    assert.equal(storage.status, 503);
    assert.equal(storage.headers.get("retry-after"), "2");
  });
});

Deno.test("a drop-after rule sends the full Content-Length and cuts the connection after N bytes", async () => {
  await withServer({}, async (server) => {
    const { digest } = await server.addFile(content);
    server.fault({ kind: "drop-after", bytes: 10, digest, times: 1 });
    const response = await fetch(await locationOf(server, digest));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-length"), String(content.length));
    const { body, error } = await readAll(response);
    assert.ok(error !== undefined, "the body must end in an error");
    assert.ok(body.length <= 10, `got ${body.length} bytes`);
    assert.deepEqual(body, content.subarray(0, body.length));

    const again = await request(await locationOf(server, digest));
    assert.deepEqual(again.body, content);
  });
});

Deno.test("a flip-byte rule corrupts exactly one byte, counted from the start of the blob", async () => {
  await withServer({}, async (server) => {
    const { digest } = await server.addFile(content);
    server.fault({ kind: "flip-byte", offset: 12 });
    const location = await locationOf(server, digest);
    const whole = await request(location);
    assert.equal(whole.body.length, content.length);
    const differing = [...whole.body.keys()].filter((i) => whole.body[i] !== content[i]);
    assert.deepEqual(differing, [12]);
    assert.equal(whole.body[12], content[12]! ^ 0xff);

    const ranged = await request(location, { headers: { range: "bytes=10-14" } });
    assert.equal(ranged.status, 206);
    assert.equal(ranged.body[2], content[12]! ^ 0xff);
    const before = await request(location, { headers: { range: "bytes=0-11" } });
    assert.deepEqual(before.body, content.subarray(0, 12));
  });
});

Deno.test("a slow rule holds the body to the given rate", async () => {
  await withServer({}, async (server) => {
    const { digest } = await server.addFile(content);
    const location = await locationOf(server, digest);
    server.fault({ kind: "slow", bytesPerSecond: 80, times: 1 });
    const started = performance.now();
    const response = await request(location);
    const elapsed = performance.now() - started;
    assert.deepEqual(response.body, content);
    assert.ok(elapsed >= 350, `took ${elapsed} ms for ${content.length} bytes at 80 B/s`);
  });
});

Deno.test("an expired-redirect rule sends the client to a storage URL that has expired", async () => {
  await withServer({}, async (server) => {
    const { digest } = await server.addFile(content);
    server.fault({ kind: "expired-redirect", times: 1 });
    const stale = await request(await locationOf(server, digest));
    assert.equal(stale.status, 403);
    assert.match(stale.text, /<Message>Request has expired<\/Message>/);
    assert.equal((await request(await locationOf(server, digest))).status, 200);
  });
});

Deno.test("a hang rule never answers; the request is logged with status 0", async () => {
  await withServer({}, async (server) => {
    const { digest } = await server.addFile(content);
    server.fault({ kind: "hang", origin: "api", times: 1 });
    await assert.rejects(
      fetch(`${server.url}sha512/${digest}`, { signal: AbortSignal.timeout(200) }),
      (error: Error) => error.name === "TimeoutError",
    );
    assert.equal(server.requests[0]?.status, 0);
    assert.equal((await request(`${server.url}sha512/${digest}`)).status, 302);
  });
});

Deno.test("a hang rule with afterBytes stalls the body mid-way", async () => {
  await withServer({}, async (server) => {
    const { digest } = await server.addFile(content);
    server.fault({ kind: "hang", afterBytes: 5 });
    const controller = new AbortController();
    const response = await fetch(await locationOf(server, digest), { signal: controller.signal });
    const reader = response.body!.getReader();
    const first = await reader.read();
    assert.deepEqual(first.value, content.subarray(0, 5));
    const stalled = await Promise.race([
      reader.read().then(() => "data"),
      new Promise((resolve) => setTimeout(() => resolve("stalled"), 200)),
    ]);
    assert.equal(stalled, "stalled");
    controller.abort();
    await reader.cancel().catch(() => {});
  });
});

Deno.test("close() ends requests left hanging", async () => {
  const { startFakeServer } = await import("./server.ts");
  const server = await startFakeServer();
  server.fault({ kind: "hang" });
  const pending = fetch(`${server.url}__heartbeat__`).then(
    async (response) => {
      await response.body?.cancel();
      return "answered";
    },
    () => "failed",
  );
  await new Promise((resolve) => setTimeout(resolve, 50));
  await server.close();
  assert.ok(["answered", "failed"].includes(await pending));
});

Deno.test("body rules may target the API, and method and path narrow any rule", async () => {
  await withServer({}, async (server) => {
    const { digest } = await server.addFile(content);
    server.fault({ kind: "drop-after", bytes: 3, origin: "api", path: "/file/" });
    server.fault({ kind: "status", status: 500, method: "PATCH" });
    const response = await fetch(`${server.url}file/sha512/${digest}`);
    const { body, error } = await readAll(response);
    assert.ok(error !== undefined);
    assert.ok(body.length <= 3);
    assert.equal((await request(`${server.url}sha512/${digest}`)).status, 302);
  });
});

Deno.test("clearFaults() removes every rule", async () => {
  await withServer({}, async (server) => {
    server.fault({ kind: "status", status: 500 });
    assert.equal((await request(`${server.url}__heartbeat__`)).status, 500);
    server.clearFaults();
    assert.equal((await request(`${server.url}__heartbeat__`)).status, 200);
  });
});

Deno.test("parseFaultRule() names what is wrong with a rule", () => {
  assert.throws(() => parseFaultRule({ kind: "explode" }), /unknown kind "explode"/);
  assert.throws(() => parseFaultRule({ kind: "status" }), /"status" must be a number/);
  assert.throws(
    () => parseFaultRule({ kind: "slow", bytesPerSecond: 0 }),
    /"bytesPerSecond" must be > 0/,
  );
  assert.throws(
    () => parseFaultRule({ kind: "hang", origin: "moon" }),
    /"origin" must be "api" or "storage"/,
  );
  assert.deepEqual(parseFaultRule({ kind: "drop-after", bytes: 3, times: 1 }), {
    kind: "drop-after",
    bytes: 3,
    times: 1,
  });
});

Deno.test("a client that hangs up during a slow body leaves no timer or file open", async () => {
  await withServer({}, async (server) => {
    const { digest } = await server.addFile(new Uint8Array(4096));
    server.fault({ kind: "slow", bytesPerSecond: 1000 });
    const response = await fetch(await locationOf(server, digest));
    const reader = response.body!.getReader();
    await reader.read();
    await reader.cancel();
    // The sanitizers fail this test if the shaper's delay or the blob's handle leaked.
    await new Promise((resolve) => setTimeout(resolve, 100));
  });
});

Deno.test("a body rule that would not change a body is not used up on it", async () => {
  await withServer({}, async (server) => {
    const small = await server.addFile(bytes("tiny"));
    const { digest } = await server.addFile(content);
    server.fault({ kind: "drop-after", bytes: 10, times: 1 });
    server.fault({ kind: "flip-byte", offset: 20, times: 1 });
    assert.equal((await request(await locationOf(server, small.digest))).text, "tiny");
    const location = await locationOf(server, digest);
    const head = await request(location, { headers: { range: "bytes=0-9" } });
    assert.deepEqual(head.body, content.subarray(0, 10), "neither rule changes bytes 0-9");
    const response = await fetch(location);
    const { body, error } = await readAll(response);
    assert.ok(error !== undefined, "the cut is still pending and applies here");
    assert.ok(body.length <= 10);
    const flipped = await request(location);
    assert.equal(flipped.body[20], content[20]! ^ 0xff);
  });
});

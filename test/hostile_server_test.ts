/**
 * End-to-end: `tooltool` against servers that misbehave on purpose — redirects to local
 * files and other schemes, huge or compressed error bodies, trickling bodies, broken HTTP —
 * and against bad URLs given on the command line. Each server here is a few lines in the
 * test process (`Deno.serve`, or a raw `Deno.listen` for what no HTTP server would send).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runTool, tempDir } from "./cli.ts";
import { FAST_ENV } from "./fetch_fixture.ts";
import { sha512Hex } from "../src/digest.ts";

const CONTENT = new TextEncoder().encode("hello, tooltool\n");
const DIGEST = sha512Hex(CONTENT);

/** An HTTP server on a free local port, answering with `handler`; closed by the disposer. */
function httpServer(handler: (request: Request) => Response | Promise<Response>) {
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, handler);
  return {
    url: `http://127.0.0.1:${server.addr.port}/`,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

/** A TCP server that answers every connection with `reply` once the request arrived. */
function rawServer(reply: (conn: Deno.Conn) => Promise<void>) {
  const listener = Deno.listen({ port: 0, hostname: "127.0.0.1" });
  const conns = new Set<Deno.Conn>();
  const serving = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      (async () => {
        await conn.read(new Uint8Array(64 * 1024)).catch(() => null);
        await reply(conn).catch(() => {});
        try {
          conn.close();
        } catch {
          // Already closed.
        }
        conns.delete(conn);
      })();
    }
  })().catch(() => {});
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/`,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
      await serving;
    },
  };
}

async function writeManifest(dir: string, filename = "a.bin"): Promise<void> {
  await Deno.writeTextFile(
    join(dir, "manifest.tt"),
    JSON.stringify([{ filename, size: CONTENT.length, algorithm: "sha512", digest: DIGEST }]),
  );
}

/** Serves `CONTENT` for its digest, at `/blob` (what a good storage does). */
function goodServer() {
  return httpServer((request) => {
    const { pathname } = new URL(request.url);
    if (pathname === `/sha512/${DIGEST}`) {
      return new Response(null, { status: 302, headers: { Location: "/blob" } });
    }
    return pathname === "/blob" ? new Response(CONTENT) : new Response("no", { status: 404 });
  });
}

for (const location of ["file:///etc/passwd", "file:///dev/stdin", "data:text/plain,hello"]) {
  Deno.test(`fetch refuses an API redirect to ${location.split(",")[0]} and falls back to the next --url`, async () => {
    await using dir = await tempDir();
    await writeManifest(dir.path);
    await using hostile = httpServer(() =>
      new Response(null, { status: 302, headers: { Location: location } })
    );
    await using good = goodServer();
    const run = await runTool(["fetch", "--url", hostile.url, "--url", good.url, "--json"], {
      cwd: dir.path,
      env: FAST_ENV,
    });
    assert.equal(run.code, 0, run.stderr);
    const [file] = JSON.parse(run.stdout).files;
    assert.equal(file.source, "network");
    assert.equal(file.attempts, 2, "one refused attempt, no retries of it");
    assert.deepEqual(await Deno.readFile(join(dir.path, "a.bin")), CONTENT);
  });
}

Deno.test("fetch fails, naming the scheme, when the only server redirects to file:", async () => {
  await using dir = await tempDir();
  await writeManifest(dir.path, "passwd");
  let asked = 0;
  await using hostile = httpServer(() => {
    asked++;
    return new Response(null, { status: 302, headers: { Location: "file:///etc/passwd" } });
  });
  const run = await runTool(["fetch", "--url", hostile.url], { cwd: dir.path, env: FAST_ENV });
  assert.equal(run.code, 1);
  assert.match(
    run.stderr,
    /^error: Cannot fetch "passwd" from http:\/\/127\.0\.0\.1:\d+\/: the server redirected to a file: URL; only http and https are followed$/m,
  );
  assert.match(run.stderr, /0 downloaded.*1 failed/);
  assert.equal(asked, 1, "not retried");
  await assert.rejects(Deno.stat(join(dir.path, "passwd")), Deno.errors.NotFound);
});

Deno.test("fetch refuses --url ftp:// at once as a usage error", async () => {
  await using dir = await tempDir();
  await writeManifest(dir.path);
  const run = await runTool(["fetch", "--url", "ftp://mirror.test/"], { cwd: dir.path });
  assert.equal(run.code, 2);
  assert.equal(
    run.stderr,
    'error: Invalid --url "ftp://mirror.test/": only http and https URLs are supported, not ftp:\n',
  );
});

/** A body of `size` bytes sent one byte every `everyMs` (a trickle the stall timer never sees). */
function trickle(size: number, everyMs: number): ReadableStream<Uint8Array> {
  let sent = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  return new ReadableStream<Uint8Array>({
    pull: (controller) =>
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          controller.enqueue(CONTENT.subarray(sent, sent + 1));
          sent++;
          if (sent >= size) controller.close();
          resolve();
        }, everyMs);
      }),
    cancel: () => clearTimeout(timer),
  });
}

Deno.test("fetch ends an attempt that trickles below --speed-limit, as a retriable failure", async () => {
  await using dir = await tempDir();
  await writeManifest(dir.path);
  let downloads = 0;
  await using server = httpServer((request) => {
    const { pathname } = new URL(request.url);
    if (pathname === `/sha512/${DIGEST}`) {
      return new Response(null, { status: 302, headers: { Location: "/blob" } });
    }
    downloads++;
    return new Response(trickle(CONTENT.length, 200), {
      headers: { "Content-Length": String(CONTENT.length) },
    });
  });
  const started = performance.now();
  const run = await runTool(
    ["fetch", "--url", server.url, "--speed-limit", "100", "--speed-time", "0.5"],
    { cwd: dir.path, env: { ...FAST_ENV, TOOLTOOL_STALL_TIMEOUT_MS: "5000" } },
  );
  assert.equal(run.code, 1, run.stderr);
  assert.match(
    run.stderr,
    /^error: Cannot fetch "a\.bin" from http:\/\/127\.0\.0\.1:\d+\/: slower than 100 bytes\/s for 0\.5 s \(--speed-limit, --speed-time\)$/m,
  );
  assert.match(run.stderr, /slower than 100 bytes\/s .*; retrying in/);
  assert.ok(downloads >= 2, "retried");
  assert.ok(performance.now() - started < 20_000);
});

Deno.test("fetch gives up on a file at --max-time, even when the API never answers", async () => {
  await using dir = await tempDir();
  await writeManifest(dir.path);
  await using server = httpServer((request) =>
    new Promise<Response>((resolve) =>
      request.signal.addEventListener("abort", () => resolve(new Response(null)))
    )
  );
  const started = performance.now();
  const run = await runTool(
    ["fetch", "--url", server.url, "--max-time", "1"],
    { cwd: dir.path, env: FAST_ENV },
  );
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /^error: Cannot fetch "a\.bin": not done within 1 s \(--max-time\)$/m);
  assert.ok(performance.now() - started < 15_000);
});

Deno.test("a bad --max-time or TOOLTOOL_SPEED_LIMIT is a usage error", async () => {
  await using dir = await tempDir();
  const flag = await runTool(["fetch", "--max-time", "soon"], { cwd: dir.path });
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /Invalid value for --max-time: "soon" is not a number/);
  const env = await runTool(["fetch"], { cwd: dir.path, env: { TOOLTOOL_SPEED_LIMIT: "-1" } });
  assert.equal(env.code, 2);
  assert.match(env.stderr, /Invalid value for TOOLTOOL_SPEED_LIMIT: must be at least 0/);
});

/** Mounts a read-only tmpfs at `path` (needs root); false where that is not possible. */
async function mountReadOnly(path: string): Promise<boolean> {
  if (Deno.uid() !== 0) return false;
  const { success } = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", path],
    stderr: "null",
  }).output();
  return success;
}

Deno.test("fetch into a read-only working directory words the error, never `(os error 30)`", async (t) => {
  await using dir = await tempDir();
  const work = join(dir.path, "ro");
  await Deno.mkdir(work);
  const manifest = join(dir.path, "manifest.tt");
  await writeManifest(dir.path);
  if (!(await mountReadOnly(work))) {
    t.step({ name: "skipped: cannot mount a read-only file system here", ignore: true, fn() {} });
    return;
  }
  try {
    await using good = goodServer();
    for (const json of [false, true]) {
      const run = await runTool(
        ["fetch", "--url", good.url, "-m", manifest, ...(json ? ["--json"] : [])],
        { cwd: work, env: FAST_ENV },
      );
      assert.equal(run.code, 1);
      assert.doesNotMatch(run.stderr + run.stdout, /os error/);
      assert.match(run.stderr, /^error: .*read-only file system/m);
    }
  } finally {
    await new Deno.Command("umount", { args: [work] }).output();
  }
});

const encoder = new TextEncoder();

/** A storage that answers the download with `reply`, behind an API that redirects to it. */
async function fetchFromBrokenStorage(
  reply: (conn: Deno.Conn) => Promise<void>,
  scheme: "http" | "https" = "http",
  env: Readonly<Record<string, string>> = {},
) {
  await using dir = await tempDir();
  await writeManifest(dir.path);
  await using storage = rawServer(reply);
  const location = storage.url.replace("http:", `${scheme}:`) + "blob";
  await using api = httpServer(() =>
    new Response(null, { status: 302, headers: { Location: location } })
  );
  return await runTool(["fetch", "--url", api.url], {
    cwd: dir.path,
    env: { ...FAST_ENV, TOOLTOOL_RETRY_BASE_MS: "1", ...env },
  });
}

// Each case twice: through our own HTTP/1.1 client (the default), and through Deno's
// fetch (what a run behind a proxy, or with TOOLTOOL_HTTP_CLIENT=fetch, uses), whose
// reasons come from hyper.
for (
  const [name, reply, ourReason, fetchReason] of [
    [
      "a bad Content-Length",
      "HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\nhello",
      `the answer's Content-Length "lots" is not a length`,
      "invalid content-length parsed",
    ],
    [
      "an oversized header",
      `HTTP/1.1 200 OK\r\nX-Big: ${"a".repeat(1 << 20)}\r\n\r\n`,
      "the answer's head is larger than 64 KiB",
      "message head is too large",
    ],
    [
      "garbage instead of HTTP",
      "SSH-2.0-OpenSSH_9.6\r\n\r\n",
      "the answer does not start with an HTTP/1 status",
      "invalid HTTP version parsed",
    ],
  ] as const
) {
  for (const [client, reason] of [["", ourReason], ["fetch", fetchReason]] as const) {
    Deno.test(
      `fetch names the cause when storage sends ${name}, not just "fetch failed"${
        client ? ` (Deno's fetch)` : ""
      }`,
      async () => {
        const run = await fetchFromBrokenStorage(
          async (conn) => {
            await conn.write(encoder.encode(reply));
          },
          "http",
          { TOOLTOOL_HTTP_CLIENT: client },
        );
        assert.equal(run.code, 1);
        assert.match(
          run.stderr,
          new RegExp(
            `^error: Cannot fetch "a\\.bin" from http://127\\.0\\.0\\.1:\\d+/: ${reason}$`,
            "m",
          ),
        );
        assert.doesNotMatch(run.stderr, /fetch failed/);
      },
    );
  }
}

Deno.test("fetch names a TLS handshake failure (https:// to a plain TCP server)", async () => {
  const run = await fetchFromBrokenStorage(async (conn) => {
    await conn.write(encoder.encode("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"));
  }, "https");
  assert.equal(run.code, 1);
  assert.match(
    run.stderr,
    /^error: Cannot fetch "a\.bin" from https:\/\/127\.0\.0\.1:\d+\/: TLS handshake failed: received corrupt message/m,
  );
});

Deno.test("fetch names a DNS failure for a host that cannot resolve", async () => {
  await using dir = await tempDir();
  await writeManifest(dir.path);
  const run = await runTool(["fetch", "--url", "http://tooltool.invalid/"], {
    cwd: dir.path,
    env: { ...FAST_ENV, TOOLTOOL_RETRY_BASE_MS: "1" },
  });
  assert.equal(run.code, 1);
  assert.match(
    run.stderr,
    /^error: Cannot fetch "a\.bin" from http:\/\/tooltool\.invalid\/: cannot resolve the host name \(/m,
  );
});

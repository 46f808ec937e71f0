import assert from "node:assert/strict";
import { join } from "node:path";
import { clipText, readBoundedFile, readBoundedText, UnreadableFileError } from "./bounded_read.ts";
import { ToolError } from "./errors.ts";
import { ApiClient, httpErrorFor } from "./transport/http.ts";

/** A body that never ends, and whether it was cancelled. */
function endlessBody() {
  const state = { pulled: 0, cancelled: false };
  const chunk = new Uint8Array(16 * 1024).fill(0x61);
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      state.pulled += chunk.length;
      controller.enqueue(chunk);
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return { stream, state };
}

Deno.test("readBoundedText() stops at the limit and cancels an endless body", async () => {
  const { stream, state } = endlessBody();
  const { text, truncated } = await readBoundedText(new Response(stream), 100_000);
  assert.equal(text.length, 100_000);
  assert.equal(truncated, true);
  assert.equal(state.cancelled, true);
  assert.ok(state.pulled < 200_000);
});

Deno.test("readBoundedText() reads a short body whole", async () => {
  assert.deepEqual(await readBoundedText(new Response("héllo"), 100), {
    text: "héllo",
    truncated: false,
  });
  assert.deepEqual(await readBoundedText(new Response(null), 100), { text: "", truncated: false });
});

Deno.test("an API error body that is a gzip bomb is cut off after decoding, not inflated whole", async () => {
  // 256 MiB of zeros: ~250 KiB on the wire.
  const inflated = 256 * 1024 * 1024;
  const zeros = new Uint8Array(1024 * 1024);
  const compressed = new Uint8Array(
    await new Response(
      new ReadableStream<BufferSource>({
        start(controller) {
          for (let i = 0; i < inflated / zeros.length; i++) controller.enqueue(zeros);
          controller.close();
        },
      }).pipeThrough(new CompressionStream("gzip")),
    ).arrayBuffer(),
  );
  assert.ok(compressed.length < 1024 * 1024);
  await using server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    () =>
      new Response(compressed, {
        status: 500,
        headers: { "Content-Encoding": "gzip", "Content-Type": "application/json" },
      }),
  );
  const before = Deno.memoryUsage().rss;
  const response = await fetch(`http://127.0.0.1:${server.addr.port}/`);
  const error = await httpErrorFor("fetch", "a.bin", "http://x/", response);
  assert.ok(Deno.memoryUsage().rss - before < 64 * 1024 * 1024, "the body was not inflated");
  assert.ok(error.message.length < 1000, error.message.slice(0, 100));
});

Deno.test("a problem detail is cut to 500 characters, saying how much was left out", async () => {
  const response = new Response(JSON.stringify({ detail: "x".repeat(10_000), title: "Bad" }), {
    status: 400,
  });
  const error = await httpErrorFor("fetch", "a.bin", "http://x/", response);
  assert.match(error.message, /\(Bad: x{500}… \(9500 more bytes\)\)$/);
  assert.equal(error.problem?.detail?.length, 500 + "… (9500 more bytes)".length);
});

Deno.test("clipText() keeps short text and counts the bytes it leaves out", () => {
  assert.equal(clipText("short"), "short");
  assert.equal(clipText("abcdé", 4), "abcd… (2 more bytes)");
});

Deno.test("requestJson() refuses an answer larger than its limit, without retrying", async () => {
  const { stream, state } = endlessBody();
  const client = new ApiClient({
    baseUrl: "http://api.test/",
    credentials: { kind: "none" },
    fetch: () => Promise.resolve(new Response(stream)),
    env: () => undefined,
  });
  await assert.rejects(
    client.requestJson({
      method: "GET",
      path: "x",
      operation: "fetch",
      target: "t",
      maxAnswerBytes: 50_000,
    }),
    (error: unknown) =>
      error instanceof ToolError && /answer is larger than 49 KiB/.test(error.message),
  );
  assert.equal(state.cancelled, true);
});

Deno.test("readBoundedFile() refuses devices, FIFOs and directories where a regular file is wanted", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const fifo = join(dir, "fifo");
    await new Deno.Command("mkfifo", { args: [fifo] }).output();
    for (
      const [path, pattern] of [
        ["/dev/zero", /a character device, not a regular file/],
        [fifo, /a FIFO \(named pipe\), not a regular file/],
      ] as const
    ) {
      await assert.rejects(
        readBoundedFile(path, { limit: 1024, kinds: "regular" }),
        (error: unknown) => error instanceof UnreadableFileError && pattern.test(error.message),
      );
    }
    await assert.rejects(
      readBoundedFile(dir, { limit: 1024, kinds: "regular" }),
      Deno.errors.IsADirectory,
    );
    await assert.rejects(
      readBoundedFile("/dev/zero", { limit: 1024, kinds: "regular-or-pipe" }),
      /a character device/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readBoundedFile() refuses a file over the limit and reads a pipe when allowed", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const big = join(dir, "big");
    await Deno.writeFile(big, new Uint8Array(2048));
    await assert.rejects(
      readBoundedFile(big, { limit: 1024, kinds: "regular" }),
      /larger than 1 KiB/,
    );
    const fifo = join(dir, "fifo");
    await new Deno.Command("mkfifo", { args: [fifo] }).output();
    const writer = new Deno.Command("sh", { args: ["-c", `printf hello > ${fifo}`] }).spawn();
    const bytes = await readBoundedFile(fifo, { limit: 1024, kinds: "regular-or-pipe" });
    assert.equal(new TextDecoder().decode(bytes), "hello");
    await writer.status;
    const endless = new Deno.Command("sh", { args: ["-c", `yes > ${fifo}`] }).spawn();
    await assert.rejects(
      readBoundedFile(fifo, { limit: 100_000, kinds: "regular-or-pipe" }),
      /larger than/,
    );
    endless.kill();
    await endless.status;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

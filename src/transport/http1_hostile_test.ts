import assert from "node:assert/strict";
import { http1Fetch } from "./http1.ts";
import { scriptedServer, write } from "../../test/helpers/scripted_server.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const manual = { redirect: "manual" } as const;

Deno.test("bytes past the end of an answer are never read as the next answer", async (t) => {
  const smuggled = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil";
  const firsts: Record<string, { method: string; answer: string }> = {
    "a body longer than its Content-Length": {
      method: "GET",
      answer: `HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok${smuggled}`,
    },
    "a 204 with a body": { method: "GET", answer: `HTTP/1.1 204 No Content\r\n\r\n${smuggled}` },
    "a HEAD answered with its body": {
      method: "HEAD",
      answer: `HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody${smuggled}`,
    },
    "a chunked body with bytes after its last chunk": {
      method: "GET",
      answer:
        `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n${smuggled}`,
    },
  };
  for (const [name, { method, answer }] of Object.entries(firsts)) {
    await t.step(name, async () => {
      await using server = scriptedServer(async ({ conn, connection, request }) => {
        // One write: the extra bytes arrive with the answer, as they would from a server.
        await write(
          conn,
          connection === 0 && request === 0
            ? answer
            : "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngood",
        );
      });
      const fetch = http1Fetch();
      await (await fetch(server.url, { ...manual, method })).arrayBuffer();
      assert.equal(await (await fetch(server.url, manual)).text(), "good");
      assert.equal(server.accepted, 2, "the connection with the extra bytes was not reused");
    });
  }
});

Deno.test("an abort while connecting, the connect then succeeding, leaves no unhandled rejection", async () => {
  await using server = scriptedServer(async ({ conn }) => {
    await write(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  });
  const unhandled: unknown[] = [];
  const onUnhandled = (event: PromiseRejectionEvent) => {
    event.preventDefault();
    unhandled.push(event.reason);
  };
  globalThis.addEventListener("unhandledrejection", onUnhandled);
  try {
    const opened: Deno.Conn[] = [];
    const fetch = http1Fetch({
      // A slow connect (DNS, a TLS handshake): the abort comes before it ends.
      connect: async ({ hostname, port }) => {
        await sleep(50);
        const conn = await Deno.connect({ hostname, port });
        opened.push(conn);
        return conn;
      },
    });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("given up")), 10);
    await assert.rejects(fetch(server.url, { ...manual, signal: controller.signal }), /given up/);
    await sleep(100);
    // main.ts ends the run with a failure on any unhandled rejection.
    assert.deepEqual(unhandled, []);
    assert.equal(opened.length, 1);
    assert.throws(() => opened[0]!.close(), "the late connection was closed");
  } finally {
    globalThis.removeEventListener("unhandledrejection", onUnhandled);
  }
});

Deno.test("a body stream cancelled under a pending read closes its connection, not leave it draining forever", async () => {
  await using server = scriptedServer(async ({ conn, connection, request }) => {
    if (connection > 0 || request > 0) {
      await write(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      return;
    }
    await write(conn, "HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 20\r\n\r\n0123456789");
    await sleep(50);
    await write(conn, "abcdefghij");
  });
  const fetch = http1Fetch();
  const response = await fetch(server.url, manual);
  const reader = response.body!.getReader();
  assert.equal(new TextDecoder().decode((await reader.read()).value), "0123456789");
  const pending = reader.read();
  await sleep(10);
  await reader.cancel();
  assert.deepEqual(await pending, { done: true, value: undefined });
  await sleep(100);
  assert.equal(server.ended[0], true, "the client closed the connection");
  assert.equal(await (await fetch(server.url, manual)).text(), "ok");
});

Deno.test("statusText is the server's phrase only when fetch could have given one as short", async () => {
  await using server = scriptedServer(async ({ conn, request }) => {
    const reason = request === 0 ? "x".repeat(60_000) : "Request has expired";
    await write(conn, `HTTP/1.1 403 ${reason}\r\nContent-Length: 0\r\n\r\n`);
  });
  const fetch = http1Fetch();
  assert.equal((await fetch(server.url, manual)).statusText, "");
  assert.equal((await fetch(server.url, manual)).statusText, "Request has expired");
});

Deno.test("a kept-alive connection that breaks after part of the answer is not asked again", async () => {
  await using server = scriptedServer(async ({ conn, request }) => {
    if (request === 0) {
      await write(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      return;
    }
    await write(conn, "HTTP/1.1 200 OK\r\nContent-");
    return "close";
  });
  const fetch = http1Fetch();
  assert.equal(await (await fetch(server.url, manual)).text(), "ok");
  await assert.rejects(fetch(server.url, manual), TypeError);
  assert.equal(server.heads.length, 2, "the GET went out once");
  assert.equal(server.accepted, 1);
});

Deno.test("a kept-alive connection closed after reading the request, unanswered, is retried once", async () => {
  await using server = scriptedServer(async ({ conn, connection, request }) => {
    if (connection === 0 && request === 1) return "close";
    await write(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  });
  const fetch = http1Fetch();
  assert.equal(await (await fetch(server.url, manual)).text(), "ok");
  assert.equal(await (await fetch(server.url, manual)).text(), "ok");
  assert.equal(server.accepted, 2);
  assert.equal(server.heads.length, 3);
});

Deno.test("an abort during the background drain of an abandoned page closes its connection", async () => {
  await using server = scriptedServer(async ({ conn }) => {
    // The rest of the page never comes.
    await write(conn, "HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 20\r\n\r\n0123456789");
  });
  const controller = new AbortController();
  const response = await http1Fetch()(server.url, { ...manual, signal: controller.signal });
  await response.body?.cancel();
  await sleep(20);
  assert.equal(server.ended[0], false, "the drain waits for the rest");
  controller.abort();
  await sleep(20);
  assert.equal(server.ended[0], true, "the abort closed the connection under the drain");
});

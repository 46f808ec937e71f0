/**
 * Behaviours of the lazy-body response and the field list that differ from a
 * response of Deno's own `fetch`.
 */
import assert from "node:assert/strict";
import { discardBody } from "./body_reader.ts";
import { http1Fetch, parseHead } from "./http1.ts";
import { scriptedServer, write } from "../../test/helpers/scripted_server.ts";

const manual = { redirect: "manual" } as const;

Deno.test("a clone's body survives discardBody() of its original (as with Deno's fetch)", async () => {
  await using server = scriptedServer(async ({ conn }) => {
    await write(conn, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
  });
  const fetch = http1Fetch();
  const response = await fetch(server.url, manual);
  const copy = response.clone();
  await discardBody(response);
  assert.equal(await copy.text(), "hello");
});

Deno.test("a body read after discardBody() is refused, not silently empty", async () => {
  await using server = scriptedServer(async ({ conn }) => {
    await write(conn, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
  });
  const fetch = http1Fetch();
  const response = await fetch(server.url, manual);
  await discardBody(response);
  // Deno's own response rejects here ("body already consumed"); bodyUsed is true.
  const own = new Response("hello");
  await own.body!.cancel();
  assert.equal(own.bodyUsed, true);
  await assert.rejects(own.text());
  assert.equal(response.bodyUsed, true, "bodyUsed after discardBody()");
  await assert.rejects(response.text(), "text() after discardBody()");
});

Deno.test("every field parseHead() accepts, Response accepts and reads the same", () => {
  const values = [
    "a\x01b",
    "\x7f",
    "\x80\xff",
    "\f7\v",
    " \t 5 \t ",
    "5, 5",
    "",
    "x".repeat(10000),
  ];
  const names = ["Content-Length", "transfer-encoding", "CONNECTION", "!#$%&'*+-.^_`|~09AZaz"];
  for (const name of names) {
    for (const value of values) {
      const head = parseHead(`HTTP/1.1 200 OK\r\n${name}: ${value}\r\n${name}:${value}`);
      const response = new Response(null, {
        status: 200,
        headers: head.headers.fields as [string, string][],
      });
      assert.equal(response.headers.get(name), head.headers.get(name), `${name}: ${value}`);
    }
  }
});

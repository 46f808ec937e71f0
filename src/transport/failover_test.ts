import assert from "node:assert/strict";
import { HttpError, NetworkError } from "../errors.ts";
import { isServerTrouble, withFailover } from "./failover.ts";

const options = (servers: string[], warnings: string[]) => ({
  servers,
  nameOf: (server: string) => server,
  attempts: 2,
  warn: (message: string) => warnings.push(message),
});

Deno.test("withFailover() moves to the next server at once when one is in trouble", async () => {
  const warnings: string[] = [];
  const tried: string[] = [];
  const { value, index } = await withFailover((server) => {
    tried.push(server);
    if (server === "a") return Promise.reject(new NetworkError("a is down"));
    return Promise.resolve(`from ${server}`);
  }, options(["a", "b"], warnings));
  assert.equal(value, "from b");
  assert.equal(index, 1);
  assert.deepEqual(tried, ["a", "b"]);
  assert.deepEqual(warnings, ["a is down; trying b"]);
});

Deno.test("withFailover() gives the last server the retries and starts where told", async () => {
  const warnings: string[] = [];
  let calls = 0;
  await assert.rejects(
    withFailover(() => {
      calls++;
      throw new HttpError("busy", { status: 503, url: "u", retryAfterMs: 1 });
    }, { ...options(["a", "b"], warnings), start: 1 }),
    /busy/,
  );
  assert.equal(calls, 2);
  assert.deepEqual(warnings, ["busy; retrying in 0.0 s"]);
});

Deno.test("withFailover() does not pass a request's own fault to another server", async () => {
  const tried: string[] = [];
  await assert.rejects(
    withFailover((server) => {
      tried.push(server);
      throw new HttpError("forbidden", { status: 403, url: "u" });
    }, options(["a", "b"], [])),
    /forbidden/,
  );
  assert.deepEqual(tried, ["a"]);
  assert.equal(isServerTrouble(new HttpError("x", { status: 404, url: "u" })), false);
});

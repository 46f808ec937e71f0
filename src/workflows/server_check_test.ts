import assert from "node:assert/strict";
import { checkServers, finishCheck } from "./server_check.ts";
import type { Context } from "../context.ts";
import { PartialFailureError } from "../errors.ts";
import { memoryOutput } from "../output.ts";

function contextWith(handler: (request: Request) => Promise<Response>) {
  const { output, stdout, stderr } = memoryOutput();
  const ctx: Context = {
    cwd: "/",
    env: () => undefined,
    output,
    fetch:
      ((input: RequestInfo | URL, init?: RequestInit) =>
        handler(new Request(input, init))) as typeof globalThis.fetch,
    signal: new AbortController().signal,
    cores: 1,
  };
  return { ctx, stdout, stderr };
}

Deno.test("checkServers() fails a probe that gets no answer in time", async () => {
  const { ctx } = contextWith((request) =>
    new URL(request.url).pathname === "/__heartbeat__"
      ? new Promise((_, reject) =>
        request.signal.addEventListener("abort", () => reject(request.signal.reason))
      )
      : Promise.resolve(new Response("OK"))
  );
  const report = await checkServers({ urls: ["http://api.test/"], timeoutMs: 50 }, ctx);
  const heartbeat = report.probes.find((probe) => probe.name === "heartbeat");
  assert.equal(heartbeat?.got, "no answer within 0.05 s");
  assert.equal(heartbeat?.ok, false);
  assert.equal(report.ok, false);
});

Deno.test("checkServers() wants a JSON version document, not just 200", async () => {
  const { ctx, stdout } = contextWith(() => Promise.resolve(new Response("<html>hi</html>")));
  const report = await checkServers({ urls: ["http://api.test/"] }, ctx);
  const version = report.probes.find((probe) => probe.name === "version");
  assert.equal(version?.got, "200 without a JSON version");
  assert.throws(() => finishCheck(report, ctx), PartialFailureError);
  assert.match(stdout(), /^FAIL version: GET http:\/\/api\.test\/__version__: /m);
  assert.match(stdout(), /^FAIL malformed digest: .*expected 400, got 200$/m);
});

Deno.test("checkServers() never sends credentials and never follows redirects", async () => {
  const seen: Request[] = [];
  const { ctx } = contextWith((request) => {
    seen.push(request);
    return Promise.resolve(new Response("OK"));
  });
  await checkServers({ urls: ["http://a.test/", "http://b.test/"] }, ctx);
  assert.equal(seen.length, 8);
  assert.ok(seen.every((r) => !r.headers.has("authorization") && r.redirect === "manual"));
});

Deno.test("checkServers() does not follow a public file's redirect to file:, data: or plain http", async () => {
  const digest = "ab".repeat(64);
  for (
    const [base, location, got] of [
      ["http://api.test/", "file:///etc/passwd", "302: redirected to a file: URL"],
      ["http://api.test/", "data:,hello", "302: redirected to a data: URL"],
      ["https://api.test/", "http://storage.test/b", "302: redirected from https to plain http"],
    ] as const
  ) {
    const seen: string[] = [];
    const { ctx } = contextWith((request) => {
      seen.push(request.url);
      return Promise.resolve(
        request.url.includes(`/sha512/${digest}`)
          ? new Response(null, { status: 302, headers: { Location: location } })
          : new Response("OK"),
      );
    });
    const report = await checkServers({ urls: [base], publicDigest: digest }, ctx);
    const probe = report.probes.find((p) => p.name === "public file redirects");
    assert.equal(probe?.ok, false, location);
    assert.ok(probe?.got.startsWith(got), probe?.got);
    assert.equal(report.probes.some((p) => p.name === "storage serves the public file"), false);
    assert.ok(seen.every((url) => url.startsWith(base)), "nothing but the API was asked");
  }
});

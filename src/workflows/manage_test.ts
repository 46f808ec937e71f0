import assert from "node:assert/strict";
import type { Context } from "../context.ts";
import { changeVisibility, deleteInstances } from "./manage.ts";
import { memoryOutput } from "../output.ts";

const DIGEST = "c".repeat(128);

function contextWith(handler: (request: Request) => Response | Promise<Response>) {
  const seen: { method: string; url: string; body: string; auth: string | null }[] = [];
  const { output, stdout, stderr } = memoryOutput();
  const env: Record<string, string> = {
    TASKCLUSTER_CLIENT_ID: "admin",
    TASKCLUSTER_ACCESS_TOKEN: "token",
  };
  const ctx: Context = {
    cwd: "/",
    env: (name) => env[name],
    output,
    fetch: (async (input: RequestInfo | URL, init?: RequestInit) => {
      const request = new Request(input, init);
      seen.push({
        method: request.method,
        url: request.url,
        body: await request.clone().text(),
        auth: request.headers.get("authorization"),
      });
      return handler(request);
    }) as typeof globalThis.fetch,
    signal: new AbortController().signal,
    cores: 1,
  };
  return { ctx, seen, stdout, stderr };
}

const record = { digest: DIGEST, size: 3, visibility: "public", instances: ["us-east-1"] };

Deno.test("changeVisibility() sends one signed set_visibility PATCH", async () => {
  const { ctx, seen, stdout } = contextWith(() => Response.json(record));
  const result = await changeVisibility(
    { digest: DIGEST, visibility: "public", urls: ["http://api.test/"] },
    ctx,
  );
  assert.deepEqual(result, record);
  assert.equal(seen.length, 1);
  assert.equal(seen[0]?.method, "PATCH");
  assert.equal(seen[0]?.url, `http://api.test/file/sha512/${DIGEST}`);
  assert.deepEqual(JSON.parse(seen[0]?.body ?? ""), [{
    op: "set_visibility",
    visibility: "public",
  }]);
  assert.match(seen[0]?.auth ?? "", /^Hawk id="admin", .*hash="/);
  assert.equal(stdout(), `digest: ${DIGEST}\nsize: 3\nvisibility: public\ninstances: us-east-1\n`);
});

Deno.test("deleteInstances() sends delete_instances and falls back past a failing server", async () => {
  const { ctx, seen, stderr } = contextWith((request) =>
    request.url.startsWith("http://down.test/")
      ? new Response("busy", { status: 503, statusText: "Service Unavailable" })
      : Response.json({ ...record, instances: [] })
  );
  const result = await deleteInstances(
    { digest: DIGEST, urls: ["http://down.test/", "http://up.test/"] },
    ctx,
  );
  assert.deepEqual(result.instances, []);
  assert.deepEqual(seen.map((s) => s.url.split("/")[2]), ["down.test", "up.test"]);
  assert.deepEqual(JSON.parse(seen[1]?.body ?? ""), [{ op: "delete_instances" }]);
  assert.match(
    stderr(),
    /server returned 503 Service Unavailable \(busy\); trying http:\/\/up\.test\//,
  );
});

Deno.test("patchFile() rejects an answer that is not a file record", async () => {
  const { ctx } = contextWith(() => Response.json({ digest: DIGEST, size: "big" }));
  await assert.rejects(
    deleteInstances({ digest: DIGEST, urls: ["http://api.test/"] }, ctx),
    /the server's answer is not a file record \(size: Invalid input: expected number/,
  );
});

import assert from "node:assert/strict";
import { fileURLToPath as fromFileUrl } from "node:url";
import { bytes, request, SCOPE, sha512, sign, withServer } from "./test_util.ts";

Deno.test("the control endpoint adds, lists and clears faults", async () => {
  await withServer({}, async (server) => {
    const added = await request(`${server.url}__control__/faults`, {
      method: "POST",
      body: JSON.stringify([{ kind: "status", status: 500, times: 2 }, {
        kind: "slow",
        bytesPerSecond: 1e6,
      }]),
    });
    assert.equal(added.status, 201);
    assert.deepEqual(JSON.parse(added.text), { added: 2 });
    assert.equal((await request(`${server.url}__heartbeat__`)).status, 500);
    const listed = JSON.parse((await request(`${server.url}__control__/faults`)).text);
    assert.deepEqual(listed, [
      { remaining: 1, rule: { kind: "status", status: 500, times: 2 } },
      { remaining: null, rule: { bytesPerSecond: 1e6, kind: "slow" } },
    ]);
    assert.equal(
      (await request(`${server.url}__control__/faults`, { method: "DELETE" })).status,
      204,
    );
    assert.equal((await request(`${server.url}__heartbeat__`)).status, 200);

    const bad = await request(`${server.url}__control__/faults`, {
      method: "POST",
      body: JSON.stringify({ kind: "status" }),
    });
    assert.equal(bad.status, 400);
    assert.match(JSON.parse(bad.text).error, /"status" must be a number/);
  });
});

Deno.test("the control endpoint serves and clears the request log, without logging itself", async () => {
  await withServer({}, async (server) => {
    await request(`${server.url}__heartbeat__`);
    const log = JSON.parse((await request(`${server.url}__control__/requests`)).text);
    assert.deepEqual(log, [{
      hasAuthorization: false,
      method: "GET",
      origin: "api",
      status: 200,
      url: `${server.url}__heartbeat__`,
    }]);
    await request(`${server.url}__control__/requests`, { method: "DELETE" });
    assert.deepEqual(server.requests, []);
  });
});

Deno.test("the control endpoint adds files from a streamed body", async () => {
  await withServer({}, async (server) => {
    const content = bytes("seeded from another process");
    const added = await request(`${server.url}__control__/files?visibility=internal`, {
      method: "POST",
      body: content,
    });
    assert.equal(added.status, 201);
    assert.deepEqual(JSON.parse(added.text), { digest: sha512(content), size: content.length });
    assert.equal((await request(`${server.url}sha512/${sha512(content)}`)).status, 403);
    const files = JSON.parse((await request(`${server.url}__control__/files`)).text);
    assert.equal(files[0].visibility, "internal");
  });
});

Deno.test("HEAD on the API answers like GET without a body", async () => {
  await withServer({}, async (server) => {
    const { digest } = await server.addFile(bytes("x"));
    const head = await request(`${server.url}file/sha512/${digest}`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.text, "");
    assert.equal(head.headers.get("content-type"), "application/json");
  });
});

Deno.test("scripts/serve.ts serves with --clients, --storage and --fault until SIGTERM", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const clientsFile = `${dir}/clients.json`;
    await Deno.writeTextFile(
      clientsFile,
      JSON.stringify({ me: { accessToken: "tok", scopes: [`${SCOPE}/*`] } }),
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        fromFileUrl(new URL("../../scripts/serve.ts", import.meta.url)),
        "--port",
        "0",
        "--storage",
        `${dir}/storage`,
        "--clients",
        clientsFile,
        "--upload-expires",
        "5",
        "--fault",
        JSON.stringify({ kind: "status", status: 503, times: 1 }),
      ],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const stdout = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let url = "";
    try {
      let text = "";
      while (!text.includes("\n")) {
        const { value, done } = await stdout.read();
        if (done) break;
        text += value;
      }
      url = text.trim();
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      assert.equal((await request(`${url}__heartbeat__`)).status, 503);
      assert.equal((await request(`${url}__heartbeat__`)).status, 200);
      const permissions = await request(`${url}__permissions__`, {
        headers: {
          authorization: sign(
            { clientId: "me", accessToken: "tok" },
            "GET",
            `${url}__permissions__`,
          ),
        },
      });
      assert.equal(JSON.parse(permissions.text).user_id, "me");
    } finally {
      child.kill("SIGTERM");
      await stdout.cancel();
      const stderr = await new Response(child.stderr).text();
      const status = await child.status;
      assert.equal(status.code, 0, stderr);
      assert.match(stderr, /storage http:\/\/127\.0\.0\.1:\d+\//);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("scripts/serve.ts exits 2 with usage on a bad option", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", fromFileUrl(new URL("../../scripts/serve.ts", import.meta.url)), "--bogus"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 2);
  assert.match(new TextDecoder().decode(output.stderr), /Usage: deno task serve/);
});

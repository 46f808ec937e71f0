import assert from "node:assert/strict";
import { calculatePayloadHash, type TaskclusterCredentials } from "../../src/transport/hawk.ts";
import { createTemporaryCredentials, hawkHostAndPort, scopeSatisfied } from "./auth.ts";
import type { FakeServer } from "./server.ts";
import { bytes, request, SCOPE, sign, withServer } from "./test_util.ts";

const issuer = { clientId: "project/releng/issuer", accessToken: "issuer-token" };
const clients = {
  [issuer.clientId]: {
    accessToken: issuer.accessToken,
    scopes: [`${SCOPE}/download/*`, `${SCOPE}/manage`, "auth:create-client:project/releng/temp-*"],
  },
  plain: { accessToken: "plain-token", scopes: [`${SCOPE}/download/internal`] },
};
const plain: TaskclusterCredentials = { clientId: "plain", accessToken: "plain-token" };

/** Asks the server who it thinks we are. */
async function whoami(server: FakeServer, authorization: string | undefined) {
  const url = `${server.url}__permissions__`;
  const response = await request(url, {
    headers: authorization === undefined ? {} : { authorization },
  });
  return { status: response.status, json: JSON.parse(response.text) };
}

/**
 * Sends a Hawk header to `__permissions__` and returns what production would show (200,
 * `user_id`) and what it only logs: why the signature was rejected.
 */
async function attempt(server: FakeServer, authorization: string) {
  const { status, json } = await whoami(server, authorization);
  return { status, userId: json.user_id, rejection: server.requests.at(-1)?.authRejection };
}

function signed(server: FakeServer, credentials: TaskclusterCredentials, ts?: number) {
  return sign(credentials, "GET", `${server.url}__permissions__`, ts === undefined ? {} : { ts });
}

const HOUR = 3600_000;

Deno.test("scopeSatisfied() matches exactly or by a trailing star", () => {
  assert.equal(scopeSatisfied(["a:b"], "a:b"), true);
  assert.equal(scopeSatisfied(["a:*"], "a:b/c"), true);
  assert.equal(scopeSatisfied(["*"], "anything"), true);
  assert.equal(scopeSatisfied(["a:b*"], "a:bc"), true);
  assert.equal(scopeSatisfied(["a:b"], "a:bc"), false);
  assert.equal(scopeSatisfied(["a*b"], "axxb"), false);
  assert.equal(scopeSatisfied([], "a"), false);
});

Deno.test("a valid Hawk header authenticates the client and the log records its clientId", async () => {
  await withServer({ clients }, async (server) => {
    const { status, json } = await whoami(server, signed(server, plain));
    assert.equal(status, 200);
    assert.deepEqual(json, {
      description: "Permissions of a logged in user",
      user_id: "plain",
      permissions: [`${SCOPE}/download/internal`],
    });
    assert.equal(server.requests.at(-1)?.clientId, "plain");
  });
});

Deno.test("invalid Hawk headers leave the caller anonymous, as production does, and the log says why", async () => {
  await withServer({ clients }, async (server) => {
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, string][] = [
      ["Bad mac", signed(server, { clientId: "plain", accessToken: "wrong" })],
      ["Client `nobody` not found", signed(server, { clientId: "nobody", accessToken: "x" })],
      ["Stale timestamp", signed(server, plain, now - 16 * 60)],
      ["Stale timestamp", signed(server, plain, now + 16 * 60)],
      ["Missing attributes", 'Hawk id="plain", ts="1", nonce="n"'],
      ["Unknown attribute: color", signed(server, plain) + ', color="red"'],
      ["Bad header format", "Hawk id=plain"],
    ];
    for (const [message, header] of cases) {
      assert.deepEqual(await attempt(server, header), {
        status: 200,
        userId: null,
        rejection: message,
      });
    }
    // 14 minutes of skew is still accepted.
    assert.equal((await attempt(server, signed(server, plain, now - 14 * 60))).userId, "plain");
  });
});

Deno.test("a rejected signature on a protected route is production's anonymous refusal, not a 401", async () => {
  await withServer({ clients }, async (server) => {
    const { digest } = await server.addFile(bytes("internal"), { visibility: "internal" });
    const url = `${server.url}sha512/${digest}`;
    const wrong = sign({ clientId: "plain", accessToken: "wrong" }, "GET", url);
    const response = await request(url, { headers: { authorization: wrong } });
    assert.equal(response.status, 403);
    assert.equal(server.requests.at(-1)?.authRejection, "Bad mac");
    assert.equal(
      (await request(url, { headers: { authorization: sign(plain, "GET", url) } })).status,
      302,
    );
  });
});

Deno.test("routes production never authenticates never look at the credentials", async () => {
  await withServer({ clients }, async (server) => {
    const { digest } = await server.addFile(bytes("public"));
    const wrong = { clientId: "plain", accessToken: "wrong" };
    for (
      const path of [
        `sha512/${digest}`,
        `file/sha512/${digest}`,
        `upload/complete/sha512/${digest}`,
      ]
    ) {
      const url = `${server.url}${path}`;
      const response = await request(url, { headers: { authorization: sign(wrong, "GET", url) } });
      assert.ok(response.status < 400, `${path}: ${response.status}`);
      assert.equal(server.requests.at(-1)?.authRejection, undefined, path);
    }
  });
});

Deno.test("the Hawk MAC covers method, host and port", async () => {
  await withServer({ clients }, async (server) => {
    const url = `${server.url}__permissions__`;
    assert.equal((await attempt(server, sign(plain, "POST", url))).rejection, "Bad mac");
    const otherPort = sign(plain, "GET", url.replace(/:\d+\//, ":1/"));
    assert.equal((await attempt(server, otherPort)).rejection, "Bad mac");
  });
});

Deno.test("hawkHostAndPort() takes the port from Host, else X-Forwarded-Port, else the scheme, as production", () => {
  assert.deepEqual(hawkHostAndPort({ host: "127.0.0.1:8010", forwardedPort: "443" }), {
    hostname: "127.0.0.1",
    port: 8010,
  });
  assert.deepEqual(hawkHostAndPort({ host: "tooltool.example", forwardedPort: "8443" }), {
    hostname: "tooltool.example",
    port: 8443,
  });
  assert.deepEqual(hawkHostAndPort({ host: "tooltool.example", scheme: "https" }), {
    hostname: "tooltool.example",
    port: 443,
  });
  assert.deepEqual(hawkHostAndPort({ host: "tooltool.example" }), {
    hostname: "tooltool.example",
    port: 80,
  });
});

Deno.test("a payload hash is signed but, as in production, not compared with the body", async () => {
  await withServer({ clients }, async (server) => {
    const url = `${server.url}upload`;
    const file = { size: 1, digest: "0".repeat(128), algorithm: "sha512", visibility: "public" };
    const body = JSON.stringify({ message: "m", files: { f: file } });
    const other = sign(plain, "POST", url, {
      payloadHash: calculatePayloadHash("{}", "application/json"),
    });
    const response = await request(url, {
      method: "POST",
      body,
      headers: { authorization: other, "content-type": "application/json" },
    });
    assert.equal(response.status, 403, "authenticated; refused for lacking upload/public");
    assert.equal(server.requests.at(-1)?.clientId, "plain");
  });
});

Deno.test("a Bearer token is treated as anonymous, as production does", async () => {
  await withServer({ clients }, async (server) => {
    const { json } = await whoami(server, "Bearer some-old-relengapi-token");
    assert.equal(json.user_id, null);
    const { digest } = await server.addFile(bytes("internal"), { visibility: "internal" });
    const response = await request(`${server.url}sha512/${digest}`, {
      headers: { authorization: "Bearer some-old-relengapi-token" },
    });
    assert.equal(response.status, 403);
    assert.equal(server.requests.at(-1)?.hasAuthorization, true);
  });
});

Deno.test("the Authentication header is read when Authorization is absent, as production does", async () => {
  await withServer({ clients }, async (server) => {
    const response = await request(`${server.url}__permissions__`, {
      headers: { authentication: signed(server, plain) },
    });
    assert.equal(JSON.parse(response.text).user_id, "plain");
  });
});

Deno.test("temporary credentials authenticate with the certificate's scopes", async () => {
  await withServer({ clients }, async (server) => {
    const now = Date.now();
    const temp = createTemporaryCredentials(issuer, {
      scopes: [`${SCOPE}/download/internal`],
      start: now - 1000,
      expiry: now + HOUR,
    });
    assert.equal(temp.clientId, issuer.clientId);
    const { status, json } = await whoami(server, signed(server, temp));
    assert.equal(status, 200);
    assert.equal(json.user_id, issuer.clientId);
    assert.deepEqual(json.permissions, [`${SCOPE}/download/internal`]);
  });
});

Deno.test("named temporary credentials need auth:create-client on the issuer", async () => {
  await withServer({ clients }, async (server) => {
    const now = Date.now();
    const allowed = createTemporaryCredentials(issuer, {
      scopes: [`${SCOPE}/manage`],
      start: now,
      expiry: now + HOUR,
      name: "project/releng/temp-1",
    });
    const ok = await whoami(server, signed(server, allowed));
    assert.equal(ok.status, 200);
    assert.equal(ok.json.user_id, "project/releng/temp-1");
    assert.equal(server.requests.at(-1)?.clientId, "project/releng/temp-1");

    const forbidden = createTemporaryCredentials(issuer, {
      scopes: [`${SCOPE}/manage`],
      start: now,
      expiry: now + HOUR,
      name: "someone-else",
    });
    const rejected = await attempt(server, signed(server, forbidden));
    assert.equal(rejected.userId, null);
    assert.match(rejected.rejection ?? "", /auth:create-client:someone-else/);
  });
});

Deno.test("temporary credentials are rejected when expired, not yet valid, too long, forged or over-scoped", async () => {
  await withServer({ clients }, async (server) => {
    const now = Date.now();
    const scopes = [`${SCOPE}/download/public`];
    const cases: [RegExp, TaskclusterCredentials][] = [
      [
        /expiry < now/,
        createTemporaryCredentials(issuer, {
          scopes,
          start: now - 2 * HOUR,
          expiry: now - 6 * 60_000,
        }),
      ],
      [
        /start > now/,
        createTemporaryCredentials(issuer, { scopes, start: now + 6 * 60_000, expiry: now + HOUR }),
      ],
      [
        /31 days/,
        createTemporaryCredentials(issuer, { scopes, start: now, expiry: now + 32 * 24 * HOUR }),
      ],
      [
        /doesn't satisfy all certificate scopes/,
        createTemporaryCredentials(issuer, {
          scopes: [`${SCOPE}/upload/public`],
          start: now,
          expiry: now + HOUR,
        }),
      ],
    ];
    const forged = createTemporaryCredentials(issuer, { scopes, start: now, expiry: now + HOUR });
    cases.push([/signature is not valid/, {
      ...forged,
      certificate: { ...forged.certificate, scopes: [`${SCOPE}/manage`] },
    }]);
    cases.push([/Bad mac/, { ...forged, accessToken: issuer.accessToken }]);
    cases.push([/seed must be 44 characters/, {
      ...forged,
      certificate: { ...forged.certificate, seed: "short" },
    }]);
    for (const [pattern, credentials] of cases) {
      const rejected = await attempt(server, signed(server, credentials));
      assert.equal(rejected.userId, null, String(pattern));
      assert.match(rejected.rejection ?? "", pattern);
    }
  });
});

Deno.test("authorizedScopes narrow the scopes and must be held by the client", async () => {
  await withServer({ clients }, async (server) => {
    const narrowed = { ...issuer, authorizedScopes: [`${SCOPE}/download/internal`] };
    const ok = await whoami(server, signed(server, narrowed));
    assert.deepEqual(ok.json.permissions, [`${SCOPE}/download/internal`]);

    const now = Date.now();
    const temp = createTemporaryCredentials(issuer, {
      scopes: [`${SCOPE}/download/*`],
      start: now,
      expiry: now + HOUR,
    });
    const both = await whoami(
      server,
      signed(server, { ...temp, authorizedScopes: [`${SCOPE}/download/public`] }),
    );
    assert.deepEqual(both.json.permissions, [`${SCOPE}/download/public`]);

    const tooMuch = await attempt(
      server,
      signed(server, { ...plain, authorizedScopes: [`${SCOPE}/manage`] }),
    );
    assert.equal(tooMuch.userId, null);
    assert.match(tooMuch.rejection ?? "", /do not satisfy authorizedScopes/);
  });
});

Deno.test("authorizedScopes without manage make PATCH a 401", async () => {
  await withServer({ clients }, async (server) => {
    const { digest } = await server.addFile(bytes("x"));
    const url = `${server.url}file/sha512/${digest}`;
    const body = JSON.stringify([{ op: "delete_instances" }]);
    const patch = (credentials: TaskclusterCredentials) =>
      request(url, {
        method: "PATCH",
        body,
        headers: {
          "content-type": "application/json",
          authorization: sign(credentials, "PATCH", url),
        },
      });
    assert.equal(
      (await patch({ ...issuer, authorizedScopes: [`${SCOPE}/download/*`] })).status,
      401,
    );
    assert.equal((await patch(issuer)).status, 200);
  });
});

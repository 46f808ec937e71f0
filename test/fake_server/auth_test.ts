import assert from "node:assert/strict";
import { calculatePayloadHash, type TaskclusterCredentials } from "../../src/transport/hawk.ts";
import { createTemporaryCredentials, scopeSatisfied } from "./auth.ts";
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

Deno.test("invalid Hawk headers are 401, never silently anonymous", async () => {
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
      const response = await request(`${server.url}__permissions__`, {
        headers: { authorization: header },
      });
      assert.equal(response.status, 401, message);
      assert.equal(JSON.parse(response.text).error.detail, message);
      assert.equal(response.headers.get("www-authenticate"), `Hawk error="${message}"`);
    }
    // 14 minutes of skew is still accepted.
    assert.equal((await whoami(server, signed(server, plain, now - 14 * 60))).status, 200);
  });
});

Deno.test("the Hawk MAC covers method, host and port", async () => {
  await withServer({ clients }, async (server) => {
    const url = `${server.url}__permissions__`;
    const asPost = sign(plain, "POST", url);
    assert.equal((await request(url, { headers: { authorization: asPost } })).status, 401);
    const otherPort = sign(plain, "GET", url.replace(/:\d+\//, ":1/"));
    assert.equal((await request(url, { headers: { authorization: otherPort } })).status, 401);
  });
});

Deno.test("a payload hash, when sent, must match the body", async () => {
  await withServer({ clients }, async (server) => {
    const url = `${server.url}upload`;
    const body = JSON.stringify({ message: "m", files: {} });
    const good = sign(plain, "POST", url, {
      payloadHash: calculatePayloadHash(body, "application/json"),
    });
    const ok = await request(url, {
      method: "POST",
      body,
      headers: { authorization: good, "content-type": "application/json" },
    });
    assert.equal(ok.status, 400, "authenticated; rejected for having no files");
    const bad = sign(plain, "POST", url, {
      payloadHash: calculatePayloadHash("{}", "application/json"),
    });
    const rejected = await request(url, {
      method: "POST",
      body,
      headers: { authorization: bad, "content-type": "application/json" },
    });
    assert.equal(rejected.status, 401);
    assert.equal(JSON.parse(rejected.text).error.detail, "Bad payload hash");
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
    const rejected = await request(`${server.url}__permissions__`, {
      headers: { authorization: signed(server, forbidden) },
    });
    assert.equal(rejected.status, 401);
    assert.match(JSON.parse(rejected.text).error.detail, /auth:create-client:someone-else/);
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
      const response = await request(`${server.url}__permissions__`, {
        headers: { authorization: signed(server, credentials) },
      });
      assert.equal(response.status, 401, String(pattern));
      assert.match(JSON.parse(response.text).error.detail, pattern);
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

    const tooMuch = await request(`${server.url}__permissions__`, {
      headers: {
        authorization: signed(server, { ...plain, authorizedScopes: [`${SCOPE}/manage`] }),
      },
    });
    assert.equal(tooMuch.status, 401);
    assert.match(JSON.parse(tooMuch.text).error.detail, /do not satisfy authorizedScopes/);
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

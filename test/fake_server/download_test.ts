import assert from "node:assert/strict";
import { bytes, request, SCOPE, sha512, sign, sleepPastExpiry, withServer } from "./test_util.ts";

const content = bytes("hello, tooltool\n");
const clients = {
  reader: { accessToken: "reader-token", scopes: [`${SCOPE}/download/*`] },
};

Deno.test("GET /sha512/<digest> redirects to a signed URL on another origin that serves the blob", async () => {
  await withServer({}, async (server) => {
    const { digest, size } = await server.addFile(content);
    assert.equal(digest, sha512(content));
    assert.equal(size, content.length);

    const redirect = await request(`${server.url}sha512/${digest}`);
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.get("content-type"), "text/html; charset=utf-8");
    const location = redirect.headers.get("location") ?? "";
    assert.ok(location.startsWith(`${server.storageUrl}sha512/${digest}?`), location);
    assert.notEqual(new URL(location).origin, new URL(server.url).origin);
    assert.match(redirect.text, /Redirecting\.\.\./);

    const blob = await request(location);
    assert.equal(blob.status, 200);
    assert.deepEqual(blob.body, content);
    assert.equal(blob.headers.get("content-length"), String(content.length));
    assert.equal(blob.headers.get("accept-ranges"), "bytes");
    assert.equal(blob.headers.get("content-type"), "application/octet-stream");
  });
});

Deno.test("fetch() following the redirect gets the blob and drops Authorization across origins", async () => {
  await withServer({ clients }, async (server) => {
    const { digest } = await server.addFile(content, { visibility: "internal" });
    const url = `${server.url}sha512/${digest}`;
    const response = await fetch(url, {
      headers: {
        authorization: sign({ clientId: "reader", accessToken: "reader-token" }, "GET", url),
      },
    });
    assert.equal(response.status, 200);
    assert.deepEqual(new Uint8Array(await response.arrayBuffer()), content);
    assert.deepEqual(
      server.requests.map((r) => [r.origin, r.status, r.hasAuthorization, r.clientId]),
      [["api", 302, true, "reader"], ["storage", 200, false, undefined]],
    );
  });
});

Deno.test("GET /sha512/<digest> answers 404 for an unknown digest, and for a malformed one as production does", async () => {
  await withServer({}, async (server) => {
    const unknown = await request(`${server.url}sha512/${"0".repeat(128)}`);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.headers.get("content-type"), "application/json");
    const problem = JSON.parse(unknown.text).error;
    assert.equal(problem.status, 404);
    assert.equal(problem.type, "about:blank");
    assert.match(problem.title, /^404 Not Found: /);
    assert.equal(problem.name, problem.title);
    assert.equal(problem.description, problem.detail);

    const malformed = await request(`${server.url}sha512/not-a-digest`);
    assert.equal(malformed.status, 404);
  });
});

Deno.test("GET /sha512/<digest> rejects query parameters the swagger does not declare, as connexion does", async () => {
  await withServer({ clients }, async (server) => {
    const { digest } = await server.addFile(content);
    const response = await request(`${server.url}sha512/${digest}?region=us-west-2`);
    assert.equal(response.status, 400);
    assert.equal(response.headers.get("content-type"), "application/problem+json");
    assert.equal(
      JSON.parse(response.text).detail,
      "Extra query parameter(s) region not in spec",
    );
    // connexion validates before anyone looks at the credentials, so a signed request
    // (even one signed correctly over path and query) gets the same 400.
    const url = `${server.url}sha512/${digest}?region=us-west-2`;
    const signed = await request(url, {
      headers: {
        authorization: sign({ clientId: "reader", accessToken: "reader-token" }, "GET", url),
      },
    });
    assert.equal(signed.status, 400);
  });
});

Deno.test("GET /sha512/<digest> of an internal file is 403 without the download scope and 302 with it", async () => {
  await withServer({ clients }, async (server) => {
    const { digest } = await server.addFile(content, { visibility: "internal" });
    const url = `${server.url}sha512/${digest}`;
    const anonymous = await request(url);
    assert.equal(anonymous.status, 403);
    assert.match(JSON.parse(anonymous.text).error.title, /^403 Forbidden: /);

    const signed = await request(url, {
      headers: {
        authorization: sign({ clientId: "reader", accessToken: "reader-token" }, "GET", url),
      },
    });
    assert.equal(signed.status, 302);
  });
});

Deno.test("GET /sha512/<digest> of a public file needs the scope when anonymous public download is off", async () => {
  await withServer({ clients, anonymousPublicDownload: false }, async (server) => {
    const { digest } = await server.addFile(content);
    const url = `${server.url}sha512/${digest}`;
    assert.equal((await request(url)).status, 403);
    const signed = await request(url, {
      headers: {
        authorization: sign({ clientId: "reader", accessToken: "reader-token" }, "GET", url),
      },
    });
    assert.equal(signed.status, 302);
  });
});

Deno.test("storage honours Range with 206 and Content-Range, and answers 416 when unsatisfiable", async () => {
  await withServer({}, async (server) => {
    const { digest } = await server.addFile(content);
    const location = (await request(`${server.url}sha512/${digest}`)).headers.get("location")!;

    const partial = await request(location, { headers: { range: "bytes=7-" } });
    assert.equal(partial.status, 206);
    assert.equal(
      partial.headers.get("content-range"),
      `bytes 7-${content.length - 1}/${content.length}`,
    );
    assert.equal(partial.headers.get("content-length"), String(content.length - 7));
    assert.deepEqual(partial.body, content.subarray(7));

    const suffix = await request(location, { headers: { range: "bytes=-3" } });
    assert.equal(suffix.status, 206);
    assert.deepEqual(suffix.body, content.subarray(content.length - 3));

    const middle = await request(location, { headers: { range: "bytes=0-4" } });
    assert.equal(middle.text, "hello");

    const beyond = await request(location, { headers: { range: `bytes=${content.length}-` } });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers.get("content-range"), `bytes */${content.length}`);
    assert.match(beyond.text, /<Code>InvalidRange<\/Code>/);

    const ignored = await request(location, { headers: { range: "lines=1-2" } });
    assert.equal(ignored.status, 200);
    assert.deepEqual(server.requests.at(-1)?.range, "lines=1-2");
  });
});

Deno.test("storage refuses a request that carries an Authorization header, as S3 does", async () => {
  await withServer({}, async (server) => {
    const { digest } = await server.addFile(content);
    const location = (await request(`${server.url}sha512/${digest}`)).headers.get("location")!;
    const response = await request(location, { headers: { authorization: 'Hawk id="x"' } });
    assert.equal(response.status, 400);
    assert.match(response.text, /<Code>InvalidArgument<\/Code>/);
    assert.equal(server.requests.at(-1)?.hasAuthorization, true);
  });
});

Deno.test("storage refuses tampered, unsigned and expired URLs", async () => {
  await withServer({ downloadExpiresSeconds: 1 }, async (server) => {
    const { digest } = await server.addFile(content);
    const other = await server.addFile(bytes("other"));
    const location = (await request(`${server.url}sha512/${digest}`)).headers.get("location")!;

    const tampered = await request(location.replace(digest, other.digest));
    assert.equal(tampered.status, 403);
    assert.match(tampered.text, /SignatureDoesNotMatch/);

    const unsigned = await request(`${server.storageUrl}sha512/${digest}`);
    assert.equal(unsigned.status, 403);
    assert.match(unsigned.text, /AccessDenied/);

    const head = await request(location, { method: "HEAD" });
    assert.equal(head.status, 403, "a GET URL does not sign HEAD");

    await sleepPastExpiry(location);
    const expired = await request(location);
    assert.equal(expired.status, 403);
    assert.match(expired.text, /<Message>Request has expired<\/Message>/);
  });
});

Deno.test("the request log records origin, method, URL, status, Range and Authorization", async () => {
  await withServer({}, async (server) => {
    const { digest } = await server.addFile(content);
    const location = (await request(`${server.url}sha512/${digest}`)).headers.get("location")!;
    await request(location, { headers: { range: "bytes=0-0" } });
    assert.deepEqual(server.requests, [
      {
        origin: "api",
        method: "GET",
        url: `${server.url}sha512/${digest}`,
        status: 302,
        hasAuthorization: false,
        range: undefined,
      },
      {
        origin: "storage",
        method: "GET",
        url: location,
        status: 206,
        hasAuthorization: false,
        range: "bytes=0-0",
      },
    ]);
  });
});

Deno.test("GET /file/sha512/<digest> returns the record with its instances", async () => {
  await withServer({}, async (server) => {
    const { digest } = await server.addFile(content, { visibility: "internal" });
    const response = await request(`${server.url}file/sha512/${digest}`);
    assert.equal(response.status, 200);
    assert.deepEqual(JSON.parse(response.text), {
      algorithm: "sha512",
      digest,
      has_instances: true,
      instances: ["us-east-1"],
      size: content.length,
      visibility: "internal",
    });
    // connexion's serializer: two-space indent, sorted keys.
    assert.ok(response.text.startsWith('{\n  "algorithm": "sha512",\n'), response.text);

    const malformed = await request(`${server.url}file/sha512/XYZ`);
    assert.equal(malformed.status, 400);
    assert.equal(JSON.parse(malformed.text).error.detail, "Invalid sha512 digest");
    assert.equal((await request(`${server.url}file/sha512/${"a".repeat(128)}`)).status, 404);
  });
});

Deno.test("Dockerflow endpoints answer as the deployed service does", async () => {
  await withServer({}, async (server) => {
    const heartbeat = await request(`${server.url}__heartbeat__`);
    assert.equal(heartbeat.status, 200);
    assert.equal(heartbeat.text, "OK");
    const lb = await request(`${server.url}__lbheartbeat__`);
    assert.equal(lb.text, "OK!");
    const version = await request(`${server.url}__version__`);
    assert.deepEqual(Object.keys(JSON.parse(version.text)), [
      "build",
      "commit",
      "source",
      "version",
    ]);
  });
});

Deno.test("an unknown path is a 404 error document and a wrong method a 405", async () => {
  await withServer({}, async (server) => {
    const missing = await request(`${server.url}nope`);
    assert.equal(missing.status, 404);
    assert.equal(JSON.parse(missing.text).error.status, 404);
    const wrong = await request(`${server.url}sha512/${"a".repeat(128)}`, { method: "DELETE" });
    assert.equal(wrong.status, 405);
  });
});

Deno.test("a --storage folder keeps blobs named by digest with their records beside them", async () => {
  const dir = await Deno.makeTempDir();
  try {
    let digest = "";
    await withServer({ storageDir: dir }, async (server) => {
      ({ digest } = await server.addFile(content));
    });
    const record = JSON.parse(await Deno.readTextFile(`${dir}/${digest}.json`));
    assert.equal(record.size, content.length);
    assert.deepEqual(await Deno.readFile(`${dir}/${digest}`), content);
    await withServer({ storageDir: dir }, async (server) => {
      assert.equal((await request(`${server.url}sha512/${digest}`)).status, 302);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("downloadOrigin points signed GET URLs at another server while PUTs stay on storage", async () => {
  const mirror = "http://127.0.0.1:9/";
  await withServer({ downloadOrigin: mirror }, async (server) => {
    const { digest } = await server.addFile(content);
    const redirect = await request(`${server.url}sha512/${digest}`);
    assert.equal(redirect.status, 302);
    const location = redirect.headers.get("location") ?? "";
    assert.ok(location.startsWith(`${mirror}sha512/${digest}?X-Amz-`), location);
    // The same signature is valid on the fake's own listener: nginx serving the folder is
    // a stand-in for it, not a different store.
    const blob = await request(location.replace(mirror, server.storageUrl));
    assert.equal(blob.status, 200);
    assert.deepEqual(blob.body, content);
  });
});

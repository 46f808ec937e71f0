import assert from "node:assert/strict";
import { calculatePayloadHash, type TaskclusterCredentials } from "../../src/transport/hawk.ts";
import type { FakeServer } from "./server.ts";
import {
  bytes,
  request,
  SCOPE,
  sha512,
  sign,
  sleepPastExpiry,
  urlExpiry,
  withServer,
} from "./test_util.ts";

const uploader: TaskclusterCredentials = { clientId: "uploader", accessToken: "up-token" };
const publicOnly: TaskclusterCredentials = { clientId: "public-only", accessToken: "po-token" };
const manager: TaskclusterCredentials = { clientId: "manager", accessToken: "mg-token" };
const clients = {
  uploader: { accessToken: "up-token", scopes: [`${SCOPE}/upload/*`, `${SCOPE}/download/*`] },
  "public-only": { accessToken: "po-token", scopes: [`${SCOPE}/upload/public`] },
  manager: { accessToken: "mg-token", scopes: [`${SCOPE}/manage`] },
};

const content = bytes("an artifact worth keeping\n");
const digest = sha512(content);

function fileEntry(
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return { size: content.length, digest, algorithm: "sha512", visibility: "public", ...overrides };
}

/** POSTs a batch signed with a payload hash, as a careful client would. */
async function postBatch(
  server: FakeServer,
  credentials: TaskclusterCredentials | undefined,
  batch: unknown,
  query = "",
  { signQuery = false } = {},
) {
  const url = `${server.url}upload${query}`;
  const body = JSON.stringify(batch);
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (credentials !== undefined) {
    headers.authorization = sign(credentials, "POST", signQuery ? url : `${server.url}upload`, {
      payloadHash: calculatePayloadHash(body, "application/json"),
    });
  }
  const response = await request(url, { method: "POST", body, headers });
  return { ...response, json: JSON.parse(response.text) };
}

function put(url: string, body: Uint8Array<ArrayBuffer>, contentType = "application/octet-stream") {
  return request(url, { method: "PUT", body, headers: { "content-type": contentType } });
}

Deno.test("an upload goes batch, PUT, 409 until the URL expires, then 202 and the file is downloadable", async () => {
  await withServer({ clients, uploadExpiresSeconds: 1 }, async (server) => {
    const batch = await postBatch(server, uploader, {
      message: "add an artifact",
      files: { "artifact.txt": fileEntry() },
    });
    assert.equal(batch.status, 200, batch.text);
    const result = batch.json.result;
    assert.equal(result.message, "add an artifact");
    assert.equal(result.author, "uploader");
    assert.equal(typeof result.id, "number");
    assert.equal("uploaded" in result, false, "production echoes the request body, no `uploaded`");
    const file = result.files["artifact.txt"];
    assert.deepEqual(
      { ...file, put_url: undefined },
      { ...fileEntry(), put_url: undefined },
    );
    const putUrl: string = file.put_url;
    assert.ok(putUrl.startsWith(`${server.storageUrl}sha512/${digest}?`), putUrl);

    const stored = await put(putUrl, content);
    assert.equal(stored.status, 200, stored.text);
    assert.match(stored.headers.get("etag") ?? "", /^"[0-9a-f]{32}"$/);

    // Announced but not verified: the record exists, nothing is downloadable yet.
    const record = JSON.parse((await request(`${server.url}file/sha512/${digest}`)).text);
    assert.deepEqual(record.instances, []);
    assert.equal(record.has_instances, false);
    assert.equal((await request(`${server.url}sha512/${digest}`)).status, 404);

    const early = await request(`${server.url}upload/complete/sha512/${digest}`);
    assert.equal(early.status, 409);
    assert.match(early.headers.get("x-retry-after") ?? "", /^[12]$/);
    // A bare `werkzeug.Response`, which connexion passes through untouched.
    assert.equal(early.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.equal(early.text, "");

    await sleepPastExpiry(putUrl);
    const complete = await request(`${server.url}upload/complete/sha512/${digest}`);
    assert.equal(complete.status, 202);
    assert.equal(complete.text, '"{}"\n');
    assert.equal(complete.headers.get("content-type"), "application/json");

    const location = (await request(`${server.url}sha512/${digest}`)).headers.get("location")!;
    assert.deepEqual((await request(location)).body, content);

    const fetched = JSON.parse((await request(`${server.url}upload/${result.id}`)).text);
    assert.equal(fetched.author, "uploader");
    assert.match(fetched.uploaded, /GMT$/);
    assert.equal(fetched.files["artifact.txt"].has_instances, true);
    const found = JSON.parse((await request(`${server.url}upload?q=artifact`)).text);
    assert.equal(found.result.length, 1);
    const files = JSON.parse((await request(`${server.url}file?q=artifact.txt`)).text);
    assert.equal(files.result[0].digest, digest);
  });
});

Deno.test("a second batch for a stored file gets no put_url", async () => {
  await withServer({ clients }, async (server) => {
    await server.addFile(content);
    const other = bytes("new one");
    const batch = await postBatch(server, uploader, {
      message: "again",
      files: {
        "old.txt": fileEntry(),
        "new.txt": fileEntry({ size: other.length, digest: sha512(other) }),
      },
    });
    assert.equal(batch.status, 200);
    assert.equal("put_url" in batch.json.result.files["old.txt"], false);
    assert.equal(typeof batch.json.result.files["new.txt"].put_url, "string");
  });
});

Deno.test("POST /upload rejects batches as production does", async () => {
  await withServer({ clients }, async (server) => {
    await server.addFile(content);
    const cases: [string, unknown, number, string][] = [
      [
        "empty message",
        { message: "", files: { a: fileEntry() } },
        400,
        "message must be non-empty",
      ],
      ["no files", { message: "m", files: {} }, 400, "a batch must include at least one file"],
      [
        "an author",
        { message: "m", author: "me", files: { a: fileEntry() } },
        400,
        "Author must NOT be specified for upload.",
      ],
      [
        "md5",
        { message: "m", files: { a: fileEntry({ algorithm: "md5" }) } },
        400,
        "`sha512` is the only allowed digest algorithm",
      ],
      [
        "a bad digest",
        { message: "m", files: { a: fileEntry({ digest: "ABC" }) } },
        400,
        "Invalid sha512 digest",
      ],
      [
        "a visibility change",
        { message: "m", files: { a: fileEntry({ visibility: "internal" }) } },
        400,
        "Cannot change already existing file's visibility level.",
      ],
      [
        "a size mismatch",
        { message: "m", files: { "a.bin": fileEntry({ size: 3 }) } },
        400,
        "Size mismatch for a.bin",
      ],
    ];
    for (const [what, batch, status, detail] of cases) {
      const response = await postBatch(server, uploader, batch);
      assert.equal(response.status, status, what);
      assert.equal(response.headers.get("content-type"), "application/json", what);
      assert.equal(response.json.error.detail, detail, what);
      assert.equal(response.json.error.description, detail, what);
      assert.equal(response.json.error.title, `${status} Bad Request: ${detail}`, what);
    }
    // The first three are refused before production's handler looks at the caller.
    assert.equal(
      server.requests.filter((r) => r.clientId === "uploader").length,
      cases.length - 3,
    );
  });
});

Deno.test("POST /upload answers 500 and keeps nothing for a batch naming one digest twice, as production", async () => {
  await withServer({ clients }, async (server) => {
    const twice = await postBatch(server, uploader, {
      message: "m",
      files: { "a.txt": fileEntry(), "b.txt": fileEntry() },
    });
    assert.equal(twice.status, 500);
    assert.equal(twice.headers.get("content-type"), "application/json");
    assert.equal(twice.json.error.status, 500);
    assert.match(twice.json.error.name, /^500 Internal Server Error: The server encountered/);
    assert.equal((await request(`${server.url}file/sha512/${digest}`)).status, 404);

    // The refusal comes when the session flushes, after the next file's own digest checks.
    const thenBad = await postBatch(server, uploader, {
      message: "m",
      files: { "a.txt": fileEntry(), "b.txt": fileEntry(), c: fileEntry({ digest: "nope" }) },
    });
    assert.equal(thenBad.status, 400);
    assert.equal(thenBad.json.error.detail, "Invalid sha512 digest");

    // Already stored makes no difference: the batch row is what is repeated.
    await server.addFile(content);
    const stored = await postBatch(server, uploader, {
      message: "m",
      files: { "a.txt": fileEntry(), "b.txt": fileEntry() },
    });
    assert.equal(stored.status, 500);
  });
});

Deno.test("POST /upload answers schema violations with a connexion problem document", async () => {
  await withServer({ clients }, async (server) => {
    const missing = await postBatch(server, uploader, { files: {} });
    assert.equal(missing.status, 400);
    assert.equal(missing.headers.get("content-type"), "application/problem+json");
    assert.deepEqual(missing.json, {
      detail: "'message' is a required property",
      status: 400,
      title: "Bad Request",
      type: "about:blank",
    });
    const badVisibility = await postBatch(server, uploader, {
      message: "m",
      files: { "a.txt": fileEntry({ visibility: "secret" }) },
    });
    assert.equal(
      badVisibility.json.detail,
      "'secret' is not one of ['public', 'internal'] - 'files.a.txt.visibility'",
    );
    const notJson = await request(`${server.url}upload`, {
      method: "POST",
      body: "{",
      headers: { "content-type": "application/json" },
    });
    assert.equal(notJson.status, 400);
    assert.equal(JSON.parse(notJson.text).detail, "Request body is not valid JSON");
  });
});

Deno.test("POST /upload needs the upload scope of every visibility in the batch", async () => {
  await withServer({ clients }, async (server) => {
    const batch = { message: "m", files: { a: fileEntry({ visibility: "internal" }) } };
    const anonymous = await postBatch(server, undefined, batch);
    assert.equal(anonymous.status, 403);
    assert.equal(anonymous.json.error.detail, "no permission to upload internal files");
    const limited = await postBatch(server, publicOnly, batch);
    assert.equal(limited.status, 403);
    const allowed = await postBatch(server, publicOnly, { ...batch, files: { a: fileEntry() } });
    assert.equal(allowed.status, 200);
  });
});

Deno.test("POST /upload?region= verifies the Hawk MAC over the path without the query, as production", async () => {
  await withServer({ clients }, async (server) => {
    const batch = { message: "m", files: { a: fileEntry() } };
    const pathOnly = await postBatch(server, uploader, batch, "?region=us-west-2");
    assert.equal(pathOnly.status, 200);
    const withQuery = await postBatch(server, uploader, batch, "?region=us-west-2", {
      signQuery: true,
    });
    // Production goes on as anonymous: the missing scope is all the caller sees.
    assert.equal(withQuery.status, 403);
    assert.equal(withQuery.json.error.detail, "no permission to upload public files");
    assert.equal(server.requests.at(-1)?.authRejection, "Bad mac");
    const unsigned = await postBatch(server, undefined, batch, "?region=us-west-2");
    assert.equal(unsigned.status, 403, "the region is accepted; only the scope is missing");
    const extra = await postBatch(server, undefined, batch, "?color=red");
    assert.equal(extra.status, 400);
    assert.equal(extra.json.detail, "Extra query parameter(s) color not in spec");
  });
});

Deno.test("a rejected batch leaves nothing behind", async () => {
  await withServer({ clients }, async (server) => {
    const response = await postBatch(server, uploader, {
      message: "m",
      files: { good: fileEntry(), bad: fileEntry({ digest: "nope" }) },
    });
    assert.equal(response.status, 400);
    assert.equal((await request(`${server.url}file/sha512/${digest}`)).status, 404);
  });
});

Deno.test("PUT to the upload URL needs the signed Content-Type, a Content-Length and an unexpired URL", async () => {
  await withServer({ clients, uploadExpiresSeconds: 1 }, async (server) => {
    const batch = await postBatch(server, uploader, { message: "m", files: { a: fileEntry() } });
    const putUrl: string = batch.json.result.files.a.put_url;

    const wrongType = await put(putUrl, content, "text/plain");
    assert.equal(wrongType.status, 403);
    assert.match(wrongType.text, /SignatureDoesNotMatch/);

    const chunked = await request(putUrl, {
      method: "PUT",
      body: ReadableStream.from([content]),
      headers: { "content-type": "application/octet-stream" },
    });
    assert.equal(chunked.status, 411);
    assert.match(chunked.text, /MissingContentLength/);

    const asGet = await request(putUrl);
    assert.equal(asGet.status, 403, "a PUT URL does not sign GET");

    await sleepPastExpiry(putUrl);
    const late = await put(putUrl, content);
    assert.equal(late.status, 403);
    assert.match(late.text, /Request has expired/);
  });
});

Deno.test("upload URLs are S3 query-string SigV2, signed over method, Content-MD5, Content-Type, Expires and x-amz headers", async () => {
  await withServer({ clients, uploadExpiresSeconds: 60 }, async (server) => {
    const before = Math.floor(Date.now() / 1000);
    const batch = await postBatch(server, uploader, { message: "m", files: { a: fileEntry() } });
    const putUrl = new URL(batch.json.result.files.a.put_url);
    assert.deepEqual(
      [...putUrl.searchParams.keys()],
      ["AWSAccessKeyId", "Signature", "content-type", "Expires"],
    );
    assert.equal(putUrl.searchParams.get("content-type"), "application/octet-stream");
    const expires = Number(putUrl.searchParams.get("Expires"));
    assert.ok(expires >= before + 60 && expires <= before + 62, `Expires=${expires}`);
    assert.match(putUrl.searchParams.get("Signature") ?? "", /^[A-Za-z0-9+/]{27}=$/);

    const withMd5 = await request(putUrl.href, {
      method: "PUT",
      body: content,
      headers: {
        "content-type": "application/octet-stream",
        "content-md5": "AAAAAAAAAAAAAAAAAAAAAA==",
      },
    });
    assert.equal(withMd5.status, 403);
    assert.match(withMd5.text, /<Code>SignatureDoesNotMatch<\/Code>/);
    assert.match(
      withMd5.text,
      new RegExp(
        `<StringToSign>PUT\nAAAAAAAAAAAAAAAAAAAAAA==\napplication/octet-stream\n${expires}\n/`,
      ),
    );
    const withAmzHeader = await request(putUrl.href, {
      method: "PUT",
      body: content,
      headers: { "content-type": "application/octet-stream", "x-amz-acl": "public-read" },
    });
    assert.equal(withAmzHeader.status, 403);
    assert.match(withAmzHeader.text, /\nx-amz-acl:public-read\n\/fake-tooltool\/sha512\//);
    const tampered = new URL(putUrl);
    tampered.searchParams.set("Expires", String(expires + 3600));
    assert.equal((await put(tampered.href, content)).status, 403);
    const otherKey = new URL(putUrl);
    otherKey.searchParams.set("AWSAccessKeyId", "AKIAOTHER");
    assert.match((await put(otherKey.href, content)).text, /InvalidAccessKeyId/);

    assert.equal((await put(putUrl.href, content)).status, 200);
  });
});

Deno.test("uploadSignature v4 issues SigV4-shaped upload URLs, checked the same way", async () => {
  await withServer({ clients, uploadExpiresSeconds: 1, uploadSignature: "v4" }, async (server) => {
    const batch = await postBatch(server, uploader, { message: "m", files: { a: fileEntry() } });
    const putUrl: string = batch.json.result.files.a.put_url;
    const params = new URL(putUrl).searchParams;
    assert.equal(params.get("X-Amz-SignedHeaders"), "content-type;host");
    assert.equal(params.get("X-Amz-Expires"), "1");
    assert.equal((await put(putUrl, content, "text/plain")).status, 403);
    assert.equal((await put(putUrl, content)).status, 200);
    await sleepPastExpiry(putUrl);
    assert.match((await put(putUrl, content)).text, /Request has expired/);
  });
});

Deno.test("clockOffsetSeconds moves the service's clock: URL expiry, storage's check and the Date header", async () => {
  await withServer({ clients, clockOffsetSeconds: -300 }, async (server) => {
    const batch = await postBatch(server, uploader, { message: "m", files: { a: fileEntry() } });
    const serverDate = Date.parse(batch.headers.get("date") ?? "");
    assert.ok(Math.abs(serverDate + 300_000 - Date.now()) < 3_000, `Date: ${serverDate}`);
    const putUrl: string = batch.json.result.files.a.put_url;
    assert.ok(urlExpiry(putUrl) < Date.now(), "by this machine's clock the URL has expired");
    assert.equal((await put(putUrl, content)).status, 200, "storage goes by the service's clock");
  });
});

Deno.test("upload/complete drops bytes that do not match the announced digest", async () => {
  await withServer({ clients, uploadExpiresSeconds: 1 }, async (server) => {
    const batch = await postBatch(server, uploader, { message: "m", files: { a: fileEntry() } });
    const wrong = bytes("x".repeat(content.length));
    assert.equal((await put(batch.json.result.files.a.put_url, wrong)).status, 200);
    await sleepPastExpiry(batch.json.result.files.a.put_url);
    assert.equal((await request(`${server.url}upload/complete/sha512/${digest}`)).status, 202);
    assert.equal((await request(`${server.url}sha512/${digest}`)).status, 404);
    const record = JSON.parse((await request(`${server.url}file/sha512/${digest}`)).text);
    assert.deepEqual(record.instances, []);

    // The file can be uploaded again, and this time it sticks.
    const again = await postBatch(server, uploader, { message: "m", files: { a: fileEntry() } });
    assert.equal((await put(again.json.result.files.a.put_url, content)).status, 200);
    await sleepPastExpiry(again.json.result.files.a.put_url);
    assert.equal((await request(`${server.url}upload/complete/sha512/${digest}`)).status, 202);
    assert.equal((await request(`${server.url}sha512/${digest}`)).status, 302);
  });
});

Deno.test("upload/complete answers 400 for a malformed digest and 202 for an unknown one", async () => {
  await withServer({}, async (server) => {
    const bad = await request(`${server.url}upload/complete/sha512/abc`);
    assert.equal(bad.status, 400);
    assert.equal(JSON.parse(bad.text).error.detail, "Invalid sha512 digest");
    assert.equal((await request(`${server.url}upload/complete/sha512/${digest}`)).status, 202);
  });
});

async function patch(
  server: FakeServer,
  credentials: TaskclusterCredentials | undefined,
  body: unknown,
) {
  const url = `${server.url}file/sha512/${digest}`;
  const text = JSON.stringify(body);
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (credentials !== undefined) {
    headers.authorization = sign(credentials, "PATCH", url, {
      payloadHash: calculatePayloadHash(text, "application/json"),
    });
  }
  const response = await request(url, { method: "PATCH", body: text, headers });
  return { ...response, json: JSON.parse(response.text) };
}

Deno.test("PATCH /file/sha512/<digest> changes visibility and deletes instances with the manage scope", async () => {
  await withServer({ clients }, async (server) => {
    await server.addFile(content);
    const visible = await patch(server, manager, [{
      op: "set_visibility",
      visibility: "internal",
    }]);
    assert.equal(visible.status, 200);
    assert.equal(visible.json.visibility, "internal");
    assert.deepEqual(visible.json.instances, ["us-east-1"]);
    assert.equal((await request(`${server.url}sha512/${digest}`)).status, 403);

    const deleted = await patch(server, manager, [{ op: "delete_instances" }]);
    assert.equal(deleted.status, 200);
    assert.deepEqual(deleted.json.instances, []);
    assert.equal(deleted.json.has_instances, false);
    assert.equal((await request(`${server.url}sha512/${digest}`)).status, 404);
  });
});

Deno.test("PATCH /file/sha512/<digest> is 401 without the manage scope, 404 for an unknown file, 400 for a bad op", async () => {
  await withServer({ clients }, async (server) => {
    const anonymous = await patch(server, undefined, [{ op: "delete_instances" }]);
    assert.equal(anonymous.status, 401);
    assert.deepEqual(anonymous.json, {
      detail: "Invalid user permissions",
      instance: "about:blank",
      status: 401,
      title: "401 Unauthorized: Invalid user permissions",
      type: "about:blank",
    });
    assert.equal((await patch(server, uploader, [{ op: "delete_instances" }])).status, 401);
    assert.equal((await patch(server, manager, [{ op: "delete_instances" }])).status, 404);
    const badOp = await patch(server, manager, [{ op: "explode" }]);
    assert.equal(badOp.status, 400);
    assert.equal(
      badOp.json.detail,
      "'explode' is not one of ['set_visibility', 'delete_instances'] - '0.op'",
    );
  });
});

Deno.test("upload/complete drops bytes whose size differs from the announced size", async () => {
  await withServer({ clients, uploadExpiresSeconds: 1 }, async (server) => {
    const batch = await postBatch(server, uploader, { message: "m", files: { a: fileEntry() } });
    const putUrl: string = batch.json.result.files.a.put_url;
    assert.equal((await put(putUrl, content.slice(0, 5))).status, 200, "S3 takes any bytes");
    await sleepPastExpiry(putUrl);
    assert.equal((await request(`${server.url}upload/complete/sha512/${digest}`)).status, 202);
    assert.equal((await request(`${server.url}sha512/${digest}`)).status, 404);
  });
});

Deno.test("the search endpoints need their q parameter", async () => {
  await withServer({}, async (server) => {
    for (const path of ["upload", "file"]) {
      const response = await request(`${server.url}${path}`);
      assert.equal(response.status, 400, path);
      assert.equal(JSON.parse(response.text).detail, "Missing query parameter 'q'");
    }
  });
});

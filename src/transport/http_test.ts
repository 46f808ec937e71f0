import assert from "node:assert/strict";
import { HttpError, isRetriable, NetworkError, UnsafeUrlError } from "../errors.ts";
import { ApiClient, httpErrorFor, readProblem } from "./http.ts";

function clientWith(handler: (request: Request) => Response | Promise<Response>) {
  return clientAt(
    "http://api.test/tooltool",
    { kind: "hawk", hawk: { clientId: "c", accessToken: "t" }, source: "x" },
    handler,
  );
}

Deno.test("resolveDownload() returns the storage URL without following it", async () => {
  const { client, seen } = clientWith(() =>
    new Response(null, { status: 302, headers: { Location: "http://storage.test/blob?sig=1" } })
  );
  const url = await client.resolveDownload("ab".repeat(64), { region: "us-west-2" });
  assert.equal(url.href, "http://storage.test/blob?sig=1");
  assert.equal(seen.length, 1);
  assert.equal(seen[0]?.url, `http://api.test/tooltool/sha512/${"ab".repeat(64)}?region=us-west-2`);
  assert.match(seen[0]?.headers.get("Authorization") ?? "", /^Hawk /);
  assert.equal(seen[0]?.redirect, "manual");
});

Deno.test("request() turns a problem document into an HttpError with a hint", async () => {
  const { client } = clientWith(() =>
    Response.json(
      { status: 403, title: "Forbidden", detail: "missing scope", type: "about:blank" },
      { status: 403, statusText: "Forbidden" },
    )
  );
  await assert.rejects(client.resolveDownload("ab".repeat(64), { target: "clang.tar.xz" }), (e) => {
    assert.ok(e instanceof HttpError);
    assert.equal(
      e.message,
      'Cannot fetch "clang.tar.xz" from http://api.test/tooltool/: server returned 403 Forbidden (Forbidden: missing scope)',
    );
    assert.match(e.hint ?? "", /download\/internal/);
    return true;
  });
});

Deno.test("request() reports a refused connection as a NetworkError", async () => {
  const client = new ApiClient({
    baseUrl: "http://api.test/",
    credentials: { kind: "none" },
    fetch: () => Promise.reject(new TypeError("connection refused")),
    env: () => undefined,
  });
  await assert.rejects(
    client.request({ method: "GET", path: "x", operation: "fetch", target: "f" }),
    NetworkError,
  );
});

Deno.test("request() hashes JSON payloads into the Hawk header", async () => {
  const { client, seen } = clientWith(() => Response.json({ result: {} }));
  await client.requestJson({
    method: "POST",
    path: "upload",
    json: { message: "m" },
    operation: "upload",
    target: "batch",
  });
  assert.match(seen[0]?.headers.get("Authorization") ?? "", /hash="/);
  assert.equal(seen[0]?.headers.get("Content-Type"), "application/json");
});

Deno.test("httpErrorFor() names the upload scope the server refused, and says 'to'", async () => {
  const response = Response.json(
    { error: { status: 403, description: "no permission to upload internal files" } },
    { status: 403, statusText: "Forbidden" },
  );
  const error = await httpErrorFor("upload", "clang.tar.xz", "https://host/", response);
  assert.equal(
    error.message,
    'Cannot upload "clang.tar.xz" to https://host/: server returned 403 Forbidden (no permission to upload internal files)',
  );
  assert.equal(
    error.hint,
    "uploading internal files needs the scope project:releng:services/tooltool/api/upload/internal",
  );
});

Deno.test("httpErrorFor() explains production's 401 for a missing manage scope", async () => {
  const response = Response.json({
    status: 401,
    title: "401 Unauthorized: Invalid user permissions",
    detail: "Invalid user permissions",
  }, { status: 401, statusText: "Unauthorized" });
  const error = await httpErrorFor("delete", "abc", "https://host/", response);
  assert.equal(
    error.message,
    'Cannot delete "abc" from https://host/: server returned 401 Unauthorized (401 Unauthorized: Invalid user permissions)',
  );
  assert.match(
    error.hint ?? "",
    /needs the scope project:releng:services\/tooltool\/api\/manage; the service answers the same when it did not accept the credentials/,
  );
});

Deno.test("readProblem() reads the service's wrapped errors and plain problem documents", async () => {
  const wrapped = new Response(
    JSON.stringify({
      error: { name: "Forbidden", status: 403, description: "no scope", title: "Forbidden" },
    }),
  );
  assert.deepEqual(await readProblem(wrapped), {
    status: 403,
    title: "Forbidden",
    detail: "no scope",
    type: undefined,
  });
  const plain = new Response(JSON.stringify({ status: 400, title: "Bad Request", detail: "x" }));
  assert.equal((await readProblem(plain))?.detail, "x");
  assert.deepEqual(await readProblem(new Response("oops")), { detail: "oops" });
});

function clientAt(
  baseUrl: string,
  credentials: ConstructorParameters<typeof ApiClient>[0]["credentials"],
  handler: (request: Request) => Response | Promise<Response>,
) {
  const seen: Request[] = [];
  const fetch = ((input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    seen.push(request);
    return Promise.resolve(handler(request));
  }) as typeof globalThis.fetch;
  return { client: new ApiClient({ baseUrl, credentials, fetch, env: () => undefined }), seen };
}

const REDIRECT = () =>
  new Response(null, { status: 302, headers: { Location: "/storage/blob?X-Amz-Signature=s" } });

Deno.test("ApiClient shows its base URL without userinfo and never sends the URL's userinfo", async () => {
  const { client, seen } = clientAt("http://me:s%3Acret@api.test/", { kind: "none" }, REDIRECT);
  assert.equal(client.displayName, "http://***@api.test/");
  const storage = await client.resolveDownload("ab".repeat(64));
  assert.equal(seen[0]?.url, `http://api.test/sha512/${"ab".repeat(64)}`);
  // Anonymous: the userinfo becomes Basic auth, for a proxy that asks for it.
  assert.equal(seen[0]?.headers.get("Authorization"), `Basic ${btoa("me:s:cret")}`);
  // A relative Location would inherit the userinfo: storage must never get it.
  assert.equal(storage.href, "http://api.test/storage/blob?X-Amz-Signature=s");
});

Deno.test("ApiClient signs with Hawk alone when the base URL also carries userinfo", async () => {
  const { seen, client } = clientAt(
    "http://me:s3cret@api.test/",
    { kind: "hawk", hawk: { clientId: "c", accessToken: "t" }, source: "x" },
    REDIRECT,
  );
  await client.resolveDownload("ab".repeat(64));
  assert.match(seen[0]?.headers.get("Authorization") ?? "", /^Hawk id="c", /);
  assert.doesNotMatch(seen[0]?.headers.get("Authorization") ?? "", /Basic/);
});

Deno.test("ApiClient errors name the server without its userinfo", async () => {
  const { client } = clientAt(
    "http://me:s3cret@api.test/",
    { kind: "none" },
    () => Response.json({ detail: "nope" }, { status: 404, statusText: "Not Found" }),
  );
  await assert.rejects(client.resolveDownload("ab".repeat(64), { target: "a" }), (e) => {
    assert.ok(e instanceof HttpError);
    assert.equal(
      e.message,
      'Cannot fetch "a" from http://***@api.test/: server returned 404 Not Found (nope)',
    );
    assert.ok(!e.url.includes("s3cret"), e.url);
    return true;
  });
});

Deno.test("resolveDownload() refuses a Location that is not http(s), naming the scheme", async () => {
  for (const location of ["file:///etc/passwd", "data:,x", "ftp://x.test/", "javascript:1"]) {
    const { client } = clientWith(() =>
      new Response(null, { status: 302, headers: { Location: location } })
    );
    await assert.rejects(
      client.resolveDownload("ab".repeat(64), { target: "a.bin" }),
      (error: unknown) =>
        error instanceof UnsafeUrlError && !isRetriable(error) &&
        error.message.startsWith('Cannot fetch "a.bin" from http://api.test/tooltool/: ') &&
        error.message.includes(`a ${new URL(location).protocol} URL`),
      location,
    );
  }
});

Deno.test("resolveDownload() refuses an https API's redirect to plain http storage", async () => {
  const client = new ApiClient({
    baseUrl: "https://api.test/",
    credentials: { kind: "none" },
    fetch: () =>
      Promise.resolve(
        new Response(null, { status: 302, headers: { Location: "http://storage.test/b" } }),
      ),
    env: () => undefined,
  });
  await assert.rejects(client.resolveDownload("ab".repeat(64)), /from https to plain http/);
});

import assert from "node:assert/strict";
import { calculateMac, hawkHeader, parseHawkHeader, taskclusterExt } from "./hawk.ts";

Deno.test("calculateMac() matches the Hawk specification's example", () => {
  const mac = calculateMac("werxhqb98rpaxn39848xrunpaw3489ruxnpa98w4rxn", "header", {
    ts: 1353832234,
    nonce: "j4h3g2",
    method: "GET",
    resource: "/resource/1?b=1&a=2",
    host: "example.com",
    port: 8000,
    hash: "",
    ext: "some-app-ext-data",
  });
  assert.deepEqual(mac, "6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE=");
});

Deno.test("hawkHeader() round-trips through parseHawkHeader()", () => {
  const header = hawkHeader({ clientId: "me", accessToken: "secret" }, {
    method: "POST",
    url: new URL("http://127.0.0.1:8010/upload?region=us-east-1"),
    ts: 1700000000,
    nonce: "abc123",
    payloadHash: "aGFzaA==",
  });
  const attributes = parseHawkHeader(header);
  assert.deepEqual(attributes?.id, "me");
  assert.deepEqual(attributes?.ts, "1700000000");
  assert.deepEqual(attributes?.hash, "aGFzaA==");
  assert.deepEqual(attributes?.ext, undefined);
  assert.deepEqual(
    attributes?.mac,
    calculateMac("secret", "header", {
      ts: 1700000000,
      nonce: "abc123",
      method: "POST",
      resource: "/upload?region=us-east-1",
      host: "127.0.0.1",
      port: 8010,
      hash: "aGFzaA==",
      ext: "",
    }),
  );
});

Deno.test("taskclusterExt() carries the certificate and authorizedScopes", () => {
  const ext = taskclusterExt({
    clientId: "c",
    accessToken: "t",
    certificate: { version: 1 },
    authorizedScopes: ["a"],
  });
  assert.deepEqual(JSON.parse(atob(ext)), { certificate: { version: 1 }, authorizedScopes: ["a"] });
  assert.deepEqual(taskclusterExt({ clientId: "c", accessToken: "t" }), "");
});

Deno.test("parseHawkHeader() rejects malformed headers", () => {
  assert.deepEqual(parseHawkHeader("Bearer x"), undefined);
  assert.deepEqual(parseHawkHeader('Hawk id="a", id="b"'), undefined);
  assert.deepEqual(parseHawkHeader('Hawk id="a" junk'), undefined);
});

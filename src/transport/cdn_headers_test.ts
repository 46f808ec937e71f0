import assert from "node:assert/strict";
import { cdnHeaders, formatCdnHeaders } from "./cdn_headers.ts";

Deno.test("cdnHeaders() keeps only the CDN headers, in a fixed order, clipped", () => {
  const headers = new Headers({
    age: "3",
    "content-type": "application/octet-stream",
    "x-cache": "Hit from cloudfront",
    via: "x".repeat(300),
  });
  const found = cdnHeaders(headers);
  assert.deepEqual(Object.keys(found ?? {}), ["x-cache", "via", "age"]);
  assert.equal(found?.via?.length, 200);
  assert.equal(cdnHeaders(new Headers({ "content-length": "1" })), undefined);
  assert.equal(
    formatCdnHeaders({ "x-cache": "Miss", age: "0" }),
    "x-cache: Miss, age: 0",
  );
});

import assert from "node:assert/strict";
import { s3ErrorFields, s3ErrorSummary } from "./s3_error.ts";

Deno.test("s3ErrorFields() reads Code and Message, decoding entities", () => {
  const body = '<?xml version="1.0"?><Error><Code>AccessDenied</Code>' +
    "<Message>Request has expired &amp; &lt;gone&gt;</Message><RequestId>x</RequestId></Error>";
  const fields = s3ErrorFields(body);
  assert.deepEqual(fields, { code: "AccessDenied", message: "Request has expired & <gone>" });
  assert.equal(s3ErrorSummary(fields), "AccessDenied: Request has expired & <gone>");
});

Deno.test("s3ErrorFields() gives nothing for a body that is not an S3 error, and clips a long one", () => {
  assert.deepEqual(s3ErrorFields("<html>proxy error</html>"), {});
  assert.equal(s3ErrorSummary({}), "");
  const long = s3ErrorFields(`<Error><Message>${"x".repeat(10_000)}</Message></Error>`);
  assert.ok((long.message ?? "").length < 1_000);
});

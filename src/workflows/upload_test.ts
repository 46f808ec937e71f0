import assert from "node:assert/strict";
import { formatBytes, putUrlDeadline, storageError } from "./upload.ts";

Deno.test("putUrlDeadline() reads X-Amz-Expires from our clock, or falls back", () => {
  const at = 1_000_000;
  assert.equal(putUrlDeadline(new URL("https://s3/k?X-Amz-Expires=60"), at, 5_000), at + 60_000);
  assert.equal(putUrlDeadline(new URL("https://s3/k?Expires=2000"), at, 5_000), 2_000_000);
  assert.equal(putUrlDeadline(new URL("https://s3/k"), at, 5_000), at + 5_000);
});

Deno.test("storageError() quotes S3's code and message but never the signed URL", () => {
  const url = new URL("https://bucket.s3.amazonaws.com/sha512/abc?X-Amz-Signature=deadbeef");
  const error = storageError("clang.tar.xz", url, {
    status: 403,
    statusText: "Forbidden",
    body: "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
    retryAfter: null,
  });
  assert.equal(
    error.message,
    'Cannot upload "clang.tar.xz" to https://bucket.s3.amazonaws.com/: storage returned 403 Forbidden (AccessDenied: Request has expired)',
  );
  assert.equal(error.url, "https://bucket.s3.amazonaws.com/sha512/abc");
  assert.equal(error.problem?.detail, "Request has expired");
});

Deno.test("formatBytes() uses binary units", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(1023), "1023 B");
  assert.equal(formatBytes(3 * 1024 * 1024), "3.0 MiB");
  assert.equal(formatBytes(1.5 * 1024 ** 3), "1.5 GiB");
});

import assert from "node:assert/strict";
import { putUrlDeadline, storageError, urlExpired } from "./upload/put.ts";
import { formatBytes } from "../format.ts";

Deno.test("putUrlDeadline() reads X-Amz-Expires from our clock, or falls back", () => {
  const at = 1_000_000;
  assert.equal(putUrlDeadline(new URL("https://s3/k?X-Amz-Expires=60"), at, 5_000), at + 60_000);
  assert.equal(putUrlDeadline(new URL("https://s3/k?Expires=2000"), at, 5_000), 2_000_000);
  assert.equal(putUrlDeadline(new URL("https://s3/k"), at, 5_000), at + 5_000);
});

Deno.test("putUrlDeadline() counts an absolute Expires on the service's clock when the clocks differ", () => {
  const at = 1_000_000_000;
  const url = new URL(`https://s3/k?Expires=${(at - 300_000 + 60_000) / 1000}`);
  // Our clock runs 5 min ahead of the service's: the URL still has its 60 s.
  assert.equal(putUrlDeadline(url, at, 5_000, { serverDate: at - 300_000 }), at + 60_000);
  // Within the Date header's resolution the clocks agree: Expires is taken as it is.
  const near = new URL(`https://s3/k?Expires=${(at + 60_000) / 1000}`);
  assert.equal(putUrlDeadline(near, at, 5_000, { serverDate: at - 1_000 }), at + 60_000);
  assert.equal(putUrlDeadline(url, at, 5_000, {}), at - 240_000);
});

Deno.test("urlExpired() believes storage's S3 error code before our clock", () => {
  const url = new URL("https://bucket.s3.amazonaws.com/sha512/abc?Signature=x");
  const answer = (body: string) =>
    storageError("a", url, { status: 403, statusText: "Forbidden", body, retryAfter: null });
  const expired = answer(
    "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
  );
  const denied = answer("<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>");
  const mismatch = answer("<Error><Code>SignatureDoesNotMatch</Code><Message>…</Message></Error>");
  const proxy = answer("<html>Forbidden</html>");
  const future = 2_000;
  const past = 1_000;
  const now = 1_500;
  assert.equal(urlExpired(expired, future, now), true, "storage says so, whatever our clock says");
  assert.equal(
    urlExpired(denied, past, now),
    false,
    "our clock is past the deadline, storage is not",
  );
  assert.equal(urlExpired(mismatch, past, now), false);
  assert.equal(urlExpired(proxy, past, now), true, "no S3 code: our clock decides");
  assert.equal(urlExpired(proxy, future, now), false);
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

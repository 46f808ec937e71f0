import assert from "node:assert/strict";
import {
  describeCodePoints,
  displayUrl,
  escapeControls,
  safeJson,
  safeText,
  scrubSecrets,
  withoutUserinfo,
} from "./display.ts";

Deno.test("escapeControls() writes C0, DEL, C1 and bidi controls as visible escapes", () => {
  assert.equal(
    escapeControls("a\x1b[31mb\x07\r\n\t\x00\x7f\x9b\u202e\u2066\u2028z"),
    String.raw`a\x1b[31mb\x07\r\n\t\x00\x7f\x9b\u202e\u2066\u2028z`,
  );
});

Deno.test("escapeControls() leaves printable text, other scripts and emoji alone", () => {
  const text = "clang-17 (é, 日本語, 🦕) \\x1b is already text";
  assert.equal(escapeControls(text), text);
});

Deno.test("escapeControls() keeps tabs for tab-separated data when asked", () => {
  assert.equal(escapeControls("P\tV\ta\x1bb", { keepTabs: true }), String.raw`P	V	a\x1bb`);
  assert.equal(escapeControls("P\tV"), String.raw`P\tV`);
});

Deno.test("displayUrl() hides userinfo, password or not", () => {
  assert.equal(
    displayUrl("http://user:s3cret@127.0.0.1:8080/api/"),
    "http://***@127.0.0.1:8080/api/",
  );
  assert.equal(displayUrl("https://ghp_TOKEN@host/"), "https://***@host/");
  assert.equal(displayUrl("https://host/api/"), "https://host/api/");
  assert.equal(displayUrl(new URL("https://:pw@host/")), "https://***@host/");
});

Deno.test("displayUrl() hides the values of signed-URL parameters and keeps the others", () => {
  assert.equal(
    displayUrl(
      "https://s3.example/b/k?X-Amz-Algorithm=AWS4&X-Amz-Credential=AKIA%2F1&X-Amz-Expires=60&X-Amz-Signature=abc123",
    ),
    "https://s3.example/b/k?X-Amz-Algorithm=AWS4&X-Amz-Credential=***&X-Amz-Expires=60&X-Amz-Signature=***",
  );
  assert.equal(
    displayUrl("https://cdn/x?Expires=1&Signature=s&Key-Pair-Id=k&AWSAccessKeyId=a"),
    "https://cdn/x?Expires=1&Signature=***&Key-Pair-Id=***&AWSAccessKeyId=***",
  );
});

Deno.test("displayUrl() shows other schemes as they are and scrubs what does not parse", () => {
  assert.equal(displayUrl("file:///etc/passwd"), "file:///etc/passwd");
  assert.equal(displayUrl("data:text/plain,hi"), "data:text/plain,hi");
  assert.equal(displayUrl("see ftp://u:p@h/ too"), "see ftp://***@h/ too");
});

Deno.test("scrubSecrets() redacts every URL's userinfo and signature in running text", () => {
  assert.equal(
    scrubSecrets(
      "error sending request for url (https://u:p@h:1/x?a=1&X-Amz-Signature=zz&Signature=yy): " +
        "see http://tok@other/ or ftp://a:b@c",
    ),
    "error sending request for url (https://***@h:1/x?a=1&X-Amz-Signature=***&Signature=***): " +
      "see http://***@other/ or ftp://***@c",
  );
});

Deno.test("scrubSecrets() leaves text without URL credentials alone", () => {
  const text =
    'Cannot fetch "a@b" from https://host/: server returned 404 (mail me@example.com; x=Signature)';
  assert.equal(scrubSecrets(text), text);
});

Deno.test("safeText() scrubs a password even when it holds control characters", () => {
  assert.equal(safeText("http://u:p\x1bw@h/"), "http://***@h/");
});

Deno.test("safeJson() parses back to the same value, with C1 and bidi as JSON escapes", () => {
  const value = { error: "a\x1b[31m\x9b\u202e\u2028\x7fz", n: 1, list: [null] };
  const text = safeJson(value);
  assert.deepEqual(JSON.parse(text), value);
  // deno-lint-ignore no-control-regex -- checking no control character is left raw
  assert.doesNotMatch(text, /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e\u2028]/);
  assert.ok(text.includes(String.raw`"a\u001b[31m\u009b\u202e\u2028\u007fz"`), text);
});

Deno.test("safeJson() redacts URL credentials and signatures inside strings", () => {
  const text = safeJson({
    server: "http://user:s3cret@h/",
    url: "https://s/k?X-Amz-Signature=abc",
  });
  assert.ok(!text.includes("s3cret") && !text.includes("abc"), text);
  assert.deepEqual(JSON.parse(text), {
    server: "http://***@h/",
    url: "https://s/k?X-Amz-Signature=***",
  });
});

Deno.test("describeCodePoints() tells apart names that differ only by normalisation", () => {
  assert.equal(describeCodePoints("\u00e9.txt"), '"é.txt" (U+00E9 U+002E U+0074 U+0078 U+0074)');
  assert.equal(describeCodePoints("e\u0301"), '"e\u0301" (U+0065 U+0301)');
  assert.equal(describeCodePoints("plain.txt"), '"plain.txt"');
});

Deno.test("withoutUserinfo() drops username and password and keeps the rest", () => {
  assert.equal(withoutUserinfo(new URL("http://u:p@h:1/a?b#c")).href, "http://h:1/a?b#c");
  const withUser = new URL("https://u@h/");
  assert.equal(withoutUserinfo(withUser).href, "https://h/");
  assert.equal(withUser.username, "u", "the URL given is not changed");
  const plain = new URL("https://h/x");
  assert.equal(withoutUserinfo(plain), plain, "nothing to drop: no copy");
});

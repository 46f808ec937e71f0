import assert from "node:assert/strict";
import fc from "fast-check";
import { ManifestError } from "../errors.ts";
import {
  type FileRecord,
  parseManifest,
  parseSafeFilename,
  parseSha512,
  type SafeFilename,
  serializeManifest,
} from "./manifest.ts";
import { isSha512, type Sha512 } from "../sha512.ts";

const D1 = "8e93bf75032fb28130fe448f5581deda30dac259fff009148ba5a500d20896ba" +
  "698a241dcc345efe18280733e37789b6b2f9f4304fbeb250d32f9daf5ffd49cb";
const D2 = "a".repeat(128);

function record(
  fields: Omit<Partial<FileRecord>, "filename"> & { filename: string },
): FileRecord {
  return {
    size: 1,
    algorithm: "sha512",
    digest: D1 as Sha512,
    ...fields,
    filename: fields.filename as SafeFilename,
  };
}

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  assert.fail("did not throw");
}

/** The `line:column: message` of every problem parseManifest() finds in `text`. */
function problems(text: string): string[] {
  try {
    parseManifest(text, "m.tt");
  } catch (error) {
    assert.ok(error instanceof ManifestError, `not a ManifestError: ${error}`);
    assert.ok(error.problems.every((p) => p.path === "m.tt"));
    return error.problems.map((p) => `${p.line}:${p.column}: ${p.message}`);
  }
  assert.fail(`parsed without error: ${text}`);
}

/** One record as JSON text, with `fields` overriding or (when undefined) removing keys. */
function recordText(fields: Record<string, unknown> = {}): string {
  const base: Record<string, unknown> = {
    filename: "a.tgz",
    size: 1,
    algorithm: "sha512",
    digest: D1,
  };
  const merged = { ...base, ...fields };
  return JSON.stringify(
    Object.fromEntries(Object.entries(merged).filter(([, v]) => v !== undefined)),
  );
}

// ---------------------------------------------------------------------------------------
// Reading

Deno.test("parseManifest() reads tooltool.py's own test manifest, keys in any order", () => {
  const text = `[\n{\n"algorithm": "sha512",\n"visibility": "public",\n` +
    `"filename": "test_file.ogg",\n"digest": "${D1}",\n"size": 87986\n}\n]\n`;
  assert.deepEqual(parseManifest(text, "manifest.tt"), [
    record({ filename: "test_file.ogg", size: 87986, visibility: "public" }),
  ]);
});

Deno.test("parseManifest() reads an empty array as no records", () => {
  assert.deepEqual(parseManifest("[]", "m.tt"), []);
  assert.deepEqual(parseManifest(" \r\n[ ]\n", "m.tt"), []);
});

Deno.test("parseManifest() reads every optional field", () => {
  const text = `[${recordText({ unpack: true, version: "17.0.1", visibility: "internal" })}]`;
  assert.deepEqual(parseManifest(text, "m.tt"), [
    record({ filename: "a.tgz", unpack: true, version: "17.0.1", visibility: "internal" }),
  ]);
});

Deno.test("parseManifest() treats null, false and empty optional fields as not set", () => {
  const text = `[${recordText({ unpack: false, version: "", visibility: null })},` +
    `${recordText({ filename: "b", unpack: null, version: null })}]`;
  const records = parseManifest(text, "m.tt");
  assert.deepEqual(records, [record({ filename: "a.tgz" }), record({ filename: "b" })]);
  assert.ok(records.every((r) => !("unpack" in r) && !("version" in r) && !("visibility" in r)));
});

Deno.test("parseManifest() keeps unknown keys in extra and serializeManifest() drops them", () => {
  const text = `[${recordText({ setup: "setup.sh", nested: { a: [1, null] } })}]`;
  const records = parseManifest(text, "m.tt");
  assert.deepEqual(records[0]?.extra, { setup: "setup.sh", nested: { a: [1, null] } });
  assert.equal(serializeManifest(records), serializeManifest([record({ filename: "a.tgz" })]));
});

Deno.test("parseManifest() keeps a __proto__ key as plain data", () => {
  const text = `[${recordText({}).slice(0, -1)}, "__proto__": {"polluted": true}}]`;
  const extra = parseManifest(text, "m.tt")[0]?.extra;
  assert.ok(extra !== undefined);
  assert.ok(Object.hasOwn(extra, "__proto__"));
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

Deno.test("parseManifest() accepts non-ASCII file names and escaped ones alike", () => {
  const text = '[{"filename": "caf\\u00e9-\u{1f600}.zip", "size": 0, "algorithm": "sha512", ' +
    `"digest": "${D2}"}]`;
  assert.equal(parseManifest(text, "m.tt")[0]?.filename, "caf\u00e9-\u{1f600}.zip");
});

Deno.test("parseManifest() accepts the largest safe integer size", () => {
  const text = `[${recordText({ size: Number.MAX_SAFE_INTEGER })}]`;
  assert.equal(parseManifest(text, "m.tt")[0]?.size, Number.MAX_SAFE_INTEGER);
});

// ---------------------------------------------------------------------------------------
// Rejecting

Deno.test("parseManifest() rejects an empty or blank file", () => {
  assert.deepEqual(problems(""), [
    "1:1: the manifest is empty: expected a JSON array of file records",
  ]);
  assert.deepEqual(problems("\n  \n"), [
    "3:1: the manifest is empty: expected a JSON array of file records",
  ]);
});

Deno.test("parseManifest() rejects a byte order mark and still checks the rest", () => {
  assert.deepEqual(problems("\ufeff[]"), [
    "1:1: the file starts with a byte order mark (U+FEFF): save it as UTF-8 without BOM",
  ]);
  assert.deepEqual(problems(`\ufeff[${recordText({ size: -1 })}]`), [
    "1:1: the file starts with a byte order mark (U+FEFF): save it as UTF-8 without BOM",
    '1:30: record 1 ("a.tgz"): "size" must not be negative, got -1',
  ]);
});

Deno.test("parseManifest() reports a JSON syntax error with its line and column", () => {
  assert.deepEqual(problems('[\n  {"filename": "a",\n  "size": 1\n'), [
    '4:1: invalid JSON: unexpected end of input: expected "," or "}" after a member',
  ]);
  assert.deepEqual(problems(`[${recordText()}] trailing`), [
    '1:194: invalid JSON: unexpected character "t" after the end of the JSON value',
  ]);
  assert.deepEqual(
    problems("BOGUS"),
    [
      'invalid JSON: unexpected character "B": expected a JSON value',
    ].map((m) => `1:1: ${m}`),
  );
});

Deno.test("parseManifest() rejects truncated manifests at every length", () => {
  const text = serializeManifest([record({ filename: "a" }), record({ filename: "b" })]);
  for (let length = 0; length < text.length; length++) {
    const found = problems(text.slice(0, length));
    assert.equal(found.length, 1, `length ${length}: ${found.join("; ")}`);
  }
});

Deno.test("parseManifest() rejects a top level that is not an array", () => {
  assert.deepEqual(problems(recordText()), [
    "1:1: expected a JSON array of file records, got an object",
  ]);
  assert.deepEqual(problems('  "a.tgz"'), [
    '1:3: expected a JSON array of file records, got a string ("a.tgz")',
  ]);
  assert.deepEqual(problems("null"), ["1:1: expected a JSON array of file records, got null"]);
});

Deno.test("parseManifest() rejects records that are not objects", () => {
  assert.deepEqual(problems('[1, "x", [], null, true]'), [
    "1:2: record 1: expected an object, got a number (1)",
    '1:5: record 2: expected an object, got a string ("x")',
    "1:10: record 3: expected an object, got an array",
    "1:14: record 4: expected an object, got null",
    "1:20: record 5: expected an object, got true",
  ]);
});

Deno.test("parseManifest() rejects each missing required field, at the record", () => {
  for (const key of ["filename", "size", "algorithm", "digest"]) {
    const label = key === "filename" ? "record 1" : 'record 1 ("a.tgz")';
    assert.deepEqual(problems(`[${recordText({ [key]: undefined })}]`), [
      `1:2: ${label}: "${key}" is missing`,
    ]);
  }
  assert.deepEqual(problems("[{}]"), [
    '1:2: record 1: "filename" is missing',
    '1:2: record 1: "size" is missing',
    '1:2: record 1: "algorithm" is missing',
    '1:2: record 1: "digest" is missing',
  ]);
});

/** The problems of a one-record manifest whose field `key` is `value`. */
function fieldProblems(key: string, value: unknown): string[] {
  // Strip the positions: each case below is about the message.
  return problems(`[${recordText({ [key]: value })}]`).map((p) => p.replace(/^\d+:\d+: /, ""));
}

Deno.test("parseManifest() rejects bad file names", () => {
  const cases: [unknown, string][] = [
    ["dir/a.tgz", 'must be a bare file name without "/", got "dir/a.tgz"'],
    ["/abs", 'must be a bare file name without "/", got "/abs"'],
    ["dir\\a.tgz", 'must be a bare file name without "\\", got "dir\\\\a.tgz"'],
    ["a\u0000b", "must not contain a NUL character"],
    ["a\nb", 'must not contain control characters, got U+000A in "a\\nb"'],
    ["a\u007fb", 'must not contain control characters, got U+007F in "a\u007fb"'],
    ["a\u0085b", 'must not contain control characters, got U+0085 in "a\u0085b"'],
    [".", 'must not be "."'],
    ["..", 'must not be ".."'],
    ["", "must not be empty"],
    ["a\ud800", "must be valid Unicode, got an unpaired surrogate U+D800"],
    ["\udc00a", "must be valid Unicode, got an unpaired surrogate U+DC00"],
    [42, "must be a string, got a number (42)"],
    [null, "must be a string, got null"],
    [["a"], "must be a string, got an array"],
  ];
  for (const [value, message] of cases) {
    assert.deepEqual(fieldProblems("filename", value), [`record 1: "filename" ${message}`]);
  }
});

Deno.test("parseManifest() accepts file names that only look odd", () => {
  for (const name of ["...", ".hidden", "a..b", " spaced ", "-", "a:b", "\u00e9"]) {
    assert.equal(parseManifest(`[${recordText({ filename: name })}]`, "m.tt")[0]?.filename, name);
  }
});

Deno.test("parseManifest() rejects bad sizes", () => {
  const raw = (spelling: string) =>
    problems(`[${recordText().replace('"size":1', `"size":${spelling}`)}]`)
      .map((p) => p.replace(/^\d+:\d+: /, ""));
  const label = 'record 1 ("a.tgz"): "size"';
  assert.deepEqual(raw("-1"), [`${label} must not be negative, got -1`]);
  assert.deepEqual(raw("-0"), [`${label} must not be negative, got -0`]);
  assert.deepEqual(raw("1.5"), [`${label} must be a whole number of bytes, got 1.5`]);
  assert.deepEqual(raw("1.0"), [`${label} must be a whole number of bytes, got 1.0`]);
  assert.deepEqual(raw("1e3"), [`${label} must be a whole number of bytes, got 1e3`]);
  assert.deepEqual(raw("9007199254740992"), [
    `${label} must be at most 9007199254740991, got 9007199254740992`,
  ]);
  assert.deepEqual(raw('"1"'), [`${label} must be a whole number of bytes, got a string ("1")`]);
  assert.deepEqual(raw("null"), [`${label} must be a whole number of bytes, got null`]);
  assert.deepEqual(raw("true"), [`${label} must be a whole number of bytes, got true`]);
});

Deno.test("parseManifest() rejects an algorithm other than sha512", () => {
  const label = 'record 1 ("a.tgz"): "algorithm"';
  assert.deepEqual(fieldProblems("algorithm", "md5"), [`${label} must be "sha512", got "md5"`]);
  assert.deepEqual(fieldProblems("algorithm", "SHA512"), [
    `${label} must be "sha512", got "SHA512"`,
  ]);
  assert.deepEqual(fieldProblems("algorithm", 512), [
    `${label} must be "sha512", got a number (512)`,
  ]);
});

Deno.test("parseManifest() rejects bad digests", () => {
  const label = 'record 1 ("a.tgz"): "digest"';
  const rule = "must be 128 lowercase hexadecimal digits";
  assert.deepEqual(fieldProblems("digest", D1.toUpperCase()), [
    `${label} ${rule}, got uppercase letters`,
  ]);
  assert.deepEqual(fieldProblems("digest", D1.slice(0, 64)), [
    `${label} ${rule}, got 64 characters`,
  ]);
  assert.deepEqual(fieldProblems("digest", D1 + "0"), [`${label} ${rule}, got 129 characters`]);
  assert.deepEqual(fieldProblems("digest", ""), [`${label} ${rule}, got 0 characters`]);
  assert.deepEqual(fieldProblems("digest", "g" + D1.slice(1)), [
    `${label} ${rule}, got "g" at position 1`,
  ]);
  assert.deepEqual(fieldProblems("digest", null), [`${label} must be a string, got null`]);
});

Deno.test("parseManifest() rejects bad optional fields", () => {
  const label = 'record 1 ("a.tgz")';
  assert.deepEqual(fieldProblems("unpack", "yes"), [
    `${label}: "unpack" must be true or false, got a string ("yes")`,
  ]);
  assert.deepEqual(fieldProblems("unpack", 1), [
    `${label}: "unpack" must be true or false, got a number (1)`,
  ]);
  assert.deepEqual(fieldProblems("version", 17), [
    `${label}: "version" must be a string, got a number (17)`,
  ]);
  assert.deepEqual(fieldProblems("visibility", "private"), [
    `${label}: "visibility" must be "public" or "internal", got "private"`,
  ]);
  assert.deepEqual(fieldProblems("visibility", true), [
    `${label}: "visibility" must be "public" or "internal", got true`,
  ]);
});

Deno.test("parseManifest() rejects a key repeated within a record", () => {
  assert.deepEqual(problems(`[${recordText().slice(0, -1)},"size":2}]`), [
    '1:192: record 1 ("a.tgz"): key "size" appears twice',
  ]);
});

Deno.test("parseManifest() rejects a file name used by two records", () => {
  const text = `[\n${recordText()},\n${recordText({ digest: D2 })},\n${recordText()}\n]`;
  assert.deepEqual(problems(text), [
    '3:13: record 2 ("a.tgz"): "filename" repeats record 1',
    '4:13: record 3 ("a.tgz"): "filename" repeats record 1',
  ]);
});

Deno.test("parseManifest() rejects a file name longer than 255 bytes in UTF-8", () => {
  const long = "a".repeat(256);
  assert.deepEqual(fieldProblems("filename", long), [
    'record 1: "filename" must be at most 255 bytes long in UTF-8 (the file system limit), ' +
    `got 256 bytes: "${"a".repeat(79)}…"`,
  ]);
  // 128 two-byte characters: 128 UTF-16 units, but 256 bytes on disk.
  assert.match(fieldProblems("filename", "\u00e9".repeat(128))[0] ?? "", /got 256 bytes/);
  // A four-byte character counts four, though it is two UTF-16 units.
  assert.match(fieldProblems("filename", "a".repeat(252) + "\u{1f600}")[0] ?? "", /got 256/);
  for (const name of ["a".repeat(255), "\u00e9".repeat(127) + "a", "a".repeat(251) + "\u{1f600}"]) {
    assert.equal(parseManifest(`[${recordText({ filename: name })}]`, "m.tt")[0]?.filename, name);
  }
});

Deno.test("parseManifest() rejects names that differ only by Unicode normalisation, showing code points", () => {
  const nfc = "caf\u00e9.tgz";
  const nfd = "cafe\u0301.tgz";
  const text = `[\n${recordText({ filename: nfc })},\n${
    recordText({ filename: nfd, digest: D2 })
  }\n]`;
  assert.deepEqual(problems(text), [
    `3:13: record 2 ("${nfd}"): "filename" differs from record 1's only by Unicode ` +
    `normalisation: "e\u0301" (U+0065 U+0301) and "\u00e9" (U+00E9) (one file on macOS)`,
  ]);
});

Deno.test("parseManifest() shows a whole base character and its marks when normalisation differs", () => {
  // Same NFC form (U+1EBF), marks in canonical order in the first, precomposed in the second.
  const text = `[\n${recordText({ filename: "xe\u0302\u0301y" })},\n` +
    `${recordText({ filename: "x\u00ea\u0301y", digest: D2 })}\n]`;
  assert.deepEqual(problems(text).map((p) => p.replace(/^.*normalisation: /, "")), [
    '"\u00ea\u0301" (U+00EA U+0301) and "e\u0302\u0301" (U+0065 U+0302 U+0301) ' +
    "(one file on macOS)",
  ]);
});

Deno.test("parseManifest() collects every problem of every record, in file order", () => {
  const text = "[\n" +
    `  {"filename": "a/b", "size": -1, "algorithm": "md5", "digest": "AB"},\n` +
    `  3,\n` +
    `  ${recordText({ filename: "ok", visibility: "secret" })}\n` +
    "]";
  assert.deepEqual(problems(text), [
    '2:16: record 1: "filename" must be a bare file name without "/", got "a/b"',
    '2:31: record 1: "size" must not be negative, got -1',
    '2:48: record 1: "algorithm" must be "sha512", got "md5"',
    '2:65: record 1: "digest" must be 128 lowercase hexadecimal digits, got 2 characters',
    "3:3: record 2: expected an object, got a number (3)",
    '4:203: record 3 ("ok"): "visibility" must be "public" or "internal", got "secret"',
  ]);
});

Deno.test("parseManifest() counts columns in code points", () => {
  const text = `[{"version": "\u{1f600}\u{1f600}", "filename": 5}]`;
  const column = [...text].indexOf("5") + 1;
  assert.equal(column, 32);
  assert.ok(
    problems(text).includes(`1:${column}: record 1: "filename" must be a string, got a number (5)`),
  );
});

Deno.test("parseManifest() throws one message naming the first problem, the count and a hint", () => {
  const text = `[\n${recordText({ size: -1, digest: "x" })}\n]`;
  const error = caught(() => parseManifest(text, "dir/m.tt"));
  assert.ok(error instanceof ManifestError);
  assert.equal(
    error.message,
    'Cannot parse manifest "dir/m.tt": line 2, column 28: record 1 ("a.tgz"): "size" must ' +
      "not be negative, got -1 (and 1 more problem)",
  );
  assert.equal(error.hint, '"tooltool validate --schema-only dir/m.tt" lists every problem');
  assert.equal(error.problems.length, 2);
});

Deno.test("parseManifest() gives a single problem without a hint", () => {
  const error = caught(() => parseManifest("{}", "m.tt"));
  assert.ok(error instanceof ManifestError);
  assert.equal(
    error.message,
    'Cannot parse manifest "m.tt": line 1, column 1: expected a JSON array of file records, ' +
      "got an object",
  );
  assert.equal(error.hint, undefined);
});

// ---------------------------------------------------------------------------------------
// Writing

Deno.test("serializeManifest() writes tooltool.py's layout and key order", () => {
  const text = serializeManifest([
    record({ filename: "b.tgz", size: 10, unpack: true, version: "1.2", visibility: "public" }),
    record({ filename: "a.tgz", digest: D2 as Sha512 }),
  ]);
  assert.equal(
    text,
    `[\n  {\n    "filename": "b.tgz",\n    "size": 10,\n    "algorithm": "sha512",\n` +
      `    "digest": "${D1}",\n    "unpack": true,\n    "version": "1.2",\n` +
      `    "visibility": "public"\n  },\n  {\n    "filename": "a.tgz",\n    "size": 1,\n` +
      `    "algorithm": "sha512",\n    "digest": "${D2}"\n  }\n]`,
  );
});

Deno.test("serializeManifest() writes no records as [] without a newline", () => {
  assert.equal(serializeManifest([]), "[]");
});

Deno.test("serializeManifest() leaves out unpack false and an empty version", () => {
  const text = serializeManifest([record({ filename: "a", unpack: false, version: "" })]);
  assert.ok(!text.includes("unpack") && !text.includes("version"));
});

Deno.test("serializeManifest() escapes like Python's ensure_ascii", () => {
  const text = serializeManifest([
    record({ filename: "caf\u00e9\u{1f600}", version: 'q"\\/\n\r\t\b\f\u0001\u007f\u2028\ud800' }),
  ]);
  assert.ok(text.includes(String.raw`"filename": "caf\u00e9\ud83d\ude00"`));
  assert.ok(text.includes(String.raw`"version": "q\"\\/\n\r\t\b\f\u0001\u007f\u2028\ud800"`));
  assert.match(text, /^[\x20-\x7e\n]*$/);
});

Deno.test("serializeManifest() refuses a record whose size cannot be written exactly", () => {
  assert.throws(() => serializeManifest([record({ filename: "a", size: 1.5 })]), RangeError);
  assert.throws(() => serializeManifest([record({ filename: "a", size: 2 ** 60 })]), RangeError);
});

// ---------------------------------------------------------------------------------------
// Boundary types

Deno.test("isSha512() accepts only 128 lowercase hex digits", () => {
  assert.equal(isSha512(D1), true);
  assert.equal(isSha512(D1.toUpperCase()), false);
  assert.equal(isSha512(D1 + "\n"), false);
  assert.equal(isSha512(""), false);
});

Deno.test("parseSha512() names where a bad digest came from", () => {
  assert.equal(parseSha512(D1), D1);
  assert.throws(() => parseSha512("abc", "--digest"), {
    name: "ManifestError",
    message:
      "Invalid sha512 digest in --digest: must be 128 lowercase hexadecimal digits, got 3 characters",
  });
  assert.throws(() => parseSha512(undefined), {
    message: "Invalid sha512 digest: must be a string, got an undefined",
  });
});

Deno.test("parseSafeFilename() names where a bad file name came from", () => {
  assert.equal(parseSafeFilename("clang.tar.xz"), "clang.tar.xz");
  assert.throws(() => parseSafeFilename("..", 'argument ".."'), {
    name: "ManifestError",
    message: 'Invalid file name in argument "..": must not be ".."',
  });
  assert.throws(() => parseSafeFilename(7), {
    message: "Invalid file name: must be a string, got a number",
  });
});

// ---------------------------------------------------------------------------------------
// Properties

const anyUnit = fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit));
const anyString = fc.oneof(
  fc.string({ unit: "binary" }),
  fc.string({ unit: anyUnit }),
  fc.string({ unit: "grapheme" }),
);
const hexDigest = fc.string({
  unit: fc.constantFrom(..."0123456789abcdef"),
  minLength: 128,
  maxLength: 128,
}).map((value) => value as Sha512);
const safeFilename = fc.oneof(
  fc.string({ unit: "binary", minLength: 1 }),
  fc.string({ minLength: 1 }),
)
  .filter((name) => {
    try {
      parseSafeFilename(name);
      return true;
    } catch {
      return false;
    }
  })
  .map((name) => name as SafeFilename);

/** Records in the form parseManifest() returns: optional keys only when they carry a value. */
const canonicalRecord: fc.Arbitrary<FileRecord> = fc.record({
  filename: safeFilename,
  size: fc.oneof(fc.maxSafeNat(), fc.nat(10_000)),
  algorithm: fc.constant("sha512" as const),
  digest: hexDigest,
  unpack: fc.constant(true),
  version: anyString.filter((v) => v !== ""),
  visibility: fc.constantFrom("public" as const, "internal" as const),
}, { requiredKeys: ["filename", "size", "algorithm", "digest"] });
const canonicalRecords = fc.uniqueArray(canonicalRecord.map((r) => ({ ...r })), {
  selector: (r) => r.filename,
  maxLength: 8,
});

Deno.test("parseManifest() reads back whatever serializeManifest() writes", () => {
  fc.assert(
    fc.property(canonicalRecords, (records) => {
      assert.deepEqual(parseManifest(serializeManifest(records), "m.tt"), records);
    }),
    { numRuns: 300 },
  );
});

Deno.test("serializeManifest() output is ASCII JSON that JSON.parse reads as the records", () => {
  fc.assert(
    fc.property(canonicalRecords, (records) => {
      const text = serializeManifest(records);
      assert.match(text, /^[\x20-\x7e\n]*$/);
      assert.deepEqual(JSON.parse(text), records);
    }),
    { numRuns: 300 },
  );
});

Deno.test("serializeManifest() is a fixed point after one parse", () => {
  fc.assert(
    fc.property(canonicalRecords, (records) => {
      const once = serializeManifest(records);
      assert.equal(serializeManifest(parseManifest(once, "m.tt")), once);
    }),
    { numRuns: 200 },
  );
});

/** Checks that `text` either parses or fails with in-range positions; returns the outcome. */
function parseOrProblems(text: string): "ok" | "problems" {
  try {
    parseManifest(text, "m.tt");
    return "ok";
  } catch (error) {
    if (!(error instanceof ManifestError)) throw error;
    assert.ok(error.problems.length > 0);
    const lines = text.split("\n");
    for (const { line, column } of error.problems) {
      assert.ok(line >= 1 && line <= lines.length, `line ${line} of ${lines.length}`);
      const lineLength = [...lines[line - 1]!].length;
      assert.ok(column >= 1 && column <= lineLength + 1, `column ${column} of ${lineLength}`);
    }
    return "problems";
  }
}

Deno.test("parseManifest() throws only ManifestError, with positions inside the text", () => {
  fc.assert(fc.property(anyString, (text) => void parseOrProblems(text)), { numRuns: 2000 });
  fc.assert(fc.property(fc.json(), (text) => void parseOrProblems(text)), { numRuns: 1000 });
});

Deno.test("parseManifest() survives any single-character edit of a valid manifest", () => {
  fc.assert(
    fc.property(
      canonicalRecords.filter((r) => r.length > 0),
      fc.nat(),
      fc.oneof(fc.constant(""), fc.constantFrom(...'{}[],:"\\ 0-ea\n'), anyUnit),
      (records, at, replacement) => {
        const text = serializeManifest(records);
        const index = at % text.length;
        void parseOrProblems(text.slice(0, index) + replacement + text.slice(index + 1));
      },
    ),
    { numRuns: 1000 },
  );
});

// ---------------------------------------------------------------------------------------
// Against Python itself

const PYTHON_ENCODER = `
import json, sys
def record(r):
    rv = {"filename": r["filename"], "size": r["size"], "algorithm": r["algorithm"], "digest": r["digest"]}
    if r.get("unpack"): rv["unpack"] = True
    if r.get("version"): rv["version"] = r["version"]
    if r.get("visibility") is not None: rv["visibility"] = r["visibility"]
    return rv
manifests = json.load(sys.stdin)
out = [json.dumps([record(r) for r in m], indent=2, separators=(",", ": ")) for m in manifests]
sys.stdout.write(json.dumps(out))
`;

async function pythonAvailable(): Promise<boolean> {
  try {
    const { success } = await new Deno.Command("python3", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

/** What Python's json module (tooltool.py's FileRecordJSONEncoder rules) writes for each. */
async function pythonDumps(manifests: readonly (readonly FileRecord[])[]): Promise<string[]> {
  const child = new Deno.Command("python3", {
    args: ["-c", PYTHON_ENCODER],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  // JSON.stringify escapes lone surrogates, which Python's json reads back as themselves.
  await writer.write(new TextEncoder().encode(JSON.stringify(manifests)));
  await writer.close();
  const { success, stdout, stderr } = await child.output();
  assert.ok(success, new TextDecoder().decode(stderr));
  return JSON.parse(new TextDecoder().decode(stdout));
}

Deno.test({
  name: "serializeManifest() matches Python's json.dumps byte for byte",
  ignore: !(await pythonAvailable()),
  async fn() {
    const manifests = fc.sample(canonicalRecords, { numRuns: 400, seed: 42 });
    manifests.push(
      [],
      [record({ filename: "a", unpack: false, version: "" })],
      [record({
        filename: "\u00e9",
        version: '"\\/\u0000\u001f\u007f\u0080\uffff\u{10ffff}\udfff',
      })],
    );
    const expected = await pythonDumps(manifests);
    manifests.forEach((records, index) => {
      assert.equal(serializeManifest(records), expected[index], JSON.stringify(records));
    });
  },
});

Deno.test("parseManifest() reports a syntax error alone, even after records with problems", () => {
  assert.deepEqual(problems(`[${recordText({ size: -1 })}, {"filename": "b"`), [
    `1:211: invalid JSON: unexpected end of input: expected "," or "}" after a member`,
  ]);
});

/**
 * Holds `parseManifest`'s fast path (`validManifestRecords`, through `JSON.parse`) to the
 * positioned parser: whenever the fast path answers, the positioned parser accepts the same
 * text and gives equal records, fields in the same order. Texts are built from pieces that
 * the two could disagree on: keys given twice, numbers spelled `1.0`/`1e3`/`-0`, strings
 * holding quotes, colons and escapes, `__proto__` and numeric keys, deep nesting, byte order
 * marks, names equal only after normalisation.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { parseManifestWithPositions, validManifestRecords } from "./manifest.ts";

const DIGEST = "ab".repeat(64);

function slowResult(text: string): unknown[] | "rejected" {
  try {
    return parseManifestWithPositions(text, "m.tt");
  } catch {
    return "rejected";
  }
}

/** Equal records, and equal in the order of their fields (what `JSON.stringify` shows). */
function assertSameAsSlow(text: string): "fast" | "slow" {
  const fast = validManifestRecords(text);
  if (fast === undefined) return "slow";
  const slow = slowResult(text);
  assert.notEqual(slow, "rejected", `the fast path accepted what the slow one rejects: ${text}`);
  assert.deepStrictEqual(fast, slow, text);
  assert.equal(JSON.stringify(fast), JSON.stringify(slow), text);
  return "fast";
}

const jsonString = (value: string) => JSON.stringify(value);

/** Mostly `usual`, sometimes one of the `unusual` spellings. */
function mostly(usual: fc.Arbitrary<string>, unusual: fc.Arbitrary<string>) {
  return fc.oneof({ arbitrary: usual, weight: 14 }, { arbitrary: unusual, weight: 1 });
}

/** Present in most records, missing from a few. */
function usuallyPresent(value: fc.Arbitrary<string>) {
  return fc.option(value, { nil: undefined, freq: 30 });
}

/** Missing from most records. */
function sometimes(value: fc.Arbitrary<string>) {
  return fc.option(value, { nil: undefined, freq: 2 }).map((v) => v);
}

const filename = mostly(
  fc.stringMatching(/^[a-z0-9_-]{1,8}\.(tgz|zip|xz)$/),
  fc.oneof(
    fc.constantFrom("é.txt", "e\u0301.txt", "a:b", 'q"q', "x\\y", "", ".", "..", "a/b"),
    fc.string({ minLength: 1, maxLength: 8 }),
  ),
);
const sizeText = mostly(
  fc.nat().map(String),
  fc.constantFrom("1.0", "1e3", "1E3", "-0", "-1", "9007199254740993", '"1"', "0.5"),
);
const digestText = mostly(
  fc.constant(jsonString(DIGEST)),
  fc.constantFrom(jsonString(DIGEST.toUpperCase()), jsonString(DIGEST.slice(1)), "null"),
);
const plainValue = fc.oneof(
  fc.constantFrom("true", "false", "null", "0", "1.5", "-2", "1e2", '""', '"a:b"', '"\\"x\\""'),
  fc.string({ maxLength: 6 }).map(jsonString),
  fc.constantFrom("{}", "[]", '{"k": 1}', '{"k": 1, "k": 2}', '[1, {"a": "b"}]'),
  fc.integer({ min: 1, max: 20 }).map((depth) => "[".repeat(depth) + "]".repeat(depth)),
);
const extraKey = fc.oneof(
  fc.constantFrom("setup", "__proto__", "10", "2", "filename ", "a:b", 'q"'),
  fc.string({ maxLength: 5 }),
);

/** One record's members, as `"key": value` texts, possibly with a key missing or twice. */
const members = fc.record({
  filename: usuallyPresent(filename.map(jsonString)),
  size: usuallyPresent(sizeText),
  algorithm: usuallyPresent(mostly(fc.constant('"sha512"'), fc.constantFrom('"sha256"', "1"))),
  digest: usuallyPresent(digestText),
  unpack: sometimes(
    mostly(fc.constantFrom("true", "false", "null"), fc.constantFrom('"yes"', "1")),
  ),
  version: sometimes(mostly(fc.constantFrom('""', '"1"', "null"), fc.constant("2"))),
  visibility: sometimes(
    mostly(fc.constantFrom('"public"', '"internal"', "null"), fc.constant('"secret"')),
  ),
  extras: fc.oneof(
    { arbitrary: fc.constant([]), weight: 3 },
    { arbitrary: fc.array(fc.tuple(extraKey, plainValue), { maxLength: 2 }), weight: 1 },
  ),
  repeat: fc.option(fc.constantFrom("filename", "size", "digest", "unpack"), {
    nil: undefined,
    freq: 8,
  }),
  shuffle: fc.boolean(),
}).map((choice) => {
  const list: string[] = [];
  for (const key of ["filename", "size", "algorithm", "digest", "unpack", "version"] as const) {
    const value = choice[key];
    if (value !== undefined) list.push(`"${key}": ${value}`);
  }
  if (choice.visibility !== undefined) list.push(`"visibility": ${choice.visibility}`);
  for (const [key, value] of choice.extras) list.push(`${jsonString(key)}: ${value}`);
  if (choice.repeat !== undefined) {
    const again = list.find((member) => member.startsWith(`"${choice.repeat}"`));
    if (again !== undefined) list.push(again);
  }
  return choice.shuffle ? list.reverse() : list;
});

const manifestText = fc.record({
  records: fc.array(members, { maxLength: 4 }),
  space: fc.constantFrom("", " ", "\n  ", "\t", "\r\n"),
  bom: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
  wrap: mostly(fc.constant("array"), fc.constantFrom("object", "trailing-comma")),
}).map(({ records, space, bom, wrap }) => {
  const items = records.map((list) => `{${space}${list.join(`,${space}`)}${space}}`);
  let body = `[${space}${items.join(`,${space}`)}${space}]`;
  if (wrap === "object") body = `{"records": ${body}}`;
  if (wrap === "trailing-comma" && items.length > 0) body = `[${items.join(",")},]`;
  return (bom ? "\ufeff" : "") + body;
});

/** The members of a record that both paths must accept. */
function validMembers(name: string, extras: string[] = []): string {
  return [
    `"filename": ${jsonString(name)}`,
    `"size": 12`,
    `"algorithm": "sha512"`,
    `"digest": "${DIGEST}"`,
    ...extras,
  ].join(", ");
}

Deno.test("validManifestRecords() answers only where the positioned parser agrees", () => {
  let fastWithRecords = 0;
  fc.assert(
    fc.property(manifestText, (text) => {
      if (assertSameAsSlow(text) === "fast" && text.includes("{")) fastWithRecords++;
    }),
    { numRuns: 10_000 },
  );
  // Otherwise the property could hold by never taking the fast path.
  assert.ok(fastWithRecords >= 150, `only ${fastWithRecords} texts with records took it`);
});

Deno.test("validManifestRecords() takes the usual manifests, extra keys included", () => {
  const texts = [
    "[]",
    `[{${validMembers("a.tgz")}}]`,
    `[\n  {${validMembers("a.tgz", ['"unpack": true', '"version": "1"'])}},\n  {${
      validMembers("b.zip", ['"visibility": "internal"', '"setup": "setup.sh"'])
    }}\n]`,
    `[{${validMembers("a:b", ['"__proto__": {"x": "y"}', '"10": [1, 2]', '"note": "a\\"b:c"'])}}]`,
    `[{${validMembers("a", ['"unpack": null', '"version": null', '"visibility": null'])}}]`,
  ];
  for (const text of texts) assert.equal(assertSameAsSlow(text), "fast", text);
});

Deno.test("validManifestRecords() leaves every doubtful text to the positioned parser", () => {
  const texts = [
    `\ufeff[{${validMembers("a")}}]`,
    `[{${validMembers("a")}, "size": 12}]`,
    `[{${validMembers("a", ['"x": 1', '"x": 1'])}}]`,
    `[{${validMembers("a").replace('"size": 12', '"size": 12.0')}}]`,
    `[{${validMembers("a").replace('"size": 12', '"size": 1.2e1')}}]`,
    `[{${validMembers("a").replace('"size": 12', '"size": -0')}}]`,
    `[{${validMembers("a", ['"ratio": 0.5'])}}]`,
    `[{${validMembers("a", [`"deep": ${"[".repeat(300)}${"]".repeat(300)}`])}}]`,
    `[{${validMembers("é")}}, {${validMembers("e\u0301")}}]`,
    `[{${validMembers("a", ['"unpack": "yes"'])}}]`,
    `{"records": []}`,
    `[{${validMembers("a")}},]`,
    "",
  ];
  for (const text of texts) assert.equal(validManifestRecords(text), undefined, text);
});

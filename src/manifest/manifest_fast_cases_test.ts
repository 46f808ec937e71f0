/**
 * Targeted texts for the fast path's contract (whenever `validManifestRecords`
 * answers, the positioned parser accepts the same text and gives deep-equal records,
 * fields in the same order).
 */
import assert from "node:assert/strict";
import { parseManifestWithPositions, validManifestRecords } from "./manifest.ts";

const DIGEST = "ab".repeat(64);
const base = (name = "a.tgz") =>
  `"filename": ${JSON.stringify(name)}, "size": 12, "algorithm": "sha512", "digest": "${DIGEST}"`;

function check(text: string): "fast" | "slow" {
  let fast;
  try {
    fast = validManifestRecords(text);
  } catch (error) {
    assert.fail(`the fast path threw ${error} for ${text.slice(0, 200)}`);
  }
  if (fast === undefined) return "slow";
  let slow;
  try {
    slow = parseManifestWithPositions(text, "m.tt");
  } catch (error) {
    assert.fail(`fast accepted, slow rejected (${error}): ${text.slice(0, 200)}`);
  }
  assert.deepStrictEqual(fast, slow, text.slice(0, 200));
  assert.equal(JSON.stringify(fast), JSON.stringify(slow), text.slice(0, 200));
  assert.deepEqual(Object.keys(fast[0] ?? {}), Object.keys(slow[0] ?? {}));
  if (fast[0]?.extra) assert.deepEqual(Object.keys(fast[0].extra), Object.keys(slow[0]!.extra!));
  return "fast";
}

Deno.test("keys equal only after unescaping go to the slow path", () => {
  for (
    const text of [
      `[{${base()}, "\\u0066ilename": "b"}]`,
      `[{${base()}, "x": 1, "\\u0078": 2}]`,
      `[{${base()}, "__proto__": 1, "__proto\\u005f_": 2}]`,
      `[{${base()}, "x": {"k": 1, "\\u006b": 2}}]`,
      `[{${base()}, "10": 1, "1\\u0030": 2}]`,
    ]
  ) assert.equal(check(text), "slow", text);
});

Deno.test("odd but valid texts agree (or go slow)", () => {
  const texts = [
    `[{${base()}, "10": 1, "2": 2, "b": 3, "a": 4, "4294967295": 5, "4294967294": 6}]`,
    `[{"9": 0, ${base()}, "0": 1}]`,
    `[{${base()}, "__proto__": {"__proto__": [1]}}]`,
    `[{${base()}, "__proto__": null}]`,
    `[{${base()}, "x": "\\ud800", "\\udc00": "\\udbff\\udfff"}]`,
    `[{${base()}, "x": "\u2028\u2029\u00a0\u007f"}]`,
    `[{${base()}, "x": "\\\\", "y": "\\\\\\"", "z": "\\\\:\\":"}]`,
    `[{${base()}, "x:": ":\\"::\\\\"}]`,
    `[{${base()}, "big": 123456789012345678901234567890}]`,
    `[{${base()}, "huge": 1${"0".repeat(400)}}]`,
    `[{${base().replace('"size": 12', '"size": 9007199254740991')}}]`,
    `[{${base().replace('"size": 12', '"size": 9007199254740992')}}]`,
    `[{${base().replace('"size": 12', '"size": 0')}}]`,
    `[{${base()}, "d": ${"[".repeat(14)}${"]".repeat(14)}}]`,
    `[{${base()}, "d": ${"[".repeat(15)}${"]".repeat(15)}}]`,
    `[{${base()}, "d": ${'{"a":'.repeat(13)}1${"}".repeat(13)}}]`,
    `[{${base()}, "e": "1e3", "f": "-0", "g": "1.0"}]`,
    `[{${base()}, "t": true, "f": false, "n": null}]`,
    `\t\r\n [ {${base()}} ] \n`,
    `[{${base("\u00e9")}}, {${base("e")}}]`,
    `[{${base()}, "x": "${"\\n".repeat(300_000)}"}]`,
    `[{${base()}, "x": "${"a".repeat(3_000_000)}"}]`,
  ];
  for (const text of texts) check(text);
});

Deno.test("whitespace JSON.parse refuses is refused by both", () => {
  for (const space of ["\u2028", "\u00a0", "\f", "\v", "\ufeff", "\u0085", "\u3000"]) {
    check(`[${space}{${base()}}]`);
    check(`[{${base()}}]${space}`);
  }
});

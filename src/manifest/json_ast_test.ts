import assert from "node:assert/strict";
import fc from "fast-check";
import {
  describeCharacter,
  type JsonNode,
  JsonSyntaxError,
  LineIndex,
  parseJsonAst,
} from "./json_ast.ts";

/** The plain value of a node, with repeated keys resolved the way `JSON.parse` does. */
function plain(node: JsonNode): unknown {
  switch (node.kind) {
    case "object":
      return Object.fromEntries(node.members.map((m) => [m.key, plain(m.value)]));
    case "array":
      return node.items.map(plain);
    case "null":
      return null;
    default:
      return node.value;
  }
}

function syntaxError(text: string): { message: string; offset: number } {
  try {
    parseJsonAst(text);
  } catch (error) {
    assert.ok(error instanceof JsonSyntaxError, `not a JsonSyntaxError: ${error}`);
    return { message: error.message, offset: error.offset };
  }
  assert.fail(`parsed without error: ${JSON.stringify(text)}`);
}

Deno.test("parseJsonAst() agrees with JSON.parse on arbitrary JSON values", () => {
  fc.assert(
    fc.property(fc.json({ depthSize: "medium" }), (text) => {
      assert.deepEqual(plain(parseJsonAst(text)), JSON.parse(text));
    }),
    { numRuns: 500 },
  );
});

Deno.test("parseJsonAst() accepts exactly the strings JSON.parse accepts", () => {
  const jsonish = fc.string({
    unit: fc.constantFrom(...'{}[],:"\\ \t\n\r-+.0123456789eEtrufalsn/bu\u00e9\ud83d'),
    maxLength: 30,
  });
  fc.assert(
    fc.property(fc.oneof(jsonish, fc.string({ unit: "binary" })), (text) => {
      let expected: unknown;
      let valid = true;
      try {
        expected = JSON.parse(text);
      } catch {
        valid = false;
      }
      if (valid) {
        assert.deepEqual(plain(parseJsonAst(text)), expected);
      } else {
        const { offset } = syntaxError(text);
        assert.ok(offset >= 0 && offset <= text.length, `offset ${offset} outside the text`);
      }
    }),
    { numRuns: 3000 },
  );
});

Deno.test("parseJsonAst() records where each value and key starts", () => {
  const root = parseJsonAst('[\n  {"a": 1.5e2, "b": [true, null]}, "x"\n]');
  assert.equal(root.kind, "array");
  if (root.kind !== "array") return;
  const [object, string] = root.items;
  assert.equal(object?.offset, 4);
  assert.equal(string?.offset, 37);
  assert.ok(object?.kind === "object");
  assert.deepEqual(object.members.map((m) => [m.key, m.keyOffset, m.value.offset]), [
    ["a", 5, 10],
    ["b", 17, 22],
  ]);
  const number = object.members[0]?.value;
  assert.ok(number?.kind === "number");
  assert.equal(number.raw, "1.5e2");
  assert.equal(number.value, 150);
});

Deno.test("parseJsonAst() keeps repeated keys for the caller to judge", () => {
  const root = parseJsonAst('{"a": 1, "a": 2}');
  assert.ok(root.kind === "object");
  assert.deepEqual(root.members.map((m) => m.key), ["a", "a"]);
});

Deno.test("parseJsonAst() decodes escapes, surrogate pairs and lone surrogates", () => {
  const root = parseJsonAst(String.raw`"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00\ud800x"`);
  assert.ok(root.kind === "string");
  assert.equal(root.value, '"\\/\b\f\n\r\t\u00e9\u{1f600}\ud800x');
});

Deno.test("parseJsonAst() reports syntax errors with a message and an offset", () => {
  const cases: [string, string, number][] = [
    ["", "unexpected end of input: expected a JSON value", 0],
    ["[", "unexpected end of input: expected a JSON value", 1],
    ["[1", 'unexpected end of input: expected "," or "]" after an element', 2],
    ["[1 2]", 'unexpected character "2": expected "," or "]" after an element', 3],
    ['{"a" 1}', 'unexpected character "1": expected ":" after a key', 5],
    ["{a: 1}", 'unexpected character "a": expected a string key', 1],
    ['{"a": 1 "b": 2}', 'unexpected character "\\"": expected "," or "}" after a member', 8],
    ["[1,]", 'unexpected "]" after ",": trailing commas are not allowed', 3],
    ['{"a": 1,}', 'unexpected "}" after ",": trailing commas are not allowed', 8],
    ["[] []", 'unexpected character "[" after the end of the JSON value', 3],
    ["\ufeff[]", "unexpected character U+FEFF: expected a JSON value", 0],
    ["[NaN]", 'unexpected character "N": expected a JSON value', 1],
    ["[Infinity]", 'unexpected character "I": expected a JSON value', 1],
    ["[tru]", 'unexpected character "]": expected "true"', 4],
    ["[nul", 'unexpected end of input: expected "null"', 4],
    ["[01]", "invalid number: leading zeros are not allowed", 2],
    ["[-]", 'invalid number: unexpected character "]" after "-"', 2],
    ["[1.]", 'invalid number: unexpected character "]" after "."', 3],
    ["[1e]", 'invalid number: unexpected character "]" in the exponent', 3],
    ["[+1]", 'unexpected character "+": expected a JSON value', 1],
    ['["abc', "unterminated string", 1],
    ['["abc\\', "unterminated string", 5],
    ['["a\nb"]', "unescaped control character U+000A in a string (is a closing quote missing?)", 3],
    ['["a\tb"]', "unescaped control character U+0009 in a string", 3],
    ['["\\q"]', 'invalid escape "\\q"', 2],
    ['["\\\n"]', 'invalid escape: "\\" followed by U+000A', 2],
    ['["\\u12"]', 'invalid "\\u" escape: expected 4 hexadecimal digits', 2],
    ['["\\u12g4"]', 'invalid "\\u" escape: expected 4 hexadecimal digits', 2],
    ["[1] // comment", 'unexpected character "/" after the end of the JSON value', 4],
    ["[\u00a0]", "unexpected character U+00A0: expected a JSON value", 1],
  ];
  for (const [text, message, offset] of cases) {
    assert.deepEqual(syntaxError(text), { message, offset }, JSON.stringify(text));
  }
});

Deno.test("parseJsonAst() rejects deep nesting with a syntax error, not a stack overflow", () => {
  assert.deepEqual(syntaxError("[".repeat(100_000)), {
    message: "arrays and objects are nested too deeply: more than 256 levels",
    offset: 256,
  });
  assert.doesNotThrow(() => parseJsonAst("[".repeat(256) + "]".repeat(256)));
  assert.throws(() => parseJsonAst("[[[]]]", { maxDepth: 2 }), JsonSyntaxError);
});

Deno.test("LineIndex.at() gives 1-based lines and code-point columns", () => {
  const text = "ab\ncd\r\n\u{1f600}x\n";
  const index = new LineIndex(text);
  assert.deepEqual(index.at(0), { line: 1, column: 1 });
  assert.deepEqual(index.at(2), { line: 1, column: 3 });
  assert.deepEqual(index.at(3), { line: 2, column: 1 });
  assert.deepEqual(index.at(5), { line: 2, column: 3 }, "\\r is an ordinary column");
  assert.deepEqual(index.at(9), { line: 3, column: 2 }, "an emoji is one column");
  assert.deepEqual(index.at(text.length), { line: 4, column: 1 });
  assert.deepEqual(index.at(999), { line: 4, column: 1 }, "clamped to the end");
});

Deno.test("describeCharacter() quotes printable ASCII and names everything else", () => {
  assert.equal(describeCharacter("x", 0), '"x"');
  assert.equal(describeCharacter(" ", 0), "U+0020");
  assert.equal(describeCharacter("\u{1f600}", 0), "U+1F600");
  assert.equal(describeCharacter("", 0), "end of input");
});

Deno.test("parseJsonAst() hands each top-level array item to onTopLevelItem instead of keeping it", () => {
  const seen: [unknown, number][] = [];
  const root = parseJsonAst('[1, [2, [3]], {"a": [4]}]', {
    onTopLevelItem: (item, index) => seen.push([item.kind, index]),
  });
  assert.deepEqual(seen, [["number", 0], ["array", 1], ["object", 2]]);
  assert.deepEqual(root, { kind: "array", offset: 0, items: [] });
  // Not an array at the top: nothing to hand over, and nested arrays are kept.
  const object = parseJsonAst('{"a": [1]}', { onTopLevelItem: () => assert.fail("called") });
  assert.equal(object.kind === "object" && object.members[0]?.value.kind, "array");
});

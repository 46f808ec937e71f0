/**
 * A strict JSON parser (RFC 8259) that keeps where every value starts, so the manifest
 * checker can report `line:column` for each problem it finds, not just the first one.
 *
 * `JSON.parse` gives neither positions for values nor a consistent message for syntax
 * errors across engines, hence this small parser. It builds a tree of nodes; it does not
 * judge duplicate keys (the caller decides what they mean) and accepts lone surrogate
 * escapes such as `"\ud800"`, as RFC 8259 allows and Python does.
 *
 * Pure: no I/O.
 *
 * @module
 */

/** Where a node starts: an index into the parsed string (UTF-16 code units). */
interface NodeBase {
  readonly offset: number;
}

/** `{ ... }`, with members in source order, duplicates included. */
export interface JsonObjectNode extends NodeBase {
  readonly kind: "object";
  readonly members: readonly JsonMember[];
}

/** One `"key": value` pair of an object. */
export interface JsonMember {
  readonly key: string;
  readonly keyOffset: number;
  readonly value: JsonNode;
}

/** `[ ... ]`. */
export interface JsonArrayNode extends NodeBase {
  readonly kind: "array";
  readonly items: readonly JsonNode[];
}

/** A string, escapes decoded. */
export interface JsonStringNode extends NodeBase {
  readonly kind: "string";
  readonly value: string;
}

/** A number; `raw` keeps its spelling, so callers can tell `1` from `1.0` or `1e0`. */
export interface JsonNumberNode extends NodeBase {
  readonly kind: "number";
  readonly value: number;
  readonly raw: string;
}

/** `true` or `false`. */
export interface JsonBooleanNode extends NodeBase {
  readonly kind: "boolean";
  readonly value: boolean;
}

/** `null`. */
export interface JsonNullNode extends NodeBase {
  readonly kind: "null";
}

/** Any JSON value with its position. */
export type JsonNode =
  | JsonObjectNode
  | JsonArrayNode
  | JsonStringNode
  | JsonNumberNode
  | JsonBooleanNode
  | JsonNullNode;

/** The text is not JSON; `offset` is where the parser gave up. */
export class JsonSyntaxError extends Error {
  readonly offset: number;

  constructor(message: string, offset: number) {
    super(message);
    this.name = "JsonSyntaxError";
    this.offset = offset;
  }
}

/** Options for `parseJsonAst`. */
export interface ParseJsonOptions {
  /**
   * How deeply arrays and objects may nest. The parser recurses, so an unbounded depth
   * would let `[[[[...` exhaust the stack with a `RangeError` instead of a syntax error.
   */
  readonly maxDepth?: number;
  /**
   * When the document is an array, receives each element as soon as it is parsed, and the
   * returned array node's `items` stays empty: a caller that turns elements into something
   * smaller never holds the whole tree (a 239k-record manifest's tree is 300 MB).
   */
  readonly onTopLevelItem?: (item: JsonNode, index: number) => void;
}

/** The nesting limit used when `maxDepth` is not given; manifests need 3 levels. */
export const DEFAULT_MAX_DEPTH = 256;

/**
 * Parses one JSON text into a tree of positioned nodes, or throws a `JsonSyntaxError`
 * naming the first syntax error and its offset. Whitespace is the four JSON characters only
 * (a byte order mark is an error, as in Python's `json`), `NaN`/`Infinity`, comments,
 * trailing commas and leading zeros are rejected.
 */
export function parseJsonAst(text: string, options: ParseJsonOptions = {}): JsonNode {
  return new Parser(text, options.maxDepth ?? DEFAULT_MAX_DEPTH, options.onTopLevelItem)
    .parseDocument();
}

/** A 1-based line and column; columns count Unicode code points, as Python's `json` does. */
export interface TextPosition {
  readonly line: number;
  readonly column: number;
}

/**
 * Turns offsets into 1-based `line:column` positions. Lines end at `\n` (so `\r\n` works);
 * columns count code points, so an emoji is one column, as editors and Python show it.
 */
export class LineIndex {
  readonly #text: string;
  readonly #lineStarts: number[] = [0];

  constructor(text: string) {
    this.#text = text;
    for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) {
      this.#lineStarts.push(i + 1);
    }
  }

  /** The position of `offset`, clamped to the text (the end of text is a valid position). */
  at(offset: number): TextPosition {
    const target = Math.max(0, Math.min(offset, this.#text.length));
    let low = 0;
    let high = this.#lineStarts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (this.#lineStarts[middle]! <= target) low = middle;
      else high = middle - 1;
    }
    const lineStart = this.#lineStarts[low]!;
    return { line: low + 1, column: 1 + countCodePoints(this.#text, lineStart, target) };
  }
}

function countCodePoints(text: string, start: number, end: number): number {
  let count = 0;
  for (let i = start; i < end; i++) {
    const unit = text.charCodeAt(i);
    // A low surrogate right after a high one is the second half of one code point.
    const isTrail = unit >= 0xdc00 && unit <= 0xdfff && i > start &&
      isHighSurrogate(text.charCodeAt(i - 1));
    if (!isTrail) count++;
  }
  return count;
}

function isHighSurrogate(unit: number): boolean {
  return unit >= 0xd800 && unit <= 0xdbff;
}

/**
 * Describes the character at `offset` for an error message: printable ASCII quoted
 * (`"x"`), anything else as a code point (`U+FEFF`) so invisible characters show.
 */
export function describeCharacter(text: string, offset: number): string {
  const codePoint = text.codePointAt(offset);
  if (codePoint === undefined) return "end of input";
  if (codePoint > 0x20 && codePoint < 0x7f) return JSON.stringify(String.fromCodePoint(codePoint));
  return "U+" + codePoint.toString(16).toUpperCase().padStart(4, "0");
}

/** JSON's four whitespace characters (sticky: matches where `lastIndex` is). */
const WHITESPACE_RUN = /[ \t\n\r]*/y;
/** Characters a string holds as they are: not a quote, a backslash or a control character. */
// deno-lint-ignore no-control-regex -- control characters are what ends the run
const PLAIN_STRING_RUN = /[^"\\\u0000-\u001f]*/y;

class Parser {
  readonly #text: string;
  readonly #maxDepth: number;
  readonly #onTopLevelItem: ((item: JsonNode, index: number) => void) | undefined;
  #pos = 0;

  constructor(
    text: string,
    maxDepth: number,
    onTopLevelItem?: (item: JsonNode, index: number) => void,
  ) {
    this.#text = text;
    this.#maxDepth = maxDepth;
    this.#onTopLevelItem = onTopLevelItem;
  }

  parseDocument(): JsonNode {
    this.#skipWhitespace();
    const value = this.#parseValue(0);
    this.#skipWhitespace();
    if (this.#pos < this.#text.length) {
      this.#fail(`unexpected ${this.#describeHere()} after the end of the JSON value`);
    }
    return value;
  }

  #fail(message: string, offset = this.#pos): never {
    throw new JsonSyntaxError(message, offset);
  }

  #describeHere(): string {
    return this.#pos >= this.#text.length
      ? "end of input"
      : `character ${describeCharacter(this.#text, this.#pos)}`;
  }

  #skipWhitespace(): void {
    // A sticky regex scans natively: a character loop runs in the interpreter this early
    // in a short command, and a manifest is mostly indentation and long strings.
    WHITESPACE_RUN.lastIndex = this.#pos;
    WHITESPACE_RUN.test(this.#text);
    this.#pos = WHITESPACE_RUN.lastIndex;
  }

  #parseValue(depth: number): JsonNode {
    const char = this.#text[this.#pos];
    switch (char) {
      case "{":
        return this.#parseObject(depth + 1);
      case "[":
        return this.#parseArray(depth + 1);
      case '"': {
        const offset = this.#pos;
        return { kind: "string", offset, value: this.#parseString() };
      }
      case "t":
        return this.#parseLiteral("true", { kind: "boolean", offset: this.#pos, value: true });
      case "f":
        return this.#parseLiteral("false", { kind: "boolean", offset: this.#pos, value: false });
      case "n":
        return this.#parseLiteral("null", { kind: "null", offset: this.#pos });
      default:
        if (char === "-" || (char !== undefined && char >= "0" && char <= "9")) {
          return this.#parseNumber();
        }
        return this.#fail(`unexpected ${this.#describeHere()}: expected a JSON value`);
    }
  }

  #checkDepth(depth: number): void {
    if (depth > this.#maxDepth) {
      this.#fail(`arrays and objects are nested too deeply: more than ${this.#maxDepth} levels`);
    }
  }

  #parseObject(depth: number): JsonObjectNode {
    this.#checkDepth(depth);
    const offset = this.#pos++;
    const members: JsonMember[] = [];
    this.#skipWhitespace();
    if (this.#text[this.#pos] === "}") {
      this.#pos++;
      return { kind: "object", offset, members };
    }
    for (;;) {
      this.#skipWhitespace();
      if (this.#text[this.#pos] !== '"') {
        if (members.length > 0 && this.#text[this.#pos] === "}") {
          this.#fail('unexpected "}" after ",": trailing commas are not allowed');
        }
        this.#fail(`unexpected ${this.#describeHere()}: expected a string key`);
      }
      const keyOffset = this.#pos;
      const key = this.#parseString();
      this.#skipWhitespace();
      if (this.#text[this.#pos] !== ":") {
        this.#fail(`unexpected ${this.#describeHere()}: expected ":" after a key`);
      }
      this.#pos++;
      this.#skipWhitespace();
      members.push({ key, keyOffset, value: this.#parseValue(depth) });
      this.#skipWhitespace();
      const next = this.#text[this.#pos];
      if (next === ",") {
        this.#pos++;
      } else if (next === "}") {
        this.#pos++;
        return { kind: "object", offset, members };
      } else {
        this.#fail(`unexpected ${this.#describeHere()}: expected "," or "}" after a member`);
      }
    }
  }

  #parseArray(depth: number): JsonArrayNode {
    this.#checkDepth(depth);
    const offset = this.#pos++;
    const items: JsonNode[] = [];
    this.#skipWhitespace();
    if (this.#text[this.#pos] === "]") {
      this.#pos++;
      return { kind: "array", offset, items };
    }
    const onItem = depth === 1 ? this.#onTopLevelItem : undefined;
    for (let count = 0;; count++) {
      this.#skipWhitespace();
      if (count > 0 && this.#text[this.#pos] === "]") {
        this.#fail('unexpected "]" after ",": trailing commas are not allowed');
      }
      const item = this.#parseValue(depth);
      if (onItem === undefined) items.push(item);
      else onItem(item, count);
      this.#skipWhitespace();
      const next = this.#text[this.#pos];
      if (next === ",") {
        this.#pos++;
      } else if (next === "]") {
        this.#pos++;
        return { kind: "array", offset, items };
      } else {
        this.#fail(`unexpected ${this.#describeHere()}: expected "," or "]" after an element`);
      }
    }
  }

  #parseLiteral<T extends JsonNode>(word: string, node: T): T {
    for (let i = 0; i < word.length; i++) {
      if (this.#text[this.#pos] !== word[i]) {
        this.#fail(`unexpected ${this.#describeHere()}: expected "${word}"`);
      }
      this.#pos++;
    }
    return node;
  }

  #parseNumber(): JsonNumberNode {
    const text = this.#text;
    const offset = this.#pos;
    if (text[this.#pos] === "-") this.#pos++;
    if (text[this.#pos] === "0") {
      this.#pos++;
      if (isDigit(text[this.#pos])) this.#fail("invalid number: leading zeros are not allowed");
    } else if (isDigit(text[this.#pos])) {
      while (isDigit(text[this.#pos])) this.#pos++;
    } else {
      this.#fail(`invalid number: unexpected ${this.#describeHere()} after "-"`);
    }
    if (text[this.#pos] === ".") {
      this.#pos++;
      if (!isDigit(text[this.#pos])) {
        this.#fail(`invalid number: unexpected ${this.#describeHere()} after "."`);
      }
      while (isDigit(text[this.#pos])) this.#pos++;
    }
    if (text[this.#pos] === "e" || text[this.#pos] === "E") {
      this.#pos++;
      if (text[this.#pos] === "+" || text[this.#pos] === "-") this.#pos++;
      if (!isDigit(text[this.#pos])) {
        this.#fail(`invalid number: unexpected ${this.#describeHere()} in the exponent`);
      }
      while (isDigit(text[this.#pos])) this.#pos++;
    }
    const raw = text.slice(offset, this.#pos);
    return { kind: "number", offset, value: Number(raw), raw };
  }

  #parseString(): string {
    const text = this.#text;
    const start = this.#pos++;
    let value = "";
    let chunkStart = this.#pos;
    for (;;) {
      PLAIN_STRING_RUN.lastIndex = this.#pos;
      PLAIN_STRING_RUN.test(text);
      this.#pos = PLAIN_STRING_RUN.lastIndex;
      if (this.#pos >= text.length) this.#fail("unterminated string", start);
      const unit = text.charCodeAt(this.#pos);
      if (unit === 0x22) {
        value += text.slice(chunkStart, this.#pos++);
        return value;
      }
      if (unit < 0x20) {
        this.#fail(
          `unescaped control character ${describeCharacter(text, this.#pos)} in a string` +
            (unit === 0x0a ? " (is a closing quote missing?)" : ""),
        );
      }
      value += text.slice(chunkStart, this.#pos);
      value += this.#parseEscape();
      chunkStart = this.#pos;
    }
  }

  #parseEscape(): string {
    const text = this.#text;
    const escapeStart = this.#pos;
    const letter = text[this.#pos + 1];
    this.#pos += 2;
    switch (letter) {
      case '"':
        return '"';
      case "\\":
        return "\\";
      case "/":
        return "/";
      case "b":
        return "\b";
      case "f":
        return "\f";
      case "n":
        return "\n";
      case "r":
        return "\r";
      case "t":
        return "\t";
      case "u": {
        const hex = text.slice(this.#pos, this.#pos + 4);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) {
          this.#fail('invalid "\\u" escape: expected 4 hexadecimal digits', escapeStart);
        }
        this.#pos += 4;
        // Surrogate halves stay separate code units; consecutive ones form the pair.
        return String.fromCharCode(parseInt(hex, 16));
      }
      case undefined:
        return this.#fail("unterminated string", escapeStart);
      default: {
        const described = describeCharacter(text, escapeStart + 1);
        const message = described.startsWith('"')
          ? `invalid escape "\\${described.slice(1)}`
          : `invalid escape: "\\" followed by ${described}`;
        return this.#fail(message, escapeStart);
      }
    }
  }
}

function isDigit(char: string | undefined): boolean {
  return char !== undefined && char >= "0" && char <= "9";
}

/**
 * The manifest format: parsing a manifest's text into typed file records, and writing
 * records back exactly as tooltool.py 1.4.0 writes them.
 *
 * A manifest is a JSON array of objects:
 *
 * ```json
 * [
 *   {
 *     "filename": "clang.tar.xz",
 *     "size": 123456,
 *     "algorithm": "sha512",
 *     "digest": "<128 lowercase hex digits>",
 *     "unpack": true,
 *     "version": "clang 17",
 *     "visibility": "public"
 *   }
 * ]
 * ```
 *
 * Parsing is stricter than tooltool.py (which silently skips records that lack a field and
 * takes any value for any field) and collects every problem with its `line:column`, so
 * `validate --schema-only` can list them all at once. What still passes is what tooltool.py
 * reads the same way. Decisions, each checked by a test in `manifest_test.ts`:
 *
 * - Unknown keys (old manifests carry e.g. `"setup"`) are accepted and kept in
 *   `FileRecord.extra`, but `serializeManifest` drops them, because tooltool.py does when
 *   it rewrites a manifest and the output must match it byte for byte.
 * - `null` for `unpack`, `version` or `visibility`, `"unpack": false` and `"version": ""`
 *   mean "not set" (tooltool.py reads them so and never writes them), so those keys are
 *   left out of the record and `parse(serialize(records))` gives the records back.
 * - A key repeated within one object is an error (Python's `json` silently keeps the
 *   last): in a hand-merged manifest it usually means two conflicting values.
 * - A filename repeated across records is an error: a fetch could satisfy only one. So are
 *   two names that differ only by Unicode normalisation (NFC "é" and NFD "e" + U+0301):
 *   macOS stores both as one file, and they print identically, so the message names the code
 *   points that differ.
 * - A filename longer than 255 bytes in UTF-8 is an error: no common file system (ext4,
 *   APFS, NTFS, which counts UTF-16 units and so allows at least as much) can create it.
 * - A byte order mark is an error, as it is for Python's `json`.
 * - Records are numbered from 1 in messages; lines and columns are 1-based and columns
 *   count code points.
 *
 * Pure: no I/O (see `manifest_file.ts` for reading and writing files).
 *
 * @module
 */

import { ManifestError, type ManifestProblem } from "../errors.ts";
import {
  type JsonMember,
  type JsonNode,
  JsonSyntaxError,
  LineIndex,
  parseJsonAst,
} from "./json_ast.ts";
import { isSha512, type Sha512 } from "../sha512.ts";

/** A bare file name, safe to join to a directory: no separators, no `.`/`..`, no controls. */
export type SafeFilename = string & { readonly __brand: "SafeFilename" };

/** Who may download an artifact from the ToolTool service. */
export type Visibility = "public" | "internal";

/** One entry of a manifest, as parsed or about to be written. */
export interface FileRecord {
  readonly filename: SafeFilename;
  readonly size: number;
  readonly algorithm: "sha512";
  readonly digest: Sha512;
  /** Present only when `true`. */
  readonly unpack?: boolean;
  /** Present only when non-empty. */
  readonly version?: string;
  readonly visibility?: Visibility;
  /** Keys this tool does not know, as read; never written back (see the module doc). */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/**
 * Returns `value` as a `Sha512`, or throws a `ManifestError` saying what is wrong with it
 * (`Invalid sha512 digest in --digest: must be 128 lowercase hexadecimal digits, got 64
 * characters`). `where` names the source for the message.
 */
export function parseSha512(value: unknown, where?: string): Sha512 {
  const problem = sha512Problem(value);
  if (problem !== undefined) {
    throw new ManifestError(`Invalid sha512 digest${where ? ` in ${where}` : ""}: ${problem}`);
  }
  return value as Sha512;
}

/**
 * Returns `value` as a `SafeFilename` (see that type), or throws a `ManifestError`
 * (`Invalid file name in "dir/x": must not contain "/"`). `where` names the source.
 */
export function parseSafeFilename(value: unknown, where?: string): SafeFilename {
  const problem = filenameProblem(value);
  if (problem !== undefined) {
    throw new ManifestError(`Invalid file name${where ? ` in ${where}` : ""}: ${problem}`);
  }
  return value as SafeFilename;
}

/**
 * The form under which two file names are one file: NFC, since macOS's file systems treat
 * names that differ only by Unicode normalisation as the same name.
 */
export function filenameKey(name: string): string {
  return name.normalize("NFC");
}

/**
 * For two spellings of one name (equal after `filenameKey`): the parts that differ, each
 * with its code points, since a terminal shows them identically: `"é" (U+0065 U+0301) and
 * "é" (U+00E9)`.
 */
export function spellingDifference(name: string, other: string): string {
  const [here, there] = differingParts(Array.from(name), Array.from(other));
  return `${spelled(here)} and ${spelled(there)}`;
}

/**
 * Parses a manifest's text. Returns the records in file order, or throws a
 * `ManifestError` whose `problems` lists every problem found (a JSON syntax error ends the
 * search, since nothing after it can be located reliably) and whose message is the first
 * one: `Cannot parse manifest "m.tt": line 4, column 13: record 1 ("a.tgz"): "size" must
 * not be negative, got -3 (and 2 more problems)`. `path` is only used in messages.
 */
export function parseManifest(text: string, path: string): FileRecord[] {
  return validManifestRecords(text) ?? parseManifestWithPositions(text, path);
}

/**
 * The records of a manifest that is certainly valid, through the engine's own `JSON.parse`;
 * `undefined` at the first doubt, for `parseManifestWithPositions` to find and place every
 * problem. A manifest is parsed at the start of every command, and the positioned parser
 * runs in the interpreter that early: for 200 records it took 4 ms, this takes a tenth.
 *
 * `JSON.parse` hides two things the manifest rules care about, so the text itself is
 * checked for them: a key given twice (only its last value survives), caught by counting
 * the members of the parsed value against the text's colons outside strings; and a number
 * spelled `1.0`, `1e3`, `-0` or `-1`, caught by any `-`, `+`, `.` or exponent outside
 * strings (sizes are whole and non-negative; a manifest with any other number takes the
 * slow path).
 */
export function validManifestRecords(text: string): FileRecord[] | undefined {
  // Past this size the positioned parser has warmed up, and holding the parsed value next
  // to the records would raise the peak memory of a huge manifest.
  if (text.length > FAST_PARSE_MAX_CHARS) return undefined;
  let value: unknown;
  let skeleton: string;
  try {
    value = JSON.parse(text);
    skeleton = text.replace(JSON_STRING, "");
  } catch {
    return undefined;
  }
  if (!Array.isArray(value)) return undefined;
  if (NOT_A_PLAIN_INTEGER.test(skeleton)) return undefined;
  let colons = 0;
  for (let i = skeleton.indexOf(":"); i !== -1; i = skeleton.indexOf(":", i + 1)) colons++;
  if (countMembers(value, 0) !== colons) return undefined;
  const records: FileRecord[] = [];
  const names = new Set<string>();
  for (const item of value) {
    const record = validRecord(item);
    if (record === undefined) return undefined;
    const key = filenameKey(record.filename);
    if (names.has(key)) return undefined;
    names.add(key);
    records.push(record);
  }
  return records;
}

const FAST_PARSE_MAX_CHARS = 4 << 20;
/** A JSON string literal (the text already parsed, so every literal is well formed). */
const JSON_STRING = /"[^"\\]*(?:\\.[^"\\]*)*"/g;
/** Deeper values take the slow path, which enforces its own nesting limit. */
const FAST_PARSE_MAX_DEPTH = 16;
/** Outside strings: a sign, a fraction or an exponent, i.e. a number that is not `0`-`9`+. */
const NOT_A_PLAIN_INTEGER = /[-+.]|[0-9][eE]/;

/** Object members in a parsed JSON value, nested ones included; NaN when too deep. */
function countMembers(value: unknown, depth: number): number {
  if (typeof value !== "object" || value === null) return 0;
  if (depth >= FAST_PARSE_MAX_DEPTH) return NaN;
  let count = 0;
  if (Array.isArray(value)) {
    for (const item of value) count += countMembers(item, depth + 1);
    return count;
  }
  for (const key in value) {
    count += 1 + countMembers((value as Record<string, unknown>)[key], depth + 1);
  }
  return count;
}

/**
 * One record from a `JSON.parse` value, made as `parseRecord` makes it (its fields in the
 * text's order); `undefined` at any doubt.
 */
function validRecord(item: unknown): FileRecord | undefined {
  if (typeof item !== "object" || item === null || Array.isArray(item)) return undefined;
  const fields = item as Record<string, unknown>;
  const record: Partial<MutableRecord> = {};
  let extra: Record<string, unknown> | undefined;
  for (const key in fields) {
    const field = fields[key];
    switch (key) {
      case "filename":
        if (typeof field !== "string" || filenameProblem(field) !== undefined) return undefined;
        record.filename = field as SafeFilename;
        break;
      case "size":
        if (typeof field !== "number" || !Number.isSafeInteger(field) || field < 0) {
          return undefined;
        }
        record.size = field;
        break;
      case "algorithm":
        if (field !== "sha512") return undefined;
        record.algorithm = "sha512";
        break;
      case "digest":
        if (typeof field !== "string" || !isSha512(field)) return undefined;
        record.digest = field;
        break;
      case "unpack":
        if (field === true) record.unpack = true;
        else if (field !== false && field !== null) return undefined;
        break;
      case "version":
        if (typeof field === "string") {
          if (field !== "") record.version = field;
        } else if (field !== null) return undefined;
        break;
      case "visibility":
        if (field === "public" || field === "internal") record.visibility = field;
        else if (field !== null) return undefined;
        break;
      default:
        // Defined, not assigned, as `toPlainValue` does: a "__proto__" key stays a key.
        extra ??= {};
        Object.defineProperty(extra, key, {
          value: field,
          enumerable: true,
          writable: true,
          configurable: true,
        });
    }
  }
  for (const key of REQUIRED_KEYS) if (record[key] === undefined) return undefined;
  if (extra !== undefined) record.extra = extra;
  return record as MutableRecord;
}

/**
 * `parseManifest` without its fast path: every problem found, each with its line and
 * column. Exported for the test that holds the fast path to the same results.
 */
export function parseManifestWithPositions(text: string, path: string): FileRecord[] {
  const lines = new LineIndex(text);
  const found: { offset: number; message: string }[] = [];
  const report = (offset: number, message: string) => void found.push({ offset, message });
  // Sorted by position, so the list reads top to bottom like the file.
  const problems = () =>
    found
      .sort((a, b) => a.offset - b.offset)
      .map(({ offset, message }) => ({ path, ...lines.at(offset), message }));

  let source = text;
  if (text.charCodeAt(0) === 0xfeff) {
    report(0, "the file starts with a byte order mark (U+FEFF): save it as UTF-8 without BOM");
    // Same length, so every later offset still points at the right character.
    source = " " + text.slice(1);
  }
  if (source.trim() === "") {
    report(text.length, "the manifest is empty: expected a JSON array of file records");
    throw manifestError(path, problems());
  }

  const records: FileRecord[] = [];
  // Keyed by the NFC form: names that differ only by normalisation are one file on macOS.
  const firstRecordByName = new Map<string, { index: number; filename: string }>();
  // Each record is checked as soon as it is parsed, so the syntax tree of the whole
  // manifest never exists at once (it is several times the size of the records).
  const onRecord = (item: JsonNode, index: number) => {
    const record = parseRecord(item, index, report);
    if (record === undefined) return;
    const key = filenameKey(record.filename);
    const earlier = firstRecordByName.get(key);
    if (earlier !== undefined) {
      const filenameNode = findMember(item, "filename")!.value;
      report(
        filenameNode.offset,
        `${recordLabel(index, record.filename)}: "filename" ` +
          repeatProblem(record.filename, earlier.filename, earlier.index),
      );
      return;
    }
    firstRecordByName.set(key, { index, filename: record.filename });
    records.push(record);
  };

  const beforeRecords = found.length;
  let root: JsonNode;
  try {
    root = parseJsonAst(source, { onTopLevelItem: onRecord });
  } catch (error) {
    if (!(error instanceof JsonSyntaxError)) throw error;
    // As before records were checked while parsing: a syntax error is reported alone.
    found.length = beforeRecords;
    report(error.offset, `invalid JSON: ${error.message}`);
    throw manifestError(path, problems());
  }

  if (root.kind !== "array") {
    report(root.offset, `expected a JSON array of file records, got ${describeKind(root)}`);
    throw manifestError(path, problems());
  }

  if (found.length > 0) throw manifestError(path, problems());
  return records;
}

/**
 * Writes records as tooltool.py does, byte for byte: Python's
 * `json.dumps(indent=2, separators=(",", ": "))` with ASCII-only output, keys in the order
 * filename, size, algorithm, digest, unpack (only when true), version (only when
 * non-empty), visibility (when set); `[]` for no records; no trailing newline. `extra` keys
 * are not written.
 */
export function serializeManifest(records: readonly FileRecord[]): string {
  if (records.length === 0) return "[]";
  const objects = records.map((record) => {
    if (!Number.isSafeInteger(record.size) || record.size < 0) {
      throw new RangeError(`Cannot serialize record "${record.filename}": invalid size`);
    }
    const fields = [
      `"filename": ${pythonJsonString(record.filename)}`,
      `"size": ${record.size}`,
      `"algorithm": ${pythonJsonString(record.algorithm)}`,
      `"digest": ${pythonJsonString(record.digest)}`,
    ];
    if (record.unpack) fields.push(`"unpack": true`);
    if (record.version) fields.push(`"version": ${pythonJsonString(record.version)}`);
    if (record.visibility !== undefined) {
      fields.push(`"visibility": ${pythonJsonString(record.visibility)}`);
    }
    return "  {\n    " + fields.join(",\n    ") + "\n  }";
  });
  return "[\n" + objects.join(",\n") + "\n]";
}

/**
 * A JSON string literal as Python's `json` writes it with `ensure_ascii=True`: `"` and `\`
 * escaped, `\n \r \t \b \f` short, every other character outside space..`~` as `\uxxxx`
 * (lowercase hex; astral characters as their surrogate pair, which is what a JS string
 * holds anyway).
 */
function pythonJsonString(value: string): string {
  let out = '"';
  let chunkStart = 0;
  for (let i = 0; i < value.length; i++) {
    const unit = value.charCodeAt(i);
    if (unit >= 0x20 && unit <= 0x7e && unit !== 0x22 && unit !== 0x5c) continue;
    const escape = PYTHON_SHORT_ESCAPES.get(unit) ?? "\\u" + unit.toString(16).padStart(4, "0");
    out += value.slice(chunkStart, i) + escape;
    chunkStart = i + 1;
  }
  return out + value.slice(chunkStart) + '"';
}

const PYTHON_SHORT_ESCAPES = new Map([
  [0x22, '\\"'],
  [0x5c, "\\\\"],
  [0x0a, "\\n"],
  [0x0d, "\\r"],
  [0x09, "\\t"],
  [0x08, "\\b"],
  [0x0c, "\\f"],
]);

// ---------------------------------------------------------------------------------------
// Records

type Report = (offset: number, message: string) => void;

const REQUIRED_KEYS = ["filename", "size", "algorithm", "digest"] as const;

interface MutableRecord {
  filename: SafeFilename;
  size: number;
  algorithm: "sha512";
  digest: Sha512;
  unpack?: boolean;
  version?: string;
  visibility?: Visibility;
  extra?: Record<string, unknown>;
}

/** Checks one record, reporting every problem; `undefined` when it had any. */
function parseRecord(node: JsonNode, index: number, report: Report): FileRecord | undefined {
  if (node.kind !== "object") {
    report(node.offset, `${recordLabel(index)}: expected an object, got ${describeKind(node)}`);
    return undefined;
  }
  const filenameNode = findMember(node, "filename")?.value;
  const label = recordLabel(
    index,
    filenameNode?.kind === "string" && filenameProblem(filenameNode.value) === undefined
      ? filenameNode.value
      : undefined,
  );
  let ok = true;
  const fail = (offset: number, message: string) => {
    report(offset, `${label}: ${message}`);
    ok = false;
  };

  const seen = new Map<string, JsonMember>();
  for (const member of node.members) {
    const first = seen.get(member.key);
    if (first === undefined) {
      seen.set(member.key, member);
    } else {
      fail(member.keyOffset, `key ${quote(member.key)} appears twice`);
    }
  }
  for (const key of REQUIRED_KEYS) {
    if (!seen.has(key)) fail(node.offset, `${quote(key)} is missing`);
  }

  const record: Partial<MutableRecord> = {};
  const field = (key: string, problem: string | undefined, node: JsonNode) => {
    if (problem === undefined) return true;
    fail(node.offset, `${quote(key)} ${problem}`);
    return false;
  };
  const extra: [string, unknown][] = [];

  for (const [key, { value }] of seen) {
    switch (key) {
      case "filename": {
        const plain = value.kind === "string" ? value.value : undefined;
        if (field(key, plainProblem(value) ?? filenameProblem(plain), value)) {
          record.filename = plain as SafeFilename;
        }
        break;
      }
      case "size":
        if (field(key, sizeProblem(value), value)) record.size = (value as { value: number }).value;
        break;
      case "algorithm":
        if (field(key, algorithmProblem(value), value)) record.algorithm = "sha512";
        break;
      case "digest": {
        const plain = value.kind === "string" ? value.value : undefined;
        if (field(key, plainProblem(value) ?? sha512Problem(plain), value)) {
          record.digest = plain as Sha512;
        }
        break;
      }
      case "unpack":
        if (value.kind === "null") break;
        if (
          field(key, value.kind === "boolean" ? undefined : mustBe("true or false", value), value)
        ) {
          if (value.kind === "boolean" && value.value) record.unpack = true;
        }
        break;
      case "version":
        if (value.kind === "null") break;
        if (field(key, value.kind === "string" ? undefined : mustBe("a string", value), value)) {
          if (value.kind === "string" && value.value !== "") record.version = value.value;
        }
        break;
      case "visibility":
        if (value.kind === "null") break;
        if (field(key, visibilityProblem(value), value)) {
          record.visibility = (value as { value: Visibility }).value;
        }
        break;
      default:
        extra.push([key, toPlainValue(value)]);
    }
  }

  if (!ok) return undefined;
  if (extra.length > 0) record.extra = Object.fromEntries(extra);
  return record as MutableRecord;
}

/** Non-strings get "must be a string, got ..." before the field's own rules run. */
function plainProblem(node: JsonNode): string | undefined {
  return node.kind === "string" ? undefined : mustBe("a string", node);
}

function sizeProblem(node: JsonNode): string | undefined {
  if (node.kind !== "number") return mustBe("a whole number of bytes", node);
  if (node.raw.startsWith("-")) return `must not be negative, got ${node.raw}`;
  if (/[.eE]/.test(node.raw)) return `must be a whole number of bytes, got ${node.raw}`;
  if (!Number.isSafeInteger(node.value)) {
    return `must be at most ${Number.MAX_SAFE_INTEGER}, got ${truncate(node.raw)}`;
  }
  return undefined;
}

function algorithmProblem(node: JsonNode): string | undefined {
  if (node.kind !== "string") return mustBe('"sha512"', node);
  if (node.value !== "sha512") return `must be "sha512", got ${quote(node.value)}`;
  return undefined;
}

function visibilityProblem(node: JsonNode): string | undefined {
  if (node.kind === "string" && (node.value === "public" || node.value === "internal")) {
    return undefined;
  }
  return `must be "public" or "internal", got ${
    node.kind === "string" ? quote(node.value) : describeKind(node)
  }`;
}

/** What is wrong with a would-be digest, as a phrase starting with "must". */
function sha512Problem(value: unknown): string | undefined {
  if (typeof value !== "string") return `must be a string, got ${describeType(value)}`;
  if (isSha512(value)) return undefined;
  const rule = "must be 128 lowercase hexadecimal digits";
  if (value.length !== 128) {
    return `${rule}, got ${value.length} character${value.length === 1 ? "" : "s"}`;
  }
  const bad = value.search(/[^0-9a-f]/);
  if (/^[0-9a-fA-F]*$/.test(value)) return `${rule}, got uppercase letters`;
  return `${rule}, got ${quote(String.fromCodePoint(value.codePointAt(bad)!))} at position ${
    bad + 1
  }`;
}

/** What is wrong with a would-be bare file name, as a phrase starting with "must". */
function filenameProblem(value: unknown): string | undefined {
  if (typeof value !== "string") return `must be a string, got ${describeType(value)}`;
  if (value === "") return "must not be empty";
  if (value === "." || value === "..") return `must not be ${quote(value)}`;
  if (value.includes("/")) return `must be a bare file name without "/", got ${quote(value)}`;
  if (value.includes("\\")) return `must be a bare file name without "\\", got ${quote(value)}`;
  const bytes = utf8Length(value);
  if (bytes > MAX_FILENAME_BYTES) {
    return `must be at most ${MAX_FILENAME_BYTES} bytes long in UTF-8 (the file system limit), ` +
      `got ${bytes} bytes: ${quote(value)}`;
  }
  for (let i = 0; i < value.length; i++) {
    const unit = value.charCodeAt(i);
    if (unit === 0) return "must not contain a NUL character";
    if (unit < 0x20 || (unit >= 0x7f && unit <= 0x9f)) {
      return `must not contain control characters, got ${codePointName(unit)} in ${quote(value)}`;
    }
    if (unit >= 0xd800 && unit <= 0xdfff) {
      const paired = unit <= 0xdbff &&
        (value.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
      if (!paired) {
        return `must be valid Unicode, got an unpaired surrogate ${codePointName(unit)}`;
      }
      i++;
    }
  }
  return undefined;
}

/** The longest path component ext4, APFS and others allow, in bytes. */
const MAX_FILENAME_BYTES = 255;

/** UTF-8 length without encoding; an unpaired surrogate counts as U+FFFD (3 bytes). */
function utf8Length(value: string): number {
  // Each UTF-16 unit takes at most 3 bytes, so short names need no counting.
  if (value.length * 3 <= MAX_FILENAME_BYTES) return value.length;
  let bytes = 0;
  for (const char of value) {
    const code = char.codePointAt(0)!;
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
  }
  return bytes;
}

/**
 * Why a name clashes with an earlier record's. Names equal only after NFC are spelled out
 * with the code points that differ, since a terminal shows them identically:
 * `differs from record 1's only by Unicode normalisation: "é" (U+0065 U+0301) and "é"
 * (U+00E9)`.
 */
function repeatProblem(name: string, earlierName: string, earlierIndex: number): string {
  const earlier = `record ${earlierIndex + 1}`;
  if (name === earlierName) return `repeats ${earlier}`;
  return `differs from ${earlier}'s only by Unicode normalisation: ` +
    `${spellingDifference(name, earlierName)} (one file on macOS)`;
}

/**
 * The middle sections of `a` and `b` (code point arrays) that differ, widened so that
 * neither starts or ends inside a base character's run of combining marks.
 */
function differingParts(a: readonly string[], b: readonly string[]): [string, string] {
  const isMark = (char: string | undefined) => char !== undefined && /^\p{M}$/u.test(char);
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  while (start > 0 && (isMark(a[start]) || isMark(b[start]))) start--;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  // What follows is the same in both, so one check moves both ends.
  while (endA < a.length && isMark(a[endA])) {
    endA++;
    endB++;
  }
  return [a.slice(start, endA).join(""), b.slice(start, endB).join("")];
}

/** `"é" (U+0065 U+0301)`: a string quoted, then its code points. */
function spelled(value: string): string {
  const points = Array.from(value, (char) => codePointName(char.codePointAt(0)!));
  return `${quote(value)} (${points.join(" ")})`;
}

function mustBe(expected: string, node: JsonNode): string {
  return `must be ${expected}, got ${describeKind(node)}`;
}

/** Converts an unknown key's value for `extra`; repeated keys keep the last, as Python does. */
function toPlainValue(node: JsonNode): unknown {
  switch (node.kind) {
    case "object":
      // fromEntries defines properties, so a "__proto__" key stays a plain key.
      return Object.fromEntries(node.members.map((m) => [m.key, toPlainValue(m.value)]));
    case "array":
      return node.items.map(toPlainValue);
    case "null":
      return null;
    default:
      return node.value;
  }
}

function findMember(node: JsonNode, key: string): JsonMember | undefined {
  return node.kind === "object" ? node.members.find((m) => m.key === key) : undefined;
}

function recordLabel(index: number, filename?: string): string {
  return `record ${index + 1}` + (filename === undefined ? "" : ` (${quote(filename)})`);
}

function describeKind(node: JsonNode): string {
  switch (node.kind) {
    case "object":
      return "an object";
    case "array":
      return "an array";
    case "string":
      return `a string (${quote(node.value)})`;
    case "number":
      return `a number (${truncate(node.raw)})`;
    case "boolean":
      return String(node.value);
    case "null":
      return "null";
  }
}

function describeType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  const type = typeof value;
  return type === "object" ? "an object" : `${/^[aeiou]/.test(type) ? "an" : "a"} ${type}`;
}

function codePointName(unit: number): string {
  return "U+" + unit.toString(16).toUpperCase().padStart(4, "0");
}

/** A value quoted for a one-line message: JSON escapes keep control characters visible. */
function quote(value: string): string {
  return JSON.stringify(truncate(value));
}

function truncate(value: string, max = 80): string {
  return value.length <= max ? value : value.slice(0, max - 1) + "…";
}

function manifestError(path: string, problems: readonly ManifestProblem[]): ManifestError {
  const first = problems[0]!;
  const more = problems.length - 1;
  const where = first.line > 0 ? `line ${first.line}, column ${first.column}: ` : "";
  return new ManifestError(
    `Cannot parse manifest "${path}": ${where}${first.message}` +
      (more > 0 ? ` (and ${more} more problem${more === 1 ? "" : "s"})` : ""),
    problems,
    more > 0
      ? { hint: `"tooltool validate --schema-only ${path}" lists every problem` }
      : undefined,
  );
}

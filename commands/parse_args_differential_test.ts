/**
 * Differential tests: `parseArgs` (ours) against `parseWithCommander` (the commander parse
 * this tool used before). On every line both must give the same command, arguments and
 * options, or both reject it; an error's message must match as well, apart from the "did
 * you mean" suggestion, which each words its own way. A help request from ours is settled
 * by commander (main.ts renders help with it), so there the only requirement is that
 * commander does not run a command instead.
 *
 * Known and kept difference: commander counts a `--help` after `--` as a help request once
 * an unknown option came before the `--`; for us everything after `--` is an argument.
 *
 * The property test's seed is fixed; `PARSE_SEED=<n>` explores other lines locally.
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { UsageError } from "../src/errors.ts";
import { type ArgsEnvironment, expandOptionPrefixes, parseArgs } from "./parse_args.ts";
import { parseWithCommander } from "./help.ts";
import { COMMAND_SUMMARIES, OPTIONS } from "./option_table.ts";

const seed = Number(Deno.env.get("PARSE_SEED") ?? 0x9a75e);

type Outcome =
  | { readonly kind: "run"; readonly value: unknown }
  | { readonly kind: "help" }
  | { readonly kind: "error"; readonly message: string; readonly hint: string | undefined };

function outcomeOf(parse: () => { kind: string }): Outcome {
  try {
    const parsed = parse();
    return parsed.kind === "help" ? { kind: "help" } : { kind: "run", value: parsed };
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    return { kind: "error", message: error.message, hint: error.hint };
  }
}

/** Both suggestion styles: commander's `\n(Did you mean --x?)` and our ` (did you mean --x?)`. */
function withoutSuggestion(message: string): string {
  return message.replace(/(\n| )\((Did|did) you mean [^)]*\?\)$/, "");
}

/** Commander's one help quirk we do not copy (see the module comment). */
function commanderQuirk(argv: readonly string[]): boolean {
  const expanded = expandOptionPrefixes(argv);
  const end = expanded.indexOf("--");
  return end !== -1 && expanded.slice(end + 1).some((arg) => arg === "--help" || arg === "-h");
}

/** Asserts that both parsers agree on `argv`; returns what they made of it. */
function assertAgree(argv: readonly string[], env: ArgsEnvironment = {}): Outcome["kind"] {
  const ours = outcomeOf(() => parseArgs(argv, env));
  const theirs = outcomeOf(() => parseWithCommander(argv, env));
  const line = JSON.stringify(argv);
  if (ours.kind === "help") {
    assert.notEqual(theirs.kind, "run", `${line}: ours asks for help, commander runs`);
    return ours.kind;
  }
  if (theirs.kind === "help" && commanderQuirk(argv)) return ours.kind;
  assert.equal(ours.kind, theirs.kind, `${line}: ${JSON.stringify({ ours, theirs })}`);
  if (ours.kind === "run" && theirs.kind === "run") {
    assert.deepEqual(ours.value, theirs.value, line);
  }
  if (ours.kind === "error" && theirs.kind === "error") {
    assert.equal(withoutSuggestion(ours.message), withoutSuggestion(theirs.message), line);
    assert.equal(ours.hint, theirs.hint, line);
  }
  return ours.kind;
}

/** Hand-picked lines: every option, every command and each rule of the grammar. */
const CORPUS: readonly (readonly string[])[] = [
  // Commands and their arguments.
  ...Object.keys(COMMAND_SUMMARIES).map((command) => [command]),
  ...Object.keys(COMMAND_SUMMARIES).map((command) => [command, "a"]),
  ...Object.keys(COMMAND_SUMMARIES).map((command) => [command, "a", "b"]),
  [],
  ["-q"],
  ["--"],
  ["--", "list"],
  ["--", "add", "-m", "--json"],
  ["add", "--", "-m", "x"],
  ["add", "a", "--", "--", "b"],
  ["list", "--", "x"],
  ["fetch", "--", "--help"],
  ["bogus"],
  ["fetc"],
  ["frobnicate", "-q"],
  ["-", "list"],
  ["list", "-"],
  ["add", "-"],
  ["", "list"],
  ["list", ""],
  ["help"],
  ["help", "fetch"],
  ["help", "bogus"],
  ["list", "help"],
  ["--bogus", "help"],
  // Every option, long and short, with a value where it takes one.
  ...OPTIONS.flatMap((option) => {
    const value = option.choices?.[0] ??
      (option.kind === "number" || option.kind === "count"
        ? "3"
        : option.long === "url" || option.long === "mirror"
        ? "http://h/p"
        : option.long === "algorithm"
        ? "sha512"
        : "v");
    const long = option.value === undefined ? [`--${option.long}`] : [`--${option.long}`, value];
    const lines = [["fetch", ...long], [...long, "fetch"], ["add", "f", ...long]];
    if (option.value !== undefined) lines.push(["fetch", `--${option.long}=${value}`]);
    if (option.short !== undefined) {
      const short = option.value === undefined ? [`-${option.short}`] : [`-${option.short}`, value];
      lines.push(["fetch", ...short], [...short, "list"], ["purge", `-${option.short}${value}`]);
    }
    return lines;
  }),
  // Missing values, flags given values.
  ...OPTIONS.filter((option) => option.value !== undefined).map((option) => [
    "list",
    `--${option.long}`,
  ]),
  ["list", "-m"],
  ["-m"],
  ["list", "-vm"],
  ["fetch", "--json=1"],
  ["fetch", "--no-tree-cache=1"],
  ["fetch", "--help=x"],
  ["fetch", "--no-tree-cache", "--no-tree-cache"],
  // Prefixes, legacy and new, ambiguous and not.
  ["fetch", "--auth", "~/tok", "--cache-f", "/c", "--reg", "eu", "--s", "2.5"],
  ["--mess", "--auth", "upload"],
  ["--ver", "x", "list"],
  ["--vers", "1", "add", "f"],
  ["--verb", "list"],
  ["--re", "eu", "fetch"],
  ["--sch", "validate"],
  ["--no-t", "fetch"],
  ["--dry", "fetch"],
  ["--m", "x", "list"],
  ["--mi", "http://m", "fetch"],
  ["--max", "3", "purge"],
  ["--h"],
  ["fetch", "--he"],
  ["--u=http://x", "whoami"],
  // Short clusters.
  ["-vq", "list"],
  ["list", "-qv"],
  ["-vmfoo", "list"],
  ["-vm", "foo", "list"],
  ["-mfoo", "list"],
  ["-m=foo", "list"],
  ["-qx", "list"],
  ["list", "-qxv"],
  ["-j2", "fetch"],
  ["-j", "2", "-j", "4", "fetch"],
  ["-s", "-1", "purge"],
  ["-vh"],
  ["fetch", "-vh"],
  ["fetch", "-hv"],
  ["fetch", "-mh"],
  ["-qh", "bogus"],
  // Options before, between and after the command and its arguments.
  ["--url", "http://a", "fetch", "-m", "m.tt", "-o", "-c", "/cache"],
  ["fetch", "-m", "m.tt", "--url", "http://a", "-o", "-c", "/cache"],
  ["fetch", "a", "-m", "m.tt", "b", "--json", "c"],
  ["-q", "add", "a", "-v", "b"],
  ["upload", "--message", "--not-an-option"],
  ["upload", "--message", "--help"],
  ["add", "--version", "1.2", "--visibility", "internal", "--unpack", "f.tgz"],
  ["version", "--schema-only", "--max-age", "3", "-c", "/c"],
  ["validate", "--schema-only", "a.tt", "b.tt"],
  ["mirror", "--to", "/m", "--include-internal", "a.tt"],
  ["check", "--public-digest", "a", "--internal-digest", "b"],
  // Repeated options.
  ["--url", "http://a/x", "--url=http://b/", "list"],
  ["fetch", "--distdir", "a", "--distdir", "/b"],
  ["--mirror", "http://a/m", "--mirror", "http://b", "fetch"],
  ["-m", "a", "-m", "b", "list"],
  ["--visibility", "public", "--visibility", "internal", "add", "f"],
  // Bad numbers, bad choices, bad values checked after parsing.
  ["purge", "-s", "lots"],
  ["purge", "-s", ""],
  ["purge", "--size=1e3"],
  ["purge", "--max-size", "-0.5"],
  ["purge", "--max-age", "Infinity"],
  ["fetch", "-j", "0"],
  ["fetch", "-j", "1.5"],
  ["fetch", "-j", "0x10"],
  ["list", "--visibility", "secret"],
  ["list", "-d", "md5"],
  ["fetch", "--max-time", "soon"],
  ["fetch", "--speed-limit", "-1"],
  ["fetch", "--url", "ftp://mirror/"],
  ["fetch", "--mirror", "http://u:p@m/"],
  // Negative numbers: commander took them for arguments once the command was named.
  ["add", "-5"],
  ["add", "-5", "-m", "x"],
  ["add", "-1.5e3", "--", "-m"],
  ["-5", "add"],
  ["add", "-5x"],
  // Unknown options, and which of several problems is reported.
  ["--bogus"],
  ["--bogus", "fetch"],
  ["fetch", "--bogs"],
  ["fetch", "--jsn"],
  ["list", "--bogus", "x"],
  ["bogus", "--x"],
  ["list", "x", "--bogus"],
  ["add", "--bogus", "-s", "lots"],
  ["-x", "-s", "lots", "list"],
  ["fetch", "-x"],
  ["---x", "list"],
  ["--=x", "list"],
  // Help anywhere on the line.
  ["--help"],
  ["-h"],
  ["--help", "fetch"],
  ["fetch", "--help"],
  ["bogus", "--help"],
  ["list", "x", "--help"],
  ["--bogus", "--help"],
  ["--help", "-m"],
  ["-s", "lots", "--help"],
  ["--help", "-s", "lots"],
  ["--version"],
];

Deno.test("parseArgs() agrees with commander on a corpus of lines", () => {
  const kinds = { run: 0, help: 0, error: 0 };
  for (const argv of CORPUS) kinds[assertAgree(argv)]++;
  // The corpus exercises all three outcomes in numbers.
  assert.ok(kinds.run > 50 && kinds.help > 10 && kinds.error > 50, JSON.stringify(kinds));
});

Deno.test("parseArgs() agrees with commander where the environment supplies defaults", () => {
  const envs: ArgsEnvironment[] = [
    { TOOLTOOL_HOST: "tt.example", HOME: "/home/me" },
    { TASKCLUSTER_PROXY_URL: "http://taskcluster" },
    { TOOLTOOL_HOST: "h/x?y" },
    { TOOLTOOL_OFFLINE: "1", TOOLTOOL_MIRRORS: "http://a/, http://b" },
    { TOOLTOOL_MIRRORS: "http://a/?q=1" },
    { TOOLTOOL_SPEED_LIMIT: "-1", TOOLTOOL_MAX_TIME: "5" },
    { TOOLTOOL_MIRROR_AUTH_FILE: "~/token", HOME: "/home/me" },
  ];
  for (const env of envs) {
    for (
      const argv of [
        ["fetch"],
        ["validate", "--schema-only"],
        ["--authentication-file", "~/creds", "whoami"],
        ["fetch", "--url", "http://x", "--mirror", "http://m"],
      ]
    ) assertAgree(argv, env);
  }
});

/** Words a command line is made of: commands, options (whole, prefixed, clustered), values. */
const word: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...Object.keys(COMMAND_SUMMARIES), "help", "bogus") },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      ...OPTIONS.map((option) => `--${option.long}`),
      ...OPTIONS.flatMap((option) => option.short === undefined ? [] : [`-${option.short}`]),
    ),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(...OPTIONS.map((option) => option.long)).chain((long) =>
      fc.integer({ min: 1, max: long.length }).map((length) => `--${long.slice(0, length)}`)
    ),
  },
  {
    weight: 2,
    arbitrary: fc.array(fc.constantFrom(..."qvmdocsrjhx5-."), { minLength: 1, maxLength: 4 })
      .chain((letters) =>
        fc.constantFrom("", "foo", "2").map((value) => `-${letters.join("")}${value}`)
      ),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(
      fc.constantFrom(...OPTIONS.map((option) => option.long)),
      fc.constantFrom("", "1", "x", "public"),
    ).map(([long, value]) => `--${long}=${value}`),
  },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      "--",
      "-",
      "",
      "-5",
      "-1.5",
      "--bogus",
      "-x",
      "a.tgz",
      "0",
      "1",
      "2.5",
      "-1",
      "lots",
      "public",
      "internal",
      "sha512",
      "md5",
      "http://h/",
      "ftp://h/",
      "~/f",
    ),
  },
);

Deno.test("parseArgs() agrees with commander on random lines", () => {
  fc.assert(
    fc.property(fc.array(word, { maxLength: 7 }), (argv) => void assertAgree(argv)),
    { seed, numRuns: Number(Deno.env.get("PARSE_RUNS") ?? 3000) },
  );
});

Deno.test("parseArgs() keeps a --help after -- an argument where commander showed help", () => {
  for (const argv of [["--bogus", "--", "--help"], ["fetch", "--bogus", "--", "-h"]]) {
    assert.equal(outcomeOf(() => parseWithCommander(argv)).kind, "help");
    assert.throws(() => parseArgs(argv), /^UsageError: Unknown option '--bogus'$/);
  }
});

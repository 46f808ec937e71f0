/**
 * The command line, compatible with tooltool.py 1.4.0 (Python optparse).
 *
 * optparse takes every option globally and anywhere on the line, and accepts any
 * unambiguous prefix of a long option (`--auth`, `--cache-f`). Prefixes are expanded first,
 * with one extra rule: a prefix that was unique among tooltool.py's own options keeps
 * meaning that option, even where an option this tool added shares it (`--s` is still
 * `--size` although `--schema-only` exists), so no script that worked with tooltool.py
 * changes meaning.
 *
 * The parser is our own, driven by `option_table.ts`, because it runs on every start and
 * commander (a CommonJS package) alone cost about 25 ms of it. Commander still renders
 * `--help` (`help.ts`, loaded only then), and a differential test holds this parser to
 * what commander accepted and rejected.
 *
 * Pure: no I/O. `main.ts` passes argv and the environment in.
 *
 * @module
 */

import { UsageError } from "../src/errors.ts";
import { parseBaseUrl } from "../src/transport/url_policy.ts";
import { mirrorUrls } from "../src/transport/mirror.ts";
import type { GlobalOptions } from "./options.ts";
import {
  COMMAND_SUMMARIES,
  type CommandName,
  type OptionDeclaration,
  OPTIONS,
} from "./option_table.ts";

import type { Visibility } from "../src/manifest/manifest.ts";

/**
 * Which commands use each option, by long name (derived from `OPTIONS`): `tooltool COMMAND
 * --help` lists these under the command and every other option under "Global options".
 */
export const OPTION_COMMANDS: Readonly<Record<string, "every" | readonly CommandName[]>> = Object
  .fromEntries(OPTIONS.map((option) => [option.long, option.commands]));

/** The long names of every option, for tests of the tables. */
export const OPTION_NAMES: readonly string[] = OPTIONS.map((option) => option.long);

/** The hint of every usage error about the shape of the command line. */
export const USAGE_HINT = 'run "tooltool --help" for usage';

/** A command to run, with its positional arguments and every option. */
export interface RunArgs {
  readonly kind: "run";
  readonly command: CommandName;
  readonly args: readonly string[];
  readonly options: GlobalOptions;
}

/**
 * What the command line asks for: a command to run, or help. Help is rendered by
 * `helpText` in `help.ts` from the same argv, so that commander is loaded only for it.
 */
export type ParsedArgs = RunArgs | { readonly kind: "help" };

/** Environment variables that shape the defaults. */
export interface ArgsEnvironment {
  readonly TOOLTOOL_HOST?: string | undefined;
  readonly TASKCLUSTER_PROXY_URL?: string | undefined;
  /** For expanding `~` in --authentication-file. */
  readonly HOME?: string | undefined;
  /** Defaults of --max-time, --retry-max-time, --speed-limit, --speed-time. */
  readonly TOOLTOOL_MAX_TIME?: string | undefined;
  readonly TOOLTOOL_RETRY_MAX_TIME?: string | undefined;
  readonly TOOLTOOL_SPEED_LIMIT?: string | undefined;
  readonly TOOLTOOL_SPEED_TIME?: string | undefined;
  /** `1` (or any value but `0` and empty): the default of --offline. */
  readonly TOOLTOOL_OFFLINE?: string | undefined;
  /** Mirror base URLs, separated by spaces or commas, when no --mirror is given. */
  readonly TOOLTOOL_MIRRORS?: string | undefined;
  /** Default of --mirror-auth-file. */
  readonly TOOLTOOL_MIRROR_AUTH_FILE?: string | undefined;
}

/**
 * Every option's value by long name, defaults applied: text, a number for the `number` and
 * `count` kinds, every value in order for `list`, `true` for a flag that was given.
 */
export type OptionValues = Readonly<Record<string, string | number | boolean | readonly string[]>>;

const DEFAULT_HOST = "tooltool.mozilla-releng.net";

/**
 * Expands unambiguous prefixes of long options, optparse style. Values of options that take
 * one are skipped, so `--message --foo` keeps `--foo` as the message.
 */
export function expandOptionPrefixes(argv: readonly string[]): string[] {
  const expanded: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] ?? "";
    if (token === "--") {
      expanded.push(...argv.slice(i));
      break;
    }
    if (token.startsWith("--") && token.length > 2) {
      const equals = token.indexOf("=");
      const name = token.slice(2, equals === -1 ? undefined : equals);
      const spec = resolveLongOption(name);
      if (spec === undefined) {
        expanded.push(token);
        continue;
      }
      expanded.push(`--${spec.long}${equals === -1 ? "" : token.slice(equals)}`);
      if (spec.value !== undefined && equals === -1 && i + 1 < argv.length) {
        expanded.push(argv[++i] ?? "");
      }
      continue;
    }
    expanded.push(token);
    if (/^-[^-]/.test(token)) {
      // A short-option cluster: only its last letter may take the next word as its value.
      const cluster = token.slice(1);
      for (let j = 0; j < cluster.length; j++) {
        const spec = OPTIONS.find((s) => s.short === cluster[j]);
        if (spec?.value !== undefined) {
          if (j === cluster.length - 1 && i + 1 < argv.length) expanded.push(argv[++i] ?? "");
          break;
        }
      }
    }
  }
  return expanded;
}

function resolveLongOption(name: string): OptionDeclaration | undefined {
  const exact = OPTIONS.find((spec) => spec.long === name);
  if (exact !== undefined) return exact;
  const legacy = OPTIONS.filter((spec) => spec.legacy && spec.long.startsWith(name));
  if (legacy.length === 1) return legacy[0];
  const all = OPTIONS.filter((spec) => spec.long.startsWith(name));
  if (all.length === 1) return all[0];
  if (all.length > 1) {
    const candidates = all.map((spec) => `--${spec.long}`).join(", ");
    throw new UsageError(`Ambiguous option "--${name}": could be ${candidates}`);
  }
  return undefined;
}

/**
 * Parses a number option's value, or throws `UsageError` naming `flag`. Shared with the
 * commander declarations in `help.ts`, so both word a bad value alike.
 */
export function parseNumber(
  flag: string,
  { integer, min }: { integer: boolean; min: number },
): (value: string) => number {
  return (value: string): number => {
    const number = Number(value);
    if (value.trim() === "" || !Number.isFinite(number) || (integer && !Number.isInteger(number))) {
      throw new UsageError(
        `Invalid value for ${flag}: "${value}" is not ${integer ? "an integer" : "a number"}`,
      );
    }
    if (number < min) throw new UsageError(`Invalid value for ${flag}: must be at least ${min}`);
    return number;
  };
}

/** How commander names an option in its errors, as its help lists it: `-m, --manifest <file>`. */
export function flagsOf(declaration: OptionDeclaration): string {
  const short = declaration.short === undefined ? "" : `-${declaration.short}, `;
  const value = declaration.value === undefined ? "" : ` <${declaration.value}>`;
  return `${short}--${declaration.long}${value}`;
}

const BY_LONG: ReadonlyMap<string, OptionDeclaration> = new Map(
  OPTIONS.map((option) => [option.long, option]),
);
const BY_SHORT: ReadonlyMap<string, OptionDeclaration> = new Map(
  OPTIONS.flatMap((option) => option.short === undefined ? [] : [[option.short, option]]),
);

/** What one pass over argv found, before any of it is judged. */
interface Scan {
  readonly values: Record<string, string | number | boolean | readonly string[]>;
  /** Operands in order: the command, then its arguments. */
  readonly operands: string[];
  /** `-h`/`--help` stood where an option may. */
  help: boolean;
  /** The first bad value or missing value, in argv order. */
  valueError: UsageError | undefined;
  /** The first option not in the table, and whether it came before the command. */
  unknown: { readonly token: string; readonly beforeCommand: boolean } | undefined;
}

/** A token commander took for an operand, not an option, once the command was named. */
const NEGATIVE_NUMBER = /^-(\d+|\d*\.\d+)(e[+-]?\d+)?$/;

function scan(argv: readonly string[]): Scan {
  const values: Scan["values"] = {};
  for (const option of OPTIONS) {
    if (option.default !== undefined) values[option.long] = option.default;
  }
  const result: Scan = {
    values,
    operands: [],
    help: false,
    valueError: undefined,
    unknown: undefined,
  };
  const unknown = (token: string) => {
    result.unknown ??= { token, beforeCommand: result.operands.length === 0 };
  };
  const take = (option: OptionDeclaration, value: string | undefined) => {
    if (value === undefined) {
      result.valueError ??= new UsageError(`Option '${flagsOf(option)}' argument missing`, {
        hint: USAGE_HINT,
      });
      return;
    }
    try {
      values[option.long] = valueOf(option, value, values[option.long]);
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      result.valueError ??= error;
    }
  };
  const flag = (option: OptionDeclaration) => {
    if (option.long === "help") result.help = true;
    else values[option.long] = true;
  };
  // A short-option cluster is read one letter at a time, the rest of it again as a word of
  // its own (`-vq` is `-v -q`), as commander did; `pending` holds that rest.
  let pending: string | undefined;
  for (let i = 0; pending !== undefined || i < argv.length;) {
    const token = pending ?? argv[i++] ?? "";
    pending = undefined;
    if (token === "--") {
      result.operands.push(...argv.slice(i));
      break;
    }
    if (token.startsWith("--")) {
      const equals = token.indexOf("=", 3);
      const option = BY_LONG.get(token.slice(2, equals === -1 ? undefined : equals));
      if (option === undefined) unknown(token);
      else if (equals !== -1) {
        // `--json=1`: a flag takes no value, so the whole word is unknown, as commander had it.
        if (option.value === undefined) unknown(token);
        else take(option, token.slice(equals + 1));
      } else if (option.value === undefined) flag(option);
      else take(option, argv[i++]);
      continue;
    }
    if (token.length < 2 || !token.startsWith("-")) {
      result.operands.push(token);
      continue;
    }
    // A file named `-5` is an argument once the command is named (commander's rule).
    if (result.operands.length > 0 && NEGATIVE_NUMBER.test(token)) {
      result.operands.push(token);
      continue;
    }
    const option = BY_SHORT.get(token.charAt(1));
    if (option === undefined) unknown(token);
    else if (option.value !== undefined) {
      // `-mfoo` or `-m foo`: a letter that takes a value ends the cluster.
      take(option, token.length > 2 ? token.slice(2) : argv[i++]);
    } else {
      flag(option);
      if (token.length > 2) pending = `-${token.slice(2)}`;
    }
  }
  return result;
}

function valueOf(
  option: OptionDeclaration,
  value: string,
  previous: OptionValues[string] | undefined,
): OptionValues[string] {
  const flag = `--${option.long}`;
  if (option.choices !== undefined && !option.choices.includes(value)) {
    throw new UsageError(
      `Option '${flagsOf(option)}' argument '${value}' is invalid. Allowed choices are ${
        option.choices.join(", ")
      }.`,
      { hint: USAGE_HINT },
    );
  }
  switch (option.kind) {
    case "list":
      return [...(Array.isArray(previous) ? previous : []), value];
    case "number":
      return parseNumber(flag, { integer: false, min: 0 })(value);
    case "count":
      return parseNumber(flag, { integer: true, min: 1 })(value);
    default:
      return value;
  }
}

/**
 * Parses argv (without the program name) into one command to run, or a request for help.
 * Throws `UsageError` for anything tooltool.py's parser would reject, and more.
 */
export function parseArgs(argv: readonly string[], env: ArgsEnvironment = {}): ParsedArgs {
  const found = scan(expandOptionPrefixes(argv));
  // Help wins over every other problem on the line, as it did with commander: the help
  // module re-reads the line and decides what is shown.
  if (found.help || found.operands[0] === "help" && found.unknown?.beforeCommand !== true) {
    return { kind: "help" };
  }
  if (found.valueError !== undefined) throw found.valueError;
  if (found.unknown?.beforeCommand) throw unknownOption(found.unknown.token);
  const [name, ...args] = found.operands;
  if (name === undefined) {
    throw new UsageError("You must specify a command", { hint: USAGE_HINT });
  }
  if (!Object.hasOwn(COMMAND_SUMMARIES, name)) {
    const suggestion = closest(name, Object.keys(COMMAND_SUMMARIES));
    throw new UsageError(`Unknown command '${name}'${didYouMean(suggestion)}`, {
      hint: USAGE_HINT,
    });
  }
  const command = name as CommandName;
  if (found.unknown !== undefined) throw unknownOption(found.unknown.token);
  checkArgumentCount(command, args);
  return { kind: "run", command, args, options: toGlobalOptions(found.values, command, env) };
}

function unknownOption(token: string): UsageError {
  const suggestion = token.startsWith("--")
    ? closest(token.replace(/=.*/, ""), OPTIONS.map((option) => `--${option.long}`))
    : undefined;
  return new UsageError(`Unknown option '${token}'${didYouMean(suggestion)}`, {
    hint: USAGE_HINT,
  });
}

function didYouMean(suggestion: string | undefined): string {
  return suggestion === undefined ? "" : ` (did you mean ${suggestion}?)`;
}

/** The candidate nearest to `word` by edit distance, if it is near enough to be a typo. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.min(3, Math.ceil(word.length / 3) + 1);
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate);
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best;
}

/** Levenshtein distance, one row at a time. */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (row[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      next.push(Math.min(substitution, (row[j] ?? 0) + 1, (next[j - 1] ?? 0) + 1));
    }
    row = next;
  }
  return row[b.length] ?? 0;
}

/** `<files...>` needs one or more, `[files...]` any number, no placeholder none. */
function checkArgumentCount(command: CommandName, args: readonly string[]): void {
  const placeholder: string = COMMAND_SUMMARIES[command][0];
  if (placeholder === "" && args.length > 0) {
    throw new UsageError(
      `Too many arguments for '${command}'. Expected 0 arguments but got ${args.length}.`,
      { hint: USAGE_HINT },
    );
  }
  const required = /^<(\w+)\.\.\.>$/.exec(placeholder)?.[1];
  if (required !== undefined && args.length === 0) {
    throw new UsageError(`Missing required argument '${required}'`, { hint: USAGE_HINT });
  }
}

/**
 * Turns parsed option values into the typed `GlobalOptions` for `command`: defaults from
 * the environment, `~` expanded, and the checks a value needs beyond its kind. The server
 * URLs are worked out (and a bad one refused) only for a command that talks to a server,
 * so a stray `--url` or TOOLTOOL_HOST never stops `validate`, `list` or `add`.
 */
export function toGlobalOptions(
  values: OptionValues,
  command: CommandName,
  env: ArgsEnvironment,
): GlobalOptions {
  const text = (long: string) => values[long] as string | undefined;
  const number = (long: string) => values[long] as number | undefined;
  const list = (long: string) => (values[long] ?? []) as readonly string[];
  const flag = (long: string) => values[long] === true;
  const algorithm = text("algorithm");
  if (algorithm !== "sha512") {
    throw new UsageError(
      `Invalid value for --algorithm: only sha512 is supported, not "${algorithm}"`,
    );
  }
  const authenticationFile = text("authentication-file");
  return {
    manifest: text("manifest") ?? "manifest.tt",
    urls: usesOption(command, "url") ? baseUrls(list("url"), env) : [],
    cacheFolder: text("cache-folder"),
    sizeGb: number("size") ?? 0,
    region: text("region"),
    message: text("message"),
    authenticationFile: authenticationFile === undefined
      ? undefined
      : expandHome(authenticationFile, env.HOME),
    visibility: text("visibility") as Visibility | undefined,
    unpack: flag("unpack"),
    recordVersion: text("version"),
    digest: text("digest"),
    json: flag("json"),
    jobs: number("jobs"),
    rehash: flag("rehash"),
    schemaOnly: flag("schema-only"),
    maxSizeGb: number("max-size"),
    maxAgeDays: number("max-age"),
    publicDigest: text("public-digest"),
    internalDigest: text("internal-digest"),
    // Like --url: a bad TOOLTOOL_* value stops only the commands that read it.
    limits: !usesOption(command, "max-time") ? {} : {
      maxTimeMs: seconds("--max-time", "TOOLTOOL_MAX_TIME", text("max-time"), env),
      retryMaxTimeMs: seconds(
        "--retry-max-time",
        "TOOLTOOL_RETRY_MAX_TIME",
        text("retry-max-time"),
        env,
      ),
      speedLimit: numberOption("--speed-limit", "TOOLTOOL_SPEED_LIMIT", text("speed-limit"), env),
      speedTimeMs: seconds("--speed-time", "TOOLTOOL_SPEED_TIME", text("speed-time"), env),
    },
    distdirs: list("distdir"),
    offline: flag("offline") || isSet(env.TOOLTOOL_OFFLINE),
    dryRun: flag("dry-run"),
    mirrors: usesOption(command, "mirror") ? mirrorUrls(list("mirror"), env.TOOLTOOL_MIRRORS) : [],
    mirrorAuthFile: optionalPath(
      text("mirror-auth-file") ?? env.TOOLTOOL_MIRROR_AUTH_FILE,
      env.HOME,
    ),
    mirrorTo: text("to"),
    includeInternal: flag("include-internal"),
    noTreeCache: flag("no-tree-cache"),
    quiet: flag("quiet"),
    verbose: flag("verbose"),
  };
}

function usesOption(command: CommandName, long: string): boolean {
  const uses = OPTION_COMMANDS[long];
  return uses === "every" || (uses?.includes(command) ?? false);
}

/**
 * tooltool.py's URL rule: the `--url`s in order, or else https://$TOOLTOOL_HOST (default
 * tooltool.mozilla-releng.net) — routed through $TASKCLUSTER_PROXY_URL when that is set —
 * each with a trailing slash. Every one must be an http(s) URL without query or fragment
 * (`parseBaseUrl`); anything else is a `UsageError` naming where it came from.
 */
export function baseUrls(urls: readonly string[], env: ArgsEnvironment): string[] {
  if (urls.length > 0) return urls.map((url) => parseBaseUrl(url, "--url"));
  const host = env.TOOLTOOL_HOST || DEFAULT_HOST;
  if (env.TASKCLUSTER_PROXY_URL) {
    return [parseBaseUrl(`${env.TASKCLUSTER_PROXY_URL}/${host}`, "TASKCLUSTER_PROXY_URL")];
  }
  return [parseBaseUrl(`https://${host}`, "TOOLTOOL_HOST")];
}

/**
 * A non-negative number from a flag, else from its environment variable, else undefined
 * (the library's default). A bad value is a usage error naming where it came from.
 */
function numberOption(
  flag: string,
  variable: keyof ArgsEnvironment,
  value: string | undefined,
  env: ArgsEnvironment,
): number | undefined {
  if (value !== undefined) return parseNumber(flag, { integer: false, min: 0 })(value);
  const fromEnv = env[variable];
  if (fromEnv === undefined || fromEnv.trim() === "") return undefined;
  return parseNumber(variable, { integer: false, min: 0 })(fromEnv);
}

/** `numberOption` in seconds, returned in milliseconds. */
function seconds(
  flag: string,
  variable: keyof ArgsEnvironment,
  value: string | undefined,
  env: ArgsEnvironment,
): number | undefined {
  const number = numberOption(flag, variable, value, env);
  return number === undefined ? undefined : Math.round(number * 1000);
}

function optionalPath(path: string | undefined, home: string | undefined): string | undefined {
  return path === undefined || path === "" ? undefined : expandHome(path, home);
}

/** An environment switch: on unless absent, empty or `0`. */
function isSet(value: string | undefined): boolean {
  return value !== undefined && value.trim() !== "" && value.trim() !== "0";
}

function expandHome(path: string, home: string | undefined): string {
  if (home === undefined) return path;
  if (path === "~") return home;
  if (path.startsWith("~/")) return `${home}${path.slice(1)}`;
  return path;
}

/**
 * The command line, compatible with tooltool.py 1.4.0 (Python optparse).
 *
 * optparse takes every option globally and anywhere on the line, and accepts any
 * unambiguous prefix of a long option (`--auth`, `--cache-f`). Commander parses, and this
 * module first expands prefixes with one extra rule: a prefix that was unique among
 * tooltool.py's own options keeps meaning that option, even where an option this tool added
 * shares it (`--s` is still `--size` although `--schema-only` exists), so no script that
 * worked with tooltool.py changes meaning.
 *
 * Pure: no I/O. `main.ts` passes argv and the environment in.
 *
 * @module
 */

import { Command, CommanderError, Help, Option } from "@commander-js/extra-typings";
import { UsageError } from "../src/errors.ts";
import { parseBaseUrl } from "../src/transport/url_policy.ts";
import { mirrorUrls } from "../src/transport/mirror.ts";
import type { GlobalOptions } from "./options.ts";
import type { Visibility } from "../src/manifest/manifest.ts";

/** One long option as the prefix expander sees it. */
interface OptionSpec {
  readonly long: string;
  readonly takesValue: boolean;
  /** Present in tooltool.py 1.4.0. */
  readonly legacy: boolean;
  readonly short?: string;
}

const OPTION_SPECS: readonly OptionSpec[] = [
  { long: "quiet", short: "q", takesValue: false, legacy: true },
  { long: "verbose", short: "v", takesValue: false, legacy: true },
  { long: "manifest", short: "m", takesValue: true, legacy: true },
  { long: "algorithm", short: "d", takesValue: true, legacy: true },
  { long: "digest", takesValue: true, legacy: true },
  { long: "visibility", takesValue: true, legacy: true },
  { long: "unpack", takesValue: false, legacy: true },
  { long: "version", takesValue: true, legacy: true },
  { long: "overwrite", short: "o", takesValue: false, legacy: true },
  { long: "url", takesValue: true, legacy: true },
  { long: "cache-folder", short: "c", takesValue: true, legacy: true },
  { long: "size", short: "s", takesValue: true, legacy: true },
  { long: "region", short: "r", takesValue: true, legacy: true },
  { long: "message", takesValue: true, legacy: true },
  { long: "authentication-file", takesValue: true, legacy: true },
  { long: "help", short: "h", takesValue: false, legacy: true },
  { long: "json", takesValue: false, legacy: false },
  { long: "jobs", short: "j", takesValue: true, legacy: false },
  { long: "rehash", takesValue: false, legacy: false },
  { long: "schema-only", takesValue: false, legacy: false },
  { long: "max-size", takesValue: true, legacy: false },
  { long: "max-age", takesValue: true, legacy: false },
  { long: "public-digest", takesValue: true, legacy: false },
  { long: "internal-digest", takesValue: true, legacy: false },
  { long: "max-time", takesValue: true, legacy: false },
  { long: "retry-max-time", takesValue: true, legacy: false },
  { long: "speed-limit", takesValue: true, legacy: false },
  { long: "speed-time", takesValue: true, legacy: false },
  { long: "mirror", takesValue: true, legacy: false },
  { long: "mirror-auth-file", takesValue: true, legacy: false },
  { long: "to", takesValue: true, legacy: false },
  { long: "include-internal", takesValue: false, legacy: false },
];

/** The commands, in the order `--help` lists them. */
export const COMMAND_SUMMARIES = {
  list: ["", "list the files in the manifest: present (P) and valid (V)"],
  validate: [
    "[manifests...]",
    "check that every file in the manifest is present and valid (--schema-only: the manifests alone)",
  ],
  add: ["<files...>", "add records for FILES to the manifest"],
  fetch: ["[files...]", "retrieve the files listed in the manifest (or only FILES)"],
  purge: ["", "clean up the cache folder (-c), keeping -s GB free"],
  upload: ["", "upload the files listed in the manifest; --message is required"],
  "change-visibility": ["", "set the visibility (--visibility) of the file with --digest"],
  delete: ["", "delete the stored instances of the file with --digest"],
  mirror: [
    "[manifests...]",
    "copy the manifests' files (or -m's) into --to DIR/sha512/<digest>, for a static mirror",
  ],
  check: ["", "probe a ToolTool server's health for operators"],
  version: ["", "print this program's version"],
} as const satisfies Record<string, readonly [string, string]>;

/** A command name this tool knows. */
export type CommandName = keyof typeof COMMAND_SUMMARIES;

/**
 * Which commands use each option, by long name: `tooltool COMMAND --help` lists these under
 * the command and every other option under "Global options". Parsing ignores this table:
 * tooltool.py accepts every option with every command, and so does this tool. `"every"` is
 * for the options all commands honour; `[]` for an option no command reads.
 */
export const OPTION_COMMANDS: Readonly<Record<string, "every" | readonly CommandName[]>> = {
  quiet: "every",
  verbose: "every",
  // `add` and `version` print no report (yet): their stdout stays empty with --json.
  json: [
    "list",
    "validate",
    "fetch",
    "purge",
    "upload",
    "change-visibility",
    "delete",
    "check",
    "mirror",
  ],
  help: "every",
  manifest: ["list", "validate", "add", "fetch", "upload", "mirror"],
  algorithm: ["add"],
  digest: ["change-visibility", "delete"],
  visibility: ["add", "change-visibility"],
  unpack: ["add"],
  version: ["add"],
  overwrite: [],
  url: ["fetch", "upload", "change-visibility", "delete", "check", "mirror"],
  "cache-folder": ["fetch", "purge", "mirror"],
  size: ["purge"],
  region: ["fetch", "upload"],
  message: ["upload"],
  "authentication-file": ["fetch", "upload", "change-visibility", "delete", "mirror"],
  jobs: ["fetch", "mirror"],
  rehash: ["fetch"],
  "schema-only": ["validate"],
  "max-size": ["purge"],
  "max-age": ["purge"],
  "public-digest": ["check"],
  "internal-digest": ["check"],
  "max-time": ["fetch"],
  "retry-max-time": ["fetch"],
  "speed-limit": ["fetch"],
  "speed-time": ["fetch"],
  mirror: ["fetch"],
  "mirror-auth-file": ["fetch"],
  to: ["mirror"],
  "include-internal": ["mirror"],
};

/** The names of the options that `OPTION_SPECS` declares, for tests of the tables. */
export const OPTION_NAMES: readonly string[] = OPTION_SPECS.map((spec) => spec.long);

const GLOBAL_OPTIONS_HEADING =
  "Global options (accepted by every command, for tooltool.py compatibility):";

function appliesTo(option: { long?: string | undefined }, command: string): boolean {
  const uses = OPTION_COMMANDS[option.long?.replace(/^--/, "") ?? ""];
  return uses === "every" || (uses?.includes(command as CommandName) ?? false);
}

/**
 * Help that puts a command's own options first. Every option is declared on the program
 * (so it parses anywhere on the line); only the listing is split.
 */
const COMMAND_FIRST_HELP: Partial<Help> = {
  visibleOptions(this: Help, cmd) {
    const own = Help.prototype.visibleOptions.call(this, cmd);
    if (cmd.parent === null) return own;
    const inherited = Help.prototype.visibleGlobalOptions.call(this, cmd);
    return [...inherited.filter((option) => appliesTo(option, cmd.name())), ...own];
  },
  visibleGlobalOptions(this: Help, cmd) {
    const inherited = Help.prototype.visibleGlobalOptions.call(this, cmd);
    return inherited.filter((option) => !appliesTo(option, cmd.name()));
  },
  formatItemList(this: Help, heading, items, helper) {
    const shown = heading === "Global Options:" ? GLOBAL_OPTIONS_HEADING : heading;
    return Help.prototype.formatItemList.call(this, shown, items, helper);
  },
};

/** What the command line asks for. */
export type ParsedArgs =
  | {
    readonly kind: "run";
    readonly command: CommandName;
    readonly args: readonly string[];
    readonly options: GlobalOptions;
  }
  | { readonly kind: "help"; readonly text: string };

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
  /** Mirror base URLs, separated by spaces or commas, when no --mirror is given. */
  readonly TOOLTOOL_MIRRORS?: string | undefined;
  /** Default of --mirror-auth-file. */
  readonly TOOLTOOL_MIRROR_AUTH_FILE?: string | undefined;
}

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
      if (spec.takesValue && equals === -1 && i + 1 < argv.length) expanded.push(argv[++i] ?? "");
      continue;
    }
    expanded.push(token);
    if (/^-[^-]/.test(token)) {
      // A short-option cluster: only its last letter may take the next word as its value.
      const cluster = token.slice(1);
      for (let j = 0; j < cluster.length; j++) {
        const spec = OPTION_SPECS.find((s) => s.short === cluster[j]);
        if (spec?.takesValue) {
          if (j === cluster.length - 1 && i + 1 < argv.length) expanded.push(argv[++i] ?? "");
          break;
        }
      }
    }
  }
  return expanded;
}

function resolveLongOption(name: string): OptionSpec | undefined {
  const exact = OPTION_SPECS.find((spec) => spec.long === name);
  if (exact !== undefined) return exact;
  const legacy = OPTION_SPECS.filter((spec) => spec.legacy && spec.long.startsWith(name));
  if (legacy.length === 1) return legacy[0];
  const all = OPTION_SPECS.filter((spec) => spec.long.startsWith(name));
  if (all.length === 1) return all[0];
  if (all.length > 1) {
    const candidates = all.map((spec) => `--${spec.long}`).join(", ");
    throw new UsageError(`Ambiguous option "--${name}": could be ${candidates}`);
  }
  return undefined;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function parseNumber(flag: string, { integer, min }: { integer: boolean; min: number }) {
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

function buildProgram() {
  return new Command()
    .name("tooltool")
    .usage("[options] <command> [FILES...]")
    .description(
      "Fetch, add, validate and upload ToolTool artifacts (a drop-in for tooltool.py 1.4.0).",
    )
    .helpOption("-h, --help", "show help for the tool or a command")
    .option("-q, --quiet", "only print errors")
    .option("-v, --verbose", "print details (never credentials)")
    .option("-m, --manifest <file>", "the manifest file to operate on", "manifest.tt")
    .option("-d, --algorithm <name>", "hashing algorithm (only sha512 is allowed)", "sha512")
    .option("--digest <sha512>", "the file to act on, for change-visibility and delete")
    .addOption(
      new Option("--visibility <level>", "visibility of added/changed files")
        .choices(["public", "internal"] as const),
    )
    .option("--unpack", "mark added files to be unpacked after fetch")
    .option("--version <string>", "version annotation for added files (not the program version)")
    .option("-o, --overwrite", "unused; accepted for compatibility")
    .option("--url <url>", "ToolTool API base URL; repeat to fall back in order", collect, [])
    .option("-c, --cache-folder <dir>", "local cache folder")
    .option(
      "-s, --size <GB>",
      "free space required, for purge (GB)",
      parseNumber("--size", { integer: false, min: 0 }),
      0,
    )
    .option("-r, --region <region>", "preferred storage region for fetch or upload")
    .option("--message <text>", 'the "commit message" for an upload (bug number and comment)')
    .option("--authentication-file <file>", "Taskcluster credentials (JSON) or a bearer token")
    .option("--json", "print a machine-readable report on stdout")
    .option(
      "-j, --jobs <n>",
      "files transferred at once",
      parseNumber("--jobs", { integer: true, min: 1 }),
    )
    .option("--rehash", "re-hash every file instead of trusting recorded stat stamps")
    .option("--schema-only", "validate: check the manifests alone, offline")
    .option(
      "--max-size <GB>",
      "purge: shrink the cache to at most this size",
      parseNumber("--max-size", { integer: false, min: 0 }),
    )
    .option(
      "--max-age <days>",
      "purge: delete entries unused for this long",
      parseNumber("--max-age", { integer: false, min: 0 }),
    )
    .option(
      "--max-time <seconds>",
      "most time one file's download may take, retries included (default: no limit; env TOOLTOOL_MAX_TIME)",
    )
    .option(
      "--retry-max-time <seconds>",
      "no new attempt at a server after this long without progress (default 120; env TOOLTOOL_RETRY_MAX_TIME)",
    )
    .option(
      "--speed-limit <bytes>",
      "an attempt slower than this many bytes/s for --speed-time is retried (default 1024; env TOOLTOOL_SPEED_LIMIT)",
    )
    .option(
      "--speed-time <seconds>",
      "how long a transfer may stay under --speed-limit (default 30; env TOOLTOOL_SPEED_TIME)",
    )
    .option("--public-digest <sha512>", "check: a public file that must redirect")
    .option(
      "--internal-digest <sha512>",
      "check: an internal file that must be refused anonymously",
    )
    .option(
      "--mirror <url>",
      "fetch: a mirror (<url>/sha512/<digest>) tried before the API; repeat for more, in order (env TOOLTOOL_MIRRORS, space- or comma-separated)",
      collect,
      [],
    )
    .option(
      "--mirror-auth-file <file>",
      "fetch: a bearer token sent to the mirrors only, never to the API (env TOOLTOOL_MIRROR_AUTH_FILE)",
    )
    .option("--to <dir>", "mirror: the directory to fill (<dir>/sha512/<digest>)")
    .option("--include-internal", "mirror: also copy files whose visibility is internal")
    .configureHelp({ ...COMMAND_FIRST_HELP, showGlobalOptions: true })
    .addHelpText("after", '\nRun "tooltool COMMAND --help" to see which options COMMAND uses.')
    .showHelpAfterError(false)
    .allowExcessArguments(false);
}

type ProgramOptions = ReturnType<ReturnType<typeof buildProgram>["opts"]>;

/**
 * Parses argv (without the program name) into one command to run, or help to print.
 * Throws `UsageError` for anything tooltool.py's parser would reject, and more.
 */
export function parseArgs(argv: readonly string[], env: ArgsEnvironment = {}): ParsedArgs {
  const program = buildProgram();
  let helpText = "";
  let parsed: { command: CommandName; args: string[]; opts: ProgramOptions } | undefined;
  program.exitOverride().configureOutput({
    writeOut: (text) => helpText += text,
    writeErr: (text) => helpText += text,
    outputError: () => {},
  });
  for (const [name, [args, summary]] of Object.entries(COMMAND_SUMMARIES)) {
    const command = program.command(name).description(summary);
    if (args !== "") command.argument(args);
    command.action(function (this: Command) {
      parsed = {
        command: name as CommandName,
        args: this.args,
        opts: this.optsWithGlobals() as ProgramOptions,
      };
    });
  }
  try {
    program.parse(expandOptionPrefixes(argv), { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return { kind: "help", text: helpText };
      // Commander shows help when no command is given; optparse calls it a usage error.
      if (error.code === "commander.help") parsed = undefined;
      else {
        throw new UsageError(commanderMessage(error.message), {
          hint: 'run "tooltool --help" for usage',
        });
      }
    } else throw error;
  }
  if (parsed === undefined) {
    throw new UsageError("You must specify a command", { hint: 'run "tooltool --help" for usage' });
  }
  return {
    kind: "run",
    command: parsed.command,
    args: parsed.args,
    options: toGlobalOptions(parsed.opts, env),
  };
}

function commanderMessage(message: string): string {
  const text = message.replace(/^error:\s*/, "");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function toGlobalOptions(opts: ProgramOptions, env: ArgsEnvironment): GlobalOptions {
  if (opts.algorithm !== "sha512") {
    throw new UsageError(
      `Invalid value for --algorithm: only sha512 is supported, not "${opts.algorithm}"`,
    );
  }
  return {
    manifest: opts.manifest,
    urls: baseUrls(opts.url, env),
    cacheFolder: opts.cacheFolder,
    sizeGb: opts.size,
    region: opts.region,
    message: opts.message,
    authenticationFile: opts.authenticationFile === undefined
      ? undefined
      : expandHome(opts.authenticationFile, env.HOME),
    visibility: opts.visibility as Visibility | undefined,
    unpack: opts.unpack === true,
    recordVersion: opts.version,
    digest: opts.digest,
    json: opts.json === true,
    jobs: opts.jobs,
    rehash: opts.rehash === true,
    schemaOnly: opts.schemaOnly === true,
    maxSizeGb: opts.maxSize,
    maxAgeDays: opts.maxAge,
    publicDigest: opts.publicDigest,
    internalDigest: opts.internalDigest,
    limits: {
      maxTimeMs: seconds("--max-time", "TOOLTOOL_MAX_TIME", opts.maxTime, env),
      retryMaxTimeMs: seconds(
        "--retry-max-time",
        "TOOLTOOL_RETRY_MAX_TIME",
        opts.retryMaxTime,
        env,
      ),
      speedLimit: numberOption("--speed-limit", "TOOLTOOL_SPEED_LIMIT", opts.speedLimit, env),
      speedTimeMs: seconds("--speed-time", "TOOLTOOL_SPEED_TIME", opts.speedTime, env),
    },
    mirrors: mirrorUrls(opts.mirror, env.TOOLTOOL_MIRRORS),
    mirrorAuthFile: optionalPath(opts.mirrorAuthFile ?? env.TOOLTOOL_MIRROR_AUTH_FILE, env.HOME),
    mirrorTo: opts.to,
    includeInternal: opts.includeInternal === true,
    quiet: opts.quiet === true,
    verbose: opts.verbose === true,
  };
}

function optionalPath(path: string | undefined, home: string | undefined): string | undefined {
  return path === undefined || path === "" ? undefined : expandHome(path, home);
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

function expandHome(path: string, home: string | undefined): string {
  if (home === undefined) return path;
  if (path === "~") return home;
  if (path.startsWith("~/")) return `${home}${path.slice(1)}`;
  return path;
}

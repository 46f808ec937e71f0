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
  /** `1` (or any value but `0` and empty): the default of --offline. */
  readonly TOOLTOOL_OFFLINE?: string | undefined;
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

function buildProgram(): Command {
  const program = new Command()
    .name("tooltool")
    .usage("[options] <command> [FILES...]")
    .description(
      "Fetch, add, validate and upload ToolTool artifacts (a drop-in for tooltool.py 1.4.0).",
    );
  for (const declaration of OPTIONS) {
    if (declaration.long === "help") {
      program.helpOption(flagsOf(declaration), declaration.description);
    } else program.addOption(commanderOption(declaration));
  }
  return program
    .configureHelp({ ...COMMAND_FIRST_HELP, showGlobalOptions: true })
    .addHelpText("after", '\nRun "tooltool COMMAND --help" to see which options COMMAND uses.')
    .showHelpAfterError(false)
    .allowExcessArguments(false) as unknown as Command;
}

function flagsOf(declaration: OptionDeclaration): string {
  const short = declaration.short === undefined ? "" : `-${declaration.short}, `;
  const value = declaration.value === undefined ? "" : ` <${declaration.value}>`;
  return `${short}--${declaration.long}${value}`;
}

function commanderOption(declaration: OptionDeclaration): Option {
  const option = new Option(flagsOf(declaration), declaration.description);
  const flag = `--${declaration.long}`;
  switch (declaration.kind) {
    case "list":
      option.argParser(collect);
      break;
    case "number":
      option.argParser(parseNumber(flag, { integer: false, min: 0 }));
      break;
    case "count":
      option.argParser(parseNumber(flag, { integer: true, min: 1 }));
      break;
  }
  if (declaration.choices !== undefined) option.choices(declaration.choices);
  if (declaration.default !== undefined) option.default(declaration.default);
  return option as unknown as Option;
}

/** The parsed values by commander's camel-case names, as `toGlobalOptions` reads them. */
type ProgramOptions = Readonly<Record<string, unknown>>;

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
  const text = (key: string) => opts[key] as string | undefined;
  const number = (key: string) => opts[key] as number | undefined;
  const flag = (key: string) => opts[key] === true;
  const algorithm = text("algorithm");
  if (algorithm !== "sha512") {
    throw new UsageError(
      `Invalid value for --algorithm: only sha512 is supported, not "${algorithm}"`,
    );
  }
  const authenticationFile = text("authenticationFile");
  return {
    manifest: text("manifest") ?? "manifest.tt",
    urls: baseUrls(opts.url as string[], env),
    cacheFolder: text("cacheFolder"),
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
    schemaOnly: flag("schemaOnly"),
    maxSizeGb: number("maxSize"),
    maxAgeDays: number("maxAge"),
    publicDigest: text("publicDigest"),
    internalDigest: text("internalDigest"),
    limits: {
      maxTimeMs: seconds("--max-time", "TOOLTOOL_MAX_TIME", text("maxTime"), env),
      retryMaxTimeMs: seconds(
        "--retry-max-time",
        "TOOLTOOL_RETRY_MAX_TIME",
        text("retryMaxTime"),
        env,
      ),
      speedLimit: numberOption("--speed-limit", "TOOLTOOL_SPEED_LIMIT", text("speedLimit"), env),
      speedTimeMs: seconds("--speed-time", "TOOLTOOL_SPEED_TIME", text("speedTime"), env),
    },
    distdirs: opts.distdir as string[],
    offline: flag("offline") || isSet(env.TOOLTOOL_OFFLINE),
    dryRun: flag("dryRun"),
    mirrors: mirrorUrls(opts.mirror as string[], env.TOOLTOOL_MIRRORS),
    mirrorAuthFile: optionalPath(
      text("mirrorAuthFile") ?? env.TOOLTOOL_MIRROR_AUTH_FILE,
      env.HOME,
    ),
    mirrorTo: text("to"),
    includeInternal: flag("includeInternal"),
    // Commander turns `--no-tree-cache` into `treeCache: false` (default true).
    noTreeCache: opts.treeCache === false,
    quiet: flag("quiet"),
    verbose: flag("verbose"),
  };
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

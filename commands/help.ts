/**
 * `--help`, rendered by commander from `option_table.ts`. Loaded only when help is asked
 * for: commander is a CommonJS package, and loading it (Deno's CommonJS loader and the
 * `node:` polyfills it needs) cost more than the rest of a `tooltool version`.
 *
 * `parseWithCommander` is the whole commander parse this tool used before `parse_args.ts`:
 * help reads the line with it, so what `--help` shows (and what a line mixing `--help`
 * with mistakes gets) is what it always was, and the differential test holds
 * `parseArgs` to the lines it accepts and rejects.
 *
 * Pure: no I/O.
 *
 * @module
 */

import { Command, CommanderError, Help, Option } from "@commander-js/extra-typings";
import { UsageError } from "../src/errors.ts";
import {
  COMMAND_SUMMARIES,
  type CommandName,
  type OptionDeclaration,
  OPTIONS,
} from "./option_table.ts";
import {
  type ArgsEnvironment,
  expandOptionPrefixes,
  flagsOf,
  OPTION_COMMANDS,
  type OptionValues,
  parseNumber,
  type RunArgs,
  toGlobalOptions,
  USAGE_HINT,
} from "./parse_args.ts";

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

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
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

/** Commander's parsed values (camel-case names, `treeCache: false`) by long name. */
function valuesByLongName(program: Command, opts: Readonly<Record<string, unknown>>): OptionValues {
  const values: Record<string, OptionValues[string]> = {};
  for (const option of program.options) {
    const long = option.long?.replace(/^--/, "") ?? "";
    const value = opts[option.attributeName()];
    if (option.negate) {
      if (value === false) values[long] = true;
    } else if (value !== undefined) values[long] = value as OptionValues[string];
  }
  return values;
}

/** What commander made of a command line: a command to run, or the help text to print. */
export type CommanderResult = RunArgs | { readonly kind: "help"; readonly text: string };

/**
 * Parses argv (without the program name) with commander, as this tool did before
 * `parseArgs`. Throws `UsageError` where commander rejected the line.
 */
export function parseWithCommander(
  argv: readonly string[],
  env: ArgsEnvironment = {},
): CommanderResult {
  const program = buildProgram();
  let helpText = "";
  let parsed: { command: CommandName; args: string[]; values: OptionValues } | undefined;
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
        values: valuesByLongName(program, this.optsWithGlobals()),
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
      else throw new UsageError(commanderMessage(error.message), { hint: USAGE_HINT });
    } else throw error;
  }
  if (parsed === undefined) {
    throw new UsageError("You must specify a command", { hint: USAGE_HINT });
  }
  return {
    kind: "run",
    command: parsed.command,
    args: parsed.args,
    options: toGlobalOptions(parsed.values, parsed.command, env),
  };
}

function commanderMessage(message: string): string {
  const text = message.replace(/^error:\s*/, "");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * The help text for a line `parseArgs` found a help request in (`-h`, `--help`,
 * `help [COMMAND]`): the program's, or a command's with its own options first. Throws
 * `UsageError` where commander rejected the line despite the request.
 */
export function helpText(argv: readonly string[], env: ArgsEnvironment = {}): string {
  const parsed = parseWithCommander(argv, env);
  if (parsed.kind === "help") return parsed.text;
  throw new Error(`parseArgs found a help request that commander does not: ${argv.join(" ")}`);
}

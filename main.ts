/**
 * The tooltool command line: reads argv and the environment, runs one command, and maps
 * its outcome to an exit code (0 ok, 1 failed, 2 usage, 130 interrupted). The only module
 * that touches `Deno.args`, `Deno.env`, the real stdout/stderr or the exit code.
 *
 * Commands are loaded on demand, so `validate --schema-only` starts without loading the
 * HTTP, credentials or archive code, and commander only renders `--help`.
 *
 * @module
 */

import { type ArgsEnvironment, parseArgs } from "./commands/parse_args.ts";
import type { CommandName } from "./commands/option_table.ts";
import type { CommandFunction } from "./commands/options.ts";
import type { Context } from "./src/context.ts";
import { errorMessage, ExitCode, InterruptedError, ToolError } from "./src/errors.ts";
import { safeJson, safeText } from "./src/display.ts";
import { describeFsError, isFsError } from "./src/fs_error.ts";
import { Output, type Verbosity } from "./src/output.ts";

const COMMANDS: Record<CommandName, () => Promise<CommandFunction>> = {
  list: () => import("./commands/list.ts").then((m) => m.listCommand),
  validate: () => import("./commands/validate.ts").then((m) => m.validateCommand),
  add: () => import("./commands/add.ts").then((m) => m.addCommand),
  fetch: () => import("./commands/fetch.ts").then((m) => m.fetchCommand),
  purge: () => import("./commands/purge.ts").then((m) => m.purgeCommand),
  upload: () => import("./commands/upload.ts").then((m) => m.uploadCommand),
  "change-visibility": () =>
    import("./commands/change_visibility.ts").then((m) => m.changeVisibilityCommand),
  delete: () => import("./commands/delete.ts").then((m) => m.deleteCommand),
  check: () => import("./commands/check.ts").then((m) => m.checkCommand),
  whoami: () => import("./commands/whoami.ts").then((m) => m.whoamiCommand),
  mirror: () => import("./commands/mirror.ts").then((m) => m.mirrorCommand),
  version: () => import("./commands/version.ts").then((m) => m.versionCommand),
};

const encoder = new TextEncoder();

function writeAll(stream: typeof Deno.stdout | typeof Deno.stderr, text: string): void {
  const bytes = encoder.encode(text);
  let written = 0;
  while (written < bytes.length) written += stream.writeSync(bytes.subarray(written));
}

function safeWrite(stream: typeof Deno.stdout | typeof Deno.stderr, text: string): void {
  try {
    writeAll(stream, text);
  } catch {
    // A closed pipe (`tooltool list | head`) is not worth a crash.
  }
}

/** One `label: text` line on stderr, escaped and redacted as every other message is. */
function printLine(label: string, text: string): void {
  safeWrite(Deno.stderr, `${label}: ${safeText(text)}\n`);
}

function printError(error: unknown, verbose: boolean): void {
  if (error instanceof ToolError) {
    printLine("error", error.message);
    if (error.hint !== undefined) printLine("hint", error.hint);
    if (verbose && error.cause !== undefined) printLine("cause", errorMessage(error.cause));
    return;
  }
  // Deno's own errors (a file that vanished, a permission, a read-only disk) are still the
  // user's to fix: worded, without the OS error number.
  if (isFsError(error)) {
    printLine("error", describeFsError(error));
    return;
  }
  printLine("error", `internal error: ${errorMessage(error)}`);
  printLine("hint", "this is a bug in tooltool; please report it with the -v output");
  if (verbose && error instanceof Error && error.stack) {
    // A stack is several lines: each is escaped on its own.
    for (const line of error.stack.split("\n")) safeWrite(Deno.stderr, `${safeText(line)}\n`);
  }
}

function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/**
 * With `--json`, a run that failed before its command wrote a report still prints one, so a
 * script always gets a document: `{"ok": false, "error": {"message", "hint", "exitCode"}}`.
 */
function printJsonFailure(error: unknown, exitCode: number): void {
  const message = error instanceof ToolError
    ? error.message
    : isFsError(error)
    ? describeFsError(error)
    : `internal error: ${errorMessage(error)}`;
  const hint = error instanceof ToolError ? error.hint ?? null : null;
  safeWrite(Deno.stdout, safeJson({ ok: false, error: { message, hint, exitCode } }) + "\n");
}

/** `--json` among the options (not after `--`), for failures before parsing finished. */
function jsonInArgv(argv: readonly string[]): boolean {
  const end = argv.indexOf("--");
  return (end === -1 ? argv : argv.slice(0, end)).includes("--json");
}

async function main(argv: readonly string[]): Promise<number> {
  const verboseRequested = argv.includes("-v") || argv.includes("--verbose");
  let output: Output | undefined;
  const interrupt = new AbortController();
  let interrupts = 0;
  const onSignal = () => {
    interrupts++;
    // A second Ctrl-C means "now": skip the cleanup the first one started.
    if (interrupts > 1) Deno.exit(ExitCode.interrupted);
    interrupt.abort(new InterruptedError("Interrupted"));
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    try {
      Deno.addSignalListener(signal, onSignal);
    } catch {
      // SIGTERM cannot be listened to on Windows.
    }
  }
  try {
    const env: ArgsEnvironment = {
      TOOLTOOL_HOST: readEnv("TOOLTOOL_HOST"),
      TASKCLUSTER_PROXY_URL: readEnv("TASKCLUSTER_PROXY_URL"),
      HOME: readEnv("HOME") ?? readEnv("USERPROFILE"),
      TOOLTOOL_MAX_TIME: readEnv("TOOLTOOL_MAX_TIME"),
      TOOLTOOL_RETRY_MAX_TIME: readEnv("TOOLTOOL_RETRY_MAX_TIME"),
      TOOLTOOL_SPEED_LIMIT: readEnv("TOOLTOOL_SPEED_LIMIT"),
      TOOLTOOL_SPEED_TIME: readEnv("TOOLTOOL_SPEED_TIME"),
      TOOLTOOL_OFFLINE: readEnv("TOOLTOOL_OFFLINE"),
      TOOLTOOL_MIRRORS: readEnv("TOOLTOOL_MIRRORS"),
      TOOLTOOL_MIRROR_AUTH_FILE: readEnv("TOOLTOOL_MIRROR_AUTH_FILE"),
    };
    const parsed = parseArgs(argv, env);
    if (parsed.kind === "help") {
      // Commander renders help; it is loaded only here, since loading it costs more than
      // the rest of a short command's start-up.
      const { helpText } = await import("./commands/help.ts");
      safeWrite(Deno.stdout, helpText(argv, env));
      return ExitCode.ok;
    }
    const { options } = parsed;
    const verbosity: Verbosity = options.verbose ? "verbose" : options.quiet ? "quiet" : "normal";
    output = new Output({
      writeStdout: (text) => safeWrite(Deno.stdout, text),
      writeStderr: (text) => safeWrite(Deno.stderr, text),
      verbosity,
      json: options.json,
      stderrIsTerminal: Deno.stderr.isTerminal(),
    });
    const ctx: Context = {
      cwd: Deno.cwd(),
      env: readEnv,
      output,
      fetch: lazyFetch(readEnv),
      signal: interrupt.signal,
      cores: navigator.hardwareConcurrency ?? 1,
    };
    if (readEnv("TOOLTOOL_SHA512_BACKEND") === "node") {
      (await import("./src/digest.ts")).forceNodeBackend();
    }
    const command = await COMMANDS[parsed.command]();
    await command(parsed.args, options, ctx);
    return ExitCode.ok;
  } catch (error) {
    const reported = interrupt.signal.aborted && !(error instanceof ToolError)
      ? new InterruptedError("Interrupted")
      : error;
    printError(reported, verboseRequested);
    const exitCode = reported instanceof ToolError ? reported.exitCode : ExitCode.failed;
    const json = output === undefined ? jsonInArgv(argv) : output.json;
    if (json && !output?.reported) printJsonFailure(reported, exitCode);
    return exitCode;
  }
}

if (import.meta.main) {
  // A rejection nobody awaited must not become Deno's "Uncaught" dump.
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    printError(event.reason, Deno.args.includes("-v") || Deno.args.includes("--verbose"));
    Deno.exit(ExitCode.failed);
  });
  Deno.exit(await main(Deno.args));
}

/** The run's `fetch` (see `fetchForRun`), loaded by the first request: most commands make none. */
function lazyFetch(env: (name: string) => string | undefined): typeof globalThis.fetch {
  // The promise, not its result, is kept: the first requests of a run start together, and
  // each would otherwise make a client (and a connection pool) of its own.
  let chosen: Promise<typeof globalThis.fetch> | undefined;
  return async (input, init) => {
    chosen ??= import("./src/transport/http1.ts").then((http1) => http1.fetchForRun(env));
    return await (await chosen)(input, init);
  };
}

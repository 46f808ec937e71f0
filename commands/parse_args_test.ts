import assert from "node:assert/strict";
import { UsageError } from "../src/errors.ts";
import {
  baseUrls,
  expandOptionPrefixes,
  OPTION_COMMANDS,
  OPTION_NAMES,
  parseArgs,
} from "./parse_args.ts";
import { COMMAND_SUMMARIES } from "./option_table.ts";
import { helpText as renderHelp } from "./help.ts";

function run(argv: string[], env = {}) {
  const parsed = parseArgs(argv, env);
  assert.equal(parsed.kind, "run");
  if (parsed.kind !== "run") throw new Error("unreachable");
  return parsed;
}

Deno.test("parseArgs() accepts global options before and after the command", () => {
  const before = run(["--url", "http://a", "fetch", "-m", "m.tt", "-o", "-c", "/cache"]);
  const after = run(["fetch", "-m", "m.tt", "--url", "http://a", "-o", "-c", "/cache"]);
  for (const parsed of [before, after]) {
    assert.equal(parsed.command, "fetch");
    assert.equal(parsed.options.manifest, "m.tt");
    assert.deepEqual(parsed.options.urls, ["http://a/"]);
    assert.equal(parsed.options.cacheFolder, "/cache");
  }
});

Deno.test("parseArgs() keeps repeated --url in order with trailing slashes", () => {
  const parsed = run(["--url", "http://a/x", "--url=http://b/", "fetch"]);
  assert.deepEqual(parsed.options.urls, ["http://a/x/", "http://b/"]);
});

Deno.test("parseArgs() expands unambiguous prefixes as optparse does", () => {
  const parsed = run(["fetch", "--auth", "~/tok", "--cache-f", "/c", "--reg", "eu", "--s", "2.5"], {
    HOME: "/home/me",
  });
  assert.equal(parsed.options.authenticationFile, "/home/me/tok");
  assert.equal(parsed.options.cacheFolder, "/c");
  assert.equal(parsed.options.region, "eu");
  assert.equal(parsed.options.sizeGb, 2.5);
});

Deno.test("parseArgs() rejects an ambiguous prefix with a usage error", () => {
  assert.throws(() => parseArgs(["--ver", "x", "list"]), (e: unknown) => {
    return e instanceof UsageError && e.exitCode === 2 && /--verbose, --version/.test(e.message);
  });
});

Deno.test("parseArgs() treats --version as the record annotation, not the program version", () => {
  const parsed = run(["add", "--version", "1.2", "--visibility", "internal", "--unpack", "f.tgz"]);
  assert.equal(parsed.options.recordVersion, "1.2");
  assert.equal(parsed.options.visibility, "internal");
  assert.equal(parsed.options.unpack, true);
  assert.deepEqual(parsed.args, ["f.tgz"]);
});

Deno.test("parseArgs() keeps a value that looks like an option", () => {
  const parsed = run(["upload", "--message", "--not-an-option"]);
  assert.equal(parsed.options.message, "--not-an-option");
});

Deno.test("parseArgs() reports usage errors with exit code 2", () => {
  for (
    const argv of [
      [],
      ["-q"],
      ["bogus"],
      ["fetch", "--bogus"],
      ["list", "-d", "md5"],
      ["list", "--visibility", "secret"],
      ["purge", "-s", "lots"],
      ["fetch", "-j", "0"],
      ["list", "-m"],
    ]
  ) {
    assert.throws(() => parseArgs(argv), UsageError, argv.join(" "));
  }
});

Deno.test("parseArgs() returns a help request for --help, rendered by helpText()", () => {
  assert.equal(parseArgs(["--help"]).kind, "help");
  assert.match(renderHelp(["--help"]), /Usage: tooltool/);
  assert.equal(parseArgs(["fetch", "--help"]).kind, "help");
  assert.match(renderHelp(["fetch", "--help"]), /tooltool fetch/);
});

Deno.test("baseUrls() follows tooltool.py's defaults and the Taskcluster proxy", () => {
  assert.deepEqual(baseUrls([], {}), ["https://tooltool.mozilla-releng.net/"]);
  assert.deepEqual(baseUrls([], { TOOLTOOL_HOST: "tt.example" }), ["https://tt.example/"]);
  assert.deepEqual(
    baseUrls([], { TASKCLUSTER_PROXY_URL: "http://taskcluster" }),
    ["http://taskcluster/tooltool.mozilla-releng.net/"],
  );
  assert.deepEqual(baseUrls(["http://x"], { TASKCLUSTER_PROXY_URL: "http://p" }), ["http://x/"]);
});

Deno.test("expandOptionPrefixes() leaves values and the arguments after -- alone", () => {
  assert.deepEqual(
    expandOptionPrefixes(["--mess", "--auth", "-m", "--url", "--", "--auth"]),
    ["--message", "--auth", "-m", "--url", "--", "--auth"],
  );
});

Deno.test("baseUrls() refuses every scheme but http and https, naming the scheme", () => {
  for (
    const url of ["ftp://x/", "file:///etc/", "data:text/plain,x", "blob:http://x/y", "ws://x/"]
  ) {
    assert.throws(
      () => baseUrls([url], {}),
      (error: unknown) =>
        error instanceof UsageError && error.exitCode === 2 &&
        error.message.includes("only http and https") &&
        error.message.includes(new URL(url).protocol),
      url,
    );
  }
});

Deno.test("baseUrls() refuses a base URL with a query or a fragment", () => {
  for (const url of ["http://x/?a=1", "http://x/#top", "http://x/?"]) {
    assert.throws(() => baseUrls([url], {}), /cannot have a query or fragment/, url);
  }
});

Deno.test("baseUrls() refuses text that is not a URL, and bad environment-derived URLs", () => {
  assert.throws(() => baseUrls(["tooltool.example"], {}), /Invalid --url "tooltool.example"/);
  assert.throws(() => baseUrls([], { TOOLTOOL_HOST: "h/x?y" }), /Invalid TOOLTOOL_HOST/);
  assert.throws(
    () => baseUrls([], { TASKCLUSTER_PROXY_URL: "ftp://proxy" }),
    /Invalid TASKCLUSTER_PROXY_URL .*not ftp:/,
  );
});

Deno.test("parseArgs() rejects --url ftp:// as a usage error", () => {
  assert.throws(
    () => parseArgs(["fetch", "--url", "ftp://mirror/"]),
    (error: unknown) => error instanceof UsageError && /not ftp:/.test(error.message),
  );
});

Deno.test("parseArgs() checks the transfer limits and mirrors only for the commands that use them", () => {
  const badEnv = [
    { TOOLTOOL_MAX_TIME: "soon" },
    { TOOLTOOL_RETRY_MAX_TIME: "-1" },
    { TOOLTOOL_SPEED_LIMIT: "fast" },
    { TOOLTOOL_SPEED_TIME: "x" },
    { TOOLTOOL_MIRRORS: "ftp://m/" },
  ];
  for (const env of badEnv) {
    for (const line of [["list"], ["validate", "--schema-only"], ["add", "f"], ["purge"]]) {
      const parsed = run(line, env);
      assert.deepEqual(parsed.options.mirrors, [], line.join(" "));
      assert.equal(parsed.options.limits.maxTimeMs, undefined);
    }
    assert.throws(() => parseArgs(["fetch"], env), UsageError, JSON.stringify(env));
  }
  // mirror copies files from the service: the limits bound its downloads too.
  assert.throws(
    () => parseArgs(["mirror", "--to", "d"], { TOOLTOOL_SPEED_LIMIT: "fast" }),
    UsageError,
  );
  assert.equal(run(["mirror", "--to", "d", "--max-time", "5"]).options.limits.maxTimeMs, 5000);
});

Deno.test("parseArgs() checks --url only for the commands that talk to a server", () => {
  const offline = [["list"], ["validate"], ["validate", "--schema-only"], ["add", "f"], ["purge"]];
  const bad: [string[], Record<string, string>][] = [
    [["--url", "ftp://x"], {}],
    [["--url", "not a url"], {}],
    [[], { TOOLTOOL_HOST: "h/x?y" }],
    [[], { TASKCLUSTER_PROXY_URL: "ftp://proxy" }],
  ];
  for (const [flags, env] of bad) {
    for (const line of offline) {
      assert.deepEqual(run([...line, ...flags], env).options.urls, [], line.join(" "));
    }
    const servers = Object.keys(COMMAND_SUMMARIES).filter((name) =>
      OPTION_COMMANDS.url?.includes(name as never)
    );
    assert.deepEqual(servers, [
      "fetch",
      "upload",
      "change-visibility",
      "delete",
      "mirror",
      "check",
      "whoami",
    ]);
    for (const command of servers) {
      assert.throws(
        () => parseArgs([command, ...flags], env),
        (error: unknown) =>
          error instanceof UsageError &&
          /^Invalid (--url|TOOLTOOL_HOST|TASKCLUSTER_PROXY_URL) /.test(error.message),
        `${command} ${JSON.stringify(env)}`,
      );
    }
  }
});

function helpText(argv: string[]): string {
  assert.equal(parseArgs(argv).kind, "help");
  return renderHelp(argv);
}

/** Each help section's heading mapped to the long option names it lists, in order. */
function optionSections(text: string): Map<string, string[]> {
  const sections = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of text.split("\n")) {
    if (/^\S.*:$/.test(line)) sections.set(line, current = []);
    else if (line === "") current = undefined;
    else {
      const long = /^ {2}(?:-\w, )?--([\w-]+)/.exec(line)?.[1];
      if (long !== undefined) current?.push(long);
    }
  }
  return sections;
}

const GLOBAL_HEADING = "Global options (accepted by every command, for tooltool.py compatibility):";

Deno.test("fetch --help lists fetch's options first, then the other global options", () => {
  const sections = optionSections(helpText(["fetch", "--help"]));
  const own = [
    "quiet",
    "verbose",
    "manifest",
    "url",
    "cache-folder",
    "region",
    "authentication-file",
    "json",
    "jobs",
    "rehash",
    "no-tree-cache",
    "max-time",
    "retry-max-time",
    "speed-limit",
    "speed-time",
    "distdir",
    "offline",
    "dry-run",
    "mirror",
    "mirror-auth-file",
    "help",
  ];
  assert.deepEqual([...sections.keys()], ["Options:", GLOBAL_HEADING]);
  assert.deepEqual(sections.get("Options:"), own);
  assert.deepEqual(sections.get(GLOBAL_HEADING), OPTION_NAMES.filter((n) => !own.includes(n)));
});

Deno.test("every COMMAND --help lists every option exactly once, the command's own first", () => {
  for (const command of Object.keys(COMMAND_SUMMARIES)) {
    const sections = optionSections(helpText([command, "--help"]));
    const own = sections.get("Options:") ?? [];
    const listed = [...own, ...sections.get(GLOBAL_HEADING) ?? []];
    assert.deepEqual([...listed].sort(), [...OPTION_NAMES].sort(), command);
    for (const name of own) {
      const uses = OPTION_COMMANDS[name];
      assert.ok(uses === "every" || uses?.includes(command as never), `${command} --${name}`);
    }
  }
});

Deno.test("tooltool --help lists every option once under Options", () => {
  const sections = optionSections(helpText(["--help"]));
  assert.deepEqual([...sections.get("Options:") ?? []].sort(), [...OPTION_NAMES].sort());
  assert.equal(sections.has(GLOBAL_HEADING), false);
});

Deno.test("OPTION_COMMANDS has one row per option, naming only real commands", () => {
  assert.deepEqual(Object.keys(OPTION_COMMANDS).sort(), [...OPTION_NAMES].sort());
  for (const [name, uses] of Object.entries(OPTION_COMMANDS)) {
    if (uses === "every") continue;
    for (const command of uses) assert.ok(command in COMMAND_SUMMARIES, `--${name}: ${command}`);
  }
});

Deno.test("parseArgs() still accepts an option with a command that does not use it", () => {
  const parsed = run(["version", "--schema-only", "--max-age", "3", "-c", "/c"]);
  assert.equal(parsed.options.schemaOnly, true);
  assert.equal(parsed.options.maxAgeDays, 3);
  assert.equal(parsed.options.cacheFolder, "/c");
});

Deno.test("parseArgs() keeps repeated --distdir in order and reads --offline from TOOLTOOL_OFFLINE", () => {
  const run = (argv: string[], env = {}) => {
    const parsed = parseArgs(argv, env);
    assert.equal(parsed.kind, "run");
    return parsed.kind === "run" ? parsed.options : undefined;
  };
  assert.deepEqual(run(["fetch", "--distdir", "a", "--distdir", "/b"])?.distdirs, ["a", "/b"]);
  assert.equal(run(["fetch"])?.offline, false);
  assert.equal(run(["fetch", "--offline"])?.offline, true);
  assert.equal(run(["fetch"], { TOOLTOOL_OFFLINE: "1" })?.offline, true);
  assert.equal(run(["fetch"], { TOOLTOOL_OFFLINE: "0" })?.offline, false);
  assert.equal(run(["fetch", "--dry-run"])?.dryRun, true);
});

Deno.test("--mirror is repeatable and wins over TOOLTOOL_MIRRORS, which splits on spaces and commas", () => {
  const run = (argv: string[], env = {}) => {
    const parsed = parseArgs(argv, env);
    assert.equal(parsed.kind, "run");
    return parsed.kind === "run" ? parsed.options.mirrors : [];
  };
  assert.deepEqual(run(["--mirror", "http://a/m", "--mirror", "http://b", "fetch"]), [
    "http://a/m/",
    "http://b/",
  ]);
  assert.deepEqual(run(["fetch"], { TOOLTOOL_MIRRORS: " http://a/, http://b  http://c " }), [
    "http://a/",
    "http://b/",
    "http://c/",
  ]);
  assert.deepEqual(run(["--mirror", "http://x", "fetch"], { TOOLTOOL_MIRRORS: "http://a/" }), [
    "http://x/",
  ]);
  assert.throws(
    () => parseArgs(["fetch"], { TOOLTOOL_MIRRORS: "http://a/?q=1" }),
    /TOOLTOOL_MIRRORS/,
  );
});

Deno.test("parseArgs() reads short clusters: flags, then one letter that takes a value", () => {
  const joined = run(["-vqmfoo", "list"]);
  assert.equal(joined.options.verbose, true);
  assert.equal(joined.options.quiet, true);
  assert.equal(joined.options.manifest, "foo");
  assert.equal(run(["list", "-vm", "bar"]).options.manifest, "bar");
  assert.equal(run(["-j4", "fetch"]).options.jobs, 4);
});

Deno.test("parseArgs() takes every word after -- as an argument", () => {
  const parsed = run(["add", "-q", "--", "-m", "--json", "--help"]);
  assert.deepEqual(parsed.args, ["-m", "--json", "--help"]);
  assert.equal(parsed.options.manifest, "manifest.tt");
  assert.equal(parsed.options.json, false);
  assert.equal(run(["--", "list"]).command, "list");
});

Deno.test("parseArgs() takes a negative number after the command for an argument", () => {
  assert.deepEqual(run(["add", "-5", "-m", "x"]).args, ["-5"]);
  assert.throws(() => parseArgs(["-5", "add"]), /^UsageError: Unknown option '-5'$/);
});

Deno.test("parseArgs() words usage errors as commander did, with the usage hint", () => {
  const cases: [string[], string][] = [
    [["fetch", "--bogus"], "Unknown option '--bogus'"],
    [["fetch", "-qx"], "Unknown option '-x'"],
    [["fetch", "--json=1"], "Unknown option '--json=1' (did you mean --json?)"],
    [["fetch", "--jsn"], "Unknown option '--jsn' (did you mean --json?)"],
    [["frobnicate"], "Unknown command 'frobnicate'"],
    [["fetc"], "Unknown command 'fetc' (did you mean fetch?)"],
    [["add"], "Missing required argument 'files'"],
    [["list", "x"], "Too many arguments for 'list'. Expected 0 arguments but got 1."],
    [["list", "-m"], "Option '-m, --manifest <file>' argument missing"],
    [
      ["add", "f", "--visibility", "secret"],
      "Option '--visibility <level>' argument 'secret' is invalid. Allowed choices are public, internal.",
    ],
    [["-q"], "You must specify a command"],
  ];
  for (const [argv, message] of cases) {
    assert.throws(
      () => parseArgs(argv),
      (error: unknown) =>
        error instanceof UsageError && error.message === message &&
        error.hint === 'run "tooltool --help" for usage',
      argv.join(" "),
    );
  }
});

Deno.test("parseArgs() asks for help wherever -h or --help stands as an option", () => {
  const lines = [["-h"], ["--he"], ["fetch", "-vh"], ["--bogus", "--help"], ["bogus", "-h"]];
  for (const argv of [...lines, ["help", "fetch"]]) {
    assert.deepEqual(parseArgs(argv), { kind: "help" }, argv.join(" "));
  }
  assert.equal(run(["upload", "--message", "--help"]).options.message, "--help");
  assert.equal(run(["-mh", "list"]).options.manifest, "h");
});

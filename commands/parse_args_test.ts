import assert from "node:assert/strict";
import { UsageError } from "../src/errors.ts";
import { baseUrls, expandOptionPrefixes, parseArgs } from "./parse_args.ts";

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
  const parsed = run(["--url", "http://a/x", "--url=http://b/", "list"]);
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

Deno.test("parseArgs() returns help text for --help", () => {
  const parsed = parseArgs(["--help"]);
  assert.equal(parsed.kind, "help");
  assert.match(parsed.kind === "help" ? parsed.text : "", /Usage: tooltool/);
  const command = parseArgs(["fetch", "--help"]);
  assert.match(command.kind === "help" ? command.text : "", /tooltool fetch/);
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

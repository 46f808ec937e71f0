/**
 * End-to-end tests of `add`, `list` and `validate`: the real CLI in a subprocess, exit
 * codes, exact stdout/stderr, and manifests byte for byte. When `TOOLTOOL_PY` names a copy
 * of tooltool.py (and python3 is on PATH), the same scenarios also run against it and the
 * manifests and exit codes must match.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { redact, runTool, tempDir, type ToolRun } from "./cli.ts";
import { sha512Of } from "./helpers/data.ts";

const encoder = new TextEncoder();

const sha512 = sha512Of;

/** A manifest entry as tooltool.py writes it, for expected output. */
async function entry(
  name: string,
  content: string,
  extra: { unpack?: true; version?: string; visibility?: string } = {},
): Promise<string> {
  const lines = [
    `    "filename": ${JSON.stringify(name)}`,
    `    "size": ${encoder.encode(content).length}`,
    `    "algorithm": "sha512"`,
    `    "digest": "${await sha512(content)}"`,
  ];
  if (extra.unpack) lines.push(`    "unpack": true`);
  if (extra.version) lines.push(`    "version": ${asciiJson(extra.version)}`);
  if (extra.visibility) lines.push(`    "visibility": "${extra.visibility}"`);
  return `  {\n${lines.join(",\n")}\n  }`;
}

/** A JSON string as Python writes it with ensure_ascii. */
function asciiJson(value: string): string {
  return JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (char) => "\\u" + char.charCodeAt(0).toString(16).padStart(4, "0"),
  );
}

function manifestOf(entries: string[]): string {
  return entries.length === 0 ? "[]" : `[\n${entries.join(",\n")}\n]`;
}

/** What must not change when a command fails: content, and (no rename) the inode. */
async function snapshot(path: string): Promise<{ text: string; ino: number | null }> {
  return { text: await Deno.readTextFile(path), ino: (await Deno.stat(path)).ino };
}

function assertClean(run: ToolRun, label = ""): void {
  assert.doesNotMatch(run.stderr, /Uncaught|\n\s+at |internal error/, label);
}

// ---------------------------------------------------------------------------------------
// add

Deno.test("tooltool add writes a new manifest byte for byte as tooltool.py does", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(join(dir.path, "a.txt"), "hello");
  await Deno.mkdir(join(dir.path, "sub"));
  await Deno.writeTextFile(join(dir.path, "sub", "b.tar.gz"), "bbb");
  const run = await runTool(["add", "a.txt", "sub/b.tar.gz"], { cwd: dir.path });
  assert.deepEqual(run, { code: 0, stdout: "", stderr: "" });
  assert.equal(
    await Deno.readTextFile(join(dir.path, "manifest.tt")),
    manifestOf([await entry("a.txt", "hello"), await entry("b.tar.gz", "bbb")]),
  );
});

Deno.test("tooltool add takes its options before or after the command", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(join(dir.path, "a"), "a");
  await Deno.writeTextFile(join(dir.path, "b"), "b");
  const first = await runTool(["--visibility", "internal", "-m", "x.tt", "add", "a"], {
    cwd: dir.path,
  });
  assert.equal(first.code, 0, first.stderr);
  const second = await runTool(
    ["add", "b", "--unpack", "--version", "caf\u00e9 1.0", "--visibility=public", "-m", "x.tt"],
    { cwd: dir.path },
  );
  assert.equal(second.code, 0, second.stderr);
  assert.equal(
    await Deno.readTextFile(join(dir.path, "x.tt")),
    manifestOf([
      await entry("b", "b", { unpack: true, version: "caf\u00e9 1.0", visibility: "public" }),
      await entry("a", "a", { visibility: "internal" }),
    ]),
  );
  assert.match(await Deno.readTextFile(join(dir.path, "x.tt")), /"caf\\u00e9 1\.0"/);
});

Deno.test("tooltool add of a file already recorded reports it and exits 1", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(join(dir.path, "a"), "a");
  assert.equal((await runTool(["add", "a"], { cwd: dir.path })).code, 0);
  const before = await Deno.readTextFile(join(dir.path, "manifest.tt"));
  const run = await runTool(["add", "a"], { cwd: dir.path });
  assert.equal(run.code, 1);
  assert.equal(
    run.stderr,
    'error: "a" is already in manifest "manifest.tt"\n' +
      'error: 1 of 1 files not added to manifest "manifest.tt"\n',
  );
  assert.equal(await Deno.readTextFile(join(dir.path, "manifest.tt")), before);
});

Deno.test("tooltool add refuses a different file under a recorded name", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(join(dir.path, "a"), "a");
  assert.equal((await runTool(["add", "a"], { cwd: dir.path })).code, 0);
  const before = await Deno.readTextFile(join(dir.path, "manifest.tt"));
  await Deno.writeTextFile(join(dir.path, "a"), "changed");
  const run = await runTool(["add", "a"], { cwd: dir.path });
  assert.equal(run.code, 1);
  assert.equal(
    run.stderr,
    'error: Cannot add "a": manifest "manifest.tt" already has a different file named "a"\n' +
      'error: 1 of 1 files not added to manifest "manifest.tt"\n',
  );
  assert.equal(await Deno.readTextFile(join(dir.path, "manifest.tt")), before);
});

Deno.test("tooltool add of a missing file leaves the manifest untouched", async () => {
  await using dir = await tempDir();
  const manifest = join(dir.path, "manifest.tt");
  await Deno.writeTextFile(manifest, manifestOf([await entry("old", "old")]));
  await Deno.writeTextFile(join(dir.path, "a"), "a");
  const before = await snapshot(manifest);
  const run = await runTool(["add", "a", "missing.tar.xz"], { cwd: dir.path });
  assert.deepEqual(run, {
    code: 1,
    stdout: "",
    stderr: 'error: Cannot add "missing.tar.xz": file not found\n',
  });
  assert.deepEqual(await snapshot(manifest), before);
  assert.deepEqual((await Array.fromAsync(Deno.readDir(dir.path))).length, 2, "no temp file");
});

Deno.test("tooltool add names every unusable file, in order, then one summary", async () => {
  await using dir = await tempDir();
  await Deno.mkdir(join(dir.path, "d"));
  const run = await runTool(["add", "nope", "d", ".."], { cwd: dir.path });
  assert.equal(run.code, 1);
  assert.equal(
    run.stderr,
    'error: Cannot add "nope": file not found\n' +
      'error: Cannot add "d": is a directory\n' +
      'error: Cannot add "..": invalid file name: must not be ".."\n' +
      'error: Cannot add 3 of 3 files: manifest "manifest.tt" is unchanged\n',
  );
  await assert.rejects(() => Deno.stat(join(dir.path, "manifest.tt")), Deno.errors.NotFound);
});

Deno.test("tooltool add with an absolute -m names it as given", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(join(dir.path, "m.tt"), "[1]");
  await Deno.writeTextFile(join(dir.path, "a"), "a");
  const run = await runTool(["add", "-m", join(dir.path, "m.tt"), "a"], { cwd: dir.path });
  assert.equal(run.code, 1);
  assert.equal(
    redact(run.stderr, { [dir.path]: "<tmp>" }),
    'error: Cannot parse manifest "<tmp>/m.tt": line 1, column 2: record 1: expected an ' +
      "object, got a number (1)\n",
  );
  assert.equal(await Deno.readTextFile(join(dir.path, "m.tt")), "[1]");
});

Deno.test("tooltool add writes a manifest and records a file whose names take 255 bytes", async () => {
  await using dir = await tempDir();
  const manifest = `${"m".repeat(252)}.tt`;
  const file = `${"f".repeat(251)}.bin`;
  assert.equal(encoder.encode(manifest).length, 255);
  assert.equal(encoder.encode(file).length, 255);
  await Deno.writeTextFile(join(dir.path, file), "data");
  const run = await runTool(["add", "-m", manifest, file], { cwd: dir.path });
  assert.deepEqual(run, { code: 0, stdout: "", stderr: "" });
  assert.equal(
    await Deno.readTextFile(join(dir.path, manifest)),
    manifestOf([await entry(file, "data")]),
  );
  const names = (await Array.fromAsync(Deno.readDir(dir.path))).map((e) => e.name).sort();
  assert.deepEqual(names, [file, manifest].sort(), "no temporary file is left");
});

// ---------------------------------------------------------------------------------------
// list and validate

async function mixedDirectory(dir: string): Promise<void> {
  await Deno.writeTextFile(join(dir, "foo.txt"), "FOO!");
  await Deno.writeTextFile(join(dir, "bar.txt"), "BAR!");
  const run = await runTool(["add", "foo.txt", "bar.txt"], { cwd: dir });
  assert.equal(run.code, 0, run.stderr);
  await Deno.writeTextFile(join(dir, "bar.txt"), "bar is invalid");
  await Deno.writeTextFile(
    join(dir, "manifest.tt"),
    (await Deno.readTextFile(join(dir, "manifest.tt"))).replace(
      "[\n",
      `[\n${await entry("test_file.ogg", "absent")},\n`,
    ),
  );
}

Deno.test("tooltool list prints P, V and the name, tab-separated, and exits 0", async () => {
  await using dir = await tempDir();
  await mixedDirectory(dir.path);
  const run = await runTool(["list"], { cwd: dir.path });
  assert.deepEqual(run, {
    code: 0,
    stdout: "-\t-\ttest_file.ogg\nP\tV\tfoo.txt\nP\t-\tbar.txt\n",
    stderr: "",
  });
});

Deno.test("tooltool list --json prints one report with stable field names", async () => {
  await using dir = await tempDir();
  await mixedDirectory(dir.path);
  const run = await runTool(["list", "--json"], { cwd: dir.path });
  assert.equal(run.code, 0);
  const report = JSON.parse(run.stdout);
  assert.equal(report.manifest, "manifest.tt");
  assert.deepEqual(
    report.files.map((f: Record<string, unknown>) => Object.keys(f)),
    Array(3).fill(["filename", "size", "digest", "present", "valid", "problem"]),
  );
  assert.deepEqual(
    report.files.map((f: Record<string, unknown>) => [f.filename, f.present, f.valid, f.problem]),
    [
      ["test_file.ogg", false, false, "absent"],
      ["foo.txt", true, true, null],
      ["bar.txt", true, false, "size is 14 bytes, expected 4"],
    ],
  );
});

Deno.test("tooltool validate exits 0 silently when every file is present and valid", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(join(dir.path, "a"), "a");
  assert.equal((await runTool(["add", "a"], { cwd: dir.path })).code, 0);
  assert.deepEqual(await runTool(["validate"], { cwd: dir.path }), {
    code: 0,
    stdout: "",
    stderr: "",
  });
});

Deno.test("tooltool validate lists each absent or invalid file and exits 1", async () => {
  await using dir = await tempDir();
  await mixedDirectory(dir.path);
  const run = await runTool(["validate"], { cwd: dir.path });
  assert.deepEqual(run, {
    code: 1,
    stdout: "",
    stderr: 'error: "test_file.ogg" is absent\n' +
      'error: "bar.txt" is invalid: size is 14 bytes, expected 4\n' +
      'error: 2 of 3 files in manifest "manifest.tt" are absent or invalid\n',
  });
  const json = await runTool(["validate", "--json"], { cwd: dir.path });
  assert.equal(json.code, 1);
  assert.deepEqual(
    JSON.parse(json.stdout).files.map((f: { valid: boolean }) => f.valid),
    [false, true, false],
  );
});

Deno.test("tooltool validate catches a same-size file with different content", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(join(dir.path, "a"), "aaaa");
  assert.equal((await runTool(["add", "a"], { cwd: dir.path })).code, 0);
  await Deno.writeTextFile(join(dir.path, "a"), "bbbb");
  const run = await runTool(["validate"], { cwd: dir.path });
  assert.equal(run.code, 1);
  assert.equal(
    run.stderr,
    `error: "a" is invalid: sha512 is ${(await sha512("bbbb")).slice(0, 12)}…, expected ` +
      `${(await sha512("aaaa")).slice(0, 12)}…\n` +
      'error: 1 of 1 files in manifest "manifest.tt" is absent or invalid\n',
  );
});

Deno.test("tooltool list and validate take -c and create nothing in that folder", async () => {
  await using dir = await tempDir();
  await mixedDirectory(dir.path);
  await Deno.mkdir(join(dir.path, "photos"));
  await Deno.writeTextFile(join(dir.path, "photos", "cat.jpg"), "meow");
  for (const folder of ["photos", "missing"]) {
    for (const command of ["list", "validate"]) {
      const run = await runTool([command, "-c", folder], { cwd: dir.path });
      assertClean(run, `${command} -c ${folder}`);
    }
  }
  assert.deepEqual(await Array.fromAsync(Deno.readDir(join(dir.path, "photos")), (e) => e.name), [
    "cat.jpg",
  ]);
  assert.equal(await Deno.lstat(join(dir.path, "missing")).catch(() => undefined), undefined);
});

Deno.test("tooltool list and validate fail with one line when the manifest is missing", async () => {
  await using dir = await tempDir();
  for (const command of ["list", "validate"]) {
    const run = await runTool([command], { cwd: dir.path });
    assert.deepEqual(run, {
      code: 1,
      stdout: "",
      stderr: 'error: Cannot read manifest "manifest.tt": file not found\n',
    });
  }
});

// ---------------------------------------------------------------------------------------
// Malformed manifests: one clear line, exit 1, manifest untouched, never a stack trace

const DIGEST = "0".repeat(128);
const RECORD = `{"filename": "a", "size": 1, "algorithm": "sha512", "digest": "${DIGEST}"}`;

const MALFORMED: [string, string | Uint8Array, string][] = [
  ["empty", "", "line 1, column 1: the manifest is empty: expected a JSON array of file records"],
  [
    "BOM",
    "\ufeff[]",
    "line 1, column 1: the file starts with a byte order mark (U+FEFF): save it as UTF-8 without BOM",
  ],
  [
    "garbage",
    "BOGUS",
    'line 1, column 1: invalid JSON: unexpected character "B": expected a JSON value',
  ],
  [
    "truncated",
    `[\n  ${RECORD.slice(0, 30)}`,
    "line 2, column 32: invalid JSON: unterminated string",
  ],
  [
    "trailing garbage",
    `[${RECORD}]]`,
    'line 1, column 196: invalid JSON: unexpected character "]" after the end of the JSON value',
  ],
  [
    "not an array",
    RECORD,
    "line 1, column 1: expected a JSON array of file records, got an object",
  ],
  [
    "record not an object",
    '["a"]',
    'line 1, column 2: record 1: expected an object, got a string ("a")',
  ],
  [
    "missing digest",
    `[${RECORD.replace(`, "digest": "${DIGEST}"`, "")}]`,
    'line 1, column 2: record 1 ("a"): "digest" is missing',
  ],
  [
    "md5",
    `[${RECORD.replace('"sha512"', '"md5"')}]`,
    'line 1, column 44: record 1 ("a"): "algorithm" must be "sha512", got "md5"',
  ],
  [
    "uppercase digest",
    `[${RECORD.replace(DIGEST, "A".repeat(128))}]`,
    'line 1, column 64: record 1 ("a"): "digest" must be 128 lowercase hexadecimal digits, got uppercase letters',
  ],
  [
    "short digest",
    `[${RECORD.replace(DIGEST, "0".repeat(127))}]`,
    'line 1, column 64: record 1 ("a"): "digest" must be 128 lowercase hexadecimal digits, got 127 characters',
  ],
  [
    "negative size",
    `[${RECORD.replace('"size": 1', '"size": -1')}]`,
    'line 1, column 28: record 1 ("a"): "size" must not be negative, got -1',
  ],
  [
    "float size",
    `[${RECORD.replace('"size": 1', '"size": 1.5')}]`,
    'line 1, column 28: record 1 ("a"): "size" must be a whole number of bytes, got 1.5',
  ],
  [
    "huge size",
    `[${RECORD.replace('"size": 1', '"size": 1e300')}]`,
    'line 1, column 28: record 1 ("a"): "size" must be a whole number of bytes, got 1e300',
  ],
  [
    "slash in filename",
    `[${RECORD.replace('"a"', '"../a"')}]`,
    'line 1, column 15: record 1: "filename" must be a bare file name without "/", got "../a"',
  ],
  [
    "backslash in filename",
    `[${RECORD.replace('"a"', '"..\\\\a"')}]`,
    'line 1, column 15: record 1: "filename" must be a bare file name without "\\", got "..\\\\a"',
  ],
  [
    "NUL in filename",
    `[${RECORD.replace('"a"', '"a\\u0000"')}]`,
    'line 1, column 15: record 1: "filename" must not contain a NUL character',
  ],
  [
    "dot-dot filename",
    `[${RECORD.replace('"a"', '".."')}]`,
    'line 1, column 15: record 1: "filename" must not be ".."',
  ],
  [
    "empty filename",
    `[${RECORD.replace('"a"', '""')}]`,
    'line 1, column 15: record 1: "filename" must not be empty',
  ],
  [
    "duplicate filename",
    `[${RECORD},\n${RECORD.replace(DIGEST, "1".repeat(128))}]`,
    'line 2, column 14: record 2 ("a"): "filename" repeats record 1',
  ],
  [
    "duplicate key",
    `[${RECORD.replace('"size": 1', '"size": 1, "size": 2')}]`,
    'line 1, column 31: record 1 ("a"): key "size" appears twice',
  ],
  [
    "bad visibility",
    `[${RECORD.replace("}", ', "visibility": "secret"}')}]`,
    'line 1, column 210: record 1 ("a"): "visibility" must be "public" or "internal", got "secret"',
  ],
  [
    "not UTF-8",
    new Uint8Array([0x5b, 0x22, 0xff, 0x22, 0x5d]),
    "line 1, column 3: the file is not valid UTF-8: bad byte 0xff at offset 2",
  ],
];

Deno.test("tooltool list, validate and add reject each malformed manifest in one line", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(join(dir.path, "a"), "a");
  const manifest = join(dir.path, "manifest.tt");
  for (const [label, content, detail] of MALFORMED) {
    if (typeof content === "string") await Deno.writeTextFile(manifest, content);
    else await Deno.writeFile(manifest, content);
    const before = await snapshot(manifest);
    for (const args of [["list"], ["validate"], ["add", "a"]]) {
      const run = await runTool(args, { cwd: dir.path });
      assertClean(run, label);
      assert.deepEqual(run, {
        code: 1,
        stdout: "",
        stderr: `error: Cannot parse manifest "manifest.tt": ${detail}\n`,
      }, `${label}: ${args.join(" ")}`);
      assert.deepEqual(await snapshot(manifest), before, `${label}: ${args.join(" ")}`);
    }
  }
});

Deno.test("tooltool validate --schema-only reports the same problem as path:line:col", async () => {
  await using dir = await tempDir();
  for (const [label, content, detail] of MALFORMED) {
    const path = join(dir.path, "m.tt");
    if (typeof content === "string") await Deno.writeTextFile(path, content);
    else await Deno.writeFile(path, content);
    const run = await runTool(["validate", "--schema-only", "m.tt"], { cwd: dir.path });
    assertClean(run, label);
    const [, line, column, message] = detail.match(/^line (\d+), column (\d+): (.*)$/)!;
    assert.deepEqual(run, {
      code: 1,
      stdout: "",
      stderr: `m.tt:${line}:${column}: ${message}\n` +
        "error: 1 of 1 manifests is invalid: 1 problem\n",
    }, label);
  }
});

Deno.test("tooltool with a manifest that is a directory fails in one line", async () => {
  await using dir = await tempDir();
  await Deno.mkdir(join(dir.path, "m.tt"));
  for (const args of [["list"], ["validate"], ["add", "x"]]) {
    const run = await runTool([...args, "-m", "m.tt"], { cwd: dir.path });
    assertClean(run);
    assert.deepEqual(run, {
      code: 1,
      stdout: "",
      stderr: 'error: Cannot read manifest "m.tt": is a directory\n',
    }, args.join(" "));
  }
});

Deno.test("a manifest with several problems gets a hint pointing at --schema-only", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(join(dir.path, "manifest.tt"), "[1, 2, 3]");
  const run = await runTool(["list"], { cwd: dir.path });
  assert.equal(run.code, 1);
  assert.equal(
    run.stderr,
    'error: Cannot parse manifest "manifest.tt": line 1, column 2: record 1: expected an ' +
      "object, got a number (1) (and 2 more problems)\n" +
      'hint: "tooltool validate --schema-only manifest.tt" lists every problem\n',
  );
});

// ---------------------------------------------------------------------------------------
// validate --schema-only

Deno.test("tooltool validate --schema-only checks several manifests, every problem", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(join(dir.path, "good.tt"), `[${RECORD}]`);
  await Deno.writeTextFile(
    join(dir.path, "bad.tt"),
    `[\n  ${RECORD.replace('"a"', '"x/y"').replace('"size": 1', '"size": -4')},\n  7\n]\n`,
  );
  const run = await runTool(
    ["validate", "--schema-only", "good.tt", "bad.tt", "gone.tt"],
    { cwd: dir.path },
  );
  assert.deepEqual(run, {
    code: 1,
    stdout: "",
    stderr: 'bad.tt:2:16: record 1: "filename" must be a bare file name without "/", got "x/y"\n' +
      'bad.tt:2:31: record 1: "size" must not be negative, got -4\n' +
      "bad.tt:3:3: record 2: expected an object, got a number (7)\n" +
      "gone.tt: cannot read manifest: file not found\n" +
      "error: 2 of 3 manifests are invalid: 4 problems\n",
  });
});

Deno.test("tooltool validate --schema-only is silent and exits 0 for valid manifests", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(join(dir.path, "manifest.tt"), `[${RECORD}]`);
  await Deno.writeTextFile(join(dir.path, "other.tt"), "[]");
  assert.deepEqual(await runTool(["validate", "--schema-only"], { cwd: dir.path }), {
    code: 0,
    stdout: "",
    stderr: "",
  });
  assert.deepEqual(
    await runTool(["validate", "--schema-only", "manifest.tt", "other.tt"], { cwd: dir.path }),
    { code: 0, stdout: "", stderr: "" },
  );
});

Deno.test("tooltool validate --schema-only --json reports each manifest", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(join(dir.path, "a.tt"), "[]");
  const run = await runTool(["--json", "validate", "--schema-only", "a.tt", "b.tt"], {
    cwd: dir.path,
  });
  assert.equal(run.code, 1);
  assert.deepEqual(JSON.parse(run.stdout), {
    manifests: [
      { path: "a.tt", valid: true, records: 0, problems: [] },
      {
        path: "b.tt",
        valid: false,
        records: 0,
        problems: [{ line: 0, column: 0, message: "cannot read manifest: file not found" }],
      },
    ],
  });
});

Deno.test("tooltool validate without --schema-only warns that it ignores paths", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(join(dir.path, "manifest.tt"), "[]");
  const run = await runTool(["validate", "other.tt"], { cwd: dir.path });
  assert.deepEqual(run, {
    code: 0,
    stdout: "",
    stderr:
      `warning: ignoring "other.tt": validate checks -m's manifest (--schema-only takes paths)\n`,
  });
});

Deno.test("the --schema-only path loads no hashing, HTTP, credentials or archive code", async () => {
  const root = new URL("../", import.meta.url);
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL("commands/validate.ts", root).pathname],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  const graph: {
    modules: {
      specifier: string;
      dependencies?: { code?: { specifier: string }; isDynamic?: boolean }[];
    }[];
  } = JSON.parse(new TextDecoder().decode(output.stdout));
  const bySpecifier = new Map(graph.modules.map((m) => [m.specifier, m]));
  const reached = new Set<string>();
  const pending = [new URL("commands/validate.ts", root).href];
  while (pending.length > 0) {
    const specifier = pending.pop()!;
    if (reached.has(specifier)) continue;
    reached.add(specifier);
    for (const dependency of bySpecifier.get(specifier)?.dependencies ?? []) {
      if (!dependency.isDynamic && dependency.code) pending.push(dependency.code.specifier);
    }
  }
  const loaded = [...reached].map((s) => s.replace(root.href, ""));
  const forbidden = loaded.filter((s) =>
    /digest|transport\/|archive|verify_files|node:crypto|npm:/.test(s)
  );
  assert.deepEqual(forbidden, [], `statically loaded: ${loaded.join(", ")}`);
});

// ---------------------------------------------------------------------------------------
// Against tooltool.py itself

const TOOLTOOL_PY = Deno.env.get("TOOLTOOL_PY");

async function runPython(args: string[], cwd: string): Promise<number> {
  const output = await new Deno.Command("python3", {
    args: [TOOLTOOL_PY!, ...args],
    cwd,
    stdout: "null",
    stderr: "null",
  }).output();
  return output.code;
}

Deno.test({
  name: "tooltool add, list and validate match tooltool.py's manifests, output and exit codes",
  ignore: !TOOLTOOL_PY,
  async fn() {
    await using ours = await tempDir();
    await using theirs = await tempDir();
    const scenario: string[][] = [
      ["add", "--visibility", "internal", "--unpack", "a.txt", "sub/b.bin"],
      ["add", "--version", 'v"\u00e9\u{1f600}\\', "c"],
      ["add", "c"],
      ["add", "a.txt"],
      ["validate"],
      ["-m", "other.tt", "add", "--visibility", "public", "sub/b.bin"],
      ["-m", "other.tt", "add", "c"],
      ["-m", "legacy.tt", "add", "c"],
    ];
    for (const dir of [ours.path, theirs.path]) {
      await Deno.writeTextFile(join(dir, "a.txt"), "hello");
      await Deno.mkdir(join(dir, "sub"));
      await Deno.writeTextFile(join(dir, "sub", "b.bin"), "x".repeat(100_000));
      await Deno.writeTextFile(join(dir, "c"), "c\n");
      await Deno.writeTextFile(
        join(dir, "legacy.tt"),
        `[{"size": 1, "setup": "x", "digest": "${DIGEST}", "filename": "z", "algorithm": "sha512", ` +
          `"unpack": false, "version": null, "visibility": null}]`,
      );
    }
    for (const args of scenario) {
      const ourCode = (await runTool(args, { cwd: ours.path })).code;
      const theirCode = await runPython(args, theirs.path);
      assert.equal(ourCode, theirCode, args.join(" "));
      for (const name of ["manifest.tt", "other.tt", "legacy.tt"]) {
        assert.equal(
          await Deno.readTextFile(join(ours.path, name)).catch(() => "(absent)"),
          await Deno.readTextFile(join(theirs.path, name)).catch(() => "(absent)"),
          `${name} after ${args.join(" ")}`,
        );
      }
    }
    for (const dir of [ours.path, theirs.path]) await Deno.writeTextFile(join(dir, "c"), "changed");
    const python = await new Deno.Command("python3", {
      args: [TOOLTOOL_PY!, "list"],
      cwd: theirs.path,
      stdout: "piped",
      stderr: "null",
    }).output();
    assert.equal(
      (await runTool(["list"], { cwd: ours.path })).stdout,
      new TextDecoder().decode(python.stdout),
    );
    assert.equal(
      (await runTool(["validate"], { cwd: ours.path })).code,
      await runPython(["validate"], theirs.path),
    );
  },
});

import assert from "node:assert/strict";
import { cPath, loadLibc, probeName } from "./libc.ts";

const posix = Deno.build.os === "linux" || Deno.build.os === "darwin";

/** A test body in a fresh temporary folder, removed afterwards. */
function inTempDir(body: (dir: string) => void): () => Promise<void> {
  return async () => {
    const dir = await Deno.makeTempDir();
    try {
      body(dir);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  };
}

Deno.test({
  name: "loadLibc() loads the C library here",
  ignore: !posix,
  fn() {
    const libc = loadLibc();
    assert.ok(libc !== null);
    assert.equal(loadLibc(), libc, "loaded once");
  },
});

Deno.test({
  name: "probeName() tells a present name, a dangling symlink and a missing one apart",
  ignore: !posix,
  fn: inTempDir((dir) => {
    Deno.writeTextFileSync(`${dir}/file`, "x");
    Deno.symlinkSync(`${dir}/nowhere`, `${dir}/dangling`);
    assert.equal(probeName(`${dir}/file`), true);
    assert.equal(probeName(dir), true);
    assert.equal(probeName(`${dir}/dangling`), true, "the link itself is there");
    assert.equal(probeName(`${dir}/missing`), false);
    assert.equal(probeName(`${dir}/missing/deeper`), false);
    assert.equal(probeName(`${dir}/file\0x`), undefined);
    // Relative names are taken from the working directory, as Deno's calls take them.
    assert.equal(probeName("."), true);
  }),
});

Deno.test({
  name:
    "probeName() cannot tell past a file used as a folder, or round a symlink loop, and says so",
  ignore: !posix,
  fn: inTempDir((dir) => {
    Deno.writeTextFileSync(`${dir}/file`, "x");
    Deno.symlinkSync(`${dir}/loop`, `${dir}/loop`);
    // ENOTDIR and ELOOP: not "missing", so the caller asks Deno.lstatSync.
    assert.equal(probeName(`${dir}/file/child`), undefined);
    assert.equal(probeName(`${dir}/loop/child`), undefined);
    assert.equal(probeName(`${dir}/loop`), true, "the loop itself is a name");
  }),
});

Deno.test("cPath() ends a path with a NUL and refuses one holding a NUL", () => {
  assert.deepEqual(cPath("ab"), new Uint8Array([0x61, 0x62, 0]));
  assert.equal(cPath("a\0b"), undefined);
  assert.deepEqual(cPath("é"), new Uint8Array([0xc3, 0xa9, 0]));
  const long = "x".repeat(5000);
  assert.deepEqual(cPath(long), new TextEncoder().encode(`${long}\0`));
});

Deno.test({
  name: "probeName() finds a name with non-ASCII letters, and one longer than its buffer",
  ignore: !posix,
  fn: inTempDir((dir) => {
    Deno.writeTextFileSync(`${dir}/été.bin`, "x");
    assert.equal(probeName(`${dir}/été.bin`), true);
    assert.equal(probeName(`${dir}/ete.bin`), false);
    const deep = `${dir}/${"d".repeat(200)}`;
    Deno.mkdirSync(deep);
    const long = `${deep}/${"/.".repeat(1500)}/${"f".repeat(100)}`;
    assert.equal(probeName(long), false);
    Deno.writeTextFileSync(`${deep}/${"f".repeat(100)}`, "x");
    assert.equal(probeName(long), true);
  }),
});

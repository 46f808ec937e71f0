import assert from "node:assert/strict";
import * as nodePath from "node:path";
import { basename, dirname, join, resolve } from "./paths.ts";

/** Every string of up to `length` characters from `alphabet`, the empty one included. */
function allStrings(alphabet: readonly string[], length: number): string[] {
  const found = [""];
  let previous = [""];
  for (let size = 1; size <= length; size++) {
    previous = previous.flatMap((prefix) => alphabet.map((next) => prefix + next));
    found.push(...previous);
  }
  return found;
}

// Separators, dots and names in every order: the rules live in the corners ("//", "..",
// a trailing slash, ".a", "a..").
const single = allStrings(["a", "/", "."], 6);
const parts = allStrings(["a", "/", "."], 3);

Deno.test("dirname() and basename() give what node:path gives, corner cases included", () => {
  for (const path of [...single, "/usr/lib/", "a/b//c//", "//", "///a", "..a/.b."]) {
    assert.equal(dirname(path), nodePath.dirname(path), `dirname(${JSON.stringify(path)})`);
    assert.equal(basename(path), nodePath.basename(path), `basename(${JSON.stringify(path)})`);
  }
});

Deno.test("join() gives what node:path gives, for one, two and three parts", () => {
  assert.equal(join(), nodePath.join());
  for (const path of single) assert.equal(join(path), nodePath.join(path), JSON.stringify(path));
  for (const first of parts) {
    for (const second of parts) {
      assert.equal(join(first, second), nodePath.join(first, second), `${first} + ${second}`);
      assert.equal(
        join(first, "x", second),
        nodePath.join(first, "x", second),
        `${first} + x + ${second}`,
      );
    }
  }
});

Deno.test("resolve() gives what node:path gives, against the current directory too", () => {
  assert.equal(resolve(), nodePath.resolve());
  for (const path of single) {
    assert.equal(resolve(path), nodePath.resolve(path), JSON.stringify(path));
  }
  for (const first of parts) {
    for (const second of parts) {
      assert.equal(resolve(first, second), nodePath.resolve(first, second), `${first} + ${second}`);
      assert.equal(resolve("/r", first, second), nodePath.resolve("/r", first, second));
    }
  }
});

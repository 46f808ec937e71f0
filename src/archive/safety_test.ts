import assert from "node:assert/strict";
import { entryComponents, EntryProblem, hasSpecialBits, safeMode, TreeModel } from "./safety.ts";

function refuses(fn: () => unknown, pattern: RegExp): void {
  assert.throws(
    fn,
    (error: unknown) => error instanceof EntryProblem && pattern.test(error.message),
  );
}

Deno.test("entryComponents() drops empty and dot components", () => {
  assert.deepEqual(entryComponents("./bin//tool/."), ["bin", "tool"]);
  assert.deepEqual(entryComponents("./"), []);
  assert.deepEqual(entryComponents("a/b/"), ["a", "b"]);
});

Deno.test("entryComponents() refuses absolute names, including drive letters and UNC", () => {
  refuses(() => entryComponents("/etc/passwd"), /absolute path/);
  refuses(() => entryComponents("C:/Windows"), /absolute path/);
  refuses(() => entryComponents("\\\\host\\share"), /absolute path/);
});

Deno.test("entryComponents() refuses .. anywhere, even when it would stay inside", () => {
  refuses(() => entryComponents("../x"), /entry "..\/x" leaves the destination/);
  refuses(() => entryComponents("a/../b"), /leaves the destination/);
  refuses(() => entryComponents("./../../../../etc/passwd"), /leaves the destination/);
});

Deno.test("entryComponents() refuses NUL bytes", () => {
  refuses(() => entryComponents("a\0b"), /NUL/);
});

Deno.test("TreeModel reports parent directories to create, each once", () => {
  const model = new TreeModel();
  assert.deepEqual(model.add("a/b/c", ["a", "b", "c"], "file").newDirectories, ["a", "a/b"]);
  assert.deepEqual(model.add("a/b/d", ["a", "b", "d"], "file").newDirectories, []);
  assert.deepEqual(model.add("a/b", ["a", "b"], "directory").directoryExists, true);
});

Deno.test("TreeModel refuses a member written through a symbolic link", () => {
  const model = new TreeModel();
  model.add("a", ["a"], "symlink", "b");
  refuses(() => model.add("a/x", ["a", "x"], "file"), /written through the symbolic link "a"/);
});

Deno.test("TreeModel refuses a member inside a file", () => {
  const model = new TreeModel();
  model.add("f", ["f"], "file");
  refuses(() => model.add("f/x", ["f", "x"], "file"), /not a directory/);
});

Deno.test("TreeModel refuses absolute and climbing symbolic links at once", () => {
  const model = new TreeModel();
  refuses(() => model.add("a", ["a"], "symlink", "/usr/bin"), /absolute path "\/usr\/bin"/);
  refuses(() => model.add("a", ["a"], "symlink", ".."), /leaves the destination/);
  refuses(() => model.add("d/a", ["d", "a"], "symlink", "../../x"), /leaves the destination/);
  refuses(() => model.add("a", ["a"], "symlink", ""), /empty target/);
});

Deno.test("TreeModel accepts links that stay inside, however they climb", () => {
  const model = new TreeModel();
  model.add("d/e/a", ["d", "e", "a"], "symlink", "../../x");
  model.add("d/b", ["d", "b"], "symlink", "./e/../e");
  model.add("dangling", ["dangling"], "symlink", "not/there");
  assert.deepEqual(model.finish().map((link) => link.path), ["d/e/a", "d/b", "dangling"]);
});

Deno.test("TreeModel.finish() follows links through other links (a -> ., b -> a/..)", () => {
  const model = new TreeModel();
  model.add("a", ["a"], "symlink", ".");
  model.add("b", ["b"], "symlink", "a/..");
  refuses(() => model.finish(), /entry "b" is a symbolic link to "a\/..", which leaves/);
});

Deno.test("TreeModel.finish() catches a link made harmful by a later link", () => {
  // When b is read, a does not exist yet and b -> a/.. looks like ".".
  const model = new TreeModel();
  model.add("b", ["b"], "symlink", "a/..");
  model.add("a", ["a"], "symlink", ".");
  refuses(() => model.finish(), /entry "b"/);
});

Deno.test("TreeModel.finish() resolves links into deeper directories physically", () => {
  const model = new TreeModel();
  // Lexically x/y/l/.. is x/y; physically x/y/l is the root, and its parent is outside.
  model.add("x/y/l", ["x", "y", "l"], "symlink", "../..");
  model.add("m", ["m"], "symlink", "x/y/l/..");
  model.add("ok", ["ok"], "symlink", "x/y/l/x");
  refuses(() => model.finish(), /entry "m"/);
});

Deno.test("TreeModel.finish() refuses symbolic link loops it must look through", () => {
  const model = new TreeModel();
  model.add("a", ["a"], "symlink", "b");
  model.add("b", ["b"], "symlink", "a");
  model.add("c", ["c"], "symlink", "a/x");
  refuses(() => model.finish(), /entry "c"/);
});

Deno.test("TreeModel accepts a loop nothing looks through", () => {
  const model = new TreeModel();
  model.add("a", ["a"], "symlink", "b");
  model.add("b", ["b"], "symlink", "a");
  assert.equal(model.finish().length, 2);
});

Deno.test("TreeModel refuses duplicates that would replace a link, or change a type", () => {
  const model = new TreeModel();
  model.add("l", ["l"], "symlink", "target");
  refuses(() => model.add("l", ["l"], "file"), /would replace the symbolic link/);
  refuses(() => model.add("l", ["l"], "symlink", "other"), /would replace the symbolic link/);
  model.add("f", ["f"], "file");
  refuses(
    () => model.add("f", ["f"], "symlink", "x"),
    /replace the file of the same name with a symbolic link/,
  );
  refuses(() => model.add("f", ["f"], "directory"), /replace the file/);
  model.add("d", ["d"], "directory");
  refuses(() => model.add("d", ["d"], "file"), /replace the directory/);
});

Deno.test("TreeModel lets a file replace a file, unlinking it first", () => {
  const model = new TreeModel();
  model.add("f", ["f"], "file");
  assert.equal(model.add("f", ["f"], "file").replacesFile, true);
  model.add("h", ["h"], "hardlink", "f");
  assert.equal(model.add("h", ["h"], "file").replacesFile, true);
});

Deno.test("TreeModel refuses hard links that leave, dangle, or point at links", () => {
  const model = new TreeModel();
  model.add("f", ["f"], "file");
  model.add("s", ["s"], "symlink", "f");
  refuses(
    () => model.add("h", ["h"], "hardlink", "/etc/passwd"),
    /hard link to "\/etc\/passwd", which leaves/,
  );
  refuses(() => model.add("h", ["h"], "hardlink", "../x"), /which leaves the destination/);
  refuses(() => model.add("h", ["h"], "hardlink", "nothing"), /not an earlier member/);
  refuses(() => model.add("h", ["h"], "hardlink", "s"), /which is a symbolic link/);
  refuses(() => model.add("f", ["f"], "hardlink", "f"), /hard link to itself/);
  model.add("h", ["h"], "hardlink", "./f");
});

Deno.test("TreeModel treats the destination itself as an existing directory", () => {
  const model = new TreeModel();
  assert.equal(model.add("./", [], "directory").directoryExists, true);
  refuses(() => model.add(".", [], "file"), /empty name/);
});

Deno.test("safeMode() keeps rwx bits, drops special bits and keeps directories usable", () => {
  assert.equal(safeMode(0o104755, "file"), 0o755);
  assert.equal(safeMode(0o1777, "directory"), 0o777);
  assert.equal(safeMode(0o555, "directory"), 0o755);
  assert.equal(safeMode(0o444, "file"), 0o444);
});

Deno.test("hasSpecialBits() flags setuid and setgid but not sticky", () => {
  assert.equal(hasSpecialBits(0o4755), true);
  assert.equal(hasSpecialBits(0o2755), true);
  assert.equal(hasSpecialBits(0o1777), false);
});

import assert from "node:assert/strict";
import { basename } from "node:path";
import { hiddenName, isTempName, tempPathBeside } from "./temp_names.ts";

const bytes = (value: string) => new TextEncoder().encode(value).length;

Deno.test("hiddenName() keeps a name that fits whole", () => {
  assert.equal(
    hiddenName("clang.tar.xz", ".tooltool-0123abcd.part"),
    ".clang.tar.xz.tooltool-0123abcd.part",
  );
});

Deno.test("hiddenName() cuts a long name so the whole takes 255 bytes, keeping its start", () => {
  const name = `${"a".repeat(251)}.bin`;
  const hidden = hiddenName(name, ".tooltool-0123abcd.part");
  assert.equal(bytes(hidden), 255);
  assert.equal(hidden, `.${"a".repeat(231)}.tooltool-0123abcd.part`);
});

Deno.test("hiddenName() cuts between characters, never inside one", () => {
  const name = `${"é".repeat(125)}x.bin`;
  const hidden = hiddenName(name, ".tooltool-0123abcd.part");
  // 231 bytes of room: 115 two-byte characters fit, a 116th would not.
  assert.equal(hidden, `.${"é".repeat(115)}.tooltool-0123abcd.part`);
  assert.equal(bytes(hidden), 254);
  const emoji = hiddenName("😀".repeat(63), ".x");
  assert.ok(bytes(emoji) <= 255);
  assert.equal(emoji, `.${"😀".repeat(63)}.x`);
  assert.equal(hiddenName("😀".repeat(64), ".xy"), `.${"😀".repeat(62)}.xy`);
});

Deno.test("tempPathBeside() of a 255-byte name fits, and isTempName() still recognises it", () => {
  for (const name of [`${"a".repeat(251)}.bin`, `${"é".repeat(125)}x.bin`]) {
    assert.equal(bytes(name), 255);
    const temp = basename(tempPathBeside(`/work/dir/${name}`));
    assert.ok(bytes(temp) <= 255, temp);
    assert.ok(isTempName(temp), temp);
    assert.ok(temp.startsWith(`.${name.slice(0, 100)}`));
  }
  assert.notEqual(tempPathBeside(`/d/${"a".repeat(255)}`), tempPathBeside(`/d/${"a".repeat(255)}`));
});

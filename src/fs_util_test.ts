import assert from "node:assert/strict";
import { join } from "node:path";
import { isAbsent, statOrUndefined } from "./fs_util.ts";

Deno.test("isAbsent() is true only for a name nothing holds, a dangling symlink included", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "file"), "x");
    await Deno.symlink(join(dir, "nowhere"), join(dir, "dangling"));
    assert.equal(isAbsent(join(dir, "missing")), true);
    assert.equal(isAbsent(join(dir, "file")), false);
    assert.equal(isAbsent(join(dir, "dangling")), false, "the link itself holds the name");
    assert.equal(statOrUndefined(join(dir, "dangling")), undefined);
    // A parent that is a file: ENOTDIR, not ENOENT, so the name is not declared free.
    assert.equal(isAbsent(join(dir, "file", "child")), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * End-to-end: parallel `add` processes into one manifest never lose a record.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "./cli.ts";
import { spawnTool } from "./fetch_fixture.ts";

const PROCESSES = 8;
const ROUNDS = 3;

Deno.test(`${PROCESSES} parallel adds into one manifest keep all ${PROCESSES} records, every time`, async () => {
  await using dir = await tempDir("tooltool-add-race-");
  for (let round = 0; round < ROUNDS; round++) {
    const work = join(dir.path, `round-${round}`);
    await Deno.mkdir(work);
    const names = Array.from({ length: PROCESSES }, (_, index) => `file-${index}.bin`);
    for (const [index, name] of names.entries()) {
      await Deno.writeTextFile(join(work, name), `content ${round} ${index}\n`);
    }
    const children = names.map((name) => spawnTool(["add", name], { cwd: work }).output());
    const results = await Promise.all(children);
    for (const [index, result] of results.entries()) {
      assert.equal(
        result.code,
        0,
        `add ${names[index]}: ${new TextDecoder().decode(result.stderr)}`,
      );
    }
    const manifest = JSON.parse(await Deno.readTextFile(join(work, "manifest.tt")));
    assert.deepEqual(
      manifest.map((record: { filename: string }) => record.filename).sort(),
      names,
      `round ${round}`,
    );
    // The lock leaves nothing behind in the working directory.
    const left = (await Array.fromAsync(Deno.readDir(work))).map((entry) => entry.name).sort();
    assert.deepEqual(left, [...names, "manifest.tt"].sort());
  }
});

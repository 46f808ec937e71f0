import assert from "node:assert/strict";
import { Journal } from "./journal.ts";

const digest = "a".repeat(128);

Deno.test("Journal reads up to the last whole line, and the rest once it is finished", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/journal`;
    const use = (at: number, extra = "") =>
      JSON.stringify({ type: "use", digest, at, note: extra });
    // A line with multi-byte characters, then one a writer has not finished yet.
    const whole = `${use(1, "é€😀")}\n`;
    const torn = use(2, "ü");
    Deno.writeTextFileSync(path, whole + torn.slice(0, 20));
    const journal = new Journal(dir);
    assert.equal((await journal.uses()).get(digest), 1);
    Deno.writeTextFileSync(path, torn.slice(20) + "\n", { append: true });
    assert.equal((await journal.uses()).get(digest), 2);
    // Nothing new: the same answer, from memory.
    assert.equal(await journal.refresh(), false);
    journal.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Journal that was missing is read once another process creates it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const journal = new Journal(dir);
    assert.equal(await journal.refresh(), false);
    assert.equal(await journal.refresh(), false);
    // Another process's first line: the probe that replaced the failing stat must see it.
    const line = JSON.stringify({ type: "use", digest, at: 7 });
    Deno.writeTextFileSync(`${dir}/journal`, `${line}\n`);
    assert.equal((await journal.uses()).get(digest), 7);
    // Removed again (a purge of the state folder): missing, and no error.
    Deno.removeSync(`${dir}/journal`);
    assert.equal(await journal.refresh(), false);
    journal.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

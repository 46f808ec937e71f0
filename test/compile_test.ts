/**
 * `deno task compile` leaves Deno itself and the test-only packages out of the binary.
 * A working binary needs the `denort` runtime, which cannot be downloaded here; the `deno`
 * binary stands in for it (`DENORT_BIN`), which is enough to see what gets embedded.
 */
import assert from "node:assert/strict";

Deno.test("the compiled binary embeds the runtime packages only", async () => {
  const folder = await Deno.makeTempDir({ prefix: "tooltool-compile-" });
  try {
    const output = `${folder}/tooltool`;
    const root = new URL("..", import.meta.url).pathname;
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "scripts/compile.ts", "--output", output],
      cwd: root,
      env: { DENORT_BIN: Deno.execPath() },
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    const runtime = Deno.statSync(Deno.execPath()).size;
    const embedded = Deno.statSync(output).size - runtime;
    // The sources and four npm packages take ~11 MB; Deno's own binary would add ~95 MB.
    assert.ok(
      embedded < 30 * 1024 * 1024,
      `the binary embeds ${Math.round(embedded / 1024 / 1024)} MiB next to the runtime`,
    );
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});

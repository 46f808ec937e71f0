/**
 * A regular file swapped for a FIFO between `readBoundedFile`'s path check and its open.
 * The swap is simulated by making `Deno.statSync` report the FIFO as a regular file (what
 * it saw a moment before the swap). The open is asynchronous, so it blocks a worker thread,
 * not the main one, and Ctrl-C still reaches the listener.
 */
import assert from "node:assert/strict";

Deno.test({
  name: "a FIFO swapped in before the open does not make Ctrl-C unheard",
  ignore: Deno.build.os === "windows",
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const fifo = `${dir}/credentials`;
      const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
      assert.ok(made.success);
      const module = new URL("./bounded_read.ts", import.meta.url).href;
      const script = `${dir}/child.ts`;
      await Deno.writeTextFile(
        script,
        `
import { readBoundedFile } from ${JSON.stringify(module)};
Deno.addSignalListener("SIGINT", () => Deno.exit(42));
const realStatSync = Deno.statSync;
// What the path check saw just before the swap: a regular file.
Object.defineProperty(Deno, "statSync", {
  value: (path: string) => ({ ...realStatSync(path), isFile: true, isFifo: false }),
});
console.log("reading");
try {
  await readBoundedFile(${JSON.stringify(fifo)}, { limit: 1024, kinds: "regular" });
} catch (error) {
  console.log("refused: " + error);
  Deno.exit(7);
}
`,
      );
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--quiet", script],
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      await new Promise((resolve) => setTimeout(resolve, 1500));
      child.kill("SIGINT");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
      const status = await child.status;
      clearTimeout(timer);
      await child.stdout.cancel();
      assert.equal(status.signal, null, "the child had to be killed: SIGINT went unheard");
      assert.equal(status.code, 42);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

import assert from "node:assert/strict";
import { readSmallFileSync } from "./nonblocking_read.ts";

const posix = Deno.build.os === "linux" || Deno.build.os === "darwin";

async function withDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function bytes(length: number, seed = 1): Uint8Array {
  return Uint8Array.from({ length }, (_, index) => (index * 31 + seed) & 0xff);
}

Deno.test({
  name: "readSmallFileSync reads a small regular file whole",
  ignore: !posix,
  fn: () =>
    withDir((dir) => {
      for (const length of [0, 1, 4095, 100 * 1024]) {
        const path = `${dir}/f${length}`;
        const content = bytes(length);
        Deno.writeFileSync(path, content);
        const buffer = new Uint8Array(256 * 1024);
        const filled = readSmallFileSync(path, Deno.statSync(path), buffer);
        assert.equal(filled, length);
        assert.deepEqual(buffer.subarray(0, length), content);
      }
    }),
});

Deno.test({
  name: "readSmallFileSync writes into a view at its own offset, not its buffer's start",
  ignore: !posix,
  fn: () =>
    withDir((dir) => {
      const path = `${dir}/f`;
      Deno.writeFileSync(path, bytes(1000, 7));
      const backing = new Uint8Array(4096).fill(0xee);
      const view = backing.subarray(100, 3000);
      assert.equal(readSmallFileSync(path, Deno.statSync(path), view), 1000);
      assert.deepEqual(backing.subarray(0, 100), new Uint8Array(100).fill(0xee));
      assert.deepEqual(backing.subarray(100, 1100), bytes(1000, 7));
      assert.equal(backing[1100], 0xee);
    }),
});

Deno.test({
  name: "readSmallFileSync gives up on a file as big as its buffer or bigger",
  ignore: !posix,
  fn: () =>
    withDir((dir) => {
      const path = `${dir}/f`;
      Deno.writeFileSync(path, bytes(8192));
      const info = Deno.statSync(path);
      assert.equal(readSmallFileSync(path, info, new Uint8Array(8192)), undefined);
      assert.equal(readSmallFileSync(path, info, new Uint8Array(100)), undefined);
      assert.equal(readSmallFileSync(path, info, new Uint8Array(8193)), 8192);
    }),
});

Deno.test({
  name: "readSmallFileSync refuses a file other than the one stat'ed (swapped in between)",
  ignore: !posix,
  fn: () =>
    withDir((dir) => {
      const path = `${dir}/f`;
      Deno.writeFileSync(path, bytes(100));
      const before = Deno.statSync(path);
      Deno.writeFileSync(`${dir}/g`, bytes(100, 9));
      Deno.renameSync(`${dir}/g`, path);
      assert.equal(readSmallFileSync(path, before, new Uint8Array(1024)), undefined);
      assert.equal(readSmallFileSync(path, Deno.statSync(path), new Uint8Array(1024)), 100);
    }),
});

Deno.test({
  name: "readSmallFileSync returns at once for a FIFO swapped in after the stat",
  ignore: !posix,
  fn: () =>
    withDir(async (dir) => {
      const path = `${dir}/f`;
      Deno.writeFileSync(path, bytes(100));
      const before = Deno.statSync(path);
      Deno.removeSync(path);
      const made = await new Deno.Command("mkfifo", { args: [path] }).output();
      assert.ok(made.success);
      // No writer ever opens it: a blocking open would wait here for ever.
      const started = performance.now();
      assert.equal(readSmallFileSync(path, before, new Uint8Array(1024)), undefined);
      assert.ok(performance.now() - started < 1000);
      // Even told it is the file it saw, it does not read a FIFO as a regular file.
      const fifo = Deno.statSync(path);
      assert.equal(
        readSmallFileSync(path, { ...fifo, isFile: true }, new Uint8Array(16)),
        undefined,
      );
    }),
});

Deno.test({
  name: "readSmallFileSync answers undefined for what it cannot read: gone, a folder, a NUL",
  ignore: !posix,
  fn: () =>
    withDir((dir) => {
      const path = `${dir}/f`;
      Deno.writeFileSync(path, bytes(10));
      const info = Deno.statSync(path);
      Deno.removeSync(path);
      assert.equal(readSmallFileSync(path, info, new Uint8Array(64)), undefined);
      const folder = Deno.statSync(dir);
      assert.equal(
        readSmallFileSync(dir, { ...folder, isFile: true }, new Uint8Array(64)),
        undefined,
      );
      assert.equal(readSmallFileSync(`${dir}/f\0x`, info, new Uint8Array(64)), undefined);
    }),
});

Deno.test({
  name: "readSmallFileSync answers undefined when the open fails (a symlink loop)",
  ignore: !posix,
  fn: () =>
    withDir((dir) => {
      Deno.writeFileSync(`${dir}/f`, bytes(10));
      Deno.symlinkSync(`${dir}/loop`, `${dir}/loop`);
      const info = Deno.statSync(`${dir}/f`);
      assert.equal(readSmallFileSync(`${dir}/loop`, info, new Uint8Array(64)), undefined);
    }),
});

Deno.test({
  name: "readSmallFileSync does not leak descriptors",
  ignore: Deno.build.os !== "linux",
  fn: () =>
    withDir((dir) => {
      const path = `${dir}/f`;
      Deno.writeFileSync(path, bytes(10));
      const info = Deno.statSync(path);
      const real = Deno.realPathSync(path);
      // Only descriptors of this file: tests of other modules run in this process at the same
      // time (`--parallel`) and open and close their own.
      const count = () =>
        [...Deno.readDirSync("/proc/self/fd")].filter((entry) => {
          try {
            return Deno.readLinkSync(`/proc/self/fd/${entry.name}`) === real;
          } catch {
            return false; // closed since the listing
          }
        }).length;
      readSmallFileSync(path, info, new Uint8Array(64));
      const before = count();
      // The count sees a descriptor of the file when there is one.
      const open = Deno.openSync(path);
      assert.equal(count(), before + 1);
      open.close();
      assert.equal(count(), before);
      for (let index = 0; index < 100; index++) {
        readSmallFileSync(path, info, new Uint8Array(64));
        readSmallFileSync(path, info, new Uint8Array(4));
      }
      assert.equal(count(), before);
    }),
});

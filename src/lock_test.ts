import assert from "node:assert/strict";
import { join } from "node:path";
import { acquireLock, tryLock } from "./lock.ts";
import { withTempDir } from "../test/helpers/temp.ts";

Deno.test("tryLock() refuses a second exclusive lock, even within one process", () =>
  withTempDir(async (dir) => {
    const path = join(dir, "locks", "a");
    using first = await tryLock(path, { exclusive: true });
    assert.ok(first);
    assert.equal(await tryLock(path, { exclusive: true }), undefined);
    assert.equal(await tryLock(path, { exclusive: false }), undefined);
  }));

Deno.test("tryLock() lets shared locks coexist and keeps an exclusive one out", () =>
  withTempDir(async (dir) => {
    const path = join(dir, "a");
    using one = await tryLock(path, { exclusive: false });
    using two = await tryLock(path, { exclusive: false });
    assert.ok(one && two);
    assert.equal(await tryLock(path, { exclusive: true }), undefined);
    one.release();
    two.release();
    using three = await tryLock(path, { exclusive: true });
    assert.ok(three);
  }));

Deno.test("acquireLock() waits for the holder, says so once, then takes the lock", () =>
  withTempDir(async (dir) => {
    const path = join(dir, "a");
    const held = await tryLock(path, { exclusive: true });
    assert.ok(held);
    let waits = 0;
    const waiting = acquireLock(path, { exclusive: true, onWait: () => waits++ });
    setTimeout(() => held.release(), 60);
    using taken = await waiting;
    assert.ok(taken.held);
    assert.equal(waits, 1);
  }));

Deno.test("acquireLock() stops waiting when its signal aborts", () =>
  withTempDir(async (dir) => {
    const path = join(dir, "a");
    using _held = await tryLock(path, { exclusive: true });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("stop")), 30);
    await assert.rejects(
      acquireLock(path, { exclusive: true, signal: controller.signal }),
      /stop/,
    );
  }));

Deno.test("a lock file removed by its holder is recreated, not shared with a stale inode", () =>
  withTempDir(async (dir) => {
    const path = join(dir, "a");
    const held = await tryLock(path, { exclusive: true });
    assert.ok(held);
    const waiting = acquireLock(path, { exclusive: true });
    await new Promise((resolve) => setTimeout(resolve, 30));
    await held.removeFile();
    using taken = await waiting;
    const named = await Deno.stat(path);
    assert.ok(named.isFile);
    // Whoever comes next must conflict with the lock just taken: it is on the named file.
    assert.equal(await tryLock(path, { exclusive: true }), undefined);
    assert.ok(taken.held);
  }));

Deno.test("a lock held by a process killed with SIGKILL is free again", () =>
  withTempDir(async (dir) => {
    const path = join(dir, "a");
    const script = `
      const file = await Deno.open(${
      JSON.stringify(path)
    }, { read: true, write: true, create: true });
      await file.lock(true);
      console.log("locked");
      setInterval(() => {}, 1000);
    `;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", script],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reader = child.stdout.getReader();
    const { value } = await reader.read();
    assert.match(new TextDecoder().decode(value), /locked/);
    assert.equal(await tryLock(path, { exclusive: false }), undefined);
    child.kill("SIGKILL");
    await child.status;
    reader.releaseLock();
    await child.stdout.cancel();
    using lock = await acquireLock(path, { exclusive: true });
    assert.ok(lock.held);
  }));

Deno.test("a lock opened for writing lends its handle; a read-only one does not", () =>
  withTempDir(async (dir) => {
    const path = join(dir, "part");
    using writing = await tryLock(path, { exclusive: true });
    const handle = writing?.writableFile;
    assert.ok(handle);
    handle.writeSync(new TextEncoder().encode("through the lock"));
    assert.equal(await Deno.readTextFile(path), "through the lock");
    writing?.release();
    assert.equal(writing?.writableFile, undefined, "a released lock lends nothing");
    using reading = await tryLock(path, { exclusive: false, create: false });
    assert.equal(reading?.writableFile, undefined);
  }));

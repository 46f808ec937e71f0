import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { hashFile, hashFiles, sha512Backend } from "./digest.ts";
import { describeFsError } from "./fs_error.ts";
import {
  HashWorkerPool,
  hashWorkers,
  WORKER_MIN_BYTES,
  WorkerUnavailableError,
} from "./hash_pool.ts";
import { withTempDir } from "../test/helpers/temp.ts";

function bytes(length: number, seed: number): Uint8Array {
  return new Uint8Array(length).map((_, i) => (i * 31 + seed) % 251);
}

function expected(data: Uint8Array): string {
  return createHash("sha512").update(data).digest("hex");
}

Deno.test("a hash worker gives the same digest and size as the main thread, across chunks", () =>
  withTempDir(async (dir) => {
    const pool = new HashWorkerPool({ minBytes: 1 });
    const sizes = [0, 1, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 17];
    for (const [index, size] of sizes.entries()) {
      await Deno.writeFile(join(dir, `f${index}`), bytes(size, index));
    }
    assert.equal(pool.takes(10), false, "no worker outside a scope");
    const results = await pool.open(() => {
      assert.equal(pool.takes(10), true);
      return Promise.all(sizes.map((_, index) => pool.hash(join(dir, `f${index}`))));
    });
    results.forEach((result, index) => {
      const size = sizes[index]!;
      assert.equal(result.size, size);
      assert.equal(result.digest, expected(bytes(size, index)));
    });
    assert.equal(pool.workers, 0, "every worker ends with the last scope");
  }));

Deno.test("a worker's file error comes back as the file system error it was", () =>
  withTempDir(async (dir) => {
    const pool = new HashWorkerPool({ minBytes: 1 });
    const error = await pool.open(() => pool.hash(join(dir, "missing")).catch((e) => e));
    assert.ok(error instanceof Deno.errors.NotFound, String(error));
    assert.equal((error as { code?: string }).code, "ENOENT");
    const local = await Deno.open(join(dir, "missing")).catch((e) => e);
    assert.equal(describeFsError(error), describeFsError(local));
  }));

Deno.test("aborting a worker's hash rejects at once with the signal's reason", () =>
  withTempDir(async (dir) => {
    const pool = new HashWorkerPool({ minBytes: 1, maxWorkers: 1 });
    await Deno.writeFile(join(dir, "a"), bytes(1 << 20, 1));
    const controller = new AbortController();
    await pool.open(async () => {
      const first = pool.hash(join(dir, "a"), { signal: controller.signal });
      const queued = pool.hash(join(dir, "a"), { signal: controller.signal });
      controller.abort(new Error("stop"));
      await assert.rejects(first, /stop/);
      await assert.rejects(queued, /stop/);
      // The pool still serves after an abort ended a worker.
      assert.equal((await pool.hash(join(dir, "a"))).size, 1 << 20);
    });
    assert.equal(pool.workers, 0);
  }));

Deno.test("a worker module that cannot load makes the pool step aside for good", () =>
  withTempDir(async (dir) => {
    const pool = new HashWorkerPool({
      minBytes: 1,
      url: new URL("data:text/javascript,throw new Error('this worker cannot start')"),
    });
    await Deno.writeFile(join(dir, "a"), bytes(10, 1));
    await pool.open(async () => {
      await assert.rejects(pool.hash(join(dir, "a")), WorkerUnavailableError);
      assert.equal(pool.takes(10), false, "callers hash on their own thread from now on");
    });
    assert.equal(pool.workers, 0);
  }));

Deno.test("hashFile() and hashFiles() send big files to the process's workers", () =>
  withTempDir(async (dir) => {
    const big = bytes(WORKER_MIN_BYTES + 5, 3);
    const small = bytes(1000, 4);
    await Deno.writeFile(join(dir, "big"), big);
    await Deno.writeFile(join(dir, "small"), small);
    const [first, second] = await hashFiles([join(dir, "big"), join(dir, "small")]);
    assert.deepEqual(first, { digest: expected(big), size: big.length });
    assert.deepEqual(second, { digest: expected(small), size: small.length });
    const single = await hashWorkers.open(() =>
      hashFile(join(dir, "big"), { expectedSize: big.length })
    );
    assert.equal(single.digest, expected(big));
    assert.equal(hashWorkers.workers, 0);
  }));

Deno.test({
  name: "with the node:crypto backend forced, a hash worker does not load libcrypto either",
  // /proc/self/maps tells which libraries a process (all its threads) has loaded.
  ignore: Deno.build.os !== "linux",
  fn: () =>
    withTempDir(async (dir) => {
      const path = join(dir, "big");
      const data = bytes(WORKER_MIN_BYTES, 5);
      await Deno.writeFile(path, data);
      const probe = async (force: boolean) => {
        const code = `
          import { forceNodeBackend, hashFile } from ${
          JSON.stringify(new URL("./digest.ts", import.meta.url).href)
        };
          import { hashWorkers } from ${
          JSON.stringify(new URL("./hash_pool.ts", import.meta.url).href)
        };
          if (${force}) forceNodeBackend();
          const hashed = await hashWorkers.open(() =>
            hashFile(${JSON.stringify(path)}, { expectedSize: ${data.length} })
          );
          const libcrypto = Deno.readTextFileSync("/proc/self/maps").includes("libcrypto");
          console.log(JSON.stringify({ digest: hashed.digest, libcrypto }));
        `;
        const { code: exit, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
          args: ["eval", code],
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.equal(exit, 0, new TextDecoder().decode(stderr));
        return JSON.parse(new TextDecoder().decode(stdout)) as {
          digest: string;
          libcrypto: boolean;
        };
      };
      const forced = await probe(true);
      assert.equal(forced.digest, expected(data));
      assert.equal(forced.libcrypto, false, "TOOLTOOL_SHA512_BACKEND=node means no libcrypto");
      // Not vacuous where libcrypto can be loaded: unforced, the same run loads it.
      const unforced = await probe(false);
      assert.equal(unforced.digest, expected(data));
      assert.equal(unforced.libcrypto, sha512Backend() === "libcrypto");
    }),
});

Deno.test("one abort that ends many jobs starts no worker for the queued ones", async () => {
  // A worker that never answers: every job stays running or queued until the abort.
  const pool = new HashWorkerPool({
    minBytes: 1,
    maxWorkers: 1,
    url: new URL("data:text/javascript,self.onmessage = () => {}"),
  });
  const Original = globalThis.Worker;
  let started = 0;
  globalThis.Worker = class extends Original {
    constructor(...args: ConstructorParameters<typeof Worker>) {
      super(...args);
      started++;
    }
  };
  try {
    const controller = new AbortController();
    await pool.open(async () => {
      const jobs = Array.from({ length: 4 }, () => pool.hash("x", { signal: controller.signal }));
      assert.equal(started, 1);
      controller.abort(new Error("stop"));
      for (const job of jobs) await assert.rejects(job, /stop/);
    });
    assert.equal(started, 1, "the queued jobs' own listeners reject them; none gets a worker");
    assert.equal(pool.workers, 0);
  } finally {
    globalThis.Worker = Original;
  }
});

/**
 * End-to-end: an unpack stopped by a signal or killed outright leaves nothing behind for
 * long — SIGTERM during an in-process `.tar.bz2` unpack ends the run promptly with 130 and
 * removes its folder; a SIGKILLed unpack's folder is removed by the next fetch, while the
 * folder of a live unpack is never touched by a concurrent fetch.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { isUnpackTempName } from "../src/temp_names.ts";
import { hasProgram, zerosTarBz2 } from "./helpers/archives.ts";
import { runTool } from "./cli.ts";
import {
  FAST_ENV,
  type FetchFixture,
  listNames,
  spawnTool,
  waitFor,
  withFetchFixture,
} from "./fetch_fixture.ts";

/** 80 x 8 MiB of zeros: about 6 s to unpack with the in-process bzip2 decoder here. */
const PIECES = 80;
const haveBzip2 = hasProgram("bzip2", ["--help"]);

async function unpackTemps(dir: string): Promise<string[]> {
  return (await listNames(dir)).filter(isUnpackTempName);
}

/** Serves the slow archive, lists it (unpack) in the manifest, and starts a fetch of it. */
async function startSlowUnpack(fx: FetchFixture, emptyPath: string): Promise<Deno.ChildProcess> {
  const content = await zerosTarBz2(PIECES);
  const { digest, size } = await fx.server.addFile(content);
  await fx.writeManifest([{ filename: "zeros.tar.bz2", content, digest, size, unpack: true }]);
  // No lbzip2 or pbzip2 on PATH: the in-process decoder, whatever this machine has installed.
  const child = spawnTool(["--url", fx.server.url, "fetch"], {
    cwd: fx.work,
    env: { PATH: emptyPath },
  });
  await waitFor(async () => (await unpackTemps(fx.work)).length > 0, "the unpack to start");
  return child;
}

async function emptyDir(fx: FetchFixture): Promise<string> {
  const path = join(fx.root, "empty-path");
  await Deno.mkdir(path, { recursive: true });
  return path;
}

Deno.test({
  name: "SIGTERM during an in-process .tar.bz2 unpack exits 130 at once and leaves no temp folder",
  ignore: !haveBzip2,
  fn: () =>
    withFetchFixture({}, async (fx) => {
      const child = await startSlowUnpack(fx, await emptyDir(fx));
      // Well into the decoding, which has by then long stopped reading its 7 KB of input.
      await new Promise((resolve) => setTimeout(resolve, 500));
      const sent = performance.now();
      child.kill("SIGTERM");
      const { code, stderr } = await child.output();
      const elapsedMs = performance.now() - sent;
      assert.equal(code, 130, new TextDecoder().decode(stderr));
      assert.ok(elapsedMs < 1500, `exited ${Math.round(elapsedMs)} ms after SIGTERM`);
      assert.deepEqual(await unpackTemps(fx.work), []);
      assert.deepEqual(await listNames(fx.work), ["manifest.tt", "zeros.tar.bz2"]);
    }),
});

Deno.test({
  name: "a SIGKILLed unpack's temp folder is removed by the next fetch, a live one's never",
  ignore: !haveBzip2,
  fn: () =>
    withFetchFixture({}, async (fx) => {
      const empty = join(fx.root, "empty.tt");
      await Deno.writeTextFile(empty, "[]");
      const other = ["--url", fx.server.url, "-m", empty, "fetch"];

      // A live unpack: a fetch in the same directory leaves its folder alone.
      const live = await startSlowUnpack(fx, await emptyDir(fx));
      const [folder] = await unpackTemps(fx.work);
      const concurrent = await runTool(other, { cwd: fx.work, env: FAST_ENV });
      assert.equal(concurrent.code, 0, concurrent.stderr);
      assert.deepEqual(await unpackTemps(fx.work), [folder], "a live unpack's folder was removed");

      // Killed outright: its folder stays until the next fetch proves it abandoned.
      live.kill("SIGKILL");
      await live.output();
      assert.deepEqual(await unpackTemps(fx.work), [folder]);
      const next = await runTool([...other, "-v"], { cwd: fx.work, env: FAST_ENV });
      assert.equal(next.code, 0, next.stderr);
      assert.deepEqual(await unpackTemps(fx.work), []);
      assert.match(
        next.stderr,
        /^Removed \.tooltool-unpack-\S+, left behind by an interrupted unpack$/m,
      );
    }),
});

import assert from "node:assert/strict";
import { startTicker } from "./ticker.ts";

const wait = (ms: number) =>
  new Promise<void>((resolve) => AbortSignal.timeout(ms).onabort = () => resolve());

Deno.test("startTicker() ticks until stopped, and not after", async () => {
  let ticks = 0;
  const ticker = startTicker(() => ticks++, 5);
  await wait(60);
  ticker.stop();
  const seen = ticks;
  assert.ok(seen >= 3, `ticked ${seen} times in 60 ms`);
  await wait(30);
  assert.equal(ticks, seen);
  ticker.stop();
});

Deno.test("startTicker() waits a whole period before the first tick", async () => {
  let ticks = 0;
  const ticker = startTicker(() => ticks++, 200);
  await wait(20);
  ticker.stop();
  assert.equal(ticks, 0);
});

Deno.test("startTicker() stopped from inside a tick ticks no more", async () => {
  let ticks = 0;
  const ticker = startTicker(() => {
    ticks++;
    ticker.stop();
  }, 2);
  await wait(40);
  assert.equal(ticks, 1);
});

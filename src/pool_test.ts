import assert from "node:assert/strict";
import { forEachConcurrently, forEachFromBothEnds } from "./pool.ts";

/** A task that records how many ran at once and which items it saw. */
function tracker() {
  let active = 0;
  const state = { peak: 0, seen: [] as number[] };
  const task = async (item: number) => {
    active++;
    state.peak = Math.max(state.peak, active);
    state.seen.push(item);
    await new Promise((resolve) => setTimeout(resolve, 1));
    active--;
  };
  return { state, task };
}

Deno.test("forEachConcurrently() runs each item once, at most `limit` at once", async () => {
  const { state, task } = tracker();
  await forEachConcurrently([5, 4, 3, 2, 1, 0], 2, task);
  assert.deepEqual([...state.seen].sort(), [0, 1, 2, 3, 4, 5]);
  assert.equal(state.peak, 2);
});

Deno.test("forEachFromBothEnds() runs every item exactly once, whatever the lane counts", async () => {
  for (const [lanes, smallLanes] of [[1, 0], [1, 5], [4, 12], [0, 3], [20, 20]]) {
    const items = [100, 90, 50, 20, 9, 8, 5, 3, 2, 1];
    const { state, task } = tracker();
    await forEachFromBothEnds(items, {
      lanes: lanes!,
      smallLanes: smallLanes!,
      isSmall: (n) => n < 10,
    }, task);
    assert.deepEqual([...state.seen].sort((a, b) => a - b), [...items].sort((a, b) => a - b));
  }
});

Deno.test("forEachFromBothEnds() gives the extra lanes only small items", async () => {
  const big = [100, 90, 80, 70, 60];
  const { state, task } = tracker();
  await forEachFromBothEnds([...big, 5, 4, 3, 2, 1], {
    lanes: 1,
    smallLanes: 3,
    isSmall: (n) => n < 10,
  }, task);
  // One lane for the big files, three more for the small ones at once.
  assert.equal(state.peak, 4);
  assert.equal(state.seen[0], 100, "the front lane starts with the largest");
  const { state: onlyBig, task: bigTask } = tracker();
  await forEachFromBothEnds(big, { lanes: 2, smallLanes: 8, isSmall: (n) => n < 10 }, bigTask);
  assert.equal(onlyBig.peak, 2, "no extra lane takes a big item");
});

Deno.test("forEachFromBothEnds() with no items does nothing", async () => {
  const { state, task } = tracker();
  await forEachFromBothEnds([], { lanes: 4, smallLanes: 4, isSmall: () => true }, task);
  assert.deepEqual(state.seen, []);
});

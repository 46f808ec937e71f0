/**
 * A bounded pool of concurrent async tasks: downloads, hashes and uploads all go through it.
 *
 * @module
 */

/** Runs `task` over `items` with at most `limit` running at once. */
export async function forEachConcurrently<T>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  async function lane(): Promise<void> {
    while (next < items.length) {
      const index = next++;
      await task(items[index] as T, index);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

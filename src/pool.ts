/**
 * A bounded pool of concurrent async tasks: downloads, hashes and uploads all go through it.
 *
 * @module
 */

/** Runs `task` over `items` with at most `limit` running at once. */
export function forEachConcurrently<T>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<void>,
): Promise<void> {
  return forEachFromBothEnds(items, { lanes: limit, smallLanes: 0, isSmall: () => false }, task);
}

/** Lanes of `forEachFromBothEnds`. */
export interface BothEndsLanes<T> {
  /** Lanes that take any item, from the front of the list. */
  readonly lanes: number;
  /** Further lanes that take only `isSmall` items, from the back. */
  readonly smallLanes: number;
  readonly isSmall: (item: T) => boolean;
}

/**
 * Runs `task` over `items` (ordered largest first) with `lanes` lanes working down from the
 * front and `smallLanes` more working up from the back, the latter only while the item there
 * is small. Many small files are bound by round trips, not bandwidth, so they gain from many
 * in flight; a big file in each of those lanes would only split the bandwidth further and
 * hold a download buffer each.
 */
export async function forEachFromBothEnds<T>(
  items: readonly T[],
  { lanes, smallLanes, isSmall }: BothEndsLanes<T>,
  task: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let front = 0;
  let back = items.length - 1;
  async function fromFront(): Promise<void> {
    while (front <= back) {
      const index = front++;
      await task(items[index] as T, index);
    }
  }
  async function fromBack(): Promise<void> {
    while (front <= back && isSmall(items[back] as T)) {
      const index = back--;
      await task(items[index] as T, index);
    }
  }
  await Promise.all([
    ...Array.from({ length: Math.min(Math.max(1, lanes), items.length) }, fromFront),
    ...Array.from({ length: Math.max(0, smallLanes) }, fromBack),
  ]);
}

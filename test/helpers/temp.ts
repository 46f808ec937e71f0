/**
 * Temporary directories for tests: made fresh, given by their real path (macOS's /tmp is a
 * symlink), removed afterwards whatever happened.
 *
 * @module
 */

/** Runs `fn` in a fresh temporary directory, removed afterwards. */
export async function withTempDir<T>(
  fn: (dir: string) => Promise<T>,
  prefix = "tooltool-test-",
): Promise<T> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix }));
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

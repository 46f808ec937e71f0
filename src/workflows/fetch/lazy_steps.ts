/**
 * Steps of a fetch loaded by the first record that needs them.
 *
 * @module
 */

/**
 * The download step, with the HTTP client, the hashing sink, the watchdog and the retry
 * code under it: a third of a fetch's modules. A fetch that finds every file present or
 * in the cache (most reruns in CI) never loads them; loading costs a few milliseconds at
 * the first download instead.
 */
export function downloadStep(): Promise<typeof import("./download_step.ts")> {
  return import("./download_step.ts");
}

/**
 * Starts loading the download step without waiting for it, for a fetch that will likely
 * need it: its files are read while other set-up runs. A failure shows at the first use.
 */
export function preloadDownloadStep(): void {
  downloadStep().catch(() => {});
}

/**
 * Helpers for the unit tests of `src/transport/download*.ts`: a fake server holding one file,
 * with download options for it, and a fetch stub that answers from a table of routes.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { type FakeServer, startFakeServer } from "../fake_server/server.ts";
import { ApiClient } from "../../src/transport/http.ts";
import type { Sha512 } from "../../src/sha512.ts";
import type { DownloadOptions } from "../../src/transport/download.ts";
import type { DownloadSource } from "../../src/transport/download_source.ts";
import { randomBytes } from "./data.ts";

/** A backoff short enough for tests. */
export const FAST = { baseMs: 1, maxMs: 5 };

/** A source that asks the fake server at `url` for the current test's file. */
export function sourceFor(url: string): DownloadSource {
  const client = new ApiClient({
    baseUrl: url,
    credentials: { kind: "none" },
    fetch: globalThis.fetch,
    env: () => undefined,
  });
  return { name: url, resolve: () => client.resolveDownload(DIGEST_HOLDER.digest) };
}

/** The digest the current test's sources resolve (set per test). */
const DIGEST_HOLDER = { digest: "" };

/** What `withDownload` gives a test. */
export interface DownloadSetup {
  readonly server: FakeServer;
  readonly dir: string;
  readonly content: Uint8Array;
  readonly digest: Sha512;
  readonly options: (extra?: Partial<DownloadOptions>) => DownloadOptions;
}

/** Runs `fn` with a fake server that holds `size` random bytes, then closes it. */
export async function withDownload(
  size: number,
  fn: (setup: DownloadSetup) => Promise<void>,
): Promise<void> {
  const server = await startFakeServer();
  const dir = await Deno.makeTempDir({ prefix: "tooltool-transfer-" });
  try {
    const content = randomBytes(size);
    const { digest } = await server.addFile(content);
    DIGEST_HOLDER.digest = digest;
    const options = (extra: Partial<DownloadOptions> = {}): DownloadOptions => ({
      filename: "tool.bin",
      digest: digest as Sha512,
      size,
      sources: [sourceFor(server.url)],
      fetch: globalThis.fetch,
      signal: new AbortController().signal,
      backoff: FAST,
      stallTimeoutMs: 2_000,
      ...extra,
    });
    await fn({ server, dir, content, digest: digest as Sha512, options });
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** The requests the server saw at its storage origin. */
export function storageRequests(server: FakeServer) {
  return server.requests.filter((request) => request.origin === "storage");
}

/** Download options whose fetch answers from `routes` (URL -> response) and records URLs. */
export function routedDownload(
  dir: string,
  content: Uint8Array<ArrayBuffer>,
  digest: Sha512,
  routes: Record<string, () => Response>,
  sources: readonly string[],
) {
  const seen: string[] = [];
  const fetch = ((input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input instanceof Request ? input.url : input);
    seen.push(url);
    assert.equal(init?.redirect, "manual", "fetch must never follow redirects itself");
    const route = routes[url];
    return Promise.resolve(route ? route() : new Response(content, { status: 200 }));
  }) as typeof globalThis.fetch;
  const options: DownloadOptions = {
    filename: "tool.bin",
    digest,
    size: content.length,
    sources: sources.map((url) => ({ name: url, resolve: () => Promise.resolve(new URL(url)) })),
    fetch,
    signal: new AbortController().signal,
    backoff: FAST,
    stallTimeoutMs: 2_000,
  };
  return { seen, options, path: join(dir, "out") };
}

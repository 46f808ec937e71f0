/**
 * Helpers for the unit tests of the fetch engine (`src/workflows/fetch/`): a fake server
 * holding one file per record, a working directory, and `FetchOptions` for them whose log is
 * captured.
 *
 * @module
 */

import { join } from "node:path";
import { type FakeServer, startFakeServer } from "../fake_server/server.ts";
import { ApiClient } from "../../src/transport/http.ts";
import type { FileRecord, SafeFilename } from "../../src/manifest/manifest.ts";
import type { Sha512 } from "../../src/sha512.ts";
import { ProgressModel } from "../../src/progress.ts";
import type { FetchOptions } from "../../src/workflows/fetch/types.ts";
import { patternBytes } from "./data.ts";

/** What `withSetup` gives a test. */
export interface Setup {
  readonly server: FakeServer;
  readonly dir: string;
  readonly records: FileRecord[];
  readonly contents: Map<string, Uint8Array>;
  readonly messages: string[];
  readonly options: (extra?: Partial<FetchOptions>) => FetchOptions;
}

/**
 * Runs `fn` with a fake server holding a file of each size (named by the key), a `work`
 * folder to fetch into, and options whose info and warnings go to `messages`; then cleans up.
 */
export async function withSetup(
  sizes: Record<string, number>,
  fn: (setup: Setup) => Promise<void>,
): Promise<void> {
  const server = await startFakeServer();
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "tooltool-fetch-" }));
  try {
    const records: FileRecord[] = [];
    const contents = new Map<string, Uint8Array>();
    for (const [index, [filename, size]] of Object.entries(sizes).entries()) {
      const content = patternBytes(index + 1, size);
      const { digest } = await server.addFile(content);
      contents.set(filename, content);
      records.push({
        filename: filename as SafeFilename,
        size,
        algorithm: "sha512",
        digest: digest as Sha512,
      });
    }
    const messages: string[] = [];
    const client = new ApiClient({
      baseUrl: server.url,
      credentials: { kind: "none" },
      fetch: globalThis.fetch,
      env: () => undefined,
    });
    const options = (extra: Partial<FetchOptions> = {}): FetchOptions => ({
      cwd: join(dir, "work"),
      jobs: 4,
      rehash: false,
      sources: (record) => [{
        name: server.url,
        resolve: () => client.resolveDownload(record.digest),
      }],
      fetch: globalThis.fetch,
      signal: new AbortController().signal,
      backoff: { baseMs: 1, maxMs: 5 },
      model: new ProgressModel(),
      log: {
        info: (message) => messages.push(message),
        debug: () => {},
        warn: (message) => messages.push(`warning: ${message}`),
      },
      unpacker: () => Promise.reject(new Error("no unpacking in this test")),
      ...extra,
    });
    await Deno.mkdir(join(dir, "work"));
    await fn({ server, dir, records, contents, messages, options });
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** How many GETs reached the server's storage origin. */
export function storageGets(server: FakeServer): number {
  return server.requests.filter((request) => request.origin === "storage").length;
}

/** The names in a folder, sorted. */
export async function listDir(path: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(path))).map((entry) => entry.name).sort();
}

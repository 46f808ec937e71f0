/**
 * Shared set-up of the `fetch` and `purge` end-to-end tests: a fake server in the test
 * process holding some files, a working directory with a manifest for them, a cache
 * folder, and the CLI run as a subprocess against the server.
 *
 * @module
 */

import { join } from "node:path";
import { baseEnv, runTool, tempDir, toolCommand, type ToolRun } from "./cli.ts";
import { type FakeServer, type FakeServerOptions, startFakeServer } from "./fake_server/server.ts";

/** Environment every test run gets: quick retries and stalls, so failures cost little time. */
export const FAST_ENV: Record<string, string> = {
  TOOLTOOL_RETRY_BASE_MS: "10",
  TOOLTOOL_STALL_TIMEOUT_MS: "2000",
};

/** One file the server holds and the manifest lists. */
export interface FixtureFile {
  readonly filename: string;
  readonly content: Uint8Array;
  readonly digest: string;
  readonly size: number;
}

/** What a test gets. */
export interface FetchFixture {
  readonly server: FakeServer;
  /** A temp root holding `work/` and `cache/`. */
  readonly root: string;
  /** The working directory the CLI runs in, with `manifest.tt`. */
  readonly work: string;
  /** A cache folder path (not created). */
  readonly cache: string;
  readonly files: readonly FixtureFile[];
  /** The file called `name`. */
  file(name: string): FixtureFile;
  /** Runs `tooltool --url <server> ARGS` in `work` (or `cwd`). */
  run(
    args: readonly string[],
    options?: { env?: Record<string, string>; cwd?: string },
  ): Promise<ToolRun>;
  /** Writes a manifest listing `files` (all by default) into `dir` (default `work`). */
  writeManifest(
    files?: readonly (FixtureFile & { unpack?: boolean })[],
    dir?: string,
  ): Promise<void>;
  /** Storage GETs per digest (downloads started). */
  downloads(digest: string): number;
}

/** Bytes that differ per seed, quick to make in any size. */
export function patternBytes(seed: number, size: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  let state = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i += 4) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    bytes[i] = state & 0xff;
    bytes[i + 1] = (state >>> 8) & 0xff;
    bytes[i + 2] = (state >>> 16) & 0xff;
    bytes[i + 3] = state >>> 24;
  }
  return bytes;
}

/** Starts a server with `sizes` (filename -> bytes), writes the manifest, runs `fn`, cleans up. */
export async function withFetchFixture(
  sizes: Record<string, number | { size: number; visibility: "public" | "internal" }>,
  fn: (fixture: FetchFixture) => Promise<void>,
  serverOptions: FakeServerOptions = {},
): Promise<void> {
  const server = await startFakeServer(serverOptions);
  await using dir = await tempDir("tooltool-fetch-e2e-");
  try {
    const work = join(dir.path, "work");
    await Deno.mkdir(work);
    const files: FixtureFile[] = [];
    for (const [index, [filename, spec]] of Object.entries(sizes).entries()) {
      const size = typeof spec === "number" ? spec : spec.size;
      const visibility = typeof spec === "number" ? "public" : spec.visibility;
      const content = patternBytes(index + 1, size);
      const { digest } = await server.addFile(content, { visibility });
      files.push({ filename, content, digest, size });
    }
    const fixture: FetchFixture = {
      server,
      root: dir.path,
      work,
      cache: join(dir.path, "cache"),
      files,
      file(name) {
        const found = files.find((file) => file.filename === name);
        if (found === undefined) throw new Error(`no fixture file ${name}`);
        return found;
      },
      run(args, options = {}) {
        return runTool(["--url", server.url, ...args], {
          cwd: options.cwd ?? work,
          env: { ...FAST_ENV, ...options.env },
        });
      },
      async writeManifest(list = files, target = work) {
        const records = list.map((file) => ({
          filename: file.filename,
          size: file.size,
          algorithm: "sha512",
          digest: file.digest,
          ...(file.unpack ? { unpack: true } : {}),
        }));
        await Deno.writeTextFile(join(target, "manifest.tt"), JSON.stringify(records, null, 2));
      },
      downloads(digest) {
        return server.requests.filter((request) =>
          request.origin === "storage" && request.method === "GET" &&
          request.url.includes(digest) && request.status !== 0 && request.status < 300
        ).length;
      },
    };
    await fixture.writeManifest();
    await fn(fixture);
  } finally {
    await server.close();
  }
}

/** Starts the CLI without waiting for it, for tests that signal or kill it midway. */
export function spawnTool(
  args: readonly string[],
  options: { cwd: string; env?: Record<string, string> },
): Deno.ChildProcess {
  const { command, prefix } = toolCommand();
  return new Deno.Command(command, {
    args: [...prefix, ...args],
    cwd: options.cwd,
    env: baseEnv({ ...FAST_ENV, ...options.env }),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Waits until `condition` holds, polling; throws after `timeoutMs`. */
export async function waitFor(
  condition: () => Promise<boolean> | boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Names in a directory, sorted; [] when it does not exist. */
export async function listNames(path: string): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(path))).map((entry) => entry.name).sort();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

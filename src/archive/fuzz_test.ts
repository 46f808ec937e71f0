/**
 * Property tests: valid fixtures (testdata/, see its README) damaged at random by bit flips,
 * truncations, insertions and deletions must end, within a time bound, either in a correct
 * extraction or in one clear error of the documented type — never a crash with another
 * error, never a hang, never a file outside the destination. Seeds are fixed so that runs are
 * repeatable; fast-check prints the seed and path of a failing case, and `FUZZ_SEED=<n>`
 * explores other cases locally.
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { ArchiveError, unpackArchive } from "./unpack.ts";
import { decompressBzip2 } from "./bzip2.ts";
import { EntryProblem } from "./safety.ts";

const seed = Number(Deno.env.get("FUZZ_SEED") ?? 0x7001);
/** Far above what any case takes (a few ms): only a hang gets near it. */
const caseTimeoutMs = 10_000;

function fixture(name: string): Uint8Array {
  return Deno.readFileSync(new URL(`./testdata/${name}`, import.meta.url));
}

type Mutation =
  | { readonly kind: "flip"; readonly at: number; readonly bit: number }
  | { readonly kind: "set"; readonly at: number; readonly value: number }
  | { readonly kind: "truncate"; readonly at: number }
  | { readonly kind: "insert"; readonly at: number; readonly bytes: Uint8Array }
  | { readonly kind: "delete"; readonly at: number; readonly length: number };

/**
 * One to four mutations. Positions are fractions of the length, so they apply to whatever
 * the earlier mutations left; `hot` bytes at the start (headers) are picked more often.
 */
function mutations(hot: number): fc.Arbitrary<Mutation[]> {
  // Unbiased: fast-check favours values near 0 and 1, which would hit the magic bytes most times.
  const at = fc.oneof(
    // Not fc.double, which is uniform over representations (nearly all below 1e-9).
    { weight: 3, arbitrary: fc.noBias(fc.nat(1_000_000)).map((n) => n / 1_000_000) },
    { weight: 1, arbitrary: fc.noBias(fc.nat(hot)).map((n) => -n - 1) },
  );
  const mutation: fc.Arbitrary<Mutation> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant("flip"), at, bit: fc.nat(7) }) },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant("set"),
        at,
        value: fc.constantFrom(0, 0xff, 0x7f, 0x80, 0x30, 0x2f),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("truncate"), at }) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("insert"),
        at,
        bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("delete"),
        at,
        length: fc.integer({ min: 1, max: 64 }),
      }),
    },
  ) as fc.Arbitrary<Mutation>;
  return fc.array(mutation, { minLength: 1, maxLength: 4 });
}

/** `at` in [0, 1] is a fraction of the length; a negative one counts from the start (-1 is 0). */
function position(at: number, length: number): number {
  const index = at < 0 ? -at - 1 : Math.floor(at * length);
  return Math.min(index, Math.max(0, length - 1));
}

function mutate(data: Uint8Array, list: readonly Mutation[]): Uint8Array {
  let out = data.slice();
  for (const m of list) {
    if (out.length === 0) break;
    const i = position(m.at, out.length);
    switch (m.kind) {
      case "flip":
        out[i]! ^= 1 << m.bit;
        break;
      case "set":
        out[i] = m.value;
        break;
      case "truncate":
        out = out.slice(0, i);
        break;
      case "insert": {
        const next = new Uint8Array(out.length + m.bytes.length);
        next.set(out.subarray(0, i));
        next.set(m.bytes, i);
        next.set(out.subarray(i), i + m.bytes.length);
        out = next;
        break;
      }
      case "delete": {
        const rest = out.subarray(Math.min(out.length, i + m.length));
        const next = new Uint8Array(i + rest.length);
        next.set(out.subarray(0, i));
        next.set(rest, i);
        out = next;
        break;
      }
    }
  }
  return out;
}

/** Rejects when `promise` takes longer than {@link caseTimeoutMs}: the case hung. */
async function bounded<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} hung for ${caseTimeoutMs} ms`)),
      caseTimeoutMs,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A failure must be one line naming what went wrong, not an internal error's text. */
function assertClearMessage(message: string): void {
  assert.ok(!message.includes("\n"), `message on several lines: ${message}`);
  assert.ok(!/undefined|\[object|NaN/.test(message), `unclear message: ${message}`);
}

Deno.test("decompressBzip2() on damaged streams ends in EntryProblem or correct data", async () => {
  const bases = ["small.bz2", "concatenated.bz2", "multi_block.bz2"].map(fixture);
  await fc.assert(
    fc.asyncProperty(fc.nat(bases.length - 1), mutations(64), async (which, list) => {
      const data = mutate(bases[which]!, list);
      const decode = async () => {
        let length = 0;
        const source = (async function* () {
          yield data;
        })();
        for await (const chunk of decompressBzip2(source)) length += chunk.length;
        return length;
      };
      try {
        await bounded(decode(), "bzip2 decoding");
      } catch (error) {
        if (!(error instanceof EntryProblem)) throw error;
        assert.match(error.message, /^corrupt bzip2 data: /);
        assertClearMessage(error.message);
      }
    }),
    { seed, numRuns: 500 },
  );
});

/** Every path under `root`, relative, with symbolic links listed but not followed. */
function walk(root: string, relative = ""): string[] {
  const paths: string[] = [];
  for (const entry of Deno.readDirSync(relative === "" ? root : `${root}/${relative}`)) {
    const path = relative === "" ? entry.name : `${relative}/${entry.name}`;
    paths.push(path);
    if (entry.isDirectory) paths.push(...walk(root, path));
  }
  return paths;
}

/** Whether the link at `path` (inside `root`) points inside `root`, dangling or not. */
function linkStaysInside(root: string, path: string): boolean {
  try {
    const real = Deno.realPathSync(`${root}/${path}`);
    return real === root || real.startsWith(`${root}/`);
  } catch {
    // Dangling: judge the target lexically from the link's directory.
    const target = Deno.readLinkSync(`${root}/${path}`);
    if (target.startsWith("/")) return false;
    const stack = path.split("/").slice(0, -1);
    for (const part of target.split("/")) {
      if (part === "..") {
        if (stack.pop() === undefined) return false;
      } else if (part !== "" && part !== ".") stack.push(part);
    }
    return true;
  }
}

/**
 * Unpacks each damaged archive with {@link unpackArchive} into `sandbox/work`, the archive
 * itself beside it. Success or an {@link ArchiveError}, and in both cases nothing but the
 * archive and `work` in the sandbox; after a failure `work` is empty.
 */
async function fuzzUnpack(
  name: string,
  options: { hot: number; numRuns: number; preferExternalTools?: boolean },
): Promise<void> {
  const base = fixture(name);
  const sandbox = Deno.realPathSync(await Deno.makeTempDir({ prefix: "tooltool-fuzz-" }));
  const work = `${sandbox}/work`;
  const archive = `${sandbox}/${name}`;
  try {
    await fc.assert(
      fc.asyncProperty(mutations(options.hot), async (list) => {
        Deno.mkdirSync(work);
        try {
          Deno.writeFileSync(archive, mutate(base, list));
          let failed = false;
          try {
            await bounded(
              unpackArchive(archive, work, {
                preferExternalTools: options.preferExternalTools ?? false,
              }),
              `unpacking ${name}`,
            );
          } catch (error) {
            if (!(error instanceof ArchiveError)) throw error;
            // unpackArchive() wraps any error; a reader's own must be an EntryProblem.
            if (error.cause !== undefined && !(error.cause instanceof EntryProblem)) throw error;
            assert.ok(error.message.startsWith(`Cannot unpack "${name}": `), error.message);
            assertClearMessage(error.message);
            failed = true;
          }
          assert.deepEqual(walk(sandbox).filter((p) => !p.startsWith("work/")).sort(), [
            name,
            "work",
          ]);
          const extracted = walk(work);
          if (failed) assert.deepEqual(extracted, [], "a failed unpack left files behind");
          for (const path of extracted) {
            if (Deno.lstatSync(`${work}/${path}`).isSymlink) {
              assert.ok(linkStaysInside(work, path), `link ${path} leaves the destination`);
            }
          }
        } finally {
          Deno.removeSync(work, { recursive: true });
        }
      }),
      { seed, numRuns: options.numRuns },
    );
  } finally {
    Deno.removeSync(sandbox, { recursive: true });
  }
}

Deno.test("unpackArchive() on a damaged GNU tar stays inside the destination or fails clearly", async () => {
  await fuzzUnpack("tree_gnu.tar", { hot: 4096, numRuns: 200 });
});

Deno.test("unpackArchive() on a damaged pax .tar.bz2 stays inside the destination or fails clearly", async () => {
  await fuzzUnpack("tree_pax.tar.bz2", { hot: 64, numRuns: 150 });
});

Deno.test("unpackArchive() on a damaged zip stays inside the destination or fails clearly", async () => {
  await fuzzUnpack("tree.zip", { hot: 64, numRuns: 150 });
});

Deno.test("unpackArchive() on a damaged zip64 streamed zip stays inside the destination or fails clearly", async () => {
  await fuzzUnpack("streamed.zip", { hot: 128, numRuns: 200 });
});

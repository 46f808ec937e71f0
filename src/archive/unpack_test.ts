import assert from "node:assert/strict";
import {
  archiveBaseName,
  ArchiveError,
  type ArchiveFormat,
  detectArchiveFormat,
  sniffFormat,
  unpackArchive,
} from "./unpack.ts";
import { ToolError } from "../errors.ts";
import {
  hasProgram,
  listDirectory,
  run,
  snapshot,
  tar,
  zerosTarBz2,
  zip,
} from "../../test/helpers/archives.ts";
import { withTempDir } from "../../test/helpers/temp.ts";

const tools = {
  tar: hasProgram("tar"),
  gzip: hasProgram("gzip"),
  bzip2: hasProgram("bzip2", ["--help"]),
  xz: hasProgram("xz"),
  zstd: hasProgram("zstd"),
  zip: hasProgram("zip", ["-v"]),
};

Deno.test("archiveBaseName() strips the archive suffixes tooltool uses", () => {
  assert.deepEqual(
    [
      "clang.tar.xz",
      "gcc-9.3.0.tar.gz",
      "a.tgz",
      "b.tar.bz2",
      "c.tar.zst",
      "d.zip",
      "e.tar",
      "f.TAR.GZ",
      "dir/g.tar.xz",
      "rustc.bin",
      "plain",
    ].map(archiveBaseName),
    ["clang", "gcc-9.3.0", "a", "b", "c", "d", "e", "f", "dir/g", "rustc", "plain"],
  );
});

Deno.test("sniffFormat() recognises each format by its magic bytes", () => {
  const bytes = (...values: number[]) => new Uint8Array(values);
  assert.equal(sniffFormat(bytes(0x1f, 0x8b, 8)), "tar.gz");
  assert.equal(sniffFormat(new TextEncoder().encode("BZh91AY")), "tar.bz2");
  assert.equal(sniffFormat(bytes(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0)), "tar.xz");
  assert.equal(sniffFormat(bytes(0x28, 0xb5, 0x2f, 0xfd)), "tar.zst");
  assert.equal(sniffFormat(bytes(0x50, 0x2a, 0x4d, 0x18)), "tar.zst");
  assert.equal(sniffFormat(new TextEncoder().encode("PK\x03\x04")), "zip");
  assert.equal(sniffFormat(new TextEncoder().encode("PK\x05\x06")), "zip");
  assert.equal(sniffFormat(tar([{ name: "a" }])), "tar");
  assert.equal(sniffFormat(tar([{ name: "a", format: "v7" }])), "tar");
  assert.equal(sniffFormat(new Uint8Array(512)), undefined);
  assert.equal(sniffFormat(new TextEncoder().encode("hello")), undefined);
});

Deno.test("detectArchiveFormat() trusts content over the name, then falls back to the name", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/really-a-tar.tar.gz`, tar([{ name: "a" }]));
    await Deno.writeFile(`${dir}/short.tar.xz`, new Uint8Array(3));
    await Deno.writeFile(`${dir}/notes.txt`, new TextEncoder().encode("hello"));
    assert.equal(await detectArchiveFormat(`${dir}/really-a-tar.tar.gz`), "tar");
    assert.equal(await detectArchiveFormat(`${dir}/short.tar.xz`), "tar.xz");
    assert.equal(await detectArchiveFormat(`${dir}/notes.txt`), undefined);
  });
});

Deno.test("unpackArchive() removes the base-name directory first, as tooltool.py does", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/clang/old`, { recursive: true });
    await Deno.writeTextFile(`${dir}/clang/old/stale.txt`, "old");
    await Deno.writeFile(
      `${dir}/clang.tar`,
      tar([{ name: "clang/bin/clang", data: "new", mode: 0o755 }]),
    );
    const result = await unpackArchive(`${dir}/clang.tar`, dir);
    assert.deepEqual(result, { format: "tar", entries: 1, bytes: 3 });
    assert.deepEqual(listDirectory(`${dir}/clang`), ["bin"]);
    assert.equal((await Deno.stat(`${dir}/clang/bin/clang`)).mode! & 0o777, 0o755);
    assert.deepEqual(listDirectory(dir), ["clang", "clang.tar"]);
  });
});

Deno.test("unpackArchive() merges other top-level directories and replaces files, like tar", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/shared`);
    await Deno.writeTextFile(`${dir}/shared/keep.txt`, "mine");
    await Deno.writeTextFile(`${dir}/README`, "old");
    await Deno.writeFile(
      `${dir}/tool.tar`,
      tar([{ name: "shared/new.txt", data: "theirs" }, { name: "README", data: "new" }]),
    );
    await unpackArchive(`${dir}/tool.tar`, dir);
    assert.deepEqual(listDirectory(`${dir}/shared`), ["keep.txt", "new.txt"]);
    assert.equal(await Deno.readTextFile(`${dir}/README`), "new");
  });
});

Deno.test("unpackArchive() replaces an existing top-level symbolic link instead of following it", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/outside`);
    await Deno.mkdir(`${dir}/work`);
    await Deno.symlink(`${dir}/outside`, `${dir}/work/bin`);
    await Deno.writeFile(`${dir}/work/t.tar`, tar([{ name: "bin/x", data: "x" }]));
    await unpackArchive(`${dir}/work/t.tar`, `${dir}/work`);
    assert.deepEqual(listDirectory(`${dir}/outside`), []);
    assert.equal((await Deno.lstat(`${dir}/work/bin`)).isDirectory, true);
  });
});

Deno.test("unpackArchive() leaves no half tree and names archive and entry on failure", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/evil`);
    await Deno.writeFile(
      `${dir}/evil.tar`,
      tar([{ name: "evil/ok", data: "fine" }, { name: "evil/../../x", data: "bad" }]),
    );
    await assert.rejects(unpackArchive(`${dir}/evil.tar`, dir), (error: unknown) => {
      assert.ok(error instanceof ArchiveError && error instanceof ToolError);
      assert.equal(
        error.message,
        'Cannot unpack "evil.tar": entry "evil/../../x" leaves the destination',
      );
      assert.equal(error.entry, "evil/../../x");
      assert.equal(error.archive, "evil.tar");
      return true;
    });
    assert.deepEqual(listDirectory(dir), ["evil.tar"]);
  });
});

Deno.test("unpackArchive() refuses an archive kept inside the directory it would remove", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/clang`);
    await Deno.writeFile(`${dir}/clang/clang.tar`, tar([{ name: "clang/x" }]));
    await assert.rejects(
      unpackArchive(`${dir}/clang/clang.tar`, dir),
      /Cannot unpack "clang.tar": it is inside "clang", the directory unpacking replaces/,
    );
    assert.deepEqual(listDirectory(`${dir}/clang`), ["clang.tar"]);
  });
});

Deno.test("unpackArchive() refuses files that are no archive, and missing files", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/notes.txt`, "hello");
    await assert.rejects(
      unpackArchive(`${dir}/notes.txt`, dir),
      /^ArchiveError: Cannot unpack "notes.txt": not a tar or zip archive$/,
    );
    await assert.rejects(
      unpackArchive(`${dir}/gone.tar`, dir),
      /Cannot unpack "gone.tar": cannot read it: /,
    );
    await Deno.writeTextFile(`${dir}/fake.tar.gz`, "\x1f\x8bnot really gzip at all");
    await assert.rejects(
      unpackArchive(`${dir}/fake.tar.gz`, dir),
      /Cannot unpack "fake.tar.gz": corrupt gzip data/,
    );
    assert.deepEqual(listDirectory(dir), ["fake.tar.gz", "notes.txt"]);
  });
});

Deno.test("unpackArchive() stops on abort, throws the reason and cleans up", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/a.tar`, tar([{ name: "a/x", data: "x" }]));
    const controller = new AbortController();
    const reason = new Error("stop");
    controller.abort(reason);
    await assert.rejects(
      unpackArchive(`${dir}/a.tar`, dir, { signal: controller.signal }),
      (e) => e === reason,
    );
    assert.deepEqual(listDirectory(dir), ["a.tar"]);
  });
});

Deno.test("unpackArchive() extracts zip members with modes, links and directories", async () => {
  await withTempDir(async (dir) => {
    const big = new Uint8Array(9 << 20).map((_, i) => (i * 31) % 251);
    await Deno.writeFile(
      `${dir}/tool.zip`,
      zip([
        { name: "tool/", mode: 0o040755 },
        { name: "tool/bin/run", data: "#!/bin/sh\n", mode: 0o100755 },
        { name: "tool/run", data: "bin/run", mode: 0o120777 },
        { name: "tool/stored.txt", data: "plain", method: 0 },
        { name: "tool/big.bin", data: big },
        { name: "tool/big-stored.bin", data: big, method: 0 },
      ]),
    );
    const result = await unpackArchive(`${dir}/tool.zip`, dir);
    assert.equal(result.format, "zip");
    assert.equal(result.entries, 6);
    const tree = snapshot(`${dir}/tool`);
    assert.equal(tree["bin/run"]?.mode, 0o755);
    assert.deepEqual(tree["run"], { type: "symlink", target: "bin/run" });
    assert.equal(await Deno.readTextFile(`${dir}/tool/stored.txt`), "plain");
    assert.deepEqual(await Deno.readFile(`${dir}/tool/big.bin`), big);
    assert.deepEqual(await Deno.readFile(`${dir}/tool/big-stored.bin`), big);
  });
});

Deno.test("unpackArchive() checks zip CRCs and refuses encrypted members", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/bad.zip`, zip([{ name: "bad/x", data: "data", crc: 1 }]));
    await assert.rejects(
      unpackArchive(`${dir}/bad.zip`, dir),
      /Cannot unpack "bad.zip": entry "bad\/x" fails its CRC-32 check/,
    );
    await Deno.writeFile(`${dir}/secret.zip`, zip([{ name: "s/x", data: "data", flags: 1 }]));
    await assert.rejects(unpackArchive(`${dir}/secret.zip`, dir), /entry "s\/x" is encrypted/);
    assert.deepEqual(listDirectory(dir), ["bad.zip", "secret.zip"]);
  });
});

/** A tree with what toolchains hold: executables, read-only files, links, long and non-ASCII names. */
function makeSourceTree(root: string): void {
  const top = `${root}/payload`;
  Deno.mkdirSync(`${top}/bin`, { recursive: true });
  Deno.mkdirSync(`${top}/lib/deep/er/still`, { recursive: true });
  Deno.mkdirSync(`${top}/private`, { mode: 0o750 });
  Deno.chmodSync(`${top}/private`, 0o750);
  Deno.writeTextFileSync(`${top}/bin/tool`, "#!/bin/sh\necho hi\n");
  Deno.chmodSync(`${top}/bin/tool`, 0o755);
  Deno.writeTextFileSync(`${top}/lib/readonly.txt`, "ro");
  Deno.chmodSync(`${top}/lib/readonly.txt`, 0o444);
  Deno.writeTextFileSync(`${top}/empty`, "");
  const noise = new Uint8Array(300_000);
  for (let i = 0, x = 7; i < noise.length; i++) {
    noise[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  }
  Deno.writeFileSync(`${top}/lib/noise.bin`, noise);
  Deno.writeTextFileSync(`${top}/lib/text.txt`, "toolchain ".repeat(50_000));
  const longName = "a-very-long-file-name-".repeat(8) + "end.txt";
  Deno.writeTextFileSync(`${top}/lib/deep/er/still/${longName}`, "long");
  Deno.writeTextFileSync(`${top}/lib/ünïcödé.txt`, "utf-8");
  Deno.symlinkSync("../bin/tool", `${top}/lib/tool-link`);
  Deno.symlinkSync("deep/er", `${top}/lib/dir-link`);
  Deno.utimeSync(`${top}/bin/tool`, 1500000000, 1500000000);
}

const roundTrips: readonly {
  format: ArchiveFormat;
  needs: (keyof typeof tools)[];
  make: string[][];
}[] = [
  { format: "tar", needs: ["tar"], make: [["tar", "-cf", "out.tar", "payload"]] },
  {
    format: "tar",
    needs: ["tar"],
    make: [["tar", "--format=pax", "-cf", "out.tar", "payload"]],
  },
  { format: "tar.gz", needs: ["tar", "gzip"], make: [["tar", "-czf", "out.tar.gz", "payload"]] },
  { format: "tar.bz2", needs: ["tar", "bzip2"], make: [["tar", "-cjf", "out.tar.bz2", "payload"]] },
  { format: "tar.xz", needs: ["tar", "xz"], make: [["tar", "-cJf", "out.tar.xz", "payload"]] },
  {
    format: "tar.zst",
    needs: ["tar", "zstd"],
    make: [["tar", "-cf", "out.tar", "payload"], ["zstd", "-q", "--rm", "out.tar"]],
  },
  { format: "zip", needs: ["zip"], make: [["zip", "-q", "-r", "-y", "out.zip", "payload"]] },
];

for (const { format, needs, make } of roundTrips) {
  for (const preferExternalTools of [true, false]) {
    // Only xz has a different in-process path by default (bzip2 is in-process unless a
    // parallel bzip2 is installed).
    if (!preferExternalTools && format !== "tar.xz") continue;
    const how = preferExternalTools ? "" : " in-process";
    const pax = make[0]!.includes("--format=pax") ? " (pax)" : "";
    Deno.test({
      name: `unpackArchive()${how} extracts ${format}${pax} exactly as the system tools made it`,
      ignore: needs.some((tool) => !tools[tool]),
      async fn() {
        await withTempDir(async (dir) => {
          Deno.mkdirSync(`${dir}/src`);
          makeSourceTree(`${dir}/src`);
          for (const [program, ...args] of make) run(program!, args, `${dir}/src`);
          const archive = `${dir}/src/out.${format}`;
          Deno.mkdirSync(`${dir}/dest`);
          const result = await unpackArchive(archive, `${dir}/dest`, { preferExternalTools });
          assert.equal(result.format, format);
          assert.deepEqual(snapshot(`${dir}/dest/payload`), snapshot(`${dir}/src/payload`));
          if (format !== "zip") {
            assert.equal(
              (await Deno.stat(`${dir}/dest/payload/bin/tool`)).mtime?.getTime(),
              1500000000_000,
            );
          }
        });
      },
    });
  }
}

Deno.test("unpackArchive() refuses a top-level entry that would replace the archive itself", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/tool`, tar([{ name: "tool/bin", data: "x" }]));
    await assert.rejects(
      unpackArchive(`${dir}/tool`, dir),
      /^ArchiveError: Cannot unpack "tool": entry "tool" would replace the archive being unpacked$/,
    );
    assert.deepEqual(listDirectory(dir), ["tool"]);
    assert.equal((await Deno.stat(`${dir}/tool`)).isFile, true);
  });
});

Deno.test("unpackArchive() keeps modes the umask would hide and drops the sticky bit", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeFile(
      `${dir}/m.tar`,
      tar([
        { name: "m/", type: "5", mode: 0o1777 },
        { name: "m/shared", data: "x", mode: 0o666 },
        { name: "m/private", data: "x", mode: 0o600 },
        { name: "m/locked/", type: "5", mode: 0o555 },
      ]),
    );
    await unpackArchive(`${dir}/m.tar`, dir);
    const modes = snapshot(`${dir}/m`);
    assert.equal(modes["shared"]?.mode, 0o666);
    assert.equal(modes["private"]?.mode, 0o600);
    assert.equal(modes["locked"]?.mode, 0o755);
    assert.equal((await Deno.stat(`${dir}/m`)).mode! & 0o7777, 0o777);
  });
});

Deno.test({
  name: "unpackArchive() stops an external decompressor on abort and leaves nothing behind",
  ignore: !tools.xz,
  async fn() {
    await withTempDir(async (dir) => {
      const specs = Array.from({ length: 64 }, (_, i) => ({
        name: `big/f${i}`,
        data: new Uint8Array(256 * 1024).map((_, j) => (i * 31 + j * 17) % 251),
      }));
      await Deno.writeFile(`${dir}/big.tar`, tar(specs));
      run("xz", ["-0", `${dir}/big.tar`]);
      const controller = new AbortController();
      const reason = new Error("interrupted");
      const unpacking = unpackArchive(`${dir}/big.tar.xz`, dir, { signal: controller.signal });
      setTimeout(() => controller.abort(reason), 5);
      await assert.rejects(unpacking, (error) => error === reason);
      assert.deepEqual(listDirectory(dir), ["big.tar.xz"]);
    });
  },
});

Deno.test("unpackArchive() says which base-name directory it removes", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/clang`);
    await Deno.writeFile(`${dir}/clang.tar`, tar([{ name: "clang/x", data: "x" }]));
    const removed: string[] = [];
    await unpackArchive(`${dir}/clang.tar`, dir, { onRemoveBase: (base) => removed.push(base) });
    assert.deepEqual(removed, ["clang"]);
  });
});

for (const [archive, base] of [[".git.tar.gz", ".git"], [".hg.tar", ".hg"], ["...tar", ".."]]) {
  Deno.test(`unpackArchive() refuses to remove the hidden directory "${base}" for "${archive}"`, async () => {
    await withTempDir(async (root) => {
      const dir = `${root}/work`;
      await Deno.mkdir(`${dir}/.git`, { recursive: true });
      await Deno.mkdir(`${dir}/.hg`);
      await Deno.writeTextFile(`${dir}/.git/HEAD`, "ref");
      await Deno.writeTextFile(`${dir}/.hg/requires`, "store");
      await Deno.writeFile(`${dir}/${archive}`, tar([{ name: "x", data: "x" }]));
      const before = snapshot(root);
      await assert.rejects(unpackArchive(`${dir}/${archive}`, dir), (error: unknown) => {
        assert.ok(error instanceof ArchiveError);
        assert.equal(
          error.message,
          `Cannot unpack "${archive}": will not remove the directory "${base}": a hidden directory is never one an unpack left`,
        );
        return true;
      });
      assert.deepEqual(snapshot(root), before);
    });
  });
}

Deno.test("unpackArchive() of a hidden name with nothing there goes ahead", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/.config.tar`, tar([{ name: ".config/a", data: "a" }]));
    await unpackArchive(`${dir}/.config.tar`, dir);
    assert.equal(await Deno.readTextFile(`${dir}/.config/a`), "a");
  });
});

Deno.test("unpackArchive() leaves a file or a symbolic link named like the base, unless the archive holds that name", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/outside`);
    await Deno.writeTextFile(`${dir}/outside/keep`, "keep");
    await Deno.mkdir(`${dir}/work`);
    await Deno.writeTextFile(`${dir}/work/notes`, "mine");
    await Deno.symlink(`${dir}/outside`, `${dir}/work/clang`);
    await Deno.writeFile(`${dir}/work/notes.tar`, tar([{ name: "other/a", data: "a" }]));
    await Deno.writeFile(`${dir}/work/clang.tar`, tar([{ name: "bin/clang", data: "c" }]));
    await unpackArchive(`${dir}/work/notes.tar`, `${dir}/work`);
    await unpackArchive(`${dir}/work/clang.tar`, `${dir}/work`);
    assert.equal(await Deno.readTextFile(`${dir}/work/notes`), "mine");
    assert.ok((await Deno.lstat(`${dir}/work/clang`)).isSymlink);
    assert.deepEqual(listDirectory(`${dir}/outside`), ["keep"]);
    // A single-file archive unpacked again replaces its own earlier file, as tar would.
    await Deno.writeFile(`${dir}/work/tool.tar`, tar([{ name: "tool", data: "v2" }]));
    await Deno.writeTextFile(`${dir}/work/tool`, "v1");
    await unpackArchive(`${dir}/work/tool.tar`, `${dir}/work`);
    assert.equal(await Deno.readTextFile(`${dir}/work/tool`), "v2");
  });
});

Deno.test("unpackArchive() refuses to remove a base-name directory holding a protected path", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/clang`);
    await Deno.writeTextFile(`${dir}/clang/manifest.tt`, "[]");
    await Deno.writeFile(`${dir}/clang.tar`, tar([{ name: "clang/x", data: "x" }]));
    await assert.rejects(
      unpackArchive(`${dir}/clang.tar`, dir, {
        protect: [{ path: `${dir}/clang/manifest.tt`, label: "the manifest in use" }],
      }),
      (error: unknown) => {
        assert.ok(error instanceof ArchiveError);
        assert.equal(
          error.message,
          'Cannot unpack "clang.tar": will not remove the directory "clang": it holds the manifest in use',
        );
        return true;
      },
    );
    assert.equal(await Deno.readTextFile(`${dir}/clang/manifest.tt`), "[]");
  });
});

const protectedCases: readonly {
  name: string;
  setup: (dir: string) => Promise<void>;
  members: Parameters<typeof tar>[0];
  guard: string;
  entry: string;
}[] = [
  {
    name: "a top-level member with a protected name",
    setup: (dir) => Deno.writeTextFile(`${dir}/a.bin`, "verified"),
    members: [{ name: "aaa/first", data: "1" }, { name: "a.bin", data: "evil" }],
    guard: "a.bin",
    entry: "a.bin",
  },
  {
    name: "a nested member with the path of a protected file",
    setup: async (dir) => {
      await Deno.mkdir(`${dir}/sub`);
      await Deno.writeTextFile(`${dir}/sub/manifest.tt`, "[]");
    },
    members: [{ name: "sub/other", data: "1" }, { name: "sub/manifest.tt", data: "evil" }],
    guard: "sub/manifest.tt",
    entry: "sub/manifest.tt",
  },
  {
    name: "a file replacing the directory that holds a protected file",
    setup: async (dir) => {
      await Deno.mkdir(`${dir}/sub`);
      await Deno.writeTextFile(`${dir}/sub/manifest.tt`, "[]");
    },
    members: [{ name: "sub", data: "a file now" }],
    guard: "sub/manifest.tt",
    entry: "sub",
  },
  {
    name: "a member replacing a hard link to a protected file",
    setup: async (dir) => {
      await Deno.writeTextFile(`${dir}/a.bin`, "verified");
      await Deno.link(`${dir}/a.bin`, `${dir}/alias`);
    },
    members: [{ name: "alias", data: "evil" }],
    guard: "a.bin",
    entry: "alias",
  },
];

for (const { name, setup, members, guard, entry } of protectedCases) {
  Deno.test(`unpackArchive() refuses ${name}, before anything moves`, async () => {
    await withTempDir(async (dir) => {
      await setup(dir);
      await Deno.writeFile(`${dir}/t.tar`, tar(members));
      const before = snapshot(dir);
      await assert.rejects(
        unpackArchive(`${dir}/t.tar`, dir, {
          protect: [{ path: `${dir}/${guard}`, label: `the fetched file "${guard}"` }],
        }),
        (error: unknown) => {
          assert.ok(error instanceof ArchiveError);
          assert.equal(
            error.message,
            `Cannot unpack "t.tar": entry "${entry}" would replace the fetched file "${guard}"`,
          );
          return true;
        },
      );
      assert.deepEqual(snapshot(dir), before);
    });
  });
}

/** Unpacks `path`, aborting from a timer after `afterMs`; returns how long the unpack ran. */
async function abortedByTimer(path: string, dir: string, afterMs: number): Promise<number> {
  const controller = new AbortController();
  const reason = new Error("stopped by the timer");
  const started = performance.now();
  // A timer, like a signal listener, runs only when the event loop gets a turn.
  const timer = setTimeout(() => controller.abort(reason), afterMs);
  try {
    await assert.rejects(
      unpackArchive(path, dir, { signal: controller.signal, preferExternalTools: false }),
      (error: unknown) => error === reason,
    );
  } finally {
    clearTimeout(timer);
  }
  return performance.now() - started;
}

Deno.test({
  name:
    "unpackArchive() lets the event loop run during an in-process bzip2 unpack, so an abort lands",
  ignore: !tools.bzip2,
  fn: () =>
    withTempDir(async (dir) => {
      await Deno.writeFile(`${dir}/zeros.tar.bz2`, await zerosTarBz2(20));
      const ranMs = await abortedByTimer(`${dir}/zeros.tar.bz2`, dir, 200);
      assert.ok(ranMs < 1000, `the unpack ran ${Math.round(ranMs)} ms`);
      assert.deepEqual(listDirectory(dir), ["zeros.tar.bz2"]);
    }),
});

Deno.test("unpackArchive() lets the event loop run while inflating one huge zip member", () =>
  withTempDir(async (dir) => {
    await Deno.writeFile(
      `${dir}/zeros.zip`,
      zip([{ name: "zeros/big", data: new Uint8Array(256 * 1024 * 1024) }]),
    );
    const ranMs = await abortedByTimer(`${dir}/zeros.zip`, dir, 100);
    assert.ok(ranMs < 1000, `the unpack ran ${Math.round(ranMs)} ms`);
    assert.deepEqual(listDirectory(dir), ["zeros.zip"]);
  }));

import assert from "node:assert/strict";
import { join } from "node:path";
import { tar } from "../../test/helpers/archives.ts";
import { statOrUndefined } from "../fs_util.ts";
import { TreeStore } from "./trees.ts";

const DIGEST = "a".repeat(128);

async function withStore(
  fn: (setup: { store: TreeStore; archive: string; work: () => string }) => Promise<void>,
) {
  const root = await Deno.makeTempDir({ prefix: "tooltool-trees-" });
  try {
    const archive = join(root, "tool.tar");
    Deno.writeFileSync(
      archive,
      tar([
        { name: "tool/", type: "5" },
        { name: "tool/a", data: "alpha", mode: 0o755, mtime: 1_600_000_000 },
        { name: "tool/l", type: "2", linkName: "a" },
      ]),
    );
    let n = 0;
    const work = () => {
      const dir = join(root, `work${n++}`);
      Deno.mkdirSync(dir);
      return dir;
    };
    await fn({ store: new TreeStore(join(root, "cache"), { boot: "boot-1" }), archive, work });
  } finally {
    await new Deno.Command("chmod", { args: ["-R", "u+w", root] }).output();
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("TreeStore.unpack() builds a tree once, then places it without extracting", () =>
  withStore(async ({ store, archive, work }) => {
    const first = await store.unpack(DIGEST, archive, work());
    assert.equal(first.tree, "built");
    const dir = work();
    const second = await store.unpack(DIGEST, archive, dir);
    assert.equal(second.tree, "reused");
    assert.equal(second.method, "hardlink");
    assert.equal(Deno.readTextFileSync(join(dir, "tool", "a")), "alpha");
    assert.equal(Deno.readLinkSync(join(dir, "tool", "l")), "a");
    assert.equal(second.entries, first.entries);
  }));

Deno.test("TreeStore.unpack() rebuilds a tree whose file changed and never places it", () =>
  withStore(async ({ store, archive, work }) => {
    await store.unpack(DIGEST, archive, work());
    const cached = join(store.treePath(DIGEST), "tree", "tool", "a");
    Deno.chmodSync(cached, 0o644);
    Deno.writeTextFileSync(cached, "omega");
    const dir = work();
    const again = await store.unpack(DIGEST, archive, dir);
    assert.equal(again.tree, "rebuilt");
    assert.equal(again.note, '"tool/a" was modified');
    assert.equal(Deno.readTextFileSync(join(dir, "tool", "a")), "alpha");
  }));

Deno.test("TreeStore.unpack() rebuilds a tree built in another boot", () =>
  withStore(async ({ store, archive, work }) => {
    await store.unpack(DIGEST, archive, work());
    const later = new TreeStore(join(store.dir, "..", ".."), { boot: "boot-2" });
    const again = await later.unpack(DIGEST, archive, work());
    assert.equal(again.tree, "rebuilt");
  }));

Deno.test("TreeStore copy mode places files with the archive's modes and times", () =>
  withStore(async ({ archive, work, store }) => {
    const copying = new TreeStore(join(store.dir, "..", ".."), { mode: "copy", boot: "boot-1" });
    await copying.unpack(DIGEST, archive, work());
    const dir = work();
    const placed = await copying.unpack(DIGEST, archive, dir);
    assert.match(placed.method, /^(copy|reflink)$/);
    const info = Deno.statSync(join(dir, "tool", "a"));
    assert.equal((info.mode ?? 0) & 0o777, 0o755);
    assert.equal(info.mtime?.getTime(), 1_600_000_000_000);
  }));

Deno.test("TreeStore.isReady() is true only for a built, unchanged tree, and writes nothing", () =>
  withStore(async ({ store, archive, work }) => {
    const cache = join(store.dir, "..", "..");
    assert.equal(await store.isReady(DIGEST), false);
    assert.equal(statOrUndefined(cache), undefined, "asking made no cache folder");
    await store.unpack(DIGEST, archive, work());
    const before = [...Deno.readDirSync(store.dir)].map((entry) => entry.name).sort();
    assert.equal(await store.isReady(DIGEST), true);
    assert.equal(await store.isReady("b".repeat(128)), false);
    assert.deepEqual([...Deno.readDirSync(store.dir)].map((entry) => entry.name).sort(), before);
    const cached = join(store.treePath(DIGEST), "tree", "tool", "a");
    Deno.chmodSync(cached, 0o644);
    assert.equal(await store.isReady(DIGEST), false, "a writable file is no longer trusted");
    const later = new TreeStore(cache, { boot: "boot-2" });
    Deno.chmodSync(cached, 0o444);
    assert.equal(await store.isReady(DIGEST), true);
    assert.equal(await later.isReady(DIGEST), false, "a tree from another boot is rebuilt");
  }));

Deno.test("TreeStore.tryLockTree() is 'none' when there are no trees, and makes no folder", () =>
  withStore(async ({ store }) => {
    assert.equal(await store.tryLockTree(DIGEST), "none");
    assert.equal(statOrUndefined(store.dir), undefined);
  }));

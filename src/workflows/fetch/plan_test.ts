import assert from "node:assert/strict";
import { join } from "node:path";
import { recordFor, testContext, withTempDir } from "../../../test/helpers/workflow_context.ts";
import { type FetchPlan, type PlanOptions, planRecords, renderFetchPlan } from "./plan.ts";

function planOptions(cwd: string, extra: Partial<PlanOptions> = {}): PlanOptions {
  return {
    cwd,
    cache: undefined,
    distdirs: [],
    sources: () => [{ name: "https://tooltool.example/", kind: "service", resolve: () => never() }],
    offline: false,
    rehash: false,
    jobs: 2,
    signal: new AbortController().signal,
    warn: () => {},
    ...extra,
  };
}

function never(): Promise<never> {
  return Promise.reject(new Error("a plan resolves no URL"));
}

Deno.test("planRecords() says an unpack comes from the tree cache when its tree is ready", async () => {
  await withTempDir(async (dir) => {
    const ready = recordFor("ready.tar", "a", { unpack: true });
    const cold = recordFor("cold.tar", "b", { unpack: true });
    const plain = recordFor("plain.bin", "c");
    const asked: string[] = [];
    const plans = await planRecords(
      [ready, cold, plain],
      planOptions(dir, {
        treeReady: (digest) => {
          asked.push(digest);
          return Promise.resolve(digest === ready.digest);
        },
      }),
    );
    assert.deepEqual(
      plans.map((plan) => [plan.filename, plan.source, plan.unpack, plan.unpackFrom]),
      [
        ["ready.tar", "service", 1, "tree"],
        ["cold.tar", "service", 1, "archive"],
        ["plain.bin", "service", 0, null],
      ],
    );
    assert.deepEqual(asked.sort(), [ready.digest, cold.digest].sort(), "only archives are asked");
  });
});

Deno.test("planRecords() plans an extraction when the tree cache is not in use", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "tool.tar"), "a");
    const plans = await planRecords(
      [recordFor("tool.tar", "a", { unpack: true })],
      planOptions(dir),
    );
    assert.equal(plans[0]?.source, "present");
    assert.equal(plans[0]?.unpackFrom, "archive");
  });
});

Deno.test("planRecords() plans no unpack for an archive nothing could provide", async () => {
  await withTempDir(async (dir) => {
    const plans = await planRecords(
      [recordFor("tool.tar", "a", { unpack: true })],
      planOptions(dir, { offline: true, treeReady: () => Promise.resolve(true) }),
    );
    assert.equal(plans[0]?.source, "missing");
    assert.equal(plans[0]?.unpackFrom, null);
  });
});

Deno.test("renderFetchPlan() names where each unpack comes from and counts the trees", async () => {
  await withTempDir(async (dir) => {
    const ready = recordFor("ready.tar", "a", { unpack: true });
    const cold = recordFor("cold.tar", "bb", { unpack: true });
    await Deno.writeTextFile(join(dir, "ready.tar"), "a");
    const files = await planRecords(
      [ready, cold],
      planOptions(dir, {
        treeReady: (digest) => Promise.resolve(digest === ready.digest),
      }),
    );
    const plan: FetchPlan = { files, offline: false };
    const { ctx, stdout, stderr } = testContext(dir);
    renderFetchPlan(plan, ctx);
    assert.equal(
      stdout(),
      "ready.tar: present, unpack from the tree cache\n" +
        "cold.tar: service https://tooltool.example/, 2 B to download, unpack from the archive\n",
    );
    assert.match(
      stderr(),
      /Dry run: 2 files: 1 to download \(2 B\), 3 B of archives to unpack \(1 from the tree cache\); nothing was changed/,
    );
    const json = testContext(dir, { json: true });
    renderFetchPlan(plan, json.ctx);
    const report = JSON.parse(json.stdout());
    assert.deepEqual(
      report.files.map((file: { unpackFrom: string | null }) => file.unpackFrom),
      ["tree", "archive"],
    );
  });
});

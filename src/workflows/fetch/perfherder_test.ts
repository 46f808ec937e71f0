import assert from "node:assert/strict";
import type { FileOutcome } from "./types.ts";
import { perfherderData, perfherderLine } from "./perfherder.ts";

function outcome(fields: Partial<FileOutcome>): FileOutcome {
  return {
    filename: "f",
    digest: "d",
    size: 100,
    source: "network",
    bytes: 0,
    attempts: 0,
    seconds: 0,
    unpacked: null,
    error: null,
    ...fields,
  };
}

Deno.test("perfherderData() counts bytes by source, unpacked files, retries and failures", () => {
  const data = perfherderData([
    outcome({ source: "network", bytes: 150, attempts: 3, unpacked: true }),
    outcome({ source: "cache", size: 20 }),
    outcome({ source: "distdir", size: 30 }),
    outcome({ source: "present", size: 40 }),
    outcome({ source: null, bytes: 5, attempts: 2, error: "boom" }),
  ], 1.23456);
  assert.deepEqual(data.framework, { name: "build_metrics" });
  const [suite] = data.suites;
  assert.equal(suite?.name, "tooltool_fetch");
  assert.equal(suite?.value, 1.235);
  assert.deepEqual(Object.fromEntries(suite?.subtests.map((s) => [s.name, s.value]) ?? []), {
    seconds: 1.235,
    files: 5,
    bytes_downloaded: 155,
    bytes_from_cache: 20,
    bytes_from_mirror: 0,
    bytes_from_distdir: 30,
    files_unpacked: 1,
    retries: 3,
    files_failed: 1,
  });
});

Deno.test("perfherderLine() is one line with the PERFHERDER_DATA prefix", () => {
  const line = perfherderLine([], 0);
  assert.ok(line.startsWith("PERFHERDER_DATA: {"));
  assert.ok(!line.includes("\n"));
  assert.deepEqual(JSON.parse(line.slice("PERFHERDER_DATA: ".length)), perfherderData([], 0));
});

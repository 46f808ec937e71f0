/**
 * The whole check, as CI runs it: format, lint, type-check, then every test, ending with
 * one line `N passed, N failed` (counted from deno test's JUnit report, since deno's own
 * summary line has another shape). Exits non-zero if any step fails.
 *
 * @module
 */

const deno = Deno.execPath();
const env = { RUST_BACKTRACE: "0", NO_COLOR: "1" };
const junitPath = ".tmp/junit.xml";

async function step(name: string, args: string[]): Promise<boolean> {
  console.log(`\n== ${name}: deno ${args.join(" ")}`);
  const { code } = await new Deno.Command(deno, { args, env, stdout: "inherit", stderr: "inherit" })
    .output();
  if (code !== 0) console.log(`== ${name} FAILED (exit ${code})`);
  return code === 0;
}

function countJunit(xml: string): { passed: number; failed: number; skipped: number } {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const match of xml.matchAll(/<testcase\b[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const body = match[2] ?? "";
    if (/<(failure|error)\b/.test(body)) failed++;
    else if (/<skipped\b/.test(body)) skipped++;
    else passed++;
  }
  return { passed, failed, skipped };
}

await Deno.mkdir(".tmp", { recursive: true });
await Deno.remove(junitPath).catch(() => {});
const results = [
  await step("format", ["fmt", "--check"]),
  await step("lint", ["lint"]),
  await step("type-check", ["check", "main.ts", "scripts/", "test/", "src/", "commands/"]),
];
const testsOk = await step("tests", ["test", "-A", "--parallel", `--junit-path=${junitPath}`]);
let counts = { passed: 0, failed: 0, skipped: 0 };
try {
  counts = countJunit(await Deno.readTextFile(junitPath));
} catch {
  console.log("== no JUnit report was written");
}
const failedSteps = results.filter((ok) => !ok).length + (testsOk ? 0 : 1);
if (!testsOk && counts.failed === 0) counts.failed = 1;
console.log(
  `\n${
    failedSteps === 0 ? "CI passed" : `CI FAILED (${failedSteps} step(s))`
  }; ${counts.skipped} skipped`,
);
console.log(`${counts.passed} passed, ${counts.failed} failed`);
Deno.exit(failedSteps === 0 ? 0 : 1);

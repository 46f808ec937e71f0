import assert from "node:assert/strict";
import { memoryOutput } from "./output.ts";

const HOSTILE = "\x1b]0;pwned\x07\r\nerror: fake \x1b[31m\x9b\u202e";
const SHOWN = String.raw`\x1b]0;pwned\x07\r\nerror: fake \x1b[31m\x9b\u202e`;

Deno.test("Output escapes control characters in every levelled message", () => {
  const { output, stderr } = memoryOutput({ verbosity: "verbose" });
  output.info(HOSTILE);
  output.debug(HOSTILE);
  output.warn(HOSTILE);
  output.error(HOSTILE);
  output.hint(HOSTILE);
  output.line(HOSTILE);
  assert.equal(
    stderr(),
    [SHOWN, SHOWN, `warning: ${SHOWN}`, `error: ${SHOWN}`, `hint: ${SHOWN}`, SHOWN, ""].join("\n"),
  );
});

Deno.test("Output escapes data lines but keeps their tab separators", () => {
  const { output, stdout } = memoryOutput();
  output.data(`P\tV\t${HOSTILE}`);
  assert.equal(stdout(), `P\tV\t${SHOWN}\n`);
});

Deno.test("Output redacts URL credentials and signatures in messages and reports", () => {
  const { output, stdout, stderr } = memoryOutput({ verbosity: "verbose", json: true });
  const leaky = "Cannot fetch from http://user:s3cret@h/ via https://s/k?X-Amz-Signature=sig";
  output.info(leaky);
  output.debug(leaky);
  output.warn(leaky);
  output.error(leaky);
  output.hint(leaky);
  output.report({ server: "http://user:s3cret@h/", error: leaky });
  assert.ok(!stderr().includes("s3cret") && !stderr().includes("sig\n"), stderr());
  assert.ok(!stdout().includes("s3cret") && !stdout().includes("=sig"), stdout());
  assert.match(stderr(), /http:\/\/\*\*\*@h\/ via https:\/\/s\/k\?X-Amz-Signature=\*\*\*$/m);
});

Deno.test("Output.report keeps C0 escapes single and writes C1 and bidi as JSON escapes", () => {
  const { output, stdout } = memoryOutput({ json: true });
  output.report({ error: HOSTILE });
  assert.deepEqual(JSON.parse(stdout()), { error: HOSTILE });
  assert.ok(
    stdout().includes(String.raw`\u001b]0;pwned\u0007\r\nerror: fake \u001b[31m\u009b\u202e`),
  );
});

Deno.test("Output.writeStderr stays raw, for progress renderers' cursor codes", () => {
  const { output, stderr } = memoryOutput();
  output.writeStderr("\r\x1b[K");
  assert.equal(stderr(), "\r\x1b[K");
});

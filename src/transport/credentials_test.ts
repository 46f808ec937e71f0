import assert from "node:assert/strict";
import {
  authorizationFor,
  describeCredentials,
  loadCredentials,
  parseCredentialsFile,
  requireCredentials,
  viaProxy,
} from "./credentials.ts";
import { CredentialsError } from "../errors.ts";
import { parseHawkHeader } from "./hawk.ts";

const noEnv = (_: string) => undefined;
const envOf = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("parseCredentialsFile() reads Taskcluster JSON credentials", () => {
  const credentials = parseCredentialsFile('{"clientId": "me", "accessToken": "s3cret"}\n', "f");
  assert.equal(credentials.kind, "hawk");
  if (credentials.kind === "hawk") assert.equal(credentials.hawk.clientId, "me");
});

Deno.test("parseCredentialsFile() treats other content as a bearer token, as tooltool.py does", () => {
  assert.deepEqual(parseCredentialsFile("abc.def-123\n", "f"), {
    kind: "bearer",
    token: "abc.def-123",
    source: '"f"',
  });
});

Deno.test("parseCredentialsFile() rejects broken JSON without echoing the secret", () => {
  const error = assert.throws(
    () => parseCredentialsFile('{"clientId": "me", "accessToken": "SECRET-VALUE"', "f"),
    CredentialsError,
  );
  void error;
  try {
    parseCredentialsFile('{"clientId": "me", "accessToken": "SECRET-VALUE"', "f");
  } catch (e) {
    assert.ok(!String((e as Error).message).includes("SECRET"));
  }
});

Deno.test("parseCredentialsFile() rejects missing fields, bad scopes and empty files", () => {
  for (
    const text of [
      '{"clientId": "me"}',
      '{"clientId": 1, "accessToken": "x"}',
      '{"clientId": "me", "accessToken": "x", "authorizedScopes": "a"}',
      '{"clientId": "me", "accessToken": "x", "certificate": "not json"}',
      '{"clientId": "me", "accessToken": "x", "certificate": {"start": 1}}',
      "",
      "two words",
    ]
  ) {
    assert.throws(() => parseCredentialsFile(text, "f"), CredentialsError, text);
  }
});

Deno.test("parseCredentialsFile() refuses expired temporary credentials", () => {
  const certificate = {
    version: 1,
    start: 0,
    expiry: 1_000,
    seed: "s",
    scopes: [],
    signature: "x",
  };
  const text = JSON.stringify({ clientId: "me", accessToken: "t", certificate });
  assert.throws(() => parseCredentialsFile(text, "f", () => 5_000), /expired/);
  const fresh = JSON.stringify({
    clientId: "me",
    accessToken: "t",
    certificate: JSON.stringify({ ...certificate, expiry: 10_000_000 }),
  });
  const credentials = parseCredentialsFile(fresh, "f", () => 5_000);
  assert.equal(credentials.kind === "hawk" && credentials.hawk.certificate?.expiry, 10_000_000);
});

Deno.test("loadCredentials() falls back to the environment, then to anonymous", async () => {
  assert.deepEqual(await loadCredentials({}, noEnv), { kind: "none" });
  const fromEnv = await loadCredentials(
    {},
    envOf({ TASKCLUSTER_CLIENT_ID: "c", TASKCLUSTER_ACCESS_TOKEN: "t" }),
  );
  assert.equal(fromEnv.kind, "hawk");
  await assert.rejects(
    loadCredentials({}, envOf({ TASKCLUSTER_CLIENT_ID: "c" })),
    /TASKCLUSTER_ACCESS_TOKEN is not set/,
  );
});

Deno.test("loadCredentials() names a missing file without a stack trace", async () => {
  await assert.rejects(
    loadCredentials({ authenticationFile: "/nonexistent/token" }, noEnv),
    (error: unknown) =>
      error instanceof CredentialsError &&
      error.message === 'Cannot read credentials "/nonexistent/token": file not found',
  );
});

Deno.test("authorizationFor() signs with Hawk, sends bearer tokens, and leaves the proxy alone", () => {
  const url = new URL("https://tooltool.example/sha512/abc");
  const hawk = authorizationFor(
    { kind: "hawk", hawk: { clientId: "c", accessToken: "t" }, source: "x" },
    { method: "GET", url },
    noEnv,
    { now: () => 1_700_000_000_000, nonce: () => "n" },
  );
  assert.equal(parseHawkHeader(hawk ?? "")?.ts, "1700000000");
  assert.equal(
    authorizationFor({ kind: "bearer", token: "tok", source: "x" }, { method: "GET", url }, noEnv),
    "Bearer tok",
  );
  const proxied = new URL("http://taskcluster/tooltool.mozilla-releng.net/sha512/abc");
  assert.equal(
    authorizationFor(
      { kind: "bearer", token: "tok", source: "x" },
      { method: "GET", url: proxied },
      envOf({ TASKCLUSTER_PROXY_URL: "http://taskcluster" }),
    ),
    undefined,
  );
});

Deno.test("describeCredentials() never contains the secret", () => {
  const text = describeCredentials({
    kind: "hawk",
    hawk: { clientId: "c", accessToken: "SECRET" },
    source: "env",
  });
  assert.ok(!text.includes("SECRET"));
  assert.ok(
    !describeCredentials({ kind: "bearer", token: "SECRET", source: "f" }).includes("SECRET"),
  );
});

Deno.test("viaProxy() is true only under TASKCLUSTER_PROXY_URL", () => {
  const env = envOf({ TASKCLUSTER_PROXY_URL: "http://taskcluster" });
  assert.equal(viaProxy("http://taskcluster/tooltool.mozilla-releng.net/", env), true);
  assert.equal(viaProxy("http://taskcluster-evil/x/", env), false);
  assert.equal(viaProxy("https://tooltool.mozilla-releng.net/", env), false);
  assert.equal(viaProxy("http://taskcluster/x/", noEnv), false);
});

Deno.test("requireCredentials() refuses anonymity unless the proxy signs every request", () => {
  const urls = ["https://tooltool.example/"];
  assert.throws(
    () => requireCredentials({ kind: "none" }, urls, noEnv, 'Cannot upload manifest "m.tt"'),
    (error: unknown) =>
      error instanceof CredentialsError &&
      error.message === 'Cannot upload manifest "m.tt": no credentials' &&
      /--authentication-file/.test(error.hint ?? ""),
  );
  requireCredentials({ kind: "bearer", token: "t", source: "f" }, urls, noEnv, "x");
  requireCredentials(
    { kind: "none" },
    ["http://taskcluster/tooltool.example/"],
    envOf({ TASKCLUSTER_PROXY_URL: "http://taskcluster" }),
    "x",
  );
});

Deno.test("authorizationFor() signs the path without the query, as the ToolTool service checks it", () => {
  const clock = { now: () => 1_700_000_000_000, nonce: () => "n" };
  const credentials = {
    kind: "hawk",
    hawk: { clientId: "c", accessToken: "t" },
    source: "x",
  } as const;
  const withQuery = authorizationFor(
    credentials,
    {
      method: "POST",
      url: new URL("https://tooltool.example/upload?region=us-west-2"),
    },
    noEnv,
    clock,
  );
  const pathOnly = authorizationFor(
    credentials,
    {
      method: "POST",
      url: new URL("https://tooltool.example/upload"),
    },
    noEnv,
    clock,
  );
  assert.equal(withQuery, pathOnly);
});

Deno.test("loadCredentials() refuses devices and FIFOs at once, and files over 1 MiB", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const fifo = `${dir}/fifo`;
    await new Deno.Command("mkfifo", { args: [fifo] }).output();
    const big = `${dir}/big`;
    await Deno.writeTextFile(big, "x".repeat(1024 * 1024 + 1));
    for (
      const [path, reason] of [
        ["/dev/zero", "it is a character device, not a regular file"],
        ["/dev/stdin", undefined],
        [fifo, "it is a FIFO (named pipe), not a regular file"],
        [big, "the file is larger than 1 MiB"],
        [dir, "it is a directory"],
      ] as const
    ) {
      await assert.rejects(
        loadCredentials({ authenticationFile: path }, noEnv),
        (error: unknown) =>
          error instanceof CredentialsError &&
          error.message.startsWith(`Cannot read credentials "${path}": `) &&
          (reason === undefined || error.message.endsWith(reason)),
        path,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadCredentials() warns once, without the secret, about a file others can read", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/tc.json`;
    await Deno.writeTextFile(path, '{"clientId": "me", "accessToken": "s3cret"}');
    for (
      const [mode, expected] of [
        [0o644, `credentials "${path}" are accessible to others (mode 0644)`],
        [0o640, `credentials "${path}" are accessible to its group (mode 0640)`],
        [0o620, `credentials "${path}" are accessible to its group (mode 0620)`],
        [0o600, undefined],
        [0o400, undefined],
      ] as const
    ) {
      await Deno.chmod(path, mode);
      const warnings: string[] = [];
      const credentials = await loadCredentials(
        { authenticationFile: path, warn: (message) => warnings.push(message) },
        noEnv,
      );
      assert.equal(credentials.kind, "hawk");
      if (expected === undefined) {
        assert.deepEqual(warnings, [], mode.toString(8));
        continue;
      }
      assert.equal(warnings.length, 1);
      assert.equal(warnings[0], `${expected}; protect them with: chmod 600 ${path}`);
      assert.ok(!warnings[0]?.includes("s3cret"));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

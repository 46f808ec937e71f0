/** `change-visibility` and `delete` end to end: the CLI as a subprocess against the fake server. */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runTool, tempDir, type ToolRun } from "./cli.ts";
import { type FakeServer, SCOPE_PREFIX, startFakeServer } from "./fake_server/server.ts";

const CLIENTS = {
  admin: { accessToken: "admin-SECRET-token", scopes: [`${SCOPE_PREFIX}/manage`] },
  uploader: { accessToken: "uploader-SECRET-token", scopes: [`${SCOPE_PREFIX}/upload/*`] },
};

async function withServer(fn: (server: FakeServer, dir: string) => Promise<void>): Promise<void> {
  await using dir = await tempDir();
  const server = await startFakeServer({ clients: CLIENTS });
  try {
    for (const clientId of Object.keys(CLIENTS) as (keyof typeof CLIENTS)[]) {
      await Deno.writeTextFile(
        join(dir.path, `${clientId}.json`),
        JSON.stringify({ clientId, accessToken: CLIENTS[clientId].accessToken }),
        // As a careful user keeps credentials: others get no access, so no warning.
        { mode: 0o600 },
      );
    }
    await fn(server, dir.path);
  } finally {
    await server.close();
  }
}

function tool(server: FakeServer, dir: string, client: string, args: string[]): Promise<ToolRun> {
  return runTool(
    ["--url", server.url, "--authentication-file", join(dir, `${client}.json`), ...args],
    { cwd: dir },
  );
}

async function downloadStatus(server: FakeServer, digest: string): Promise<number> {
  const response = await fetch(`${server.url}sha512/${digest}`, { redirect: "manual" });
  await response.body?.cancel();
  return response.status;
}

Deno.test("change-visibility sets the visibility and prints the file record", async () => {
  await withServer(async (server, dir) => {
    const { digest } = await server.addFile(new TextEncoder().encode("hello\n"));
    assert.equal(await downloadStatus(server, digest), 302);
    const run = await tool(server, dir, "admin", [
      "change-visibility",
      "--digest",
      digest,
      "--visibility",
      "internal",
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(
      run.stdout,
      `digest: ${digest}\nsize: 6\nvisibility: internal\ninstances: us-east-1\n`,
    );
    assert.equal(run.stderr, `The visibility of ${digest.slice(0, 12)}… is now internal\n`);
    // Anonymous callers may no longer download it.
    assert.equal(await downloadStatus(server, digest), 403);
    const patch = server.requests.find((r) => r.method === "PATCH");
    assert.equal(patch?.clientId, "admin");
  });
});

Deno.test("delete removes every stored copy and reports the record as JSON", async () => {
  await withServer(async (server, dir) => {
    const { digest } = await server.addFile(new TextEncoder().encode("gone soon\n"), {
      visibility: "internal",
    });
    const run = await tool(server, dir, "admin", ["delete", "--digest", digest, "--json"]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), {
      digest,
      size: 10,
      visibility: "internal",
      instances: [],
    });
    assert.match(run.stderr, /Deleted every stored copy of /);
    assert.equal(await downloadStatus(server, digest), 404);
  });
});

Deno.test("change-visibility and delete check their options before any request", async () => {
  await withServer(async (server, dir) => {
    const digest = "a".repeat(128);
    const cases: [string[], RegExp][] = [
      [["delete"], /^error: The delete command requires --digest\n/],
      [["change-visibility", "--visibility", "public"], /requires --digest/],
      [["change-visibility", "--digest", digest], /requires --visibility\n/],
      [
        ["delete", "--digest", "A".repeat(128)],
        /^error: Invalid sha512 digest in --digest: must be 128 lowercase hexadecimal digits/,
      ],
      [["delete", "--digest", "abc"], /got 3 characters/],
      [["change-visibility", "--digest", digest, "--visibility", "secret"], /Allowed choices/],
    ];
    for (const [args, expected] of cases) {
      const run = await tool(server, dir, "admin", args);
      assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
      assert.match(run.stderr, expected);
    }
    const anonymous = await runTool(["--url", server.url, "delete", "--digest", digest], {
      cwd: dir,
    });
    assert.equal(anonymous.code, 1);
    assert.match(anonymous.stderr, /: no credentials\nhint: give --authentication-file/);
    assert.deepEqual(server.requests, []);
  });
});

Deno.test("change-visibility without the manage scope names the scope", async () => {
  await withServer(async (server, dir) => {
    const { digest } = await server.addFile(new TextEncoder().encode("x"));
    const run = await tool(server, dir, "uploader", [
      "-v",
      "change-visibility",
      "--digest",
      digest,
      "--visibility",
      "internal",
    ]);
    assert.equal(run.code, 1);
    assert.equal(
      run.stderr,
      'Using Taskcluster client "uploader" from ' + `"${join(dir, "uploader.json")}"\n` +
        `error: Cannot change the visibility of "${digest}" on ${server.url}: server returned ` +
        "401 Unauthorized (401 Unauthorized: Invalid user permissions)\n" +
        'hint: clientId "uploader" lacks the scope project:releng:services/tooltool/api/manage (it has project:releng:services/tooltool/api/upload/*)\n',
    );
    assert.ok(!run.stdout.includes("SECRET"));
  });
});

Deno.test("delete of a digest the server does not know says so", async () => {
  await withServer(async (server, dir) => {
    const digest = "b".repeat(128);
    const run = await tool(server, dir, "admin", ["delete", "--digest", digest]);
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      new RegExp(
        `^error: Cannot delete "${digest}" from ${server.url}: server returned 404 Not Found`,
      ),
    );
  });
});

/**
 * The reference client against the fake server: if the real tooltool.py can upload and
 * fetch through it, the fake speaks the protocol and not just our reading of it.
 *
 * tooltool.py is not part of this repository; the test runs it from `$TOOLTOOL_PY`
 * (default `/work/ref/client/tooltool.py`) and is skipped when it or `python3` is missing.
 */

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { bytes, SCOPE, withServer } from "./test_util.ts";

const tooltoolPy = Deno.env.get("TOOLTOOL_PY") ?? "/work/ref/client/tooltool.py";

function hasPython(): boolean {
  try {
    return new Deno.Command("python3", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

const available = existsSync(tooltoolPy) && hasPython();

function parentOf(path: string): string {
  return join(path, "..");
}

async function tooltool(cwd: string, args: string[]): Promise<{ code: number; stderr: string }> {
  const output = await new Deno.Command("python3", {
    args: [tooltoolPy, ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
    // tooltool.py reads Taskcluster credentials from the environment when given no file:
    // keep the caller's out of it.
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: parentOf(cwd) },
    clearEnv: true,
  }).output();
  return {
    code: output.code,
    stderr: new TextDecoder().decode(output.stderr) + new TextDecoder().decode(output.stdout),
  };
}

Deno.test({
  name: "tooltool.py uploads with Taskcluster credentials and fetches back through the fake server",
  ignore: !available,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "tooltool-py-" });
    const clients = { uploader: { accessToken: "up-token", scopes: [`${SCOPE}/*`] } };
    try {
      await withServer({ clients, uploadExpiresSeconds: 1 }, async (server) => {
        const up = join(dir, "up");
        const down = join(dir, "down");
        await Deno.mkdir(up);
        await Deno.mkdir(down);
        const blob = crypto.getRandomValues(new Uint8Array(64 * 1024));
        await Deno.writeFile(join(up, "blob.bin"), blob);
        await Deno.writeFile(join(up, "secret.txt"), bytes("internal bits\n"));
        await Deno.writeTextFile(
          join(dir, "auth.json"),
          JSON.stringify({ clientId: "uploader", accessToken: "up-token" }),
        );
        const manifest = ["-m", "manifest.tt"];
        let run = await tooltool(up, [...manifest, "add", "--visibility", "public", "blob.bin"]);
        assert.equal(run.code, 0, run.stderr);
        run = await tooltool(up, [...manifest, "add", "--visibility", "internal", "secret.txt"]);
        assert.equal(run.code, 0, run.stderr);

        run = await tooltool(up, ["--url", server.url, ...manifest, "--message", "m", "upload"]);
        assert.equal(run.code, 1, "anonymous upload must fail");
        assert.match(run.stderr, /403 Forbidden: no permission to upload/);

        run = await tooltool(up, [
          "--url",
          server.url,
          ...manifest,
          "--message",
          "m",
          "--authentication-file",
          join(dir, "auth.json"),
          "upload",
        ]);
        assert.equal(run.code, 0, run.stderr);

        await Deno.copyFile(join(up, "manifest.tt"), join(down, "manifest.tt"));
        run = await tooltool(down, ["--url", server.url, ...manifest, "fetch"]);
        assert.equal(run.code, 1, "the internal file needs credentials");
        run = await tooltool(down, [
          "--url",
          server.url,
          ...manifest,
          "--authentication-file",
          join(dir, "auth.json"),
          "-c",
          join(dir, "cache"),
          "fetch",
        ]);
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(await Deno.readFile(join(down, "blob.bin")), blob);
        assert.equal(await Deno.readTextFile(join(down, "secret.txt")), "internal bits\n");

        const storage = server.requests.filter((r) => r.origin === "storage");
        assert.ok(storage.length >= 4);
        assert.ok(storage.every((r) => !r.hasAuthorization), "no credentials may reach storage");
        assert.ok(
          server.requests.some((r) => r.url.includes("/upload/complete/") && r.status === 202),
        );
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

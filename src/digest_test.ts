import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createSha512, hashFile, hashFiles, sha512Backend, sha512Hex } from "./digest.ts";

const EMPTY =
  "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";
const ABC =
  "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f";

Deno.test("sha512Hex() matches the FIPS 180-2 examples", () => {
  assert.equal(sha512Hex(""), EMPTY);
  assert.equal(sha512Hex("abc"), ABC);
});

Deno.test("createSha512() gives the same digest with either backend and any chunking", async () => {
  const data = new Uint8Array(300_000).map((_, i) => (i * 7919) % 256);
  const expected = createHash("sha512").update(data).digest("hex");
  for (const backend of ["libcrypto", "node"] as const) {
    const hasher = createSha512(backend);
    hasher.update(data.subarray(0, 1));
    await hasher.updateAsync(data.subarray(1, 200_001));
    hasher.update(data.subarray(200_001));
    assert.equal(hasher.digest(), expected, backend);
  }
});

Deno.test("the libcrypto backend loads on Linux, where CI runs", () => {
  if (Deno.build.os === "linux" && Deno.env.get("TOOLTOOL_SHA512_BACKEND") !== "node") {
    assert.equal(sha512Backend(), "libcrypto");
  }
});

Deno.test("a hasher refuses to be used after digest()", () => {
  const hasher = createSha512();
  hasher.digest();
  if (sha512Backend() === "libcrypto") assert.throws(() => hasher.update(new Uint8Array(1)));
});

Deno.test("hashFile() streams a file across chunk boundaries", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const data = new Uint8Array((1 << 20) * 2 + 7).map((_, i) => i % 251);
    await Deno.writeFile(`${dir}/f`, data);
    const result = await hashFile(`${dir}/f`);
    assert.equal(result.size, data.byteLength);
    assert.equal(result.digest, createHash("sha512").update(data).digest("hex"));
    await Deno.writeFile(`${dir}/empty`, new Uint8Array());
    assert.deepEqual(await hashFile(`${dir}/empty`), { digest: EMPTY, size: 0 });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hashFiles() keeps input order and reports a missing file in its slot", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/a`, "abc");
    await Deno.writeTextFile(`${dir}/b`, "");
    const results = await hashFiles([`${dir}/a`, `${dir}/missing`, `${dir}/b`], { concurrency: 2 });
    assert.deepEqual(results[0], { digest: ABC, size: 3 });
    assert.ok(results[1] instanceof Deno.errors.NotFound);
    assert.deepEqual(results[2], { digest: EMPTY, size: 0 });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

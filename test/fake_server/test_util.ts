/**
 * Shared pieces for the fake server's own tests: a server per test, signed requests, and
 * sha512 of small buffers.
 *
 * @module
 */

import { hawkHeader, type TaskclusterCredentials } from "../../src/transport/hawk.ts";
import { type FakeServer, type FakeServerOptions, startFakeServer } from "./server.ts";

/** Runs `fn` with a fresh server and always closes it. */
export async function withServer(
  options: FakeServerOptions,
  fn: (server: FakeServer) => Promise<void>,
): Promise<void> {
  const server = await startFakeServer(options);
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

/** Hex sha512 of bytes. */
export { sha512Of as sha512 } from "../helpers/data.ts";

/** Bytes of a string. */
export function bytes(text: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(text);
}

/** A fetch that does not follow redirects and always consumes the body. */
export async function request(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; headers: Headers; body: Uint8Array; text: string }> {
  const response = await fetch(url, { redirect: "manual", ...init });
  const body = new Uint8Array(await response.arrayBuffer());
  return {
    status: response.status,
    headers: response.headers,
    body,
    text: new TextDecoder().decode(body),
  };
}

/** An Authorization header for a request, signed now with `src/transport/hawk.ts`. */
export function sign(
  credentials: TaskclusterCredentials,
  method: string,
  url: string,
  options: { payloadHash?: string; ts?: number } = {},
): string {
  return hawkHeader(credentials, {
    method,
    url: new URL(url),
    ts: options.ts ?? Math.floor(Date.now() / 1000),
    nonce: crypto.randomUUID().slice(0, 8),
    payloadHash: options.payloadHash,
  });
}

/** Scope prefix of the service. */
export const SCOPE = "project:releng:services/tooltool/api";

/**
 * When a signed storage URL expires (epoch ms): SigV2's absolute `Expires`, or SigV4's
 * X-Amz-Date plus X-Amz-Expires.
 */
export function urlExpiry(signedUrl: string): number {
  const params = new URL(signedUrl).searchParams;
  const absolute = params.get("Expires");
  if (absolute !== null) return Number(absolute) * 1000;
  const date = params.get("X-Amz-Date") ?? "";
  const iso = date.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, "$1-$2-$3T$4:$5:$6Z");
  return Date.parse(iso) + Number(params.get("X-Amz-Expires")) * 1000;
}

/** Sleeps until a signed storage URL has expired. */
export async function sleepPastExpiry(signedUrl: string): Promise<void> {
  const wait = urlExpiry(signedUrl) - Date.now() + 20;
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

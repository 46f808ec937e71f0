/**
 * Server-side Taskcluster Hawk verification for the fake ToolTool server: what production
 * delegates to Taskcluster's `auth.authenticateHawk`, done locally against a fixed table of
 * clients. MACs come from `src/transport/hawk.ts`, so the client and the fake share one definition
 * of the normalized string.
 *
 * Rules followed (Taskcluster's signature validator): Hawk attributes id/ts/nonce/mac
 * required, SHA-256 MAC, 15 minutes of clock skew either way, `ext` as base64 JSON
 * carrying `certificate` (temporary credentials) and/or `authorizedScopes`. A certificate
 * is version 1 with a 44-character seed, starts no later than now + 5 min, expires no
 * earlier than now - 5 min, lasts at most 31 days, carries scopes the issuer holds, and is
 * signed (HMAC-SHA256, base64) with the issuer's access token over
 * `version:1\n[clientId:<name>\nissuer:<issuer>\n]seed:..\nstart:..\nexpiry:..\nscopes:\n<scopes...>`;
 * the temporary access token is base64url(HMAC-SHA256(issuer token, seed)) without padding.
 * Named temporary credentials need `auth:create-client:<name>` on the issuer.
 *
 * @module
 */

import { createHmac, timingSafeEqual } from "node:crypto";
import { calculateMac, parseHawkHeader } from "../../src/transport/hawk.ts";

/** A permanent client the fake knows, as `--clients` lists them. */
export interface ClientConfig {
  readonly accessToken: string;
  readonly scopes: readonly string[];
}

/** Who made a request. */
export type Caller =
  | { readonly kind: "anonymous" }
  | {
    readonly kind: "client";
    readonly clientId: string;
    readonly scopes: readonly string[];
  };

/** The parts of a request Hawk verification needs. */
export interface HawkRequestInfo {
  readonly method: string;
  /** What production passes as the resource: Flask's `request.path`, without the query. */
  readonly resource: string;
  /** The Host header as sent (`127.0.0.1:8010`). */
  readonly host: string;
  /** `X-Forwarded-Port`, used when the Host header has no port (behind a proxy). */
  readonly forwardedPort?: string | undefined;
  /** The scheme the server was reached with: the port when neither of the above says. */
  readonly scheme?: "http" | "https" | undefined;
  readonly authorization: string;
  /** Epoch ms. */
  readonly now: number;
}

/** Thrown for a Hawk header that does not verify; the message says why. */
export class HawkRejection extends Error {
  override readonly name = "HawkRejection";
}

const SKEW_MS = 15 * 60 * 1000;
const CERT_SKEW_MS = 5 * 60 * 1000;
const CERT_MAX_MS = 31 * 24 * 60 * 60 * 1000;
const hawkAttributes = new Set(["id", "ts", "nonce", "hash", "ext", "mac", "app", "dlg"]);
const attributeValue = /^[ \w!#$%&'()*+,\-./:;<=>?@[\]^`{|}~]*$/;

/**
 * Whether `have` satisfies the scope `required`: an exact match, or a scope ending in `*`
 * that is a prefix of it (Taskcluster's and production's `scopeMatch`).
 */
export function scopeSatisfied(have: readonly string[], required: string): boolean {
  return have.some((scope) =>
    scope === required || (scope.endsWith("*") && required.startsWith(scope.slice(0, -1)))
  );
}

/**
 * Verifies a `Hawk ...` Authorization header and returns the caller with its effective
 * scopes, or throws `HawkRejection`. Only call it for headers starting with `Hawk`.
 */
export function verifyHawk(
  request: HawkRequestInfo,
  clients: Readonly<Record<string, ClientConfig>>,
): Caller & { kind: "client" } {
  if (request.authorization.length > 4096) throw new HawkRejection("Header length too long");
  const attributes = parseHawkHeader(request.authorization);
  if (attributes === undefined) throw new HawkRejection("Bad header format");
  for (const [name, value] of Object.entries(attributes)) {
    if (!hawkAttributes.has(name)) throw new HawkRejection("Unknown attribute: " + name);
    if (!attributeValue.test(value)) throw new HawkRejection("Bad attribute value: " + name);
  }
  const { id, ts, nonce, mac, hash, ext } = attributes;
  if (id === undefined || ts === undefined || nonce === undefined || mac === undefined) {
    throw new HawkRejection("Missing attributes");
  }
  if (id === "" || ts === "" || nonce === "" || mac === "") {
    throw new HawkRejection("Missing attributes");
  }

  const credentials = loadCredentials(id, ext, clients, request.now);
  const { hostname, port } = hawkHostAndPort(request);
  const expected = calculateMac(credentials.key, "header", {
    ts: Number(ts),
    nonce,
    method: request.method,
    resource: request.resource,
    host: hostname,
    port,
    hash: hash ?? "",
    ext: ext ?? "",
  });
  // The normalized string carries ts as sent; a ts that is not a plain integer would be
  // normalized differently, so compare the text too.
  if (!/^\d+$/.test(ts) || !sameText(expected, mac)) throw new HawkRejection("Bad mac");
  if (Math.abs(Number(ts) * 1000 - request.now) > SKEW_MS) {
    throw new HawkRejection("Stale timestamp");
  }
  // The `hash` attribute is signed (it is in the normalized string) but, as in production,
  // never compared with the body: tooltool does not pass the payload to Taskcluster.
  return { kind: "client", clientId: id, scopes: credentials.scopes };
}

/**
 * The host and port production hands Taskcluster (`parse_header_taskcluster`): both from the
 * Host header when it has a port; else `X-Forwarded-Port`, else the scheme's default. So a
 * client must sign the host and port it connected to, and behind a proxy that sends a bare
 * Host, the port the proxy says (or 443/80).
 */
export function hawkHostAndPort(
  request: Pick<HawkRequestInfo, "host" | "forwardedPort" | "scheme">,
): { hostname: string; port: number } {
  const colon = request.host.lastIndexOf(":");
  if (colon !== -1 && !request.host.endsWith("]")) {
    return { hostname: request.host.slice(0, colon), port: Number(request.host.slice(colon + 1)) };
  }
  if (request.forwardedPort !== undefined) {
    return { hostname: request.host, port: Number(request.forwardedPort) };
  }
  return { hostname: request.host, port: request.scheme === "https" ? 443 : 80 };
}

function sameText(a: string, b: string): boolean {
  const left = new TextEncoder().encode(a);
  const right = new TextEncoder().encode(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

interface LoadedCredentials {
  readonly key: string;
  readonly scopes: readonly string[];
}

function loadCredentials(
  credentialName: string,
  rawExt: string | undefined,
  clients: Readonly<Record<string, ClientConfig>>,
  now: number,
): LoadedCredentials {
  let ext: Record<string, unknown> | undefined;
  let issuer = credentialName;
  if (rawExt !== undefined && rawExt !== "") {
    ext = parseExt(rawExt);
    const certificate = ext.certificate;
    if (isObject(certificate) && certificate.issuer !== undefined && certificate.issuer !== "") {
      if (typeof certificate.issuer !== "string") {
        throw new HawkRejection("ext.certificate.issuer must be a string");
      }
      if (certificate.issuer === credentialName) {
        throw new HawkRejection("ext.certificate.issuer must differ from the supplied clientId");
      }
      issuer = certificate.issuer;
    }
  }
  const client = Object.hasOwn(clients, issuer) ? clients[issuer] : undefined;
  if (client === undefined) throw new HawkRejection(`Client \`${issuer}\` not found`);
  let key = client.accessToken;
  let scopes: readonly string[] = client.scopes;
  if (ext === undefined) return { key, scopes };

  if (ext.certificate !== undefined && ext.certificate !== null) {
    const certificate = ext.certificate;
    checkCertificate(certificate, now);
    if (issuer !== credentialName) {
      const createScope = `auth:create-client:${credentialName}`;
      if (!scopeSatisfied(scopes, createScope)) {
        throw new HawkRejection(
          `ext.certificate issuer \`${issuer}\` doesn't have \`${createScope}\` for supplied clientId.`,
        );
      }
    } else if ("clientId" in certificate) {
      throw new HawkRejection(
        "ext.certificate.clientId must only be used with ext.certificate.issuer",
      );
    }
    const certScopes = certificate.scopes as string[];
    if (!certScopes.every((scope) => scopeSatisfied(scopes, scope))) {
      throw new HawkRejection(
        `ext.certificate issuer \`${issuer}\` doesn't satisfy all certificate scopes ${
          certScopes.join(", ")
        }.  The temporary credentials were not generated correctly.`,
      );
    }
    const lines = ["version:1"];
    if (certificate.issuer !== undefined && certificate.issuer !== "") {
      lines.push(`clientId:${credentialName}`, `issuer:${String(certificate.issuer)}`);
    }
    lines.push(
      `seed:${String(certificate.seed)}`,
      `start:${String(certificate.start)}`,
      `expiry:${String(certificate.expiry)}`,
      "scopes:",
      ...certScopes,
    );
    const signature = createHmac("sha256", key).update(lines.join("\n")).digest("base64");
    if (typeof certificate.signature !== "string" || !sameText(certificate.signature, signature)) {
      throw new HawkRejection(
        certificate.issuer
          ? "ext.certificate.signature is not valid, or wrong clientId provided"
          : "ext.certificate.signature is not valid",
      );
    }
    key = temporaryAccessToken(key, String(certificate.seed));
    scopes = certScopes;
  }

  if (ext.authorizedScopes !== undefined && ext.authorizedScopes !== null) {
    const authorized = ext.authorizedScopes;
    if (!Array.isArray(authorized)) {
      throw new HawkRejection("ext.authorizedScopes must be an array");
    }
    if (!authorized.every(isValidScope)) {
      throw new HawkRejection("ext.authorizedScopes must be an array of valid scopes");
    }
    if (!authorized.every((scope) => scopeSatisfied(scopes, scope))) {
      throw new HawkRejection(
        "Supplied credentials do not satisfy authorizedScopes; credentials have scopes:\n\n" +
          "```\n" + scopes.join("\n") + "\n```\n\nauthorizedScopes are:\n\n```\n" +
          authorized.join("\n") + "\n```",
      );
    }
    scopes = authorized;
  }
  return { key, scopes };
}

/** The access token of temporary credentials: base64url HMAC of the seed, no padding. */
export function temporaryAccessToken(issuerAccessToken: string, seed: string): string {
  return createHmac("sha256", issuerAccessToken).update(seed).digest("base64")
    .replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

function parseExt(raw: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(base64Bytes(raw)));
  } catch {
    throw new HawkRejection("Failed to parse ext");
  }
  if (!isObject(parsed)) throw new HawkRejection("Failed to parse ext");
  return parsed;
}

function base64Bytes(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (char) => char.charCodeAt(0));
}

function checkCertificate(
  certificate: unknown,
  now: number,
): asserts certificate is Record<string, unknown> {
  if (!isObject(certificate)) throw new HawkRejection("ext.certificate must be a JSON object");
  if (certificate.version !== 1) throw new HawkRejection("ext.certificate.version must be 1");
  if (typeof certificate.seed !== "string") {
    throw new HawkRejection("ext.certificate.seed must be a string");
  }
  if (certificate.seed.length !== 44) {
    throw new HawkRejection("ext.certificate.seed must be 44 characters");
  }
  if (typeof certificate.start !== "number") {
    throw new HawkRejection("ext.certificate.start must be a number");
  }
  if (typeof certificate.expiry !== "number") {
    throw new HawkRejection("ext.certificate.expiry must be a number");
  }
  if (!Array.isArray(certificate.scopes)) {
    throw new HawkRejection("ext.certificate.scopes must be an array");
  }
  if (!certificate.scopes.every(isValidScope)) {
    throw new HawkRejection("ext.certificate.scopes must be an array of valid scopes");
  }
  if (certificate.start > now + CERT_SKEW_MS) {
    throw new HawkRejection("ext.certificate.start > now");
  }
  if (certificate.expiry < now - CERT_SKEW_MS) {
    throw new HawkRejection("ext.certificate.expiry < now");
  }
  if (certificate.expiry - certificate.start > CERT_MAX_MS) {
    throw new HawkRejection("ext.certificate cannot last longer than 31 days!");
  }
}

function isValidScope(scope: unknown): scope is string {
  return typeof scope === "string" && /^[\x20-\x7e]*$/.test(scope);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Issues temporary credentials the way Taskcluster clients do, for tests: a certificate
 * signed with the issuer's token and the derived access token. `name` makes them named
 * temporary credentials (the issuer then needs `auth:create-client:<name>`).
 */
export function createTemporaryCredentials(
  issuer: { clientId: string; accessToken: string },
  options: {
    scopes: readonly string[];
    start: number;
    expiry: number;
    name?: string;
    seed?: string;
  },
): { clientId: string; accessToken: string; certificate: Record<string, unknown> } {
  const seed = options.seed ?? randomSeed();
  const lines = ["version:1"];
  if (options.name !== undefined) {
    lines.push(`clientId:${options.name}`, `issuer:${issuer.clientId}`);
  }
  lines.push(
    `seed:${seed}`,
    `start:${options.start}`,
    `expiry:${options.expiry}`,
    "scopes:",
    ...options.scopes,
  );
  const certificate: Record<string, unknown> = {
    version: 1,
    scopes: [...options.scopes],
    start: options.start,
    expiry: options.expiry,
    seed,
    signature: createHmac("sha256", issuer.accessToken).update(lines.join("\n")).digest("base64"),
  };
  if (options.name !== undefined) certificate.issuer = issuer.clientId;
  return {
    clientId: options.name ?? issuer.clientId,
    accessToken: temporaryAccessToken(issuer.accessToken, seed),
    certificate,
  };
}

function randomSeed(): string {
  // Taskcluster's seeds are two slug ids: 44 characters of base64url.
  const bytes = crypto.getRandomValues(new Uint8Array(33));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_");
}

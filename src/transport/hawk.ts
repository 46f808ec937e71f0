/**
 * Hawk request signing as Taskcluster uses it (HMAC-SHA256, header scheme, optional
 * payload hash, `ext` carrying a temporary-credentials certificate and `authorizedScopes`).
 *
 * Pure: no I/O, no clock and no randomness of its own. The caller passes the timestamp and
 * nonce, which keeps signatures reproducible in tests. The fake server verifies with the
 * same `normalizedString` / `calculateMac`, so both sides agree on one definition.
 *
 * @module
 */

import { loadNodeCrypto } from "../node_crypto.ts";

/** Permanent or temporary Taskcluster credentials. */
export interface TaskclusterCredentials {
  readonly clientId: string;
  readonly accessToken: string;
  /** Temporary credentials: the certificate, as the JSON object Taskcluster issued. */
  readonly certificate?: Record<string, unknown> | undefined;
  /** Restricts the request to a subset of the client's scopes. */
  readonly authorizedScopes?: readonly string[] | undefined;
}

/** The parts of a request that a Hawk MAC covers. */
export interface HawkArtifacts {
  readonly ts: number;
  readonly nonce: string;
  readonly method: string;
  /** Path plus query string, exactly as sent. */
  readonly resource: string;
  readonly host: string;
  readonly port: number;
  /** Base64 payload hash, or empty. */
  readonly hash: string;
  /** The `ext` attribute, or empty. */
  readonly ext: string;
}

/** The string a Hawk MAC is computed over (Hawk 1, `header` type). */
export function normalizedString(type: "header" | "response", artifacts: HawkArtifacts): string {
  return [
    `hawk.1.${type}`,
    String(artifacts.ts),
    artifacts.nonce,
    artifacts.method.toUpperCase(),
    artifacts.resource,
    artifacts.host.toLowerCase(),
    String(artifacts.port),
    artifacts.hash,
    // Hawk escapes backslashes and newlines in ext, so the line structure cannot be forged.
    artifacts.ext.replaceAll("\\", "\\\\").replaceAll("\n", "\\n"),
    "",
  ].join("\n");
}

/** Base64 HMAC-SHA256 of the normalized string, keyed by the access token. */
export function calculateMac(
  key: string,
  type: "header" | "response",
  artifacts: HawkArtifacts,
): string {
  return loadNodeCrypto().createHmac("sha256", key).update(normalizedString(type, artifacts))
    .digest("base64");
}

/** Base64 SHA-256 payload hash, over the content type without parameters. */
export function calculatePayloadHash(payload: string | Uint8Array, contentType: string): string {
  const mediaType = (contentType.split(";")[0] ?? "").trim().toLowerCase();
  return loadNodeCrypto().createHash("sha256")
    .update(`hawk.1.payload\n${mediaType}\n`)
    .update(payload)
    .update("\n")
    .digest("base64");
}

/**
 * The `ext` value Taskcluster expects: base64 of a JSON object with `certificate`
 * and/or `authorizedScopes`, or empty when the credentials need neither.
 */
export function taskclusterExt(credentials: TaskclusterCredentials): string {
  const ext: Record<string, unknown> = {};
  if (credentials.certificate !== undefined) ext.certificate = credentials.certificate;
  if (credentials.authorizedScopes !== undefined) {
    ext.authorizedScopes = [...credentials.authorizedScopes];
  }
  if (Object.keys(ext).length === 0) return "";
  return btoa(JSON.stringify(ext));
}

/** What a caller supplies to sign one request. */
export interface HawkRequest {
  readonly method: string;
  readonly url: URL;
  /** Seconds since the epoch. */
  readonly ts: number;
  readonly nonce: string;
  /** Hash of the body, for requests that have one (see `calculatePayloadHash`). */
  readonly payloadHash?: string | undefined;
}

/** Builds the `Authorization: Hawk ...` header value for one request. */
export function hawkHeader(credentials: TaskclusterCredentials, request: HawkRequest): string {
  const { url } = request;
  const port = url.port !== "" ? Number(url.port) : url.protocol === "https:" ? 443 : 80;
  const artifacts: HawkArtifacts = {
    ts: request.ts,
    nonce: request.nonce,
    method: request.method,
    resource: url.pathname + url.search,
    host: url.hostname,
    port,
    hash: request.payloadHash ?? "",
    ext: taskclusterExt(credentials),
  };
  const mac = calculateMac(credentials.accessToken, "header", artifacts);
  const attributes = [
    `id="${credentials.clientId}"`,
    `ts="${artifacts.ts}"`,
    `nonce="${artifacts.nonce}"`,
  ];
  if (artifacts.hash !== "") attributes.push(`hash="${artifacts.hash}"`);
  if (artifacts.ext !== "") attributes.push(`ext="${artifacts.ext}"`);
  attributes.push(`mac="${mac}"`);
  return `Hawk ${attributes.join(", ")}`;
}

/**
 * Parses the attributes of a `Hawk ...` header (for the server side and tests).
 * Returns undefined when the header is not a well-formed Hawk header.
 */
export function parseHawkHeader(header: string): Record<string, string> | undefined {
  const match = /^Hawk\s+(.*)$/i.exec(header.trim());
  if (match === null) return undefined;
  const attributes: Record<string, string> = {};
  const rest = match[1] ?? "";
  const attribute = /\s*(\w+)="([^"\\]*)"\s*(?:,|$)/y;
  let index = 0;
  while (index < rest.length) {
    attribute.lastIndex = index;
    const found = attribute.exec(rest);
    if (found === null) return undefined;
    const [, name = "", value = ""] = found;
    if (name in attributes) return undefined;
    attributes[name] = value;
    index = attribute.lastIndex;
  }
  return attributes;
}

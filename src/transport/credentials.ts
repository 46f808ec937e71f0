/**
 * Where credentials come from, as tooltool.py looks for them, and the Authorization header
 * they produce.
 *
 * Order: `--authentication-file` (JSON Taskcluster credentials, or else a bearer token),
 * then `TASKCLUSTER_CLIENT_ID` / `TASKCLUSTER_ACCESS_TOKEN` (/ `TASKCLUSTER_CERTIFICATE`),
 * else anonymous. Requests to `TASKCLUSTER_PROXY_URL` are sent unsigned: the proxy signs
 * them. Everything is checked before the first request, and no message ever contains a
 * secret (not even a fragment of a file that failed to parse).
 *
 * @module
 */

import { readBoundedFile, UnreadableFileError } from "../bounded_read.ts";
import { CredentialsError } from "../errors.ts";
import { hawkHeader, type TaskclusterCredentials } from "./hawk.ts";

/** The credentials a command runs with. `source` says where they came from, for `-v`. */
export type Credentials =
  | { readonly kind: "none" }
  | { readonly kind: "hawk"; readonly hawk: TaskclusterCredentials; readonly source: string }
  | { readonly kind: "bearer"; readonly token: string; readonly source: string };

/** Reads an environment variable. */
export type EnvReader = (name: string) => string | undefined;

/** Credentials are a few hundred bytes; a file this large is the wrong file. */
export const MAX_CREDENTIALS_BYTES = 1024 * 1024;

/** Temporary credentials are refused this long before they expire, so a request cannot race it. */
const EXPIRY_MARGIN_MS = 30_000;

/** Where `loadCredentials` looks, and whom it tells about a file others can read. */
export interface LoadCredentialsOptions {
  readonly authenticationFile?: string | undefined;
  /**
   * Told once when the credentials file is readable or writable by group or others (as
   * ssh warns about keys); the message names the file and the fix, never the content.
   */
  readonly warn?: ((message: string) => void) | undefined;
}

/**
 * Finds and checks the credentials for this run. Throws `CredentialsError` for a file that
 * cannot be read, malformed JSON credentials, half-set environment variables, or temporary
 * credentials that have expired.
 */
export async function loadCredentials(
  options: LoadCredentialsOptions,
  env: EnvReader,
  now: () => number = Date.now,
): Promise<Credentials> {
  if (options.authenticationFile !== undefined) {
    const path = options.authenticationFile;
    let text: string;
    try {
      // Only a regular file, checked before it is opened: `/dev/zero` must not be read
      // forever, a FIFO must not block the process where Ctrl-C cannot reach it.
      const bytes = await readBoundedFile(path, { limit: MAX_CREDENTIALS_BYTES, kinds: "regular" });
      text = new TextDecoder().decode(bytes);
    } catch (error) {
      const reason = error instanceof Deno.errors.NotFound
        ? "file not found"
        : error instanceof Deno.errors.PermissionDenied
        ? "permission denied"
        : error instanceof Deno.errors.IsADirectory
        ? "it is a directory"
        : error instanceof UnreadableFileError
        ? error.message
        : "it cannot be read";
      throw new CredentialsError(`Cannot read credentials "${path}": ${reason}`, {
        hint: "--authentication-file names a JSON file with clientId and accessToken",
      });
    }
    const credentials = parseCredentialsFile(text, path, now);
    const exposed = await exposureOf(path);
    if (exposed !== undefined) options.warn?.(exposed);
    return credentials;
  }
  const clientId = env("TASKCLUSTER_CLIENT_ID");
  const accessToken = env("TASKCLUSTER_ACCESS_TOKEN");
  if (!clientId && !accessToken) return { kind: "none" };
  if (!clientId || !accessToken) {
    const missing = clientId ? "TASKCLUSTER_ACCESS_TOKEN" : "TASKCLUSTER_CLIENT_ID";
    throw new CredentialsError(
      `Cannot use Taskcluster credentials from the environment: ${missing} is not set`,
      { hint: "set both TASKCLUSTER_CLIENT_ID and TASKCLUSTER_ACCESS_TOKEN, or neither" },
    );
  }
  const source = "the TASKCLUSTER_* environment variables";
  const certificateText = env("TASKCLUSTER_CERTIFICATE");
  const certificate = certificateText ? parseCertificate(certificateText, source) : undefined;
  const hawk: TaskclusterCredentials = { clientId, accessToken, certificate };
  checkExpiry(hawk, source, now);
  return { kind: "hawk", hawk, source };
}

/**
 * tooltool.py's rule, made stricter where it would send garbage: a file holding a JSON
 * object is Taskcluster credentials; any other content is a bearer token. Content that
 * starts with `{` but is not valid JSON is an error rather than a token.
 */
export function parseCredentialsFile(
  text: string,
  path: string,
  now: () => number = Date.now,
): Credentials {
  const content = text.trim();
  const source = `"${path}"`;
  if (content === "") {
    throw new CredentialsError(`Cannot use credentials ${source}: the file is empty`);
  }
  if (!content.startsWith("{")) {
    // deno-lint-ignore no-control-regex -- control characters are exactly what a header cannot carry
    if (/[\s\x00-\x1f\x7f]/.test(content)) {
      throw new CredentialsError(
        `Cannot use credentials ${source}: a bearer token must be one word on one line`,
        { hint: "for Taskcluster credentials, write JSON with clientId and accessToken" },
      );
    }
    return { kind: "bearer", token: content, source };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(content);
  } catch {
    throw new CredentialsError(`Cannot use credentials ${source}: the file is not valid JSON`);
  }
  const record = parsed as Record<string, unknown>;
  for (const field of ["clientId", "accessToken"] as const) {
    if (typeof record[field] !== "string" || record[field] === "") {
      throw new CredentialsError(
        `Cannot use credentials ${source}: "${field}" is missing or not a string`,
      );
    }
  }
  let certificate: Record<string, unknown> | undefined;
  if (record.certificate !== undefined && record.certificate !== null) {
    certificate = typeof record.certificate === "string"
      ? parseCertificate(record.certificate, source)
      : asCertificate(record.certificate, source);
  }
  let authorizedScopes: string[] | undefined;
  if (record.authorizedScopes !== undefined) {
    const scopes = record.authorizedScopes;
    if (!Array.isArray(scopes) || !scopes.every((scope) => typeof scope === "string")) {
      throw new CredentialsError(
        `Cannot use credentials ${source}: "authorizedScopes" must be a list of strings`,
      );
    }
    authorizedScopes = scopes;
  }
  const hawk: TaskclusterCredentials = {
    clientId: record.clientId as string,
    accessToken: record.accessToken as string,
    certificate,
    authorizedScopes,
  };
  checkExpiry(hawk, source, now);
  return { kind: "hawk", hawk, source };
}

/**
 * A warning when the file's mode lets group or others read or write it, else undefined.
 * Only a warning, as ssh does for keys: the file still works (CI images often run as root
 * with a umask of 022), but the user should know and can fix it at once.
 */
export async function exposureOf(path: string): Promise<string | undefined> {
  let mode: number | null;
  try {
    mode = (await Deno.stat(path)).mode;
  } catch {
    return undefined;
  }
  // No mode (Windows): nothing to say.
  if (mode === null || (mode & 0o077) === 0) return undefined;
  const octal = (mode & 0o777).toString(8).padStart(4, "0");
  const who = (mode & 0o007) !== 0 ? "others" : "its group";
  return `credentials "${path}" are accessible to ${who} (mode ${octal}); protect them with: chmod 600 ${
    shellQuote(path)
  }`;
}

/** `path` as one shell word, for a command the user may paste. */
function shellQuote(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replaceAll("'", `'\\''`)}'`;
}

function parseCertificate(text: string, source: string): Record<string, unknown> {
  try {
    return asCertificate(JSON.parse(text), source);
  } catch (error) {
    if (error instanceof CredentialsError) throw error;
    throw new CredentialsError(
      `Cannot use credentials ${source}: the certificate is not valid JSON`,
    );
  }
}

function asCertificate(value: unknown, source: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new CredentialsError(
      `Cannot use credentials ${source}: the certificate is not an object`,
    );
  }
  const certificate = value as Record<string, unknown>;
  for (const field of ["start", "expiry"] as const) {
    if (typeof certificate[field] !== "number") {
      throw new CredentialsError(
        `Cannot use credentials ${source}: the certificate has no numeric "${field}"`,
      );
    }
  }
  return certificate;
}

function checkExpiry(hawk: TaskclusterCredentials, source: string, now: () => number): void {
  const expiry = hawk.certificate?.expiry;
  if (typeof expiry !== "number") return;
  if (expiry - EXPIRY_MARGIN_MS <= now()) {
    throw new CredentialsError(
      `Cannot use credentials ${source}: the temporary credentials expired at ${
        new Date(expiry).toISOString()
      }`,
      { hint: "ask Taskcluster for new temporary credentials" },
    );
  }
}

/** What one request needs signed. */
export interface SignableRequest {
  readonly method: string;
  readonly url: URL;
  /** Hawk payload hash of the body (see `calculatePayloadHash`), for requests with one. */
  readonly payloadHash?: string | undefined;
}

/**
 * The Authorization header for a request to the API, or undefined to send none: anonymous,
 * or routed through the Taskcluster proxy, which adds its own.
 */
export function authorizationFor(
  credentials: Credentials,
  request: SignableRequest,
  env: EnvReader,
  clock: { now?: () => number; nonce?: () => string } = {},
): string | undefined {
  if (viaProxy(request.url.href, env)) return undefined;
  switch (credentials.kind) {
    case "none":
      return undefined;
    case "bearer":
      return `Bearer ${credentials.token}`;
    case "hawk": {
      // The ToolTool service hands Taskcluster Flask's `request.path` as the Hawk resource:
      // the path without the query. A MAC over `?region=...` too (as tooltool.py signs)
      // fails there, and the request silently runs as anonymous.
      const url = new URL(request.url.href);
      url.search = "";
      return hawkHeader(credentials.hawk, {
        method: request.method,
        url,
        ts: Math.floor((clock.now ?? Date.now)() / 1000),
        nonce: (clock.nonce ?? randomNonce)(),
        payloadHash: request.payloadHash,
      });
    }
  }
}

/**
 * Whether requests to `url` go through `TASKCLUSTER_PROXY_URL`, which signs them itself:
 * such requests need no credentials of ours.
 */
export function viaProxy(url: string, env: EnvReader): boolean {
  const proxy = env("TASKCLUSTER_PROXY_URL");
  return !!proxy && url.startsWith(proxy.endsWith("/") ? proxy : `${proxy}/`);
}

/**
 * Refuses to go on anonymously where the server would refuse anyway: anonymous callers
 * hold no scope, so uploading and managing files need credentials, unless every URL goes
 * through the Taskcluster proxy, which signs for us. `what` starts the message
 * (`Cannot upload manifest "m.tt" to https://host/`).
 */
export function requireCredentials(
  credentials: Credentials,
  urls: readonly string[],
  env: EnvReader,
  what: string,
): void {
  if (credentials.kind !== "none") return;
  if (urls.length > 0 && urls.every((url) => viaProxy(url, env))) return;
  throw new CredentialsError(`${what}: no credentials`, {
    hint:
      "give --authentication-file FILE, or set TASKCLUSTER_CLIENT_ID and TASKCLUSTER_ACCESS_TOKEN",
  });
}

function randomNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_");
}

/** A description of the credentials that is safe to print (never the secret). */
export function describeCredentials(credentials: Credentials): string {
  switch (credentials.kind) {
    case "none":
      return "no credentials (anonymous)";
    case "bearer":
      return `a bearer token from ${credentials.source}`;
    case "hawk":
      return `Taskcluster client "${credentials.hawk.clientId}"${
        credentials.hawk.certificate ? " (temporary credentials)" : ""
      } from ${credentials.source}`;
  }
}

/**
 * # Fake ToolTool server
 *
 * A local stand-in for the ToolTool service (Flask + PostgreSQL + S3) that answers the way
 * production does wherever a client can tell, so the client is tested against the protocol
 * rather than against itself. Two listeners on 127.0.0.1: the API, and an S3-like storage
 * origin on another port that serves signed, expiring URLs (so a download redirect crosses
 * origins, as it does in production).
 *
 * ```ts
 * const server = await startFakeServer({
 *   clients: { "tester": { accessToken: "secret", scopes: ["project:releng:services/tooltool/api/*"] } },
 * });
 * const { digest, size } = await server.addFile(new TextEncoder().encode("hello"));
 * server.fault({ kind: "status", status: 500, times: 2 });        // first two requests fail
 * server.fault({ kind: "flip-byte", offset: 0, digest, times: 1 }); // first download corrupt
 * // ... run the client against server.url ...
 * assert.deepEqual(server.requests.map((r) => r.status), [500, 500, 302, 200, 302, 200]);
 * await server.close();
 * ```
 *
 * API: `GET /sha512/<d>` (302 to storage), `POST /upload[?region=]`, PUT to the `put_url`,
 * `GET /upload/complete/sha512/<d>` (409 + `X-Retry-After` until the URL expires, then the
 * upload is verified at once and 202), `GET|PATCH /file/sha512/<d>`, `GET /file?q=`,
 * `GET /upload?q=`, `GET /upload/<id>`, `/__heartbeat__`, `/__lbheartbeat__`,
 * `/__version__`, `/__permissions__`. Errors have production's shapes: werkzeug errors as
 * `{"error": {...problem...}}` (`application/json`), request-validation errors as a bare
 * problem document (`application/problem+json`), storage errors as S3 XML.
 *
 * Auth is Taskcluster Hawk, verified locally against `clients` (see `auth.ts`), including
 * temporary credentials and `authorizedScopes`. As in production, a Hawk header that does
 * not verify leaves the caller anonymous (never a 401; the request log records why), a
 * `Bearer` token is anonymous, credentials are only looked at by routes that need a caller,
 * and the MAC is checked over the path without the query string.
 *
 * Faults (see `faults.ts`) are added with `fault()` in-process or `POST /__control__/faults`
 * from another process; `GET /__control__/requests` returns the request log. Full guide:
 * `docs/fake-server.md`.
 *
 * @module
 */

import { join } from "node:path";
import { type ApiRequest, decodedPath, handleApi } from "./api.ts";
import { type Caller, type ClientConfig, HawkRejection, verifyHawk } from "./auth.ts";
import {
  abortable,
  type ActiveFault,
  FaultBook,
  type FaultRule,
  type FaultTarget,
  parseFaultRule,
  type RetryAfterFault,
  type ServerOrigin,
  shapeBody,
  type StatusFault,
} from "./faults.ts";
import { flaskJson, reasonPhrase, s3ErrorForStatus, werkzeugError } from "./responses.ts";
import { handleStorage, type UploadSignature, UrlSigner } from "./storage.ts";
import { FileStore, type Visibility } from "./store.ts";

export type { ActiveFault, ClientConfig, FaultRule, ServerOrigin, UploadSignature, Visibility };
export type {
  DropAfterFault,
  ExpiredRedirectFault,
  FaultScope,
  FlipByteFault,
  HangFault,
  RetryAfterFault,
  SlowFault,
  StatusFault,
} from "./faults.ts";
export { parseFaultRule } from "./faults.ts";
export { createTemporaryCredentials, scopeSatisfied } from "./auth.ts";
export { SCOPE_PREFIX } from "./api.ts";

/** How to start a fake server. Every field has a default fit for tests. */
export interface FakeServerOptions {
  /** API port; 0 (the default) picks any free port. */
  port?: number;
  /** Storage origin port; 0 (the default) picks any free port. */
  storagePort?: number;
  /** Where blobs and records live; default: a fresh temp dir, removed on `close()`. */
  storageDir?: string;
  /** Taskcluster clients the server accepts; without any, only anonymous access works. */
  clients?: Record<string, { accessToken: string; scopes: string[] }>;
  /** Lifetime of signed upload URLs (production: 60). */
  uploadExpiresSeconds?: number;
  /** Lifetime of signed download URLs (production: 60). */
  downloadExpiresSeconds?: number;
  /** Production's ALLOW_ANONYMOUS_PUBLIC_DOWNLOAD (default true). */
  anonymousPublicDownload?: boolean;
  /** How upload URLs are signed: `"v2"` (default, production's boto3) or `"v4"`. */
  uploadSignature?: UploadSignature;
  /**
   * How far the service's clock is from this machine's, in seconds (default 0): URL expiry,
   * storage's expiry check, `upload/complete` and the API's `Date` header use it. Hawk's
   * timestamp check too.
   */
  clockOffsetSeconds?: number;
  /** Headers added to every storage response, as a CDN in front of it would (`x-cache`...). */
  storageHeaders?: Record<string, string>;
  /**
   * Where download redirects point instead of the built-in storage listener, with a trailing
   * slash: an nginx serving `storageDir` as `<url>/sha512/<digest>` (benchmarks, whose
   * server side should cost the machine what an object store far away costs it: next to
   * nothing). It checks no signature; uploads still go to the built-in listener.
   */
  downloadOrigin?: string;
}

/** One request as the server saw it, in arrival order. */
export interface RecordedRequest {
  origin: "api" | "storage";
  method: string;
  /** The full URL as received. */
  url: string;
  /** The status answered; 0 while pending, and for a request left hanging. */
  status: number;
  /** Whether the request carried an `Authorization` header (storage must never get one). */
  hasAuthorization: boolean;
  /** The `Range` header, if any. */
  range?: string | undefined;
  /** The Taskcluster clientId that authenticated the request, if any. */
  clientId?: string | undefined;
  /**
   * Why a Hawk header was rejected (`Bad mac`, `Stale timestamp`, ...): the request went on
   * as anonymous, as production's does; this is what production only logs.
   */
  authRejection?: string | undefined;
}

/** A running fake server. */
export interface FakeServer {
  /** API base URL with a trailing slash, e.g. `http://127.0.0.1:41234/`. */
  readonly url: string;
  /** Storage origin (another port), with a trailing slash. */
  readonly storageUrl: string;
  /** Every API and storage request, in arrival order (control requests are not logged). */
  readonly requests: RecordedRequest[];
  /** The storage folder (blobs named by digest, `<digest>.json` records beside them). */
  readonly storageDir: string;
  /** Stores a file as if it had been uploaded and verified; returns its digest and size. */
  addFile(
    content: Uint8Array,
    options?: { visibility?: "public" | "internal" },
  ): Promise<{ digest: string; size: number }>;
  /** Adds a fault rule (see `FaultRule`). */
  fault(rule: FaultRule): void;
  /** Removes every fault rule. */
  clearFaults(): void;
  /** Stops both listeners, ends hanging and slow responses, removes a temp storage dir. */
  close(): Promise<void>;
}

interface ServerState {
  readonly store: FileStore;
  readonly faults: FaultBook;
  readonly signer: UrlSigner;
  readonly clients: Readonly<Record<string, ClientConfig>>;
  readonly requests: RecordedRequest[];
  readonly closing: AbortSignal;
  /** The service's clock (see `clockOffsetSeconds`). */
  readonly now: () => number;
  readonly options: Required<
    Pick<
      FakeServerOptions,
      "uploadExpiresSeconds" | "downloadExpiresSeconds" | "anonymousPublicDownload"
    >
  >;
}

/** Largest API request body read (batches of many files are still far below this). */
const MAX_API_BODY = 16 * 1024 * 1024;

/**
 * Starts the API and storage listeners on 127.0.0.1 and resolves once both accept
 * connections. Close it with `close()` (tests: in a `finally`).
 */
export async function startFakeServer(options: FakeServerOptions = {}): Promise<FakeServer> {
  const ownsDir = options.storageDir === undefined;
  const dir = options.storageDir ?? await Deno.makeTempDir({ prefix: "fake-tooltool-" });
  const store = await FileStore.open(dir);
  const closing = new AbortController();
  const requests: RecordedRequest[] = [];
  const faults = new FaultBook();

  const storageServer = Deno.serve({
    hostname: "127.0.0.1",
    port: options.storagePort ?? 0,
    onListen: () => {},
  }, async (request) => withHeaders(await serveStorage(request, state), options.storageHeaders));
  const storageUrl = `http://127.0.0.1:${storageServer.addr.port}/`;
  const state: ServerState = {
    store,
    faults,
    signer: new UrlSigner(storageUrl, {
      uploadSignature: options.uploadSignature ?? "v2",
      ...(options.downloadOrigin === undefined ? {} : { downloadBase: options.downloadOrigin }),
    }),
    clients: options.clients ?? {},
    requests,
    closing: closing.signal,
    now: () => Date.now() + (options.clockOffsetSeconds ?? 0) * 1000,
    options: {
      uploadExpiresSeconds: options.uploadExpiresSeconds ?? 60,
      downloadExpiresSeconds: options.downloadExpiresSeconds ?? 60,
      anonymousPublicDownload: options.anonymousPublicDownload ?? true,
    },
  };
  let apiServer: Deno.HttpServer<Deno.NetAddr>;
  try {
    apiServer = Deno.serve({
      hostname: "127.0.0.1",
      port: options.port ?? 0,
      onListen: () => {},
    }, (request) => serveApi(request, state));
  } catch (error) {
    await storageServer.shutdown();
    throw error;
  }

  let closed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${apiServer.addr.port}/`,
    storageUrl,
    requests,
    storageDir: dir,
    addFile(content, fileOptions = {}) {
      return store.ingest(ReadableStream.from([content]), fileOptions.visibility ?? "public");
    },
    fault(rule) {
      faults.add(parseFaultRule(rule));
    },
    clearFaults() {
      faults.clear();
    },
    close() {
      closed ??= (async () => {
        closing.abort();
        await Promise.all([apiServer.shutdown(), storageServer.shutdown()]);
        if (ownsDir) await Deno.remove(dir, { recursive: true }).catch(() => {});
      })();
      return closed;
    },
  };
}

function withHeaders(response: Response, extra: Record<string, string> | undefined): Response {
  for (const [name, value] of Object.entries(extra ?? {})) response.headers.set(name, value);
  return response;
}

function record(request: Request, origin: ServerOrigin, state: ServerState): RecordedRequest {
  const entry: RecordedRequest = {
    origin,
    method: request.method,
    url: request.url,
    status: 0,
    hasAuthorization: request.headers.has("authorization"),
    range: request.headers.get("range") ?? undefined,
  };
  state.requests.push(entry);
  return entry;
}

/**
 * Never answers until the server closes. (`request.signal` would also tell when the client
 * gives up, but reading it makes Deno print a deprecation notice on every run.)
 */
async function hang(state: ServerState): Promise<Response> {
  await abortable(new Promise<never>(() => {}), state.closing).catch(() => {});
  return new Response(null, { status: 503 });
}

/** The response a replacing fault rule gives, in the origin's own error dialect. */
function faultResponse(
  origin: ServerOrigin,
  rule: StatusFault | RetryAfterFault,
): Response {
  if (rule.kind === "status" && rule.body !== undefined) {
    return new Response(rule.body, {
      status: rule.status,
      headers: { "content-type": rule.contentType ?? "text/plain; charset=utf-8" },
    });
  }
  const status = rule.status ?? 429;
  const response = origin === "api" ? werkzeugError(status) : s3ErrorForStatus(status);
  if (rule.kind === "retry-after") response.headers.set("retry-after", String(rule.seconds));
  return response;
}

/** Applies body faults to a successful response; buffers small API bodies to know their length. */
async function shape(
  response: Response,
  target: FaultTarget,
  bodyStart: number,
  state: ServerState,
): Promise<Response> {
  if (response.status < 200 || response.status > 299 || response.body === null) return response;
  if (!state.faults.hasBodyRuleFor(target)) return response;
  const headers = new Headers(response.headers);
  let body = response.body;
  if (!headers.has("content-length")) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    headers.set("content-length", String(bytes.length));
    body = ReadableStream.from([bytes]);
  }
  const length = Number(headers.get("content-length"));
  const bodyShape = state.faults.takeBodyShape({ ...target, start: bodyStart, length });
  const shaped = bodyShape === undefined
    ? body
    : shapeBody(body, bodyShape, { start: bodyStart, signal: state.closing });
  return new Response(shaped, { status: response.status, headers });
}

async function serveStorage(request: Request, state: ServerState): Promise<Response> {
  const url = new URL(request.url);
  const entry = record(request, "storage", state);
  const target: FaultTarget = { origin: "storage", method: request.method, path: url.pathname };
  const fault = state.faults.takeResponseFault(target);
  if (fault?.kind === "hang") return hang(state);
  if (fault !== undefined) {
    await request.body?.cancel().catch(() => {});
    const response = faultResponse("storage", fault);
    entry.status = response.status;
    return response;
  }
  let response: Response;
  let bodyStart = 0;
  try {
    ({ response, bodyStart } = await handleStorage(request, url, {
      store: state.store,
      signer: state.signer,
      now: state.now,
    }));
  } catch (error) {
    console.error("fake storage: internal error:", error);
    response = s3ErrorForStatus(500);
  }
  entry.status = response.status;
  return shape(response, target, bodyStart, state);
}

async function serveApi(request: Request, state: ServerState): Promise<Response> {
  const url = new URL(request.url);
  if (url.pathname.startsWith("/__control__/")) return control(request, url, state);
  const entry = record(request, "api", state);
  const target: FaultTarget = { origin: "api", method: request.method, path: url.pathname };
  const fault = state.faults.takeResponseFault(target);
  if (fault?.kind === "hang") return hang(state);
  let response: Response;
  if (fault !== undefined) {
    await request.body?.cancel().catch(() => {});
    response = faultResponse("api", fault);
  } else {
    try {
      response = await answerApi(request, url, entry, state);
    } catch (error) {
      console.error("fake api: internal error:", error);
      response = werkzeugError(500);
    }
  }
  entry.status = response.status;
  // What a client can learn the service's clock from (production's is its own).
  response.headers.set("date", new Date(state.now()).toUTCString());
  return shape(response, target, 0, state);
}

function answerApi(
  request: Request,
  url: URL,
  entry: RecordedRequest,
  state: ServerState,
): Promise<Response> {
  const authenticate = async (verify: boolean): Promise<ApiRequest | Response> => {
    // Production reads `Authorization`, then `Authentication`; only a value starting with
    // "Hawk" is checked, anything else (a relengapi Bearer token) leaves the caller anonymous.
    const authorization = request.headers.get("authorization") ??
      request.headers.get("authentication");
    const body = await readSmallBody(request);
    if (body === undefined) return werkzeugError(413);
    const contentType = request.headers.get("content-type") ?? "";
    // flask_login asks the request loader only when a handler first looks at
    // `current_user`, so routes that never do (upload complete, file info, public
    // downloads) never check credentials: the caller is worked out on first use.
    let caller: Caller | undefined;
    const identify = (): Caller => {
      if (!verify || !authorization?.startsWith("Hawk")) return { kind: "anonymous" };
      try {
        const client = verifyHawk({
          method: request.method,
          resource: decodedPath(url),
          host: request.headers.get("host") ?? url.host,
          forwardedPort: request.headers.get("x-forwarded-port") ?? undefined,
          scheme: url.protocol === "https:" ? "https" : "http",
          authorization,
          now: state.now(),
        }, state.clients);
        entry.clientId = client.clientId;
        return client;
      } catch (error) {
        if (!(error instanceof HawkRejection)) throw error;
        // Production logs "TC auth error" and goes on as anonymous: never a 401.
        entry.authRejection = error.message;
        return { kind: "anonymous" };
      }
    };
    return {
      method: request.method.toUpperCase(),
      url,
      get caller() {
        return caller ??= identify();
      },
      contentType,
      body,
    };
  };
  return handleApi({ method: request.method.toUpperCase(), url, authenticate }, {
    store: state.store,
    signer: state.signer,
    now: state.now,
    uploadExpiresSeconds: state.options.uploadExpiresSeconds,
    downloadExpiresSeconds: state.options.downloadExpiresSeconds,
    anonymousPublicDownload: state.options.anonymousPublicDownload,
    takeExpiredRedirect: () =>
      state.faults.takeExpiredRedirect({
        origin: "api",
        method: request.method,
        path: url.pathname,
      }),
  });
}

async function readSmallBody(request: Request): Promise<Uint8Array | undefined> {
  if (request.body === null) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of request.body) {
    size += chunk.length;
    if (size > MAX_API_BODY) return undefined;
    chunks.push(chunk);
  }
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.length;
  }
  return body;
}

/**
 * `/__control__/...`: drive the server from another process.
 * `GET|DELETE requests`, `GET|POST|DELETE faults`, `GET|POST files`.
 */
async function control(request: Request, url: URL, state: ServerState): Promise<Response> {
  const what = url.pathname.slice("/__control__/".length);
  const method = request.method.toUpperCase();
  try {
    switch (`${method} ${what}`) {
      case "GET requests":
        return flaskJson(state.requests);
      case "DELETE requests":
        state.requests.length = 0;
        return new Response(null, { status: 204 });
      case "GET faults":
        return flaskJson(state.faults.list());
      case "POST faults": {
        const parsed: unknown = await request.json();
        const rules = (Array.isArray(parsed) ? parsed : [parsed]).map(parseFaultRule);
        for (const rule of rules) state.faults.add(rule);
        return flaskJson({ added: rules.length }, 201);
      }
      case "DELETE faults":
        state.faults.clear();
        return new Response(null, { status: 204 });
      case "GET files":
        return flaskJson(state.store.files());
      case "POST files": {
        const visibility = url.searchParams.get("visibility") ?? "public";
        if (visibility !== "public" && visibility !== "internal") {
          throw new TypeError(`Cannot add file: unknown visibility "${visibility}"`);
        }
        const added = await state.store.ingest(request.body ?? ReadableStream.from([]), visibility);
        return flaskJson(added, 201);
      }
      default:
        await request.body?.cancel().catch(() => {});
        return flaskJson({ error: `No control endpoint ${method} ${url.pathname}` }, 404);
    }
  } catch (error) {
    return flaskJson({ error: error instanceof Error ? error.message : String(error) }, 400);
  }
}

/** Reads a `--clients` file: `{"<clientId>": {"accessToken": "...", "scopes": ["..."]}}`. */
export async function loadClientsFile(
  path: string,
): Promise<Record<string, { accessToken: string; scopes: string[] }>> {
  const parsed: unknown = JSON.parse(await Deno.readTextFile(path));
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new TypeError(`Cannot read clients file "${path}": expected a JSON object`);
  }
  const clients: Record<string, { accessToken: string; scopes: string[] }> = {};
  for (const [clientId, value] of Object.entries(parsed)) {
    const client = value as { accessToken?: unknown; scopes?: unknown };
    if (
      typeof client?.accessToken !== "string" || !Array.isArray(client.scopes) ||
      !client.scopes.every((scope) => typeof scope === "string")
    ) {
      throw new TypeError(
        `Cannot read clients file "${path}": client "${clientId}" needs accessToken and scopes`,
      );
    }
    clients[clientId] = { accessToken: client.accessToken, scopes: client.scopes as string[] };
  }
  return clients;
}

/** Where a server keeps a blob (for tests that tamper with storage directly). */
export function blobPath(storageDir: string, digest: string): string {
  return join(storageDir, digest);
}

/** werkzeug's reason phrase for a status (handy for asserting error titles). */
export { reasonPhrase };

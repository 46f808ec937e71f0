/**
 * The ToolTool API client: signed requests to one base URL, problem documents turned into
 * errors with hints. The retry policy is `retry.ts`'s.
 *
 * API requests never follow redirects by themselves (`redirect: "manual"`): the 302 of a
 * download points at a storage origin, and credentials must never travel there. Callers
 * fetch the storage URL themselves, unsigned.
 *
 * A base URL may carry userinfo (`https://user:password@mirror/`, for a proxy that wants
 * Basic auth). It is a secret: the client keeps it private and shows `displayName`
 * (`https://***@mirror/`) in every message. It is sent as `Authorization: Basic` to the API
 * only, and only on requests no Taskcluster credentials sign (one `Authorization` header
 * cannot carry both); storage URLs never get it (see `resolveDownload`).
 *
 * @module
 */

import { authorizationFor, type Credentials, type EnvReader } from "./credentials.ts";
import { calculatePayloadHash } from "./hawk.ts";
import {
  HttpError,
  NetworkError,
  networkReason,
  type ProblemDocument,
  ToolError,
} from "../errors.ts";
import { displayUrl, withoutUserinfo } from "../display.ts";
import {
  clipText,
  DEFAULT_MAX_JSON_BYTES,
  MAX_ERROR_BODY_BYTES,
  readBoundedText,
} from "../bounded_read.ts";
import { parseRetryAfter } from "./retry.ts";
import { followableUrl } from "./url_policy.ts";
import { discardBody } from "./body_reader.ts";
import { USER_AGENT } from "../version.ts";
import { explainRefusal } from "./identity.ts";

/** How long an API request (not a storage transfer) may take before it counts as failed. */
const API_TIMEOUT_MS = 60_000;

/** What an `ApiClient` needs. */
export interface ApiClientOptions {
  /** API base URL, with a trailing slash. */
  readonly baseUrl: string;
  readonly credentials: Credentials;
  readonly fetch: typeof globalThis.fetch;
  readonly env: EnvReader;
  readonly signal?: AbortSignal | undefined;
  readonly timeoutMs?: number | undefined;
}

/** One API request. */
export interface ApiRequest {
  readonly method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** Relative to the base URL, without a leading slash (`sha512/<digest>`). */
  readonly path: string;
  readonly query?: Readonly<Record<string, string | undefined>> | undefined;
  /** A JSON body; its Hawk payload hash is signed too. */
  readonly json?: unknown;
  /** What the request is doing, for error messages: `fetch`, `upload`, ... */
  readonly operation: string;
  /** What it is done to, quoted in error messages: a filename or a digest. */
  readonly target: string;
  /** Statuses the caller handles itself; any other non-2xx becomes an `HttpError`. */
  readonly acceptStatus?: readonly number[] | undefined;
  /** Most bytes of a JSON answer read (`requestJson`); default `DEFAULT_MAX_JSON_BYTES`. */
  readonly maxAnswerBytes?: number | undefined;
}

/** A client for one ToolTool base URL. */
export class ApiClient {
  /** The base URL as messages show it: userinfo and signatures redacted (`displayUrl`). */
  readonly displayName: string;
  /** The base URL as given, userinfo included: never shown. */
  readonly #baseUrl: string;
  /** The same, parsed once: every download's redirect is resolved against it. */
  readonly #base: URL;
  readonly #options: ApiClientOptions;

  constructor(options: ApiClientOptions) {
    this.#baseUrl = options.baseUrl.endsWith("/") ? options.baseUrl : `${options.baseUrl}/`;
    this.#base = new URL(this.#baseUrl);
    this.displayName = displayUrl(this.#baseUrl);
    this.#options = options;
  }

  /** The absolute URL of an API path, userinfo included (keep it out of messages). */
  url(path: string, query: Readonly<Record<string, string | undefined>> = {}): URL {
    const url = new URL(path, this.#baseUrl);
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined) url.searchParams.set(name, value);
    }
    return url;
  }

  /**
   * Sends one signed request. Returns the response for 2xx, 3xx and `acceptStatus`;
   * throws `HttpError` (with the problem document and a hint) for any other status, and
   * `NetworkError` when no response arrived.
   */
  async request(request: ApiRequest): Promise<Response> {
    const url = this.url(request.path, request.query);
    const headers = new Headers({ "User-Agent": USER_AGENT, Accept: "application/json" });
    let body: string | null = null;
    let payloadHash: string | undefined;
    if (request.json !== undefined) {
      body = JSON.stringify(request.json);
      headers.set("Content-Type", "application/json");
      payloadHash = calculatePayloadHash(body, "application/json");
    }
    const authorization = authorizationFor(
      this.#options.credentials,
      { method: request.method, url, payloadHash },
      this.#options.env,
    );
    if (authorization !== undefined) headers.set("Authorization", authorization);
    else if (url.username !== "" || url.password !== "") {
      headers.set("Authorization", basicAuthorization(url));
    }
    const timeout = AbortSignal.timeout(this.#options.timeoutMs ?? API_TIMEOUT_MS);
    const signal = this.#options.signal
      ? AbortSignal.any([this.#options.signal, timeout])
      : timeout;
    let response: Response;
    try {
      // Deno's fetch would turn userinfo into a Basic header of its own, next to ours.
      response = await this.#options.fetch(withoutUserinfo(url), {
        method: request.method,
        headers,
        body,
        redirect: "manual",
        signal,
      });
    } catch (error) {
      this.#options.signal?.throwIfAborted();
      const reason = timeout.aborted ? "no answer within the time limit" : networkReason(error);
      throw new NetworkError(
        `Cannot ${request.operation} "${request.target}" ${
          prepositionFor(request.operation)
        } ${this.displayName}: ${reason}`,
        { cause: error },
      );
    }
    if (response.ok || (response.status >= 300 && response.status < 400)) return response;
    if (request.acceptStatus?.includes(response.status)) return response;
    const error = await httpErrorFor(request.operation, request.target, this.displayName, response);
    // A refused signature looks like a missing scope (the service goes on anonymously):
    // ask it who it saw before telling the user which one it is.
    const { credentials } = this.#options;
    if (
      authorization !== undefined && credentials.kind === "hawk" &&
      (response.status === 401 || response.status === 403) && request.path !== "__permissions__"
    ) {
      throw await explainRefusal(this, error, request.operation, credentials.hawk.clientId);
    }
    throw error;
  }

  /** Sends a request and parses a JSON answer; `date` is the answer's `Date` header. */
  async requestJson(
    request: ApiRequest,
  ): Promise<{ status: number; body: unknown; date: string | null }> {
    const response = await this.request(request);
    const limit = request.maxAnswerBytes ?? DEFAULT_MAX_JSON_BYTES;
    const { text, truncated } = await readBoundedText(response, limit);
    if (truncated) {
      // Not retriable: a server that sends this much once will do it again.
      throw new ToolError(
        `Cannot ${request.operation} "${request.target}" ${
          prepositionFor(request.operation)
        } ${this.displayName}: the server's answer is larger than ${
          Math.round(limit / 1024)
        } KiB; not reading it`,
      );
    }
    try {
      const body = text === "" ? undefined : JSON.parse(text);
      return { status: response.status, body, date: response.headers.get("date") };
    } catch {
      throw new NetworkError(
        `Cannot ${request.operation} "${request.target}" ${
          prepositionFor(request.operation)
        } ${this.displayName}: the server's answer is not JSON`,
      );
    }
  }

  /**
   * Asks where a file can be downloaded: `GET sha512/<digest>` answers 302 with a signed,
   * short-lived storage URL. Call it right before downloading, since the URL expires. The
   * URL never carries the base URL's userinfo (a relative `Location` would inherit it).
   * Throws `UnsafeUrlError` for a `Location` that is not http(s) or downgrades https to
   * http (see `followableUrl`).
   */
  async resolveDownload(
    digest: string,
    options: { readonly region?: string | undefined; readonly target?: string } = {},
  ): Promise<URL> {
    const target = options.target ?? digest;
    const response = await this.request({
      method: "GET",
      path: `sha512/${digest}`,
      query: { region: options.region },
      operation: "fetch",
      target,
    });
    await discardBody(response);
    const location = response.headers.get("Location");
    if (response.status < 300 || response.status >= 400 || location === null) {
      throw new HttpError(
        `Cannot fetch "${target}" from ${this.displayName}: expected a redirect to storage, got ${response.status} ${response.statusText}`,
        { status: response.status, url: displayUrl(this.url(`sha512/${digest}`)) },
      );
    }
    const what = `Cannot fetch "${target}" from ${this.displayName}`;
    return withoutUserinfo(followableUrl(location, this.#base, what));
  }
}

/** `Authorization: Basic` from a URL's userinfo (percent-decoded, as RFC 3986 writes it). */
function basicAuthorization(url: URL): string {
  const decode = (part: string) => {
    try {
      return decodeURIComponent(part);
    } catch {
      return part;
    }
  };
  const pair = new TextEncoder().encode(`${decode(url.username)}:${decode(url.password)}`);
  return `Basic ${btoa(String.fromCharCode(...pair))}`;
}

/** Reads a problem document from an error response, if it has one. Consumes the body. */
export async function readProblem(response: Response): Promise<ProblemDocument | undefined> {
  // Bounded: an error body is a few hundred bytes, a gzip bomb is gigabytes once inflated.
  const { text } = await readBoundedText(response, MAX_ERROR_BODY_BYTES);
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== "object" || parsed === null) return undefined;
    // The service's own errors come wrapped as {"error": {...}}; request-validation errors
    // are a plain problem document. Read either.
    const outer = parsed as Record<string, unknown>;
    const inner = typeof outer.error === "object" && outer.error !== null
      ? outer.error as Record<string, unknown>
      : outer;
    const field = (key: string) =>
      typeof inner[key] === "string" ? clipText(inner[key] as string) : undefined;
    return {
      status: typeof inner.status === "number" ? inner.status : undefined,
      title: field("title") ?? field("name"),
      detail: field("detail") ?? field("description") ?? field("message"),
      type: field("type"),
    };
  } catch {
    const detail = clipText(text.trim(), 200);
    return detail === "" ? undefined : { detail };
  }
}

const SCOPE_PREFIX = "project:releng:services/tooltool/api";

/**
 * "upload to", "fetch from", "delete from", "change the visibility of ... on": the word
 * between the target and the server in messages.
 */
function prepositionFor(operation: string): string {
  if (operation === "upload") return "to";
  if (operation.startsWith("change")) return "on";
  return "from";
}

function hintFor(
  operation: string,
  status: number,
  problem: ProblemDocument | undefined,
): string | undefined {
  switch (status) {
    case 401:
      // Production's `require_permissions` (PATCH /file) answers 401, not 403, to valid
      // credentials that lack the scope.
      if (problem?.detail === "Invalid user permissions") {
        return `this needs the scope ${SCOPE_PREFIX}/manage; the service answers the same when it did not accept the credentials (tooltool whoami tells which)`;
      }
      return "the server did not accept the credentials: check clientId, accessToken and this machine's clock";
    case 403: {
      if (operation === "fetch") {
        return `the file may be internal: it needs credentials with ${SCOPE_PREFIX}/download/internal (--authentication-file or TASKCLUSTER_CLIENT_ID/TASKCLUSTER_ACCESS_TOKEN)`;
      }
      if (operation === "upload") {
        const visibility = /no permission to upload (\w+) files/.exec(problem?.detail ?? "")?.[1];
        return visibility === undefined
          ? `uploading needs ${SCOPE_PREFIX}/upload/<visibility> for each file's visibility`
          : `uploading ${visibility} files needs the scope ${SCOPE_PREFIX}/upload/${visibility}`;
      }
      return `managing files needs ${SCOPE_PREFIX}/manage`;
    }
    case 404:
      return operation === "fetch"
        ? "no file with this digest is stored on this server"
        : undefined;
    default:
      return undefined;
  }
}

/**
 * Turns a failed response into an `HttpError` naming the operation, the target and the
 * server, with the problem document's title and detail and a hint (e.g. the missing scope).
 */
export async function httpErrorFor(
  operation: string,
  target: string,
  server: string,
  response: Response,
): Promise<HttpError> {
  const problem = await readProblem(response);
  // werkzeug titles repeat the detail ("401 Unauthorized: Invalid user permissions").
  const detail = problem?.title && problem.detail && problem.title.includes(problem.detail)
    ? undefined
    : problem?.detail;
  const summary = [problem?.title, detail].filter((part) => part && part !== "").join(": ");
  const status = `${response.status}${response.statusText ? ` ${response.statusText}` : ""}`;
  return new HttpError(
    `Cannot ${operation} "${target}" ${
      prepositionFor(operation)
    } ${server}: server returned ${status}${summary ? ` (${summary})` : ""}`,
    {
      status: response.status,
      url: response.url ? displayUrl(response.url) : server,
      problem,
      retryAfterMs: parseRetryAfter(
        response.headers.get("Retry-After") ?? response.headers.get("X-Retry-After"),
        Date.now(),
      ),
    },
    { hint: hintFor(operation, response.status, problem) },
  );
}

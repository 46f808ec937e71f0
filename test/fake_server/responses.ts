/**
 * Response bodies shaped like the ones production sends, layer by layer:
 *
 * - Flask + werkzeug errors go through tooltool's `custom_handle_default_exceptions`:
 *   `{"error": {description, detail, instance, name, status, title, type}}` as
 *   `application/json`, compact, keys sorted (Flask's `jsonify`). tooltool.py reads
 *   `error.name` and `error.description` from exactly this.
 * - Connexion's own request validation answers `application/problem+json` with a top-level
 *   problem document, pretty-printed with two spaces.
 * - Handler results are serialized by connexion: two-space indent, keys sorted, non-ASCII
 *   escaped, trailing newline.
 * - The storage origin answers like S3: XML `<Error>` documents.
 *
 * @module
 */

/** werkzeug's default descriptions and reason phrases, by status. */
const werkzeug: Record<number, { name: string; description: string }> = {
  400: {
    name: "Bad Request",
    description: "The browser (or proxy) sent a request that this server could not understand.",
  },
  401: {
    name: "Unauthorized",
    description: "The server could not verify that you are authorized to access the URL " +
      "requested. You either supplied the wrong credentials (e.g. a bad password), or your " +
      "browser doesn't understand how to supply the credentials required.",
  },
  403: {
    name: "Forbidden",
    description: "You don't have the permission to access the requested resource. It is " +
      "either read-protected or not readable by the server.",
  },
  404: {
    name: "Not Found",
    description: "The requested URL was not found on the server. If you entered the URL " +
      "manually please check your spelling and try again.",
  },
  405: {
    name: "Method Not Allowed",
    description: "The method is not allowed for the requested URL.",
  },
  409: {
    name: "Conflict",
    description: "A conflict happened while processing the request. The resource might " +
      "have been modified while the request was being processed.",
  },
  413: {
    name: "Request Entity Too Large",
    description: "The data value transmitted exceeds the capacity limit.",
  },
  429: {
    name: "Too Many Requests",
    description: "This user has exceeded an allotted request count. Try again later.",
  },
  500: {
    name: "Internal Server Error",
    description: "The server encountered an internal error and was unable to complete your " +
      "request. Either the server is overloaded or there is an error in the application.",
  },
  502: {
    name: "Bad Gateway",
    description: "The proxy server received an invalid response from an upstream server.",
  },
  503: {
    name: "Service Unavailable",
    description: "The server is temporarily unable to service your request due to " +
      "maintenance downtime or capacity problems. Please try again later.",
  },
  504: {
    name: "Gateway Timeout",
    description: "The connection to an upstream server timed out.",
  },
};

/** The reason phrase werkzeug uses for a status. */
export function reasonPhrase(status: number): string {
  return werkzeug[status]?.name ?? "Unknown Error";
}

/** Sorts object keys recursively, as Flask's JSON provider does (`sort_keys=True`). */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value === "object" && value !== null) {
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      sorted[key] = sortKeys((value as Record<string, unknown>)[key]);
    }
    return sorted;
  }
  return value;
}

/** Python's `ensure_ascii`: everything past ASCII as `\uXXXX`. */
function asciiOnly(text: string): string {
  return text.replace(
    /[\u007f-\uffff]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** `flask.jsonify(value)`: compact, sorted, newline-terminated, `application/json`. */
export function flaskJson(value: unknown, status = 200, headers: HeadersInit = {}): Response {
  const response = new Response(asciiOnly(JSON.stringify(sortKeys(value))) + "\n", {
    status,
    headers,
  });
  response.headers.set("content-type", "application/json");
  return response;
}

/** A handler result serialized by connexion: two-space indent, sorted, newline-terminated. */
export function connexionJson(value: unknown, status = 200): Response {
  return new Response(asciiOnly(JSON.stringify(sortKeys(value), null, 2)) + "\n", {
    status,
    headers: { "content-type": "application/json" },
  });
}

/**
 * A werkzeug HTTPException as tooltool's error handler renders it. `description` replaces
 * werkzeug's default text when the service raised the exception with a message.
 */
export function werkzeugError(
  status: number,
  description?: string,
  headers: HeadersInit = {},
): Response {
  const known = werkzeug[status] ?? { name: "Unknown Error", description: "" };
  const detail = description ?? known.description;
  const title = `${status} ${known.name}: ${detail}`;
  return flaskJson(
    {
      error: {
        type: "about:blank",
        title,
        name: title,
        status,
        detail,
        description: detail,
        instance: "about:blank",
      },
    },
    status,
    headers,
  );
}

/** Connexion's request-validation answer: a top-level problem document. */
export function connexionProblem(status: number, title: string | null, detail: string): Response {
  return new Response(
    JSON.stringify(sortKeys({ detail, status, title, type: "about:blank" }), null, 2) + "\n",
    { status, headers: { "content-type": "application/problem+json" } },
  );
}

/** What `auth.require_permissions` returns when the caller lacks a scope (note: 401, unwrapped). */
export function unauthorizedPermissions(): Response {
  return flaskJson({
    status: 401,
    title: "401 Unauthorized: Invalid user permissions",
    detail: "Invalid user permissions",
    instance: "about:blank",
    type: "about:blank",
  }, 401);
}

function escapeHtml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;").replaceAll("'", "&#39;");
}

/** `flask.redirect(location)`: 302 with werkzeug's little HTML page. */
export function flaskRedirect(location: string): Response {
  const escaped = escapeHtml(location);
  const body = "<!doctype html>\n<html lang=en>\n<title>Redirecting...</title>\n" +
    "<h1>Redirecting...</h1>\n<p>You should be redirected automatically to the target URL: " +
    `<a href="${escaped}">${escaped}</a>. If not, click the link.\n`;
  return new Response(body, {
    status: 302,
    headers: { location, "content-type": "text/html; charset=utf-8" },
  });
}

/** A plain Flask text response (`text/html; charset=utf-8`, Flask's default). */
export function flaskText(body: string, status = 200, headers: HeadersInit = {}): Response {
  const response = new Response(body, { status, headers });
  response.headers.set("content-type", "text/html; charset=utf-8");
  return response;
}

/**
 * A `werkzeug.Response` a handler built itself (`werkzeug.Response(status=409)`): werkzeug's
 * default `text/plain; charset=utf-8`, not Flask's `text/html`; connexion passes it through.
 */
export function werkzeugResponse(
  body: string,
  status: number,
  headers: HeadersInit = {},
): Response {
  const response = new Response(body, { status, headers });
  response.headers.set("content-type", "text/plain; charset=utf-8");
  return response;
}

function escapeXml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

/** An S3 error document. */
export function s3Error(
  status: number,
  code: string,
  message: string,
  extra: Record<string, string> = {},
  headers: HeadersInit = {},
): Response {
  const fields = Object.entries({ Code: code, Message: message, ...extra })
    .map(([name, value]) => `<${name}>${escapeXml(value)}</${name}>`).join("");
  const requestId = crypto.randomUUID().replaceAll("-", "").slice(0, 16).toUpperCase();
  const response = new Response(
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error>${fields}<RequestId>${requestId}</RequestId>` +
      `<HostId>fake-tooltool-storage</HostId></Error>`,
    { status, headers },
  );
  response.headers.set("content-type", "application/xml");
  response.headers.set("x-amz-request-id", requestId);
  return response;
}

/** The S3 error an injected status most resembles. */
export function s3ErrorForStatus(status: number): Response {
  switch (status) {
    case 500:
      return s3Error(500, "InternalError", "We encountered an internal error. Please try again.");
    case 503:
      return s3Error(503, "SlowDown", "Please reduce your request rate.");
    case 429:
      return s3Error(429, "TooManyRequests", "Please reduce your request rate.");
    default:
      return s3Error(status, reasonPhrase(status).replaceAll(" ", ""), reasonPhrase(status));
  }
}

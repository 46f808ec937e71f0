/**
 * Making text fit to show: whatever a server, a manifest or an archive sent is escaped
 * before it reaches a terminal or a CI log, and secrets in URLs never appear at all.
 *
 * Two jobs, both pure:
 *
 * - **Escaping.** Control characters (C0, DEL, C1) and the invisible characters that
 *   reorder or break lines (bidi overrides and isolates, U+2028/U+2029) become visible
 *   escapes (`\x1b`, `\r`, `\n`, `\u202e`), so a problem detail cannot recolour the
 *   terminal, retitle its window, rewrite the line before it or forge an `error:` line.
 *   A message is one line: a newline inside it is escaped too.
 * - **Redaction.** `displayUrl` shows a URL without its userinfo (`http://***@host/`) and
 *   without the values of signed-URL parameters (`X-Amz-Signature=***`); `scrubSecrets`
 *   does the same to any text, as the last line of defence `Output` applies to every
 *   message and report, so a message written tomorrow cannot leak either.
 *
 * A username alone is redacted as well: tokens are often passed as the username
 * (`https://TOKEN@host/`), and nothing tells the two apart.
 *
 * @module
 */

/** Shown instead of a secret. */
export const REDACTED = "***";

/** Bidi marks, embeddings, overrides and isolates; the Unicode line and paragraph separators. */
const INVISIBLE = String.raw`\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069`;

/**
 * Characters that must never reach a terminal raw: C0 controls, DEL, C1 controls, and the
 * invisible ones above.
 */
const UNSAFE = new RegExp(String.raw`[\x00-\x1f\x7f-\x9f${INVISIBLE}]`, "g");

/** The same set, tab excepted, for tab-separated data lines. */
const UNSAFE_BUT_TAB = new RegExp(String.raw`[\x00-\x08\x0a-\x1f\x7f-\x9f${INVISIBLE}]`, "g");

const SHORT_ESCAPES: Readonly<Record<string, string>> = { "\t": "\\t", "\n": "\\n", "\r": "\\r" };

function escapeOne(char: string): string {
  const short = SHORT_ESCAPES[char];
  if (short !== undefined) return short;
  const code = char.charCodeAt(0);
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, "0")}`
    : `\\u${code.toString(16).padStart(4, "0")}`;
}

/**
 * `text` with every character that could drive a terminal or break the line written as a
 * visible escape: `"a\x1b[31mb"` -> `a\x1b[31mb` (a backslash, not ESC). `keepTabs` leaves
 * tabs alone, for tab-separated columns (`list`).
 */
export function escapeControls(text: string, options: { keepTabs?: boolean } = {}): string {
  return text.replace(options.keepTabs ? UNSAFE_BUT_TAB : UNSAFE, escapeOne);
}

/**
 * Query parameters whose value is a capability: a presigned URL's signature and what goes
 * with it (S3 SigV2/SigV4, CloudFront, Google Cloud Storage, Azure SAS), and generic tokens.
 */
const SECRET_PARAMETERS = [
  "X-Amz-Signature",
  "X-Amz-Credential",
  "X-Amz-Security-Token",
  "Signature",
  "AWSAccessKeyId",
  "Key-Pair-Id",
  "Policy",
  "X-Goog-Signature",
  "X-Goog-Credential",
  "GoogleAccessId",
  "sig",
  "token",
  "access_token",
  "password",
  "secret",
];

const SECRET_PARAMETER_SET = new Set(SECRET_PARAMETERS.map((name) => name.toLowerCase()));

/** `scheme://userinfo@`: the userinfo ends at the first `@` before any `/`, `?`, `#`. */
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^/?#\s@"'<>\\]+@/gi;

/** `?name=value` / `&name=value` of a secret parameter, in running text. */
const SECRET_QUERY = new RegExp(
  `([?&;](?:${SECRET_PARAMETERS.join("|")})=)[^&;\\s"'<>#)\\\\]+`,
  "gi",
);

/**
 * `text` with the userinfo of every URL in it and the values of signed-URL parameters
 * replaced by `***`: `http://me:pw@host/` -> `http://***@host/`,
 * `...?X-Amz-Signature=abc` -> `...?X-Amz-Signature=***`.
 */
export function scrubSecrets(text: string): string {
  return text.replace(USERINFO, `$1${REDACTED}@`).replace(SECRET_QUERY, `$1${REDACTED}`);
}

/**
 * A URL as it may be shown: no userinfo (`http://***@host/` when it had some), secret query
 * parameters as `***`, the rest as given. Text that does not parse as a URL is scrubbed.
 */
export function displayUrl(url: string | URL): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return scrubSecrets(String(url));
  }
  if (parsed.username !== "" || parsed.password !== "") {
    parsed.password = "";
    parsed.username = REDACTED;
  }
  if (parsed.search !== "") parsed.search = redactQuery(parsed.search);
  return parsed.href;
}

function redactQuery(search: string): string {
  if (search === "") return "";
  return "?" + search.slice(1).split("&").map((pair) => {
    const equals = pair.indexOf("=");
    const name = equals === -1 ? pair : pair.slice(0, equals);
    let decoded = name;
    try {
      decoded = decodeURIComponent(name);
    } catch {
      // Shown as it came.
    }
    return equals !== -1 && SECRET_PARAMETER_SET.has(decoded.toLowerCase())
      ? `${name}=${REDACTED}`
      : pair;
  }).join("&");
}

/**
 * `url` without username and password: what a request may be sent to. A URL that has none
 * is returned as it is (copying and re-parsing it twice cost 20 µs a request); one that has
 * some, as a copy.
 */
export function withoutUserinfo(url: URL): URL {
  if (url.username === "" && url.password === "") return url;
  const copy = new URL(url);
  copy.username = "";
  copy.password = "";
  return copy;
}

/**
 * What to show of text from outside: secrets scrubbed, then controls escaped. The one
 * function `Output` applies to every line.
 */
export function safeText(text: string, options: { keepTabs?: boolean } = {}): string {
  return escapeControls(scrubSecrets(text), options);
}

/** The characters JSON.stringify leaves raw but a terminal would act on. */
const UNSAFE_IN_JSON = new RegExp(String.raw`[\x7f-\x9f${INVISIBLE}]`, "g");

/**
 * `JSON.stringify(value, null, 2)`, safe to `cat`: secrets scrubbed, and besides the C0
 * controls JSON always escapes, DEL, C1 and the bidi and line-separator characters written
 * as `\u009b`-style escapes (they can only occur inside strings, so the document parses to
 * the same value).
 */
export function safeJson(value: unknown): string {
  const text = JSON.stringify(value, null, 2) ?? "null";
  return scrubSecrets(text).replace(
    UNSAFE_IN_JSON,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/**
 * A name quoted with its code points when it has any beyond ASCII, so that two names that
 * look the same can be told apart: `"é" (U+0065 U+0301)`. Controls are escaped.
 */
export function describeCodePoints(name: string): string {
  const quoted = `"${escapeControls(name)}"`;
  if (/^[ -~]*$/.test(name)) return quoted;
  const points = [...name].map((char) =>
    "U+" + char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")
  );
  return `${quoted} (${points.join(" ")})`;
}

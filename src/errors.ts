/**
 * Error classes shared by every command, and the exit codes they map to.
 *
 * Messages follow one shape so that a CI log reads the same whatever failed:
 * action first, target quoted, detail after a colon, no final period
 * (`Cannot fetch "clang.tar.xz" from https://host/: server returned 503 Service Unavailable`).
 * Only `main.ts` prints errors or picks the exit code; library code throws.
 *
 * @module
 */

/** Process exit codes, as tooltool.py uses them (plus 130 for Ctrl-C). */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  interrupted: 130,
} as const;
export type ExitCode = typeof ExitCode[keyof typeof ExitCode];

/** What every error of this tool may carry beyond its message. */
export interface ToolErrorOptions {
  /** A short suggestion for the user, printed on its own line after the message. */
  hint?: string | undefined;
  /** The underlying error, kept for `-v` output. */
  cause?: unknown;
}

/**
 * The base class: an error whose message is fit to show a user as is.
 * Anything that is not a `ToolError` reaching `main.ts` is a bug and is reported as one.
 */
export class ToolError extends Error {
  readonly hint: string | undefined;
  readonly exitCode: ExitCode = ExitCode.failed;

  constructor(message: string, options: ToolErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.hint = options.hint;
  }
}

/** Bad command line: unknown flag, missing argument, invalid choice. Exit 2. */
export class UsageError extends ToolError {
  override readonly exitCode: ExitCode = ExitCode.usage;
}

/** A manifest that cannot be read or does not follow the format. */
export class ManifestError extends ToolError {
  /** Every problem found, for reporters that list them all (`validate --schema-only`). */
  readonly problems: readonly ManifestProblem[];

  constructor(
    message: string,
    problems: readonly ManifestProblem[] = [],
    options?: ToolErrorOptions,
  ) {
    super(message, options);
    this.problems = problems;
  }
}

/** One problem in a manifest, located as precisely as the parser can. */
export interface ManifestProblem {
  readonly path: string;
  /** 1-based; 0 when the problem is not tied to a place in the text. */
  readonly line: number;
  /** 1-based; 0 when the problem is not tied to a place in the text. */
  readonly column: number;
  readonly message: string;
}

/** Credentials that are missing, malformed or expired. Raised before any request is sent. */
export class CredentialsError extends ToolError {}

/** A file's content does not match its record (size or sha512). */
export class IntegrityError extends ToolError {
  /** Whether fetching the same bytes again might give a different answer. */
  readonly retriable: boolean;

  constructor(message: string, options: ToolErrorOptions & { retriable?: boolean } = {}) {
    super(message, options);
    this.retriable = options.retriable ?? true;
  }
}

/** A problem document as the ToolTool service returns it on errors. */
export interface ProblemDocument {
  readonly status?: number | undefined;
  readonly title?: string | undefined;
  readonly detail?: string | undefined;
  readonly type?: string | undefined;
}

/** The server answered with a status the operation cannot use. */
export class HttpError extends ToolError {
  readonly status: number;
  readonly url: string;
  readonly problem: ProblemDocument | undefined;
  /** From `Retry-After` / `X-Retry-After`, when the server sent one. */
  readonly retryAfterMs: number | undefined;

  constructor(
    message: string,
    details: {
      status: number;
      url: string;
      problem?: ProblemDocument | undefined;
      retryAfterMs?: number | undefined;
    },
    options?: ToolErrorOptions,
  ) {
    super(message, options);
    this.status = details.status;
    this.url = details.url;
    this.problem = details.problem;
    this.retryAfterMs = details.retryAfterMs;
  }
}

/** The connection failed, timed out, stalled or was cut before the body ended. */
export class NetworkError extends ToolError {}

/** The user pressed Ctrl-C (or the process got SIGTERM). Exit 130. */
export class InterruptedError extends ToolError {
  override readonly exitCode: ExitCode = ExitCode.interrupted;
}

/**
 * Several files were processed and some failed; each failure was already reported
 * one by one, so this only carries the summary line.
 */
export class PartialFailureError extends ToolError {
  readonly failures: readonly { readonly target: string; readonly error: unknown }[];

  constructor(
    message: string,
    failures: readonly { readonly target: string; readonly error: unknown }[],
    options?: ToolErrorOptions,
  ) {
    super(message, options);
    this.failures = failures;
  }
}

/**
 * Whether trying the same operation again may succeed: connection problems, 5xx, 429,
 * 408, and content that arrived damaged. The one predicate every retry loop asks.
 */
export function isRetriable(error: unknown): boolean {
  if (error instanceof NetworkError) return true;
  if (error instanceof IntegrityError) return error.retriable;
  if (error instanceof HttpError) {
    return error.status >= 500 || error.status === 429 || error.status === 408;
  }
  return false;
}

/** The message of any thrown value, without a stack trace. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/**
 * What went wrong with a connection, in a person's words. Deno's fetch says only `fetch
 * failed`; the cause is at the end of its `cause` chain (`error sending request for url
 * (...): client error (Connect): dns error: failed to lookup address information: Name or
 * service not known`). That part is kept, without the OS error number, and named: a DNS
 * failure, a TLS handshake, or what the HTTP parser refused (`invalid content-length
 * parsed`, `message head is too large`).
 */
export function networkReason(error: unknown): string {
  let deepest = error;
  while (deepest instanceof Error && deepest.cause instanceof Error) deepest = deepest.cause;
  const text = errorMessage(deepest);
  const phase = /client error \((\w+)\): (.*)$/s.exec(text);
  const detail = (phase?.[2] ?? text.split(": ").at(-1) ?? "")
    .replace(/\s*\(os error \d+\)$/, "").trim();
  if (detail === "") return errorMessage(error);
  const reason = detail.charAt(0).toLowerCase() + detail.slice(1);
  if (/^dns error: /i.test(reason)) {
    return `cannot resolve the host name (${reason.split(": ").at(-1)?.toLowerCase()})`;
  }
  if (
    phase?.[1] === "Connect" &&
    /certificate|corrupt message|tls|handshake|alert|peer/i.test(reason)
  ) {
    return `TLS handshake failed: ${reason}`;
  }
  // `tcp connect error: Connection refused`: the last part is the one a person needs.
  const last = reason.split(": ").at(-1) ?? reason;
  return last.charAt(0).toLowerCase() + last.slice(1);
}

/**
 * A server pointed at a URL this tool will not follow: a scheme other than http(s)
 * (`file:`, `data:`, `ftp:`), a downgrade from https to http, too many redirects. Not
 * retriable: a server that answers this once answers it again, so the download moves on
 * to the next base URL.
 */
export class UnsafeUrlError extends ToolError {}

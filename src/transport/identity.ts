/**
 * Who the ToolTool service thinks we are, and why it refused a request.
 *
 * The service never answers 401 for a bad Hawk signature: when Taskcluster rejects it
 * (wrong accessToken, a clock more than 15 minutes off, expired temporary credentials, a
 * host or port the service reconstructs differently), the request simply goes on as
 * anonymous and fails on a scope: 403 "no permission to upload internal files", or 401
 * "Invalid user permissions" for PATCH. The same answer therefore means "the credentials
 * were not accepted" or "they lack a scope", and the fix differs. `GET __permissions__`
 * tells them apart: it returns the caller's `user_id` (null when anonymous) and scopes, and
 * its `Date` header shows how far this machine's clock is from the server's.
 *
 * @module
 */

import type { ApiClient } from "./http.ts";
import { HttpError } from "../errors.ts";

/** The ToolTool scopes' common prefix. */
export const TOOLTOOL_SCOPE_PREFIX = "project:releng:services/tooltool/api";

/** Taskcluster's tolerance for clock skew in a Hawk signature. */
export const HAWK_SKEW_LIMIT_SECONDS = 15 * 60;

/** What the service sees. Field names are stable (`whoami --json`). */
export interface Identity {
  /** The API base URL asked (for display). */
  readonly server: string;
  /** The clientId the service authenticated, or null: it saw an anonymous caller. */
  readonly clientId: string | null;
  /** Every scope the service sees, as it lists them. */
  readonly scopes: readonly string[];
  /** The scopes that concern ToolTool (its prefix, or a star that covers it). */
  readonly tooltoolScopes: readonly string[];
  /** This machine's clock minus the server's, in whole seconds; null when it sent no Date. */
  readonly clockSkewSeconds: number | null;
}

/**
 * Asks `GET __permissions__` who the service thinks the caller is. Throws the request's
 * `HttpError` / `NetworkError`, or `HttpError` for an answer that is not production's shape.
 */
export async function askIdentity(client: ApiClient): Promise<Identity> {
  const { body, date: dateHeader } = await client.requestJson({
    method: "GET",
    path: "__permissions__",
    operation: "ask who is calling",
    target: "__permissions__",
  });
  const receivedAt = Date.now();
  const answer = body as { user_id?: unknown; permissions?: unknown } | undefined;
  const scopes = Array.isArray(answer?.permissions)
    ? answer.permissions.filter((scope): scope is string => typeof scope === "string")
    : undefined;
  if (answer === undefined || scopes === undefined) {
    throw new HttpError(
      `Cannot ask who is calling "__permissions__" from ${client.displayName}: the answer has no permissions list`,
      { status: 200, url: client.displayName },
    );
  }
  const date = Date.parse(dateHeader ?? "");
  return {
    server: client.displayName,
    clientId: typeof answer.user_id === "string" ? answer.user_id : null,
    scopes,
    tooltoolScopes: scopes.filter(concernsTooltool),
    clockSkewSeconds: Number.isNaN(date) ? null : Math.round((receivedAt - date) / 1000),
  };
}

function concernsTooltool(scope: string): boolean {
  if (scope.startsWith(TOOLTOOL_SCOPE_PREFIX)) return true;
  return scope.endsWith("*") && TOOLTOOL_SCOPE_PREFIX.startsWith(scope.slice(0, -1));
}

function satisfies(scopes: readonly string[], required: string): boolean {
  return scopes.some((scope) =>
    scope === required || (scope.endsWith("*") && required.startsWith(scope.slice(0, -1)))
  );
}

/**
 * The scope a refused request needed, from what it was doing and the service's detail:
 * `upload/<visibility>` for an upload's 403, `download/internal` for a download's 403,
 * `manage` for the 401 "Invalid user permissions" of a PATCH.
 */
export function requiredScope(operation: string, error: HttpError): string | undefined {
  const detail = error.problem?.detail ?? "";
  if (error.status === 401 && detail === "Invalid user permissions") {
    return `${TOOLTOOL_SCOPE_PREFIX}/manage`;
  }
  if (error.status !== 403) return undefined;
  const visibility = /no permission to upload (\w+) files/.exec(detail)?.[1];
  if (visibility !== undefined) return `${TOOLTOOL_SCOPE_PREFIX}/upload/${visibility}`;
  if (operation === "fetch") return `${TOOLTOOL_SCOPE_PREFIX}/download/internal`;
  return undefined;
}

/** "37 s ahead of" / "20 min behind": how this machine's clock compares. */
function describeSkew(seconds: number): string {
  const size = Math.abs(seconds);
  const amount = size >= 120 ? `${Math.round(size / 60)} min` : `${size} s`;
  return `${amount} ${seconds > 0 ? "ahead of" : "behind"}`;
}

/**
 * The hint for a refusal, once the service said who it saw: credentials it did not accept
 * (with the clock skew when that explains it), or a client that lacks `required`.
 */
export function refusalHint(identity: Identity, sentClientId: string, required?: string): string {
  const skew = identity.clockSkewSeconds;
  if (identity.clientId === null) {
    const start =
      `the service did not accept the credentials of clientId "${sentClientId}" and treated the request as anonymous`;
    if (skew !== null && Math.abs(skew) > HAWK_SKEW_LIMIT_SECONDS) {
      return `${start}: this machine's clock is ${
        describeSkew(skew)
      } the server's, and Taskcluster refuses signatures more than 15 min off: fix the clock`;
    }
    const clock = skew === null
      ? "the server sent no Date to compare clocks"
      : `the clock is within ${Math.abs(skew)} s of the server's`;
    return `${start}: wrong accessToken? expired or revoked temporary credentials? authorizedScopes the client does not hold? a proxy that changes the host or port the service sees? (${clock})`;
  }
  const held = identity.tooltoolScopes.length === 0
    ? "no ToolTool scope"
    : identity.tooltoolScopes.join(", ");
  if (required === undefined) {
    return `the service sees clientId "${identity.clientId}" with ${held}`;
  }
  if (!satisfies(identity.scopes, required)) {
    return `clientId "${identity.clientId}" lacks the scope ${required} (it has ${held})`;
  }
  return `clientId "${identity.clientId}" holds ${required}, yet the service refused`;
}

/**
 * Replaces the hint of a permission refusal (401/403 to a signed request) with what the
 * service's `__permissions__` says; returns the error unchanged when that cannot be asked.
 */
export async function explainRefusal(
  client: ApiClient,
  error: HttpError,
  operation: string,
  sentClientId: string,
): Promise<HttpError> {
  let identity: Identity;
  try {
    identity = await askIdentity(client);
  } catch {
    return error;
  }
  const hint = refusalHint(identity, sentClientId, requiredScope(operation, error));
  return new HttpError(error.message, error, { hint });
}

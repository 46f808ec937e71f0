/**
 * The API clients of a run: the credentials found (warning once if others can read them)
 * and one `ApiClient` per `--url`, in order.
 *
 * @module
 */

import type { Context } from "../context.ts";
import { type Credentials, loadCredentials } from "./credentials.ts";
import { ApiClient } from "./http.ts";

/** Loads the credentials and makes a client for each base URL. */
export async function openApiClients(
  urls: readonly string[],
  authenticationFile: string | undefined,
  ctx: Context,
): Promise<{ readonly credentials: Credentials; readonly clients: ApiClient[] }> {
  const credentials = await loadCredentials({
    authenticationFile,
    warn: (message) => ctx.output.warn(message),
  }, ctx.env);
  const clients = urls.map((baseUrl) =>
    new ApiClient({ baseUrl, credentials, fetch: ctx.fetch, env: ctx.env, signal: ctx.signal })
  );
  return { credentials, clients };
}

/**
 * `whoami`: asks the first server's `__permissions__` who it sees with the credentials this
 * run would use, and prints the clientId and its ToolTool scopes, or "anonymous" (see
 * `transport/identity.ts`). `--json` prints the `Identity` on stdout.
 *
 * @module
 */

import type { Context } from "../context.ts";
import { UsageError } from "../errors.ts";
import type { Output } from "../output.ts";
import { loadCredentials } from "../transport/credentials.ts";
import { ApiClient } from "../transport/http.ts";
import { askIdentity, type Identity } from "../transport/identity.ts";

/** What the command line asks of `whoami`. */
export interface WhoamiRequest {
  readonly urls: readonly string[];
  readonly authenticationFile: string | undefined;
}

/** Asks the server who it sees and prints the answer. */
export async function runWhoami(request: WhoamiRequest, ctx: Context): Promise<void> {
  const baseUrl = request.urls[0];
  if (baseUrl === undefined) throw new UsageError("whoami needs a server: give --url");
  const credentials = await loadCredentials({
    authenticationFile: request.authenticationFile,
    warn: (message) => ctx.output.warn(message),
  }, ctx.env);
  const client = new ApiClient({
    baseUrl,
    credentials,
    fetch: ctx.fetch,
    env: ctx.env,
    signal: ctx.signal,
  });
  printIdentity(await askIdentity(client), ctx.output);
}

function printIdentity(identity: Identity, output: Output): void {
  if (output.json) {
    output.report(identity);
    return;
  }
  if (identity.clientId === null) {
    output.data(`anonymous (${identity.server} did not authenticate the request)`);
  } else {
    output.data(`clientId: ${identity.clientId}`);
    for (const scope of identity.tooltoolScopes) output.data(`scope: ${scope}`);
    if (identity.tooltoolScopes.length === 0) output.data("scope: (no ToolTool scope)");
  }
  if (identity.clockSkewSeconds !== null && identity.clockSkewSeconds !== 0) {
    output.info(`This machine's clock is ${identity.clockSkewSeconds} s off the server's`);
  }
}

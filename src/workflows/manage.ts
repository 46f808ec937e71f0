/**
 * `change-visibility` and `delete`: administrative changes to one stored file, by digest,
 * with `PATCH file/sha512/<digest>` (the service's `patch_file`, which needs the
 * `project:releng:services/tooltool/api/manage` scope).
 *
 * Both check the digest and load the credentials before any request, and show the file
 * record the server answers with (digest, size, visibility, the regions holding a copy).
 *
 * @module
 */

import { z } from "zod";
import type { Context } from "../context.ts";
import {
  describeCredentials,
  loadCredentials,
  requireCredentials,
} from "../transport/credentials.ts";
import { ManifestError, ToolError, UsageError } from "../errors.ts";
import { displayUrl } from "../display.ts";
import { ApiClient } from "../transport/http.ts";
import { withFailover } from "../transport/failover.ts";
import { formatIssue } from "../format.ts";
import { parseSha512, type Visibility } from "../manifest/manifest.ts";
import { type Sha512 } from "../sha512.ts";

/** What a management command needs from the command line. */
export interface ManageOptions {
  /** `--digest`: the file to change. */
  readonly digest: string | undefined;
  /** API base URLs, in order of preference, each ending with `/`. */
  readonly urls: readonly string[];
  readonly authenticationFile?: string | undefined;
}

/** A stored file, as the server describes it after a change. Field names are stable (`--json`). */
export interface StoredFileRecord {
  readonly digest: string;
  readonly size: number;
  readonly visibility: Visibility;
  /** Regions holding a verified copy; empty when the file cannot be downloaded. */
  readonly instances: readonly string[];
}

/** One change `PATCH file/sha512/<digest>` applies. */
export type FileChange =
  | { readonly op: "set_visibility"; readonly visibility: Visibility }
  | { readonly op: "delete_instances" };

/**
 * Sets the visibility of the file with `options.digest` and prints its record. Throws
 * `UsageError` for a missing or malformed `--digest` or `--visibility`, and the server's
 * error otherwise (e.g. 401 without the manage scope, 404 for an unknown digest).
 */
export async function changeVisibility(
  options: ManageOptions & { readonly visibility: Visibility | undefined },
  ctx: Context,
): Promise<StoredFileRecord> {
  const digest = requireDigest(options.digest, "change-visibility");
  if (options.visibility === undefined) {
    throw new UsageError("The change-visibility command requires --visibility", {
      hint: "--visibility public or --visibility internal",
    });
  }
  const record = await patchFile(
    digest,
    [{ op: "set_visibility", visibility: options.visibility }],
    {
      ...options,
      operation: "change the visibility of",
    },
    ctx,
  );
  ctx.output.info(`The visibility of ${digest.slice(0, 12)}… is now ${record.visibility}`);
  showRecord(record, ctx);
  return record;
}

/**
 * Deletes every stored copy of the file with `options.digest` (the record stays, as part
 * of its upload batches) and prints its record. Errors as for `changeVisibility`.
 */
export async function deleteInstances(
  options: ManageOptions,
  ctx: Context,
): Promise<StoredFileRecord> {
  const digest = requireDigest(options.digest, "delete");
  const record = await patchFile(digest, [{ op: "delete_instances" }], {
    ...options,
    operation: "delete",
  }, ctx);
  ctx.output.info(
    record.instances.length === 0
      ? `Deleted every stored copy of ${digest.slice(0, 12)}…`
      : `The server still lists copies of ${digest.slice(0, 12)}… in ${
        record.instances.join(", ")
      }`,
  );
  showRecord(record, ctx);
  return record;
}

/** Checks `--digest` locally: a usage error rather than a request the server refuses. */
function requireDigest(value: string | undefined, command: string): Sha512 {
  if (value === undefined || value === "") {
    throw new UsageError(`The ${command} command requires --digest`, {
      hint: "--digest takes the file's sha512, as the manifest records it",
    });
  }
  try {
    return parseSha512(value, "--digest");
  } catch (error) {
    if (error instanceof ManifestError) throw new UsageError(error.message);
    throw error;
  }
}

const FileRecordSchema = z.object({
  digest: z.string(),
  size: z.number(),
  visibility: z.enum(["public", "internal"]),
  instances: z.array(z.string()).optional(),
});

/**
 * Sends one `PATCH file/sha512/<digest>` with `changes` and returns the file record the
 * server answers with. Retries connection errors and 5xx (the change is idempotent), then
 * falls back to the next base URL. Loads and checks the credentials before any request.
 */
export async function patchFile(
  digest: Sha512,
  changes: readonly FileChange[],
  options: ManageOptions & { readonly operation: string },
  ctx: Context,
): Promise<StoredFileRecord> {
  const credentials = await loadCredentials(
    { authenticationFile: options.authenticationFile, warn: (message) => ctx.output.warn(message) },
    ctx.env,
  );
  if (options.urls.length === 0) throw new UsageError("No server: give --url");
  requireCredentials(
    credentials,
    options.urls,
    ctx.env,
    `Cannot ${options.operation} "${digest}" ${options.operation === "delete" ? "from" : "on"} ${
      displayUrl(options.urls[0]!)
    }`,
  );
  ctx.output.debug(`Using ${describeCredentials(credentials)}`);
  const clients = options.urls.map((baseUrl) =>
    new ApiClient({ baseUrl, credentials, fetch: ctx.fetch, env: ctx.env, signal: ctx.signal })
  );
  const { value } = await withFailover(async (client) => {
    const { body } = await client.requestJson({
      method: "PATCH",
      path: `file/sha512/${digest}`,
      json: changes,
      operation: options.operation,
      target: digest,
    });
    const parsed = FileRecordSchema.safeParse(body);
    if (!parsed.success) {
      throw new ToolError(
        `Cannot ${options.operation} "${digest}" on ${client.displayName}: the server's answer is not a file record (${
          formatIssue(parsed.error)
        })`,
      );
    }
    return { ...parsed.data, instances: parsed.data.instances ?? [] };
  }, {
    servers: clients,
    nameOf: (client) => client.displayName,
    attempts: 3,
    signal: ctx.signal,
    warn: (message) => ctx.output.warn(message),
  });
  return value;
}

/** The record on stdout: `key: value` lines, or the `--json` document. */
function showRecord(record: StoredFileRecord, ctx: Context): void {
  if (ctx.output.json) {
    ctx.output.report(record);
    return;
  }
  ctx.output.data(`digest: ${record.digest}`);
  ctx.output.data(`size: ${record.size}`);
  ctx.output.data(`visibility: ${record.visibility}`);
  ctx.output.data(
    `instances: ${record.instances.length === 0 ? "none" : record.instances.join(", ")}`,
  );
}

/**
 * The ToolTool API routes of the fake server, behaving as production's `tooltool_api/api.py`
 * behind connexion (strict query validation, body schema validation) and Flask (error
 * handler, redirects), with one synchronous difference: `upload/complete` verifies the
 * upload at once instead of leaving it to the Pulse worker.
 *
 * @module
 */

import { type Caller, scopeSatisfied } from "./auth.ts";
import {
  connexionJson,
  connexionProblem,
  flaskJson,
  flaskRedirect,
  flaskText,
  unauthorizedPermissions,
  werkzeugError,
  werkzeugResponse,
} from "./responses.ts";
import type { UrlSigner } from "./storage.ts";
import {
  type FileStore,
  isValidSha512,
  REGION,
  type StoredBatch,
  type StoredFile,
  type Visibility,
} from "./store.ts";

/** Production's scope prefix (`tooltool_api.config.SCOPE_PREFIX`). */
export const SCOPE_PREFIX = "project:releng:services/tooltool/api";

/** What the API routes need from the server. */
export interface ApiContext {
  readonly store: FileStore;
  readonly signer: UrlSigner;
  readonly now: () => number;
  readonly uploadExpiresSeconds: number;
  readonly downloadExpiresSeconds: number;
  readonly anonymousPublicDownload: boolean;
  /** Whether an `expired-redirect` fault claims this download. */
  readonly takeExpiredRedirect: () => boolean;
}

/** One API request, already authenticated, with its body read (API bodies are small JSON). */
export interface ApiRequest {
  readonly method: string;
  readonly url: URL;
  readonly caller: Caller;
  readonly contentType: string;
  readonly body: Uint8Array;
}

/**
 * A request before authentication: the route and its query are checked first, as connexion
 * validates before tooltool's code ever looks at the user, then `authenticate` verifies
 * the credentials (when `verify` is true) and reads the body.
 */
export interface IncomingApiRequest {
  readonly method: string;
  readonly url: URL;
  readonly authenticate: (verify: boolean) => Promise<ApiRequest | Response>;
}

interface Route {
  readonly pattern: RegExp;
  /** Dockerflow and redirect routes, which never look at credentials. */
  readonly anonymous?: true;
  /** Query parameters the swagger declares; `undefined` for routes outside the swagger. */
  readonly query?: { readonly allowed: readonly string[]; readonly required?: string };
  readonly methods: Readonly<
    Record<string, (request: ApiRequest, match: string[], context: ApiContext) => Promise<Response>>
  >;
}

const routes: readonly Route[] = [
  {
    pattern: /^\/sha512\/([^/]+)$/,
    query: { allowed: [] },
    methods: { GET: downloadFile },
  },
  {
    pattern: /^\/file\/sha512\/([^/]+)$/,
    query: { allowed: [] },
    methods: { GET: getFile, PATCH: patchFile },
  },
  {
    pattern: /^\/file$/,
    query: { allowed: ["q"], required: "q" },
    methods: { GET: searchFiles },
  },
  {
    pattern: /^\/upload$/,
    query: { allowed: ["region", "q"] },
    methods: { GET: searchBatches, POST: uploadBatch },
  },
  {
    pattern: /^\/upload\/complete\/sha512\/([^/]+)$/,
    query: { allowed: [] },
    methods: { GET: uploadComplete },
  },
  {
    pattern: /^\/upload\/(\d+)$/,
    query: { allowed: [] },
    methods: { GET: getBatch },
  },
  {
    pattern: /^\/__heartbeat__$/,
    anonymous: true,
    methods: { GET: () => Promise.resolve(heartbeat()) },
  },
  {
    pattern: /^\/__lbheartbeat__$/,
    anonymous: true,
    methods: { GET: () => Promise.resolve(lbHeartbeat()) },
  },
  {
    pattern: /^\/__version__$/,
    anonymous: true,
    methods: { GET: () => Promise.resolve(version()) },
  },
  { pattern: /^\/__permissions__$/, methods: { GET: (r) => Promise.resolve(permissions(r)) } },
  {
    pattern: /^\/tooltool\.py$/,
    anonymous: true,
    methods: {
      GET: () =>
        Promise.resolve(flaskRedirect(
          "https://raw.githubusercontent.com/mozilla-releng/tooltool/master/client/tooltool.py",
        )),
    },
  },
  {
    pattern: /^\/$/,
    anonymous: true,
    methods: { GET: () => Promise.resolve(flaskRedirect("/static/index.html")) },
  },
];

/** Flask's `request.path`: percent-decoded (left as is when it does not decode). */
export function decodedPath(url: URL): string {
  try {
    return decodeURIComponent(url.pathname);
  } catch {
    return url.pathname;
  }
}

/**
 * Routes one API request: 404/405, then query validation, then credentials, then the
 * handler. HEAD is answered as GET without a body, as Flask does.
 */
export async function handleApi(
  incoming: IncomingApiRequest,
  context: ApiContext,
): Promise<Response> {
  const path = decodedPath(incoming.url);
  for (const route of routes) {
    const match = route.pattern.exec(path);
    if (match === null) continue;
    const method = incoming.method === "HEAD" ? "GET" : incoming.method;
    const handler = route.methods[method];
    if (handler === undefined) {
      const allow = [...Object.keys(route.methods), "HEAD", "OPTIONS"].sort().join(", ");
      return werkzeugError(405, undefined, { allow });
    }
    if (route.query !== undefined) {
      const problem = checkQuery(incoming.url.searchParams, route.query);
      if (problem !== undefined) return problem;
    }
    const request = await incoming.authenticate(route.anonymous !== true);
    if (request instanceof Response) return request;
    const response = await handler(request, match.slice(1), context);
    if (incoming.method !== "HEAD") return response;
    await response.body?.cancel();
    return new Response(null, { status: response.status, headers: response.headers });
  }
  return werkzeugError(404);
}

/** connexion with `strict_validation=True`: unknown query parameters are a 400. */
function checkQuery(
  params: URLSearchParams,
  spec: { readonly allowed: readonly string[]; readonly required?: string },
): Response | undefined {
  const extra = [...new Set(params.keys())].filter((name) => !spec.allowed.includes(name));
  if (extra.length > 0) {
    return connexionProblem(
      400,
      null,
      `Extra query parameter(s) ${extra.join(", ")} not in spec`,
    );
  }
  if (spec.required !== undefined && !params.has(spec.required)) {
    return connexionProblem(400, "Bad Request", `Missing query parameter '${spec.required}'`);
  }
  return undefined;
}

function callerId(caller: Caller): string {
  return caller.kind === "client" ? caller.clientId : "anonymous:";
}

function callerHas(caller: Caller, scope: string): boolean {
  return caller.kind === "client" && scopeSatisfied(caller.scopes, scope);
}

/** `File.to_dict()`. */
function fileJson(file: StoredFile, includeInstances: boolean): Record<string, unknown> {
  const json: Record<string, unknown> = {
    size: file.size,
    digest: file.digest,
    algorithm: "sha512",
    visibility: file.visibility,
    has_instances: file.instances.length > 0,
  };
  if (includeInstances) json.instances = [...file.instances];
  return json;
}

/** `Batch.to_dict()`; Flask renders datetimes as HTTP dates. */
function batchJson(batch: StoredBatch, store: FileStore): Record<string, unknown> {
  const files: Record<string, unknown> = {};
  for (const [filename, digest] of Object.entries(batch.files)) {
    const file = store.file(digest);
    if (file !== undefined) files[filename] = fileJson(file, false);
  }
  return {
    id: batch.id,
    uploaded: new Date(batch.uploaded).toUTCString(),
    author: batch.author,
    message: batch.message,
    files,
  };
}

// deno-lint-ignore require-await
async function downloadFile(
  request: ApiRequest,
  [digest = ""]: string[],
  context: ApiContext,
): Promise<Response> {
  // Production looks the digest up before validating it, so a malformed digest is a plain
  // 404 there, never the 400 its code seems to promise.
  const file = context.store.file(digest);
  if (file === undefined || file.instances.length === 0) return werkzeugError(404);
  if (file.visibility !== "public" || !context.anonymousPublicDownload) {
    if (!callerHas(request.caller, `${SCOPE_PREFIX}/download/${file.visibility}`)) {
      return werkzeugError(403);
    }
  }
  const now = context.now();
  const issuedAt = context.takeExpiredRedirect()
    ? now - (context.downloadExpiresSeconds + 2) * 1000
    : now;
  return flaskRedirect(
    context.signer.sign("GET", digest, issuedAt, context.downloadExpiresSeconds).url,
  );
}

// deno-lint-ignore require-await
async function getFile(
  _request: ApiRequest,
  [digest = ""]: string[],
  context: ApiContext,
): Promise<Response> {
  if (!isValidSha512(digest)) return werkzeugError(400, "Invalid sha512 digest");
  const file = context.store.file(digest);
  if (file === undefined) return werkzeugError(404);
  return connexionJson(fileJson(file, true));
}

// deno-lint-ignore require-await
async function searchFiles(
  request: ApiRequest,
  _match: string[],
  context: ApiContext,
): Promise<Response> {
  const q = request.url.searchParams.get("q") ?? "";
  const result: unknown[] = [];
  // A join over batch files, as production's query: a file listed in two batches shows twice.
  for (const batch of context.store.batches()) {
    for (const [filename, digest] of Object.entries(batch.files)) {
      const file = context.store.file(digest);
      if (file !== undefined && (filename.includes(q) || digest.startsWith(q))) {
        result.push(fileJson(file, false));
      }
    }
  }
  return connexionJson({ result });
}

// deno-lint-ignore require-await
async function searchBatches(
  request: ApiRequest,
  _match: string[],
  context: ApiContext,
): Promise<Response> {
  const q = request.url.searchParams.get("q");
  if (q === null) return connexionProblem(400, "Bad Request", "Missing query parameter 'q'");
  if (request.url.searchParams.has("region")) {
    return connexionProblem(400, null, "Extra query parameter(s) region not in spec");
  }
  const result = context.store.batches()
    .filter((batch) => batch.author.includes(q) || batch.message.includes(q))
    .map((batch) => batchJson(batch, context.store));
  return connexionJson({ result });
}

// deno-lint-ignore require-await
async function getBatch(
  _request: ApiRequest,
  [id = ""]: string[],
  context: ApiContext,
): Promise<Response> {
  const batch = context.store.batches().find((candidate) => candidate.id === Number(id));
  if (batch === undefined) return werkzeugError(404);
  return connexionJson(batchJson(batch, context.store));
}

async function uploadComplete(
  _request: ApiRequest,
  [digest = ""]: string[],
  context: ApiContext,
): Promise<Response> {
  if (!isValidSha512(digest)) return werkzeugError(400, "Invalid sha512 digest");
  const file = context.store.file(digest);
  if (file?.pendingUpload !== undefined) {
    const until = file.pendingUpload.expires - context.now();
    if (until > 0) {
      // Until the signed URL expires, the uploader could still replace the bytes, so they
      // cannot be trusted yet. Production adds a second against rounding and skew.
      return werkzeugResponse("", 409, {
        "x-retry-after": String(1 + Math.floor(until / 1000)),
      });
    }
    await context.store.verifyUpload(file);
  }
  // connexion serializes the handler's `"{}"` string as JSON: a quoted string.
  return connexionJson("{}", 202);
}

async function uploadBatch(
  request: ApiRequest,
  _match: string[],
  context: ApiContext,
): Promise<Response> {
  const parsed = parseJsonBody(request);
  if (parsed instanceof Response) return parsed;
  const schemaError = validateUploadBatch(parsed.value);
  if (schemaError !== undefined) return connexionProblem(400, "Bad Request", schemaError);
  const body = parsed.value as {
    message: string;
    files: Record<string, Record<string, unknown>>;
    [key: string]: unknown;
  };

  if (body.message === "") return werkzeugError(400, "message must be non-empty");
  const entries = Object.entries(body.files);
  if (entries.length === 0) return werkzeugError(400, "a batch must include at least one file");
  if ("author" in body) return werkzeugError(400, "Author must NOT be specified for upload.");

  if (request.url.searchParams.has("q")) {
    return connexionProblem(400, null, "Extra query parameter(s) q not in spec");
  }
  // One bucket, one region: production answers an unknown `?region=` with a random
  // configured region, which here is always this one.
  const region = REGION;
  body.author = callerId(request.caller);

  for (const visibility of new Set(entries.map(([, info]) => info.visibility as string))) {
    if (!callerHas(request.caller, `${SCOPE_PREFIX}/upload/${visibility}`)) {
      return werkzeugError(403, `no permission to upload ${visibility} files`);
    }
  }

  // Production raises part-way through and its transaction rolls back, so nothing of a
  // rejected batch is kept: check every file before changing anything.
  const announced = new Map<string, { size: number; visibility: Visibility }>();
  const named = new Set<string>();
  let repeated = false;
  for (const [filename, info] of entries) {
    if (!("algorithm" in info) || !("digest" in info) || !("size" in info)) {
      // A KeyError in production.
      return werkzeugError(500);
    }
    if (info.algorithm !== "sha512") {
      return werkzeugError(400, "`sha512` is the only allowed digest algorithm");
    }
    const digest = info.digest as string;
    if (!isValidSha512(digest)) return werkzeugError(400, "Invalid sha512 digest");
    // A second name for one digest adds a second BatchFile row with the same primary key
    // (file_id, batch_id). The database refuses it when the session next flushes: at the
    // next file's lookup (after its digest checks) or at commit. The IntegrityError is
    // unhandled, so Flask answers its generic 500 and the transaction rolls back.
    if (repeated) return werkzeugError(500);
    repeated = named.has(digest);
    named.add(digest);
    const existing = context.store.file(digest) ?? announced.get(digest);
    const visibility = info.visibility as Visibility;
    if (existing !== undefined && existing.visibility !== visibility) {
      return werkzeugError(400, "Cannot change already existing file's visibility level.");
    }
    const stored = context.store.file(digest);
    if (stored !== undefined && stored.instances.length > 0 && stored.size !== info.size) {
      return werkzeugError(400, `Size mismatch for ${filename}`);
    }
    if (existing === undefined) announced.set(digest, { size: info.size as number, visibility });
  }

  if (repeated) return werkzeugError(500);

  const now = context.now();
  const batchFiles: Record<string, string> = {};
  for (const [filename, info] of entries) {
    const digest = info.digest as string;
    batchFiles[filename] = digest;
    let file: StoredFile | undefined = context.store.file(digest);
    if (file !== undefined && file.instances.length > 0) continue;
    file ??= await context.store.announce(
      digest,
      info.size as number,
      info.visibility as Visibility,
    );
    const signed = context.signer.sign("PUT", digest, now, context.uploadExpiresSeconds);
    info.put_url = signed.url;
    // The pending upload expires exactly when its URL does: bytes cannot change after the
    // check. Like production's `session.merge`, a new URL moves the expiry even if earlier.
    await context.store.save({ ...file, pendingUpload: { region, expires: signed.expires } });
  }
  const batch = await context.store.addBatch({
    uploaded: now,
    author: body.author as string,
    message: body.message,
    files: batchFiles,
  });
  body.id = batch.id;
  return connexionJson({ result: body });
}

async function patchFile(
  request: ApiRequest,
  [digest = ""]: string[],
  context: ApiContext,
): Promise<Response> {
  const parsed = parseJsonBody(request);
  if (parsed instanceof Response) return parsed;
  const schemaError = validatePatch(parsed.value);
  if (schemaError !== undefined) return connexionProblem(400, "Bad Request", schemaError);
  if (!callerHas(request.caller, `${SCOPE_PREFIX}/manage`)) return unauthorizedPermissions();
  let file = context.store.file(digest);
  if (file === undefined) return werkzeugError(404);
  const changes = parsed.value as Record<string, unknown>[];
  if (changes.some((change) => change.op === "set_visibility" && !("visibility" in change))) {
    return werkzeugError(500); // a KeyError in production
  }
  for (const change of changes) {
    if (change.op === "delete_instances") {
      file = await context.store.deleteInstances(file);
    } else {
      file = { ...file, visibility: change.visibility as Visibility };
      await context.store.save(file);
    }
  }
  return connexionJson(fileJson(file, true));
}

function heartbeat(): Response {
  return flaskText("OK", 200, { "cache-control": "public, max-age=60" });
}

function lbHeartbeat(): Response {
  return flaskText("OK!", 200, { "cache-control": "no-cache" });
}

function version(): Response {
  return flaskJson({
    source: "https://github.com/mozilla-releng/tooltool",
    version: "fake",
    commit: "unknown",
    build: "fake-server",
  });
}

function permissions(request: ApiRequest): Response {
  const { caller } = request;
  const body = {
    description: "Permissions of a logged in user",
    user_id: caller.kind === "client" ? caller.clientId : null,
    permissions: caller.kind === "client" ? [...caller.scopes] : [],
  };
  // `json.dumps` with Python's default separators, not Flask's jsonify.
  return new Response(pyJsonDumps(body), {
    headers: { "content-type": "application/json", "cache-control": "public, max-age=60" },
  });
}

/** Python's `json.dumps(value)`: `", "` and `": "` separators, keys in insertion order. */
function pyJsonDumps(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(pyJsonDumps).join(", ")}]`;
  if (typeof value === "object" && value !== null) {
    return `{${
      Object.entries(value).map(([key, item]) => `${JSON.stringify(key)}: ${pyJsonDumps(item)}`)
        .join(", ")
    }}`;
  }
  return JSON.stringify(value);
}

/** connexion's request body handling for `consumes: application/json`. */
function parseJsonBody(request: ApiRequest): { value: unknown } | Response {
  const mediaType = (request.contentType.split(";")[0] ?? "").trim().toLowerCase();
  const isJson = mediaType === "application/json" ||
    (mediaType.startsWith("application/") && mediaType.endsWith("+json"));
  if (request.body.length === 0) return { value: null };
  if (!isJson) {
    return connexionProblem(
      415,
      "Unsupported Media Type",
      `Invalid Content-type (${request.contentType}), expected JSON data`,
    );
  }
  try {
    return { value: JSON.parse(new TextDecoder().decode(request.body)) };
  } catch {
    return connexionProblem(400, "Bad Request", "Request body is not valid JSON");
  }
}

/** Python's `repr` of a JSON value, for jsonschema-style messages. */
function pyRepr(value: unknown): string {
  if (value === null) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "string") {
    return `'${value.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
  }
  if (typeof value === "number") return String(value);
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(", ")}]`;
  return `{${
    Object.entries(value as Record<string, unknown>).map(([k, v]) => `${pyRepr(k)}: ${pyRepr(v)}`)
      .join(", ")
  }}`;
}

type JsonType = "object" | "array" | "string" | "integer" | "boolean";

function hasType(value: unknown, type: JsonType): boolean {
  switch (type) {
    case "object":
      return typeof value === "object" && value !== null && !Array.isArray(value);
    case "array":
      return Array.isArray(value);
    case "string":
      return typeof value === "string";
    case "integer":
      return typeof value === "number" && Number.isInteger(value);
    case "boolean":
      return typeof value === "boolean";
  }
}

/** A jsonschema message with connexion's ` - 'path'` suffix. */
function schemaMessage(message: string, path: readonly string[]): string {
  return path.length === 0 ? message : `${message} - '${path.join(".")}'`;
}

const visibilities = ["public", "internal"];

/** The swagger's UploadBatch schema, as jsonschema checks it. */
function validateUploadBatch(value: unknown): string | undefined {
  if (!hasType(value, "object")) {
    return schemaMessage(`${pyRepr(value)} is not of type 'object'`, []);
  }
  const batch = value as Record<string, unknown>;
  for (const name of ["message", "files"]) {
    if (!(name in batch)) return schemaMessage(`'${name}' is a required property`, []);
  }
  const types: Record<string, JsonType> = {
    id: "integer",
    uploaded: "string",
    author: "string",
    message: "string",
    files: "object",
  };
  for (const [name, type] of Object.entries(types)) {
    if (name in batch && !hasType(batch[name], type)) {
      return schemaMessage(`${pyRepr(batch[name])} is not of type '${type}'`, [name]);
    }
  }
  for (const [filename, info] of Object.entries(batch.files as Record<string, unknown>)) {
    const error = validateFile(info, ["files", filename]);
    if (error !== undefined) return error;
  }
  return undefined;
}

/** The swagger's File schema. */
function validateFile(value: unknown, path: string[]): string | undefined {
  if (!hasType(value, "object")) {
    return schemaMessage(`${pyRepr(value)} is not of type 'object'`, path);
  }
  const file = value as Record<string, unknown>;
  if (!("visibility" in file)) return schemaMessage("'visibility' is a required property", path);
  const types: Record<string, JsonType> = {
    size: "integer",
    digest: "string",
    algorithm: "string",
    visibility: "string",
    has_instances: "boolean",
    instances: "array",
    get_url: "string",
    put_url: "string",
  };
  for (const [name, type] of Object.entries(types)) {
    if (name in file && !hasType(file[name], type)) {
      return schemaMessage(`${pyRepr(file[name])} is not of type '${type}'`, [...path, name]);
    }
  }
  if (!visibilities.includes(file.visibility as string)) {
    return schemaMessage(
      `${pyRepr(file.visibility)} is not one of ['public', 'internal']`,
      [...path, "visibility"],
    );
  }
  if (Array.isArray(file.instances)) {
    const index = file.instances.findIndex((item) => typeof item !== "string");
    if (index !== -1) {
      return schemaMessage(
        `${pyRepr(file.instances[index])} is not of type 'string'`,
        [...path, "instances", String(index)],
      );
    }
  }
  return undefined;
}

/** The PATCH body schema: a list of `{op, visibility?}`. */
function validatePatch(value: unknown): string | undefined {
  if (!hasType(value, "array")) return schemaMessage(`${pyRepr(value)} is not of type 'array'`, []);
  const changes = value as unknown[];
  for (const [index, change] of changes.entries()) {
    const path = [String(index)];
    if (!hasType(change, "object")) {
      return schemaMessage(`${pyRepr(change)} is not of type 'object'`, path);
    }
    const record = change as Record<string, unknown>;
    if (!("op" in record)) return schemaMessage("'op' is a required property", path);
    if (!hasType(record.op, "string")) {
      return schemaMessage(`${pyRepr(record.op)} is not of type 'string'`, [...path, "op"]);
    }
    if (record.op !== "set_visibility" && record.op !== "delete_instances") {
      return schemaMessage(
        `${pyRepr(record.op)} is not one of ['set_visibility', 'delete_instances']`,
        [...path, "op"],
      );
    }
    if ("visibility" in record) {
      if (!hasType(record.visibility, "string")) {
        return schemaMessage(
          `${pyRepr(record.visibility)} is not of type 'string'`,
          [...path, "visibility"],
        );
      }
      if (!visibilities.includes(record.visibility as string)) {
        return schemaMessage(
          `${pyRepr(record.visibility)} is not one of ['public', 'internal']`,
          [...path, "visibility"],
        );
      }
    }
  }
  return undefined;
}

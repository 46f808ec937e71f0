/**
 * The S3 stand-in: signed, expiring URLs for one bucket, served on their own port so that a
 * download redirect crosses origins as it does in production.
 *
 * Upload URLs are, by default, what production's boto3 `generate_presigned_url("put_object",
 * ContentType="application/octet-stream")` gives for its regions: S3 query-string SigV2
 * (`AWSAccessKeyId`, `Signature`, an absolute `Expires` epoch, `content-type` echoed in the
 * query). The signature is checked as S3 does, HMAC-SHA1 over the method, the request's own
 * Content-MD5 and Content-Type headers, Expires, its x-amz-* headers and the bucket-qualified
 * resource, so a client that adds or changes one of those headers is refused. `uploadSignature:
 * "v4"` issues SigV4-shaped URLs instead (`X-Amz-Date`, `X-Amz-Expires`, `X-Amz-SignedHeaders`,
 * `X-Amz-Signature`, signed with a per-server secret but not with SigV4's key derivation);
 * download URLs always have that shape (production's go through CloudFront, not reproduced).
 *
 * What a client can observe follows S3: an `Authorization` header next to query
 * authentication is 400 InvalidArgument, a tampered URL 403 SignatureDoesNotMatch, an expired
 * one 403 AccessDenied "Request has expired", a PUT without Content-Length 411, a missing key
 * 404 NoSuchKey, Range gives 206 or 416 InvalidRange.
 *
 * @module
 */

import { createHmac, timingSafeEqual } from "node:crypto";
import { fileRange, type FileStore, isValidSha512 } from "./store.ts";
import { s3Error } from "./responses.ts";

/** The most S3 takes in one PUT. */
const MAX_PUT_BYTES = 5 * 1024 ** 3;

/** The bucket SigV2 signs over (its canonical resource is `/<bucket>/<key>`). */
const BUCKET = "fake-tooltool";

/** The access key id SigV2 URLs carry (shaped like an AWS one; not a secret). */
const ACCESS_KEY_ID = "AKIAFAKETOOLTOOL0000";

/** What boto3 signs a presigned PUT for: the service passes this ContentType. */
const PUT_CONTENT_TYPE = "application/octet-stream";

/** How upload URLs are signed: production's S3 query-string SigV2, or SigV4-shaped. */
export type UploadSignature = "v2" | "v4";

const signatureMismatch =
  "The request signature we calculated does not match the signature you provided. " +
  "Check your key and signing method.";

/** Signs and checks storage URLs. */
export class UrlSigner {
  readonly #secret: string;
  readonly #base: string;
  readonly #downloadBase: string;
  readonly #uploadSignature: UploadSignature;

  /**
   * `base` is the storage origin with a trailing slash; `downloadBase` (default `base`) is
   * where GET URLs point instead, e.g. an nginx serving the same folder.
   */
  constructor(
    base: string,
    options: { secret?: string; uploadSignature?: UploadSignature; downloadBase?: string } = {},
  ) {
    this.#base = base;
    this.#downloadBase = options.downloadBase ?? base;
    this.#secret = options.secret ?? crypto.randomUUID();
    this.#uploadSignature = options.uploadSignature ?? "v2";
  }

  /**
   * A URL for one method on one blob, valid for `expiresSeconds` from `issuedAt` (epoch ms),
   * and when it expires (epoch ms). PUT URLs sign the Content-Type, as boto3 does when
   * given `ContentType`.
   */
  sign(
    method: "GET" | "PUT",
    digest: string,
    issuedAt: number,
    expiresSeconds: number,
  ): { url: string; expires: number } {
    // Both forms have whole seconds. Rounding up rather than down keeps the lifetime at
    // least what was asked (boto3 rounds down), so tests with one-second URLs are not flaky.
    const issuedSecond = Math.ceil(issuedAt / 1000) * 1000;
    if (method === "PUT" && this.#uploadSignature === "v2") {
      return this.#signV2(method, digest, issuedSecond / 1000 + expiresSeconds);
    }
    return this.#signV4(method, digest, issuedSecond, expiresSeconds);
  }

  /** Checks a request against its URL's signature; returns an S3 error response, or undefined. */
  check(request: Request, url: URL, now: number): Response | undefined {
    const params = url.searchParams;
    if (
      !params.has("X-Amz-Algorithm") && (params.has("AWSAccessKeyId") || params.has("Signature"))
    ) {
      return this.#checkV2(request, url, now);
    }
    return this.#checkV4(request, url, now);
  }

  #signV2(method: string, digest: string, expires: number): { url: string; expires: number } {
    const toSign = stringToSignV2(method, "", PUT_CONTENT_TYPE, String(expires), "", digest);
    // botocore's order: the credentials, then the signed headers it moved into the query.
    const query = new URLSearchParams({
      AWSAccessKeyId: ACCESS_KEY_ID,
      Signature: this.#hmacSha1(toSign),
      "content-type": PUT_CONTENT_TYPE,
      Expires: String(expires),
    });
    return { url: `${this.#base}sha512/${digest}?${query}`, expires: expires * 1000 };
  }

  #checkV2(request: Request, url: URL, now: number): Response | undefined {
    const params = url.searchParams;
    const accessKeyId = params.get("AWSAccessKeyId");
    const signature = params.get("Signature");
    const expires = params.get("Expires");
    if (accessKeyId === null || signature === null || expires === null) {
      return s3Error(
        403,
        "AccessDenied",
        "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters",
      );
    }
    if (!/^\d+$/.test(expires)) {
      return s3Error(
        403,
        "AccessDenied",
        `Invalid date (should be seconds since epoch): ${expires}`,
      );
    }
    if (accessKeyId !== ACCESS_KEY_ID) {
      return s3Error(
        403,
        "InvalidAccessKeyId",
        "The AWS Access Key Id you provided does not exist in our records.",
        { AWSAccessKeyId: accessKeyId },
      );
    }
    const expiry = Number(expires) * 1000;
    if (now > expiry) {
      return s3Error(403, "AccessDenied", "Request has expired", {
        Expires: new Date(expiry).toISOString(),
        ServerTime: new Date(now).toISOString(),
      });
    }
    const match = /^\/sha512\/([^/]+)$/.exec(url.pathname);
    // S3 signs the verb and reads Content-MD5 and Content-Type from the request itself, not
    // from the query (boto3's `content-type` parameter there is only informative).
    const toSign = stringToSignV2(
      request.method.toUpperCase(),
      request.headers.get("content-md5")?.trim() ?? "",
      request.headers.get("content-type")?.trim() ?? "",
      expires,
      canonicalAmzHeaders(request.headers),
      match?.[1] ?? "",
    );
    if (!sameText(this.#hmacSha1(toSign), signature)) {
      return s3Error(403, "SignatureDoesNotMatch", signatureMismatch, {
        AWSAccessKeyId: accessKeyId,
        StringToSign: toSign,
        SignatureProvided: signature,
        StringToSignBytes: [...new TextEncoder().encode(toSign)]
          .map((byte) => byte.toString(16).padStart(2, "0")).join(" "),
      });
    }
    return undefined;
  }

  #hmacSha1(text: string): string {
    return createHmac("sha1", this.#secret).update(text).digest("base64");
  }

  #signV4(
    method: string,
    digest: string,
    issuedSecond: number,
    expiresSeconds: number,
  ): { url: string; expires: number } {
    const amzDate = new Date(issuedSecond).toISOString()
      .replaceAll("-", "").replaceAll(":", "").replace(/\.\d{3}/, "");
    const signedHeaders = method === "PUT" ? "content-type;host" : "host";
    const path = `/sha512/${digest}`;
    const query = new URLSearchParams({
      "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
      "X-Amz-Credential": `FAKETOOLTOOL/${amzDate.slice(0, 8)}/us-east-1/s3/aws4_request`,
      "X-Amz-Date": amzDate,
      "X-Amz-Expires": String(expiresSeconds),
      "X-Amz-SignedHeaders": signedHeaders,
    });
    const signature = this.#signatureV4(
      method,
      path,
      amzDate,
      String(expiresSeconds),
      signedHeaders,
      method === "PUT" ? PUT_CONTENT_TYPE : "",
    );
    query.set("X-Amz-Signature", signature);
    const base = method === "GET" ? this.#downloadBase : this.#base;
    return {
      url: `${base}sha512/${digest}?${query}`,
      expires: issuedSecond + expiresSeconds * 1000,
    };
  }

  #checkV4(request: Request, url: URL, now: number): Response | undefined {
    const params = url.searchParams;
    const amzDate = params.get("X-Amz-Date");
    const expires = params.get("X-Amz-Expires");
    const signedHeaders = params.get("X-Amz-SignedHeaders");
    const signature = params.get("X-Amz-Signature");
    if (amzDate === null || expires === null || signedHeaders === null || signature === null) {
      return s3Error(403, "AccessDenied", "Access Denied");
    }
    const issued = parseAmzDate(amzDate);
    if (issued === undefined || !/^\d+$/.test(expires) || Number(expires) > 604800) {
      return s3Error(
        400,
        "AuthorizationQueryParametersError",
        "Invalid X-Amz-Date or X-Amz-Expires",
      );
    }
    const expiry = issued + Number(expires) * 1000;
    if (now > expiry) {
      return s3Error(403, "AccessDenied", "Request has expired", {
        "X-Amz-Expires": expires,
        Expires: new Date(expiry).toISOString(),
        ServerTime: new Date(now).toISOString(),
      });
    }
    // S3 signs the verb: a GET URL cannot be used for HEAD or PUT.
    const method = request.method.toUpperCase();
    const contentType = signedHeaders.split(";").includes("content-type")
      ? (request.headers.get("content-type") ?? "").trim()
      : "";
    const expected = this.#signatureV4(
      method,
      url.pathname,
      amzDate,
      expires,
      signedHeaders,
      contentType,
    );
    if (!sameText(expected, signature)) {
      return s3Error(403, "SignatureDoesNotMatch", signatureMismatch);
    }
    return undefined;
  }

  #signatureV4(
    method: string,
    path: string,
    amzDate: string,
    expires: string,
    signedHeaders: string,
    contentType: string,
  ): string {
    return createHmac("sha256", this.#secret)
      .update([method, path, amzDate, expires, signedHeaders, contentType].join("\n"))
      .digest("hex");
  }
}

/** S3's SigV2 string to sign for query-string authentication (`Expires` in place of Date). */
function stringToSignV2(
  method: string,
  contentMd5: string,
  contentType: string,
  expires: string,
  amzHeaders: string,
  digest: string,
): string {
  return `${method}\n${contentMd5}\n${contentType}\n${expires}\n${amzHeaders}/${BUCKET}/sha512/${digest}`;
}

/** SigV2's CanonicalizedAmzHeaders: every `x-amz-*` header, lowercased, sorted, one a line. */
function canonicalAmzHeaders(headers: Headers): string {
  return [...headers.entries()]
    .filter(([name]) => name.startsWith("x-amz-"))
    .sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
    .map(([name, value]) => `${name}:${value.trim()}\n`).join("");
}

function sameText(expected: string, given: string): boolean {
  const left = new TextEncoder().encode(expected);
  const right = new TextEncoder().encode(given);
  return left.length === right.length && timingSafeEqual(left, right);
}

function parseAmzDate(text: string): number | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (match === null) return undefined;
  const [, y, mo, d, h, mi, s] = match.map(Number);
  return Date.UTC(y ?? 0, (mo ?? 1) - 1, d ?? 1, h ?? 0, mi ?? 0, s ?? 0);
}

/** A parsed `Range` header: the bytes to send, or why not. */
export type RangeResult =
  | { readonly kind: "full" }
  | { readonly kind: "partial"; readonly start: number; readonly end: number }
  | { readonly kind: "unsatisfiable" };

/**
 * Interprets a Range header as S3 does: one `bytes=` range (first-last, first-, -suffix);
 * anything it cannot parse, or several ranges, is ignored and the whole object is sent.
 */
export function parseRange(header: string | null, size: number): RangeResult {
  if (header === null) return { kind: "full" };
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (match === null) return { kind: "full" };
  const [, first = "", last = ""] = match;
  if (first === "" && last === "") return { kind: "full" };
  if (first === "") {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return { kind: "unsatisfiable" };
    return { kind: "partial", start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  // first > last is a syntactically invalid range, which HTTP says to ignore.
  if (last !== "" && Number(last) < start) return { kind: "full" };
  if (start >= size) return { kind: "unsatisfiable" };
  const end = last === "" ? size - 1 : Math.min(Number(last), size - 1);
  return { kind: "partial", start, end };
}

/** What the storage handler needs from the server. */
export interface StorageContext {
  readonly store: FileStore;
  readonly signer: UrlSigner;
  readonly now: () => number;
}

/** A response plus the blob offset its body starts at (for `flip-byte`). */
export interface StorageAnswer {
  readonly response: Response;
  readonly bodyStart: number;
}

/** Handles one request to the storage origin. */
export async function handleStorage(
  request: Request,
  url: URL,
  context: StorageContext,
): Promise<StorageAnswer> {
  const answer = (response: Response) => ({ response, bodyStart: 0 });
  const method = request.method.toUpperCase();
  if (request.headers.has("authorization")) {
    // S3 refuses a request that carries both query-string and header authentication. A
    // client that forwards its Hawk header along the redirect fails here as it would there.
    return answer(s3Error(
      400,
      "InvalidArgument",
      "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature " +
        "query string parameter or the Authorization header should be specified",
      { ArgumentName: "Authorization", ArgumentValue: request.headers.get("authorization") ?? "" },
    ));
  }
  const match = /^\/sha512\/([^/]+)$/.exec(url.pathname);
  const digest = match?.[1];
  if (digest === undefined || !isValidSha512(digest)) {
    return answer(s3Error(403, "AccessDenied", "Access Denied"));
  }
  if (method !== "GET" && method !== "HEAD" && method !== "PUT") {
    return answer(s3Error(
      405,
      "MethodNotAllowed",
      "The specified method is not allowed against this resource.",
      { Method: method, ResourceType: "OBJECT" },
      { allow: "GET, HEAD, PUT" },
    ));
  }
  const denied = context.signer.check(request, url, context.now());
  if (denied !== undefined) return answer(denied);

  if (method === "PUT") return answer(await receivePut(request, digest, context));

  const file = context.store.file(digest);
  let stat: Deno.FileInfo | undefined;
  if (file !== undefined && file.instances.length > 0) {
    stat = await Deno.stat(context.store.blobPath(digest)).catch(() => undefined);
  }
  if (file === undefined || stat === undefined) {
    return answer(s3Error(404, "NoSuchKey", "The specified key does not exist.", {
      Key: `sha512/${digest}`,
    }));
  }
  const size = stat.size;
  const headers = new Headers({
    "accept-ranges": "bytes",
    "content-type": "application/octet-stream",
    "last-modified": (stat.mtime ?? new Date(0)).toUTCString(),
  });
  if (file.etag !== undefined) headers.set("etag", file.etag);

  const range = parseRange(request.headers.get("range"), size);
  if (range.kind === "unsatisfiable") {
    return answer(s3Error(
      416,
      "InvalidRange",
      "The requested range is not satisfiable",
      { RangeRequested: request.headers.get("range") ?? "", ActualObjectSize: String(size) },
      { "content-range": `bytes */${size}` },
    ));
  }
  const start = range.kind === "partial" ? range.start : 0;
  const length = range.kind === "partial" ? range.end - range.start + 1 : size;
  headers.set("content-length", String(length));
  if (range.kind === "partial") {
    headers.set("content-range", `bytes ${range.start}-${range.end}/${size}`);
  }
  const status = range.kind === "partial" ? 206 : 200;
  if (method === "HEAD") return answer(new Response(null, { status, headers }));
  const body = await fileRange(context.store.blobPath(digest), start, length);
  return { response: new Response(body, { status, headers }), bodyStart: start };
}

async function receivePut(
  request: Request,
  digest: string,
  context: StorageContext,
): Promise<Response> {
  const declared = request.headers.get("content-length");
  if (declared === null || !/^\d+$/.test(declared)) {
    // S3 takes no chunked uploads on a presigned PUT: the length must be known up front.
    await request.body?.cancel().catch(() => {});
    return s3Error(411, "MissingContentLength", "You must provide the Content-Length HTTP header.");
  }
  if (Number(declared) > MAX_PUT_BYTES) {
    await request.body?.cancel().catch(() => {});
    return s3Error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size", {
      ProposedSize: declared,
      MaxSizeAllowed: String(MAX_PUT_BYTES),
    });
  }
  let received: { size: number; etag: string };
  try {
    received = await context.store.receiveUpload(digest, request.body ?? emptyStream());
  } catch {
    return s3Error(
      400,
      "IncompleteBody",
      "You did not provide the number of bytes specified by the Content-Length HTTP header",
    );
  }
  if (received.size !== Number(declared)) {
    await context.store.discardTemp(context.store.uploadPath(digest));
    return s3Error(
      400,
      "IncompleteBody",
      "You did not provide the number of bytes specified by the Content-Length HTTP header",
    );
  }
  return new Response(null, { status: 200, headers: { etag: received.etag } });
}

function emptyStream(): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.close();
    },
  });
}

/**
 * The headers a CDN in front of storage adds (CloudFront, Fastly, nginx, Varnish): logged
 * when a transfer goes wrong or is slow, so that a truncated or stale object in one edge
 * location can be traced to it (which POP, hit or miss, how old the copy).
 *
 * @module
 */

/** The headers kept, in the order they are printed. */
export const CDN_HEADER_NAMES = [
  "x-cache",
  "x-cache-status",
  "x-amz-cf-pop",
  "via",
  "age",
] as const;

/** Longest value kept per header: these are short; anything longer is clipped. */
const MAX_VALUE_LENGTH = 200;

/** A response's CDN headers by lowercase name. */
export type CdnHeaders = Readonly<Record<string, string>>;

/** The CDN headers of a response; `undefined` when it has none. */
export function cdnHeaders(headers: Headers): CdnHeaders | undefined {
  const found: Record<string, string> = {};
  for (const name of CDN_HEADER_NAMES) {
    const value = headers.get(name);
    if (value !== null) found[name] = value.slice(0, MAX_VALUE_LENGTH);
  }
  return Object.keys(found).length > 0 ? found : undefined;
}

/** `x-cache: Miss from cloudfront, x-amz-cf-pop: FRA56-P1`, for a log line. */
export function formatCdnHeaders(headers: CdnHeaders): string {
  return Object.entries(headers).map(([name, value]) => `${name}: ${value}`).join(", ");
}

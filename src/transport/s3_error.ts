/**
 * S3's XML error documents (`<Error><Code>AccessDenied</Code><Message>Request has
 * expired</Message>...`), read for the two fields a person needs. Pure.
 *
 * @module
 */

import { clipText } from "../bounded_read.ts";

/** `<Code>` and `<Message>` of an S3 error body (entities decoded, length clipped). */
export function s3ErrorFields(body: string): { code?: string; message?: string } {
  const code = xmlText(body, "Code");
  const message = xmlText(body, "Message");
  return {
    ...(code === undefined || code === "" ? {} : { code: clipText(code) }),
    ...(message === undefined || message === "" ? {} : { message: clipText(message) }),
  };
}

/** `Code: Message`, whichever of them the body has, or "" (for a status line's brackets). */
export function s3ErrorSummary(fields: { code?: string; message?: string }): string {
  return [fields.code, fields.message].filter((part) => part !== undefined).join(": ");
}

function xmlText(body: string, element: string): string | undefined {
  const match = new RegExp(`<${element}>([^<]*)</${element}>`).exec(body);
  if (match === null) return undefined;
  return (match[1] ?? "").replaceAll("&lt;", "<").replaceAll("&gt;", ">")
    .replaceAll("&quot;", '"').replaceAll("&apos;", "'").replaceAll("&amp;", "&");
}

/**
 * Upload step 2: ask for a batch (`POST upload`), on the current server or the next ones.
 *
 * @module
 */

import { z } from "zod";
import { withoutUserinfo } from "../../display.ts";
import { ToolError } from "../../errors.ts";
import { formatIssue } from "../../format.ts";
import { withFailover } from "../../transport/failover.ts";
import { parseHttpDate } from "./put.ts";
import { nameOf, type Session, type UploadItem } from "./types.ts";

const BatchAnswerSchema = z.object({
  result: z.object({
    id: z.number().optional(),
    files: z.record(
      z.string(),
      z.object({ put_url: z.string().optional() }),
    ),
  }),
});

/** The server's answer to a batch, as far as an upload needs it. */
export interface Batch {
  /** The server, as messages show it. */
  readonly server: string;
  /** What relative `put_url`s resolve against (without userinfo: it is not storage's). */
  readonly base: URL;
  /** When the batch was sent (epoch ms): URLs were issued no earlier than this. */
  readonly requestedAt: number;
  /** The service's clock when it answered (its `Date` header, epoch ms), if it said. */
  readonly serverDate: number | undefined;
  readonly files: Readonly<Record<string, { readonly put_url?: string | undefined }>>;
}

/** Room for a batch answer's own fields; see `BATCH_ANSWER_BYTES_PER_FILE`. */
const BATCH_ANSWER_BASE_BYTES = 1024 * 1024;

/** Room per file of a batch answer: its record and signed URL, with a wide margin. */
const BATCH_ANSWER_BYTES_PER_FILE = 32 * 1024;

/** Step 2: one batch, on the current server or the next ones. */
export async function requestBatch(session: Session, items: readonly UploadItem[]): Promise<Batch> {
  const { ctx, tuning } = session;
  // One entry per digest, under its first name: the service keeps one batch row per
  // (file, batch) and answers 500 to a batch naming the same content twice. The other
  // names stay in the manifest; see docs/upload.md.
  const files: Record<string, unknown> = {};
  for (const item of items) {
    files[nameOf(item)] = {
      size: item.size,
      digest: item.digest,
      algorithm: "sha512",
      visibility: item.visibility,
    };
  }
  const target = items.length === 1 ? nameOf(items[0]!) : session.manifest;
  const { value, index } = await withFailover(async (client) => {
    const requestedAt = Date.now();
    const { body, date } = await client.requestJson({
      method: "POST",
      path: "upload",
      query: { region: session.region },
      json: { message: session.message, files },
      operation: "upload",
      target,
      // The answer grows with the batch: a signed PUT URL (~2 KiB) per file.
      maxAnswerBytes: BATCH_ANSWER_BASE_BYTES + items.length * BATCH_ANSWER_BYTES_PER_FILE,
    });
    const parsed = BatchAnswerSchema.safeParse(body);
    if (!parsed.success) {
      throw new ToolError(
        `Cannot upload "${target}" to ${client.displayName}: the server's answer is not an upload batch (${
          formatIssue(parsed.error)
        })`,
      );
    }
    return { client, requestedAt, date, result: parsed.data.result };
  }, {
    servers: session.clients,
    start: session.serverIndex,
    nameOf: (client) => client.displayName,
    attempts: tuning.apiAttempts,
    signal: ctx.signal,
    warn: (message) => ctx.output.warn(message),
  });
  session.serverIndex = index;
  const { client, result } = value;
  if (result.id !== undefined) session.batches.push(result.id);
  ctx.output.debug(`Batch ${result.id ?? "(no id)"} accepted by ${client.displayName}`);
  return {
    server: client.displayName,
    base: withoutUserinfo(client.url("")),
    requestedAt: value.requestedAt,
    serverDate: parseHttpDate(value.date),
    files: result.files,
  };
}

export function parsePutUrl(text: string, item: UploadItem, batch: Batch): URL | ToolError {
  try {
    const url = new URL(text, batch.base);
    if (url.protocol === "http:" || url.protocol === "https:") return url;
  } catch {
    // Reported below.
  }
  return new ToolError(
    `Cannot upload "${nameOf(item)}" to ${batch.server}: the server gave an unusable upload URL`,
  );
}

/**
 * Reading a download's body with as little garbage as a multi-GB transfer allows.
 *
 * @module
 */

import { giveBack, takeBuffer } from "../buffer_pool.ts";

/** Reads a response body chunk by chunk. */
export interface BodyReader {
  /** The next bytes (at most `limit`), or null at the end; valid until the next call. */
  read(limit: number): Promise<Uint8Array | null>;
  cancel(): Promise<void>;
  /** Lets go of the stream (no read may be in flight); the last chunk read is invalid after. */
  release(): void;
}

/**
 * A response's body readable straight from its connection, until one of two ways takes it:
 * directly (`directBody`, `discardBody`), or through a stream made over it (any body method
 * of the response). Whichever comes first owns the body; the other way then finds it used,
 * as a response of Deno's own `fetch` does once its stream was read.
 */
export class DirectBody {
  readonly #reader: BodyReader;
  #taken: "direct" | "stream" | undefined;

  constructor(reader: BodyReader) {
    this.#reader = reader;
  }

  /** The reader, taking the body; `undefined` once a stream owns it. */
  take(): BodyReader | undefined {
    if (this.#taken === "stream") return undefined;
    this.#taken = "direct";
    return this.#reader;
  }

  /** The reader for a stream, taking the body; `undefined` once it was taken directly. */
  takeForStream(): BodyReader | undefined {
    if (this.#taken === "direct") return undefined;
    this.#taken = "stream";
    return this.#reader;
  }

  /** Whether the body was taken directly. */
  get takenDirectly(): boolean {
    return this.#taken === "direct";
  }
}

/** Bodies readable straight from their connection, by the response they belong to. */
const directBodies = new WeakMap<Response, DirectBody>();

/**
 * Marks `body` as the way to read `response`'s body without a stream (the HTTP/1.1
 * client's responses). Kept here, apart from the client, so that code that only drops
 * bodies (`discardBody`) does not load the client with it.
 */
export function registerDirectBody(response: Response, body: DirectBody): void {
  directBodies.set(response, body);
}

/**
 * The body of a response made by `http1Fetch`, as a reader that reads from the socket into
 * the connection's buffer (each chunk valid until the next read); `undefined` for any other
 * response, or one whose body a stream already took. Taking it marks the body used.
 */
export function directBody(response: Response): BodyReader | undefined {
  return directBodies.get(response)?.take();
}

/**
 * Drops a response's body: through its direct reader when it has one (no stream is made
 * for a redirect's page), else by cancelling its stream (a clone's body is not affected).
 */
export async function discardBody(response: Response): Promise<void> {
  const direct = directBody(response);
  if (direct !== undefined) return await direct.cancel();
  // Not awaited: the cancel of one branch of a clone's tee settles only once the other
  // branch is cancelled too, and dropping this body must not wait for the clone.
  if (!response.bodyUsed) response.body?.cancel().catch(() => {});
}

/** How much one BYOB read may bring (Deno's fetch gives up to ~256 KiB at a time). */
export const LANDING_SIZE = 256 * 1024;

/**
 * A BYOB reader when the body is a byte stream (Deno's fetch bodies are): every read lands
 * in one reused buffer instead of a freshly allocated chunk, which keeps the garbage — and
 * so the peak RSS — of a multi-GB download small. Its bytes are copied on into the sink at
 * once, so a failed read (which takes its buffer with it) loses nothing already received.
 * Other streams are read chunk by chunk.
 */
export function bodyReader(stream: ReadableStream<Uint8Array>, landingSize: number): BodyReader {
  let byob: ReadableStreamBYOBReader | undefined;
  try {
    byob = stream.getReader({ mode: "byob" });
  } catch {
    // Not a byte stream.
  }
  if (byob !== undefined) {
    const reader = byob;
    let landing: Uint8Array = takeBuffer(landingSize);
    let ended = false;
    let released = false;
    return {
      async read(limit) {
        const view = landing.subarray(0, Math.max(1, Math.min(limit, landingSize)));
        let result: ReadableStreamReadResult<Uint8Array>;
        try {
          result = await reader.read(view);
        } catch (error) {
          landing = new Uint8Array(landingSize);
          throw error;
        }
        // The read transferred the buffer: keep using it under its new identity.
        landing = result.value === undefined
          ? new Uint8Array(landingSize)
          : new Uint8Array(result.value.buffer);
        if (result.done || result.value === undefined) {
          ended = true;
          return null;
        }
        return result.value;
      },
      cancel: () => reader.cancel().catch(() => {}),
      // Releasing makes a TypeError (with its stack) for the reader's `closed` promise: on
      // a stream already read to its end the lock no longer matters, so that is skipped.
      release: () => {
        if (released) return;
        released = true;
        if (!ended) reader.releaseLock();
        // No read is in flight once the caller lets go, so the buffer is free again.
        giveBack(landing);
      },
    };
  }
  const reader = stream.getReader();
  return {
    async read() {
      const result = await reader.read();
      return result.done ? null : result.value;
    },
    cancel: () => reader.cancel().catch(() => {}),
    release: () => reader.releaseLock(),
  };
}

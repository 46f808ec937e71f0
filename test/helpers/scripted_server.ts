/**
 * A TCP server that answers each HTTP request with bytes a test writes itself, so that
 * every framing, and every way of getting one wrong, can be sent exactly (the tests of
 * `src/transport/http1.ts`).
 *
 * @module
 */

import { writeAll } from "../../src/write_all.ts";

const encoder = new TextEncoder();

/** What the scripted server is told about each request it answers. */
export interface Exchange {
  readonly head: string;
  readonly connection: number;
  readonly request: number;
  readonly conn: Deno.Conn;
}

/**
 * Starts the server; `answer` writes each reply (and may close the connection itself);
 * returning `"close"` ends the connection. `ended[n]`: the client closed connection n.
 */
export function scriptedServer(answer: (exchange: Exchange) => Promise<void | "close">) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const heads: string[] = [];
  let accepted = 0;
  const open = new Set<Deno.Conn>();
  /** Per connection, whether the client has closed it (the server read its end). */
  const ended: boolean[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      const connection = accepted++;
      ended[connection] = false;
      open.add(conn);
      conn.setNoDelay(true);
      (async () => {
        let pending = "";
        const buffer = new Uint8Array(64 * 1024);
        for (let request = 0;; request++) {
          while (!pending.includes("\r\n\r\n")) {
            const count = await conn.read(buffer).catch(() => null);
            if (count === null) {
              ended[connection] = true;
              return;
            }
            pending += new TextDecoder().decode(buffer.subarray(0, count));
          }
          const end = pending.indexOf("\r\n\r\n") + 4;
          const head = pending.slice(0, end);
          pending = pending.slice(end);
          heads.push(head);
          if ((await answer({ head, connection, request, conn })) === "close") break;
        }
      })().catch(() => {}).finally(() => {
        open.delete(conn);
        try {
          conn.close();
        } catch {
          // Closed by the script.
        }
      });
    }
  })().catch(() => {});
  const { port } = listener.addr as Deno.NetAddr;
  return {
    url: `http://127.0.0.1:${port}`,
    heads,
    ended,
    get accepted() {
      return accepted;
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of open) {
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
      await serving;
    },
  };
}

/** Writes all of `text` (`Conn.write` may take part of it). */
export function write(conn: Deno.Conn, text: string | Uint8Array): Promise<void> {
  return writeAll(conn, typeof text === "string" ? encoder.encode(text) : text);
}

/**
 * A minimal static file server for mirror tests: serves files of a folder by path (404 for
 * anything missing) and records each request with its `Authorization` header.
 *
 * @module
 */

import { join, normalize } from "node:path";

/** One request the server saw. */
export interface StaticRequest {
  readonly path: string;
  readonly status: number;
  readonly authorization: string | null;
}

/** A running static server. */
export interface StaticServer {
  /** Base URL with a trailing slash. */
  readonly url: string;
  readonly requests: StaticRequest[];
  close(): Promise<void>;
}

/** Serves `root` on a loopback port. */
export function startStaticServer(root: string): StaticServer {
  const requests: StaticRequest[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = normalize(decodeURIComponent(new URL(req.url).pathname));
    const authorization = req.headers.get("Authorization");
    try {
      const file = await Deno.open(join(root, path), { read: true });
      const size = (await file.stat()).size;
      requests.push({ path, status: 200, authorization });
      return new Response(file.readable, { headers: { "Content-Length": String(size) } });
    } catch {
      requests.push({ path, status: 404, authorization });
      return new Response("not found", { status: 404 });
    }
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/`,
    requests,
    close: () => server.shutdown(),
  };
}

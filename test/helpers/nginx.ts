/**
 * A real nginx for mirror tests and measurements: started on a loopback port with a
 * configuration written into a temp prefix, serving one folder as a static
 * content-addressed mirror, and stopped (SIGTERM to the master it started) by `close()`.
 *
 * @module
 */

import { join } from "node:path";

/** Where nginx is, or why it cannot be used here. */
export type NginxProbe =
  | { readonly ok: true; readonly binary: string }
  | { readonly ok: false; readonly reason: string };

const CANDIDATES = ["nginx", "/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/bin/nginx"];

/** Finds an nginx binary that runs (`nginx -v`). */
export async function findNginx(): Promise<NginxProbe> {
  for (const binary of CANDIDATES) {
    try {
      const { success } = await new Deno.Command(binary, { args: ["-v"], stderr: "null" })
        .output();
      if (success) return { ok: true, binary };
    } catch {
      // Not there: the next candidate.
    }
  }
  return {
    ok: false,
    reason: "no nginx binary on PATH or in /usr/sbin (apt-get install nginx-light; .ci/run does)",
  };
}

/** A running nginx. */
export interface Nginx {
  /** Base URL with a trailing slash. */
  readonly url: string;
  /** Lines of the access log: `<status> <bytes sent> <path>`. */
  accessLog(): Promise<string[]>;
  close(): Promise<void>;
}

/** Starts nginx serving `root` (as `<url>/sha512/<digest>`); throws with nginx's words. */
export async function startNginx(binary: string, root: string): Promise<Nginx> {
  const prefix = await Deno.makeTempDir({ prefix: "tooltool-nginx-" });
  const port = freePort();
  const config = join(prefix, "nginx.conf");
  await Deno.writeTextFile(config, nginxConfig(prefix, root, port));
  const child = new Deno.Command(binary, {
    args: ["-p", prefix, "-c", config, "-e", join(prefix, "error.log"), "-g", "daemon off;"],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const url = `http://127.0.0.1:${port}/`;
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await child.status;
    await stderr.catch(() => "");
    await Deno.remove(prefix, { recursive: true }).catch(() => {});
  };
  try {
    await waitUntilListening(port, child);
  } catch (error) {
    const said = await Promise.race([stderr, new Promise<string>((r) => setTimeout(r, 500, ""))]);
    await stop();
    throw new Error(`nginx did not start: ${(error as Error).message} ${said.trim()}`);
  }
  return {
    url,
    accessLog: async () =>
      (await Deno.readTextFile(join(prefix, "access.log"))).split("\n").filter((l) => l !== ""),
    close: stop,
  };
}

function nginxConfig(prefix: string, root: string, port: number): string {
  // As root, nginx's workers would run as nobody, who cannot read a test's temp folders.
  const user = Deno.uid() === 0 ? "user root root;\n" : "";
  const temp = (name: string) => `${name}_temp_path ${join(prefix, name)};`;
  return `${user}worker_processes 1;
pid ${join(prefix, "nginx.pid")};
error_log ${join(prefix, "error.log")} warn;
events { worker_connections 128; }
http {
  log_format mirror '$status $body_bytes_sent $uri';
  access_log ${join(prefix, "access.log")} mirror;
  ${temp("client_body")} ${temp("proxy")} ${temp("fastcgi")} ${temp("uwsgi")} ${temp("scgi")}
  default_type application/octet-stream;
  sendfile on;
  server {
    listen 127.0.0.1:${port};
    root ${root};
    location /sha512/ { try_files $uri =404; }
    location / { return 404; }
  }
}
`;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function waitUntilListening(port: number, child: Deno.ChildProcess): Promise<void> {
  let exited = false;
  child.status.then(() => exited = true);
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (exited) throw new Error("it exited");
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error("not listening after 10 s");
}

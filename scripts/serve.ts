/**
 * `deno task serve`: runs the fake ToolTool server (see `test/fake_server/server.ts` and
 * `docs/fake-server.md`) until Ctrl-C.
 *
 * ```
 * deno task serve [--port 8010] [--storage-port N] [--storage DIR] [--clients FILE]
 *                 [--upload-expires 60] [--download-expires 60]
 *                 [--no-anonymous-public-download] [--download-origin URL] [--fault JSON]...
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { resolve } from "node:path";
import {
  type FakeServerOptions,
  loadClientsFile,
  parseFaultRule,
  startFakeServer,
} from "../test/fake_server/server.ts";

const usage = `Usage: deno task serve [options]

  --port N                        API port on 127.0.0.1 (default 8010; 0 = any free port)
  --storage-port N                storage (S3 stand-in) port (default: any free port)
  --storage DIR                   folder for blobs and records (default .tmp/fake-server)
  --clients FILE                  JSON {"<clientId>": {"accessToken": "...", "scopes": [...]}}
  --upload-expires SECONDS        lifetime of signed upload URLs (default 60)
  --download-expires SECONDS      lifetime of signed download URLs (default 60)
  --no-anonymous-public-download  require download/public for public files too
  --upload-signature v2|v4        how upload URLs are signed (default v2, as production)
  --download-origin URL           send download redirects to URL/sha512/<digest> (an nginx
                                  serving the storage folder; no signature is checked there)
  --fault JSON                    a fault rule, e.g. '{"kind":"status","status":500,"times":2}'
                                  (repeatable; more at runtime: POST /__control__/faults)
`;

function parsePort(text: string | undefined, fallback: number, name: string): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new TypeError(`Cannot use ${name} "${text}": expected a port number`);
  }
  return value;
}

function parseSeconds(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) {
    throw new TypeError(`Cannot use ${name} "${text}": expected whole seconds`);
  }
  return value;
}

function parseOrigin(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  if (!URL.canParse(text) || !/^https?:$/.test(new URL(text).protocol)) {
    throw new TypeError(`Cannot use --download-origin "${text}": expected an http(s) URL`);
  }
  return text.endsWith("/") ? text : `${text}/`;
}

async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        port: { type: "string" },
        "storage-port": { type: "string" },
        storage: { type: "string" },
        clients: { type: "string" },
        "upload-expires": { type: "string" },
        "download-expires": { type: "string" },
        "no-anonymous-public-download": { type: "boolean" },
        "upload-signature": { type: "string" },
        "download-origin": { type: "string" },
        fault: { type: "string", multiple: true },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    console.error(usage);
    return 2;
  }
  const { values } = parsed;
  if (values.help) {
    console.log(usage);
    return 0;
  }
  let options: FakeServerOptions;
  let faults;
  try {
    const storageDir = resolve(values.storage ?? ".tmp/fake-server");
    await Deno.mkdir(storageDir, { recursive: true });
    const uploadExpires = parseSeconds(values["upload-expires"], "--upload-expires");
    const downloadExpires = parseSeconds(values["download-expires"], "--download-expires");
    const uploadSignature = values["upload-signature"];
    if (uploadSignature !== undefined && uploadSignature !== "v2" && uploadSignature !== "v4") {
      throw new TypeError(`Cannot use --upload-signature "${uploadSignature}": expected v2 or v4`);
    }
    const downloadOrigin = parseOrigin(values["download-origin"]);
    options = {
      port: parsePort(values.port, 8010, "--port"),
      storagePort: parsePort(values["storage-port"], 0, "--storage-port"),
      storageDir,
      ...(values.clients === undefined ? {} : { clients: await loadClientsFile(values.clients) }),
      ...(uploadExpires === undefined ? {} : { uploadExpiresSeconds: uploadExpires }),
      ...(downloadExpires === undefined ? {} : { downloadExpiresSeconds: downloadExpires }),
      anonymousPublicDownload: !values["no-anonymous-public-download"],
      ...(uploadSignature === undefined ? {} : { uploadSignature }),
      ...(downloadOrigin === undefined ? {} : { downloadOrigin }),
    };
    faults = (values.fault ?? []).map((text) => parseFaultRule(JSON.parse(text)));
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    return 2;
  }

  const server = await startFakeServer(options);
  for (const rule of faults) server.fault(rule);
  console.log(server.url);
  console.error(`fake tooltool: API ${server.url}  storage ${server.storageUrl}`);
  console.error(`fake tooltool: files in ${options.storageDir}; Ctrl-C to stop`);

  const stopped = new Promise<void>((resolve) => {
    const stop = () => resolve();
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
  });
  await stopped;
  await server.close();
  return 0;
}

Deno.exit(await main(Deno.args));

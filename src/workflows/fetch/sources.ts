/**
 * Where fetch gets each file: one download source per `--url`, each resolving the file's
 * signed storage URL from its API, with the `--region` fallback production needs.
 *
 * @module
 */

import { HttpError } from "../../errors.ts";
import type { ApiClient } from "../../transport/http.ts";
import type { FileRecord } from "../../manifest/manifest.ts";
import type { DownloadSource } from "../../transport/download_source.ts";
import { type Mirror, mirrorSource } from "../../transport/mirror.ts";

/**
 * Every source for a record: the mirrors first, in order (a plain GET each, no API call),
 * then the API sources.
 */
export function withMirrors(
  mirrors: readonly Mirror[],
  api: (record: FileRecord) => DownloadSource[],
): (record: FileRecord) => DownloadSource[] {
  if (mirrors.length === 0) return api;
  return (
    record,
  ) => [...mirrors.map((mirror) => mirrorSource(mirror, record.digest)), ...api(record)];
}

/**
 * The sources for a record, in `--url` order. With a region, a server that refuses the
 * `region` query (production validates its query strictly and declares `region` for
 * uploads only, so tooltool.py's `fetch --region` always fails there with a 400) is asked
 * again without it, once warned about, and never asked with it again.
 */
export function apiSources(
  clients: readonly ApiClient[],
  region: string | undefined,
  warn: (message: string) => void,
): (record: FileRecord) => DownloadSource[] {
  const regionRefused = new Set<ApiClient>();
  return (record) =>
    clients.map((client) => ({
      name: client.displayName,
      kind: "service",
      resolve: async () => {
        const target = record.filename;
        if (region === undefined || regionRefused.has(client)) {
          return await client.resolveDownload(record.digest, { target });
        }
        try {
          return await client.resolveDownload(record.digest, { region, target });
        } catch (error) {
          if (!refusesRegion(error)) throw error;
          if (!regionRefused.has(client)) {
            regionRefused.add(client);
            warn(
              `${client.displayName} does not accept --region for downloads (${
                (error as HttpError).message
              }): fetching without it`,
            );
          }
          return await client.resolveDownload(record.digest, { target });
        }
      },
    }));
}

function refusesRegion(error: unknown): boolean {
  return error instanceof HttpError && error.status === 400 && /region/i.test(error.message);
}

import type { CommandFunction } from "./options.ts";
import { finishUpload, uploadManifest } from "../src/upload.ts";

/** `upload`: sends the manifest's files to the server (see `src/upload.ts`). */
export const uploadCommand: CommandFunction = async (_args, options, ctx) => {
  const report = await uploadManifest({
    manifest: options.manifest,
    message: options.message,
    urls: options.urls,
    region: options.region,
    authenticationFile: options.authenticationFile,
  }, ctx);
  finishUpload(report, ctx);
};

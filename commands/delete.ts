import type { CommandFunction } from "./options.ts";
import { deleteInstances } from "../src/workflows/manage.ts";

/** `delete --digest D`: deletes the stored copies of a file (see `src/workflows/manage.ts`). */
export const deleteCommand: CommandFunction = async (_args, options, ctx) => {
  await deleteInstances({
    digest: options.digest,
    urls: options.urls,
    authenticationFile: options.authenticationFile,
  }, ctx);
};

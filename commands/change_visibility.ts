import type { CommandFunction } from "./options.ts";
import { changeVisibility } from "../src/workflows/manage.ts";

/** `change-visibility --digest D --visibility V` (see `src/workflows/manage.ts`). */
export const changeVisibilityCommand: CommandFunction = async (_args, options, ctx) => {
  await changeVisibility({
    digest: options.digest,
    visibility: options.visibility,
    urls: options.urls,
    authenticationFile: options.authenticationFile,
  }, ctx);
};

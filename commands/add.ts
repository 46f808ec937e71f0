import type { CommandFunction } from "./options.ts";
import { addFiles } from "../src/workflows/add.ts";

/** `add [--visibility V] [--unpack] [--version S] FILE...`: records FILEs in the manifest. */
export const addCommand: CommandFunction = async (args, options, ctx) => {
  await addFiles(options.manifest, args, {
    visibility: options.visibility,
    unpack: options.unpack,
    version: options.recordVersion,
    ctx,
  });
};

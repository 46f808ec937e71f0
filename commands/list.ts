import type { CommandFunction } from "./options.ts";
import { listManifest } from "../src/workflows/list.ts";

/** `list`: P/V/name lines for the manifest's records (`-m`), as tooltool.py prints them. */
export const listCommand: CommandFunction = async (args, options, ctx) => {
  if (args.length > 0) ctx.output.warn(`list takes no arguments; ignoring ${quoteAll(args)}`);
  await listManifest(options.manifest, ctx);
};

function quoteAll(args: readonly string[]): string {
  return args.map((arg) => `"${arg}"`).join(" ");
}

import type { CommandFunction } from "./options.ts";
import { validateManifestSchemas } from "../src/manifest/lint.ts";

/**
 * `validate`: the manifest's files are present and valid (tooltool.py's meaning), or with
 * `--schema-only [MANIFEST...]` the manifests alone follow the format. The hashing code is
 * imported only when needed, so the schema check starts fast enough for pre-commit hooks.
 */
export const validateCommand: CommandFunction = async (args, options, ctx) => {
  if (options.schemaOnly) {
    return await validateManifestSchemas(args.length > 0 ? args : [options.manifest], ctx);
  }
  if (args.length > 0) {
    const ignored = args.map((arg) => `"${arg}"`).join(" ");
    ctx.output.warn(
      `ignoring ${ignored}: validate checks -m's manifest (--schema-only takes paths)`,
    );
  }
  const { validateManifest } = await import("../src/workflows/validate.ts");
  await validateManifest(options.manifest, ctx);
};

/**
 * The options every command receives, parsed and defaulted by `parse_args.ts` from the
 * declarations in `option_table.ts`.
 *
 * tooltool.py takes all of its options globally (optparse, options anywhere on the line),
 * so every command gets the same object and uses the fields it needs.
 *
 * @module
 */

import type { Context } from "../src/context.ts";
import type { Visibility } from "../src/manifest/manifest.ts";
import type { TransferLimits } from "../src/transport/transfer_limits.ts";

/** Parsed command line, tooltool.py's flags plus this tool's own. */
export interface GlobalOptions {
  /** `-m/--manifest`, as given (relative paths resolve against `ctx.cwd`). */
  readonly manifest: string;
  /**
   * `--url`, in order, each ending with `/`; defaulted from TOOLTOOL_HOST /
   * TASKCLUSTER_PROXY_URL. Empty for the commands that talk to no server (not checked there).
   */
  readonly urls: readonly string[];
  /** `-c/--cache-folder`. */
  readonly cacheFolder: string | undefined;
  /** `-s/--size`, in GB (float), for `purge`. */
  readonly sizeGb: number;
  /** `-r/--region`. */
  readonly region: string | undefined;
  /** `--message`. */
  readonly message: string | undefined;
  /** `--authentication-file`, with `~` expanded. */
  readonly authenticationFile: string | undefined;
  /** `--visibility`. */
  readonly visibility: Visibility | undefined;
  /** `--unpack`. */
  readonly unpack: boolean;
  /** `--version VALUE`: the record annotation for `add`, not the program version. */
  readonly recordVersion: string | undefined;
  /** `--digest`. */
  readonly digest: string | undefined;
  /** `--json`: one machine-readable report on stdout. */
  readonly json: boolean;
  /** `-j/--jobs`: how many files are transferred at once. */
  readonly jobs: number | undefined;
  /** `--rehash`: ignore recorded stat stamps and hash every byte again. */
  readonly rehash: boolean;
  /** `--no-tree-cache`: always extract archives instead of placing the cache's trees. */
  readonly noTreeCache: boolean;
  /** `--schema-only` for `validate`: check manifests only, offline. */
  readonly schemaOnly: boolean;
  /** `--max-size` for `purge`, in GB. */
  readonly maxSizeGb: number | undefined;
  /** `--max-age` for `purge`, in days. */
  readonly maxAgeDays: number | undefined;
  /** `--public-digest` for `check`. */
  readonly publicDigest: string | undefined;
  /** `--internal-digest` for `check`. */
  readonly internalDigest: string | undefined;
  /** `--max-time`, `--retry-max-time`, `--speed-limit`, `--speed-time` (or their env vars). */
  readonly limits: TransferLimits;
  /** `--distdir`, in order, as given (relative paths resolve against `ctx.cwd`). */
  readonly distdirs: readonly string[];
  /** `--offline` or TOOLTOOL_OFFLINE: fetch without any network connection. */
  readonly offline: boolean;
  /** `--dry-run` for `fetch`: plan only, change nothing on disk. */
  readonly dryRun: boolean;
  /** `--mirror` (else TOOLTOOL_MIRRORS): mirror base URLs, each ending with `/`. */
  readonly mirrors: readonly string[];
  /** `--mirror-auth-file` (else TOOLTOOL_MIRROR_AUTH_FILE), with `~` expanded. */
  readonly mirrorAuthFile: string | undefined;
  /** `--to` for `mirror`. */
  readonly mirrorTo: string | undefined;
  /** `--include-internal` for `mirror`. */
  readonly includeInternal: boolean;
  /** `-q/--quiet` (also reflected in `ctx.output.verbosity`). */
  readonly quiet: boolean;
  /** `-v/--verbose` (also reflected in `ctx.output.verbosity`). */
  readonly verbose: boolean;
}

/**
 * The shape of every command module's entry point: positional arguments after the command
 * name, the options, the context. It returns normally on success and throws a `ToolError`
 * (see `src/errors.ts`) otherwise; `main.ts` maps that to the exit code.
 */
export type CommandFunction = (
  args: readonly string[],
  options: GlobalOptions,
  ctx: Context,
) => Promise<void>;

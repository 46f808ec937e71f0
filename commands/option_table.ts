/**
 * Every command and option of the command line, declared once. The prefix expander, the
 * parser, the commander declarations and the per-command help (`help.ts`) are all derived
 * from these two tables; `toGlobalOptions` (in `parse_args.ts`) maps the parsed values onto
 * the typed `GlobalOptions`. Adding an option is one row here and, if a command reads it,
 * one field there.
 *
 * Pure data.
 *
 * @module
 */

/** The commands, in the order `--help` lists them: `[arguments, summary]`. */
export const COMMAND_SUMMARIES = {
  list: ["", "list the files in the manifest: present (P) and valid (V)"],
  validate: [
    "[manifests...]",
    "check that every file in the manifest is present and valid (--schema-only: the manifests alone)",
  ],
  add: ["<files...>", "add records for FILES to the manifest"],
  fetch: ["[files...]", "retrieve the files listed in the manifest (or only FILES)"],
  purge: ["", "clean up the cache folder (-c), keeping -s GB free"],
  upload: ["", "upload the files listed in the manifest; --message is required"],
  "change-visibility": ["", "set the visibility (--visibility) of the file with --digest"],
  delete: ["", "delete the stored instances of the file with --digest"],
  mirror: [
    "[manifests...]",
    "copy the manifests' files (or -m's) into --to DIR/sha512/<digest>, for a static mirror",
  ],
  check: ["", "probe a ToolTool server's health for operators"],
  whoami: ["", "show the clientId and ToolTool scopes the server sees, or anonymous"],
  version: ["", "print this program's version"],
} as const satisfies Record<string, readonly [string, string]>;

/** A command name this tool knows. */
export type CommandName = keyof typeof COMMAND_SUMMARIES;

/** How a value is checked and turned into what `toGlobalOptions` reads. */
export type ValueKind =
  /** Kept as text. */
  | "text"
  /** Repeatable: every value, in order. */
  | "list"
  /** A number of at least 0. */
  | "number"
  /** A whole number of at least 1. */
  | "count";

/** One option of the command line. */
export interface OptionDeclaration {
  readonly long: string;
  readonly short?: string;
  /** The value's placeholder in help (`file`); absent for a flag. */
  readonly value?: string;
  readonly kind?: ValueKind;
  /** The only values accepted. */
  readonly choices?: readonly string[];
  readonly default?: string | number | readonly string[];
  readonly description: string;
  /** Present in tooltool.py 1.4.0 (its prefixes keep their meaning; see `parse_args.ts`). */
  readonly legacy: boolean;
  /**
   * The commands that use it, listed first in their `--help`; `"every"` for options all
   * commands honour. As with tooltool.py, every option is accepted with every command;
   * only `--url` is read (and checked) by these commands alone.
   */
  readonly commands: "every" | readonly CommandName[];
}

const NETWORK: readonly CommandName[] = [
  "fetch",
  "mirror",
  "upload",
  "change-visibility",
  "delete",
  "check",
  "whoami",
];

/** Every option, in the order `--help` lists them. */
export const OPTIONS: readonly OptionDeclaration[] = [
  { long: "quiet", short: "q", description: "only print errors", legacy: true, commands: "every" },
  {
    long: "verbose",
    short: "v",
    description: "print details (never credentials)",
    legacy: true,
    commands: "every",
  },
  {
    long: "manifest",
    short: "m",
    value: "file",
    default: "manifest.tt",
    description: "the manifest file to operate on",
    legacy: true,
    commands: ["list", "validate", "add", "fetch", "upload", "mirror"],
  },
  {
    long: "algorithm",
    short: "d",
    value: "name",
    default: "sha512",
    description: "hashing algorithm (only sha512 is allowed)",
    legacy: true,
    commands: ["add"],
  },
  {
    long: "digest",
    value: "sha512",
    description: "the file to act on, for change-visibility and delete",
    legacy: true,
    commands: ["change-visibility", "delete"],
  },
  {
    long: "visibility",
    value: "level",
    choices: ["public", "internal"],
    description: "visibility of added/changed files",
    legacy: true,
    commands: ["add", "change-visibility"],
  },
  {
    long: "unpack",
    description: "mark added files to be unpacked after fetch",
    legacy: true,
    commands: ["add"],
  },
  {
    long: "version",
    value: "string",
    description: "version annotation for added files (not the program version)",
    legacy: true,
    commands: ["add"],
  },
  {
    long: "overwrite",
    short: "o",
    description: "unused; accepted for compatibility",
    legacy: true,
    commands: [],
  },
  {
    long: "url",
    value: "url",
    kind: "list",
    default: [],
    description: "ToolTool API base URL; repeat to fall back in order",
    legacy: true,
    commands: NETWORK,
  },
  {
    long: "cache-folder",
    short: "c",
    value: "dir",
    description: "local cache folder",
    legacy: true,
    commands: ["fetch", "purge", "mirror"],
  },
  {
    long: "size",
    short: "s",
    value: "GB",
    kind: "number",
    default: 0,
    description: "free space required, for purge (GB)",
    legacy: true,
    commands: ["purge"],
  },
  {
    long: "region",
    short: "r",
    value: "region",
    description: "preferred storage region for fetch or upload",
    legacy: true,
    commands: ["fetch", "upload"],
  },
  {
    long: "message",
    value: "text",
    description: 'the "commit message" for an upload (bug number and comment)',
    legacy: true,
    commands: ["upload"],
  },
  {
    long: "authentication-file",
    value: "file",
    description: "Taskcluster credentials (JSON) or a bearer token",
    legacy: true,
    commands: ["fetch", "upload", "change-visibility", "delete", "whoami", "mirror"],
  },
  {
    long: "json",
    description: "print a machine-readable report on stdout",
    legacy: false,
    // `add` and `version` print no report (yet): their stdout stays empty with --json.
    commands: [
      "list",
      "validate",
      "fetch",
      "purge",
      "upload",
      "change-visibility",
      "delete",
      "check",
    ],
  },
  {
    long: "jobs",
    short: "j",
    value: "n",
    kind: "count",
    description:
      "files transferred at once (default 4; fetch adds up to 12 lanes for files under 1 MiB unless -j is given)",
    legacy: false,
    commands: ["fetch", "mirror"],
  },
  {
    long: "rehash",
    description: "re-hash every file instead of trusting recorded stat stamps",
    legacy: false,
    commands: ["fetch"],
  },
  {
    long: "no-tree-cache",
    description: "fetch: always extract archives, never place cached trees",
    legacy: false,
    commands: ["fetch"],
  },
  {
    long: "schema-only",
    description: "validate: check the manifests alone, offline",
    legacy: false,
    commands: ["validate"],
  },
  {
    long: "max-size",
    value: "GB",
    kind: "number",
    description: "purge: shrink the cache to at most this size",
    legacy: false,
    commands: ["purge"],
  },
  {
    long: "max-age",
    value: "days",
    kind: "number",
    description: "purge: delete entries unused for this long",
    legacy: false,
    commands: ["purge"],
  },
  {
    long: "max-time",
    value: "seconds",
    description:
      "most time one file's download may take, retries included (default: no limit; env TOOLTOOL_MAX_TIME)",
    legacy: false,
    commands: ["fetch", "mirror"],
  },
  {
    long: "retry-max-time",
    value: "seconds",
    description:
      "no new attempt at a server after this long without progress (default 120; env TOOLTOOL_RETRY_MAX_TIME)",
    legacy: false,
    commands: ["fetch", "mirror"],
  },
  {
    long: "speed-limit",
    value: "bytes",
    description:
      "an attempt slower than this many bytes/s for --speed-time is retried (default 1024; env TOOLTOOL_SPEED_LIMIT)",
    legacy: false,
    commands: ["fetch", "mirror"],
  },
  {
    long: "speed-time",
    value: "seconds",
    description:
      "how long a transfer may stay under --speed-limit (default 30; env TOOLTOOL_SPEED_TIME)",
    legacy: false,
    commands: ["fetch", "mirror"],
  },
  {
    long: "distdir",
    value: "dir",
    kind: "list",
    default: [],
    description:
      "fetch: look for files in DIR (by digest, DIR/sha512/<digest>, or filename) before the network; repeatable",
    legacy: false,
    commands: ["fetch"],
  },
  {
    long: "offline",
    description:
      "fetch: never use the network, only the working tree, the cache and --distdir (env TOOLTOOL_OFFLINE=1)",
    legacy: false,
    commands: ["fetch"],
  },
  {
    long: "dry-run",
    description: "fetch: say where each file would come from, changing nothing",
    legacy: false,
    commands: ["fetch"],
  },
  {
    long: "mirror",
    value: "url",
    kind: "list",
    default: [],
    description:
      "fetch: a mirror (<url>/sha512/<digest>) tried before the API; repeat for more, in order (env TOOLTOOL_MIRRORS, space- or comma-separated)",
    legacy: false,
    commands: ["fetch"],
  },
  {
    long: "mirror-auth-file",
    value: "file",
    description:
      "fetch: a bearer token sent to the mirrors only, never to the API (env TOOLTOOL_MIRROR_AUTH_FILE)",
    legacy: false,
    commands: ["fetch"],
  },
  {
    long: "to",
    value: "dir",
    description: "mirror: the directory to fill (<dir>/sha512/<digest>)",
    legacy: false,
    commands: ["mirror"],
  },
  {
    long: "include-internal",
    description: "mirror: also copy files whose visibility is internal",
    legacy: false,
    commands: ["mirror"],
  },
  {
    long: "public-digest",
    value: "sha512",
    description: "check: a public file that must redirect",
    legacy: false,
    commands: ["check"],
  },
  {
    long: "internal-digest",
    value: "sha512",
    description: "check: an internal file that must be refused anonymously",
    legacy: false,
    commands: ["check"],
  },
  {
    long: "help",
    short: "h",
    description: "show help for the tool or a command",
    legacy: true,
    commands: "every",
  },
];

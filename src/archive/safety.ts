/**
 * The path rules every archive member must pass before anything is written, for tar and
 * zip alike. Pure: this module keeps a model of the tree being extracted and never touches
 * the file system, so each rule is unit-tested on its own.
 *
 * Why a model rather than `realpath` checks as tooltool.py does: the destination is a fresh
 * temporary directory, so everything in it came from the archive and the model is complete.
 * Symbolic links are only created once every member has been written (see
 * {@link TreeModel.finish}), so no member can ever be written through one, and a link is
 * judged against the final tree rather than the tree as it was when the link was read
 * (`b -> a/..` followed later by `a -> .` escapes, though each looked harmless alone).
 *
 * @module
 */

/** A member that breaks a safety rule or cannot be extracted; `entry` is its raw name. */
export class EntryProblem extends Error {
  readonly entry: string | undefined;

  constructor(entry: string | undefined, detail: string) {
    super(entry === undefined ? detail : `entry "${entry}" ${detail}`);
    this.name = "EntryProblem";
    this.entry = entry;
  }
}

/** What a member is, once format-specific types are mapped. */
export type EntryKind = "file" | "directory" | "symlink" | "hardlink";

/** How deep symbolic links may chain while a target is resolved, as Linux's MAXSYMLINKS. */
const maxSymlinkHops = 40;

/**
 * Splits a member name into the components it is written at, or throws an
 * {@link EntryProblem}. Empty and `.` components are dropped (`./bin//x` is `bin/x`); an
 * empty result is the destination itself. Absolute names (`/x`, `C:x`, `\\host`), `..`
 * components anywhere (GNU tar refuses them too, even when they would stay inside) and NUL
 * bytes are refused.
 */
export function entryComponents(name: string): string[] {
  if (name.includes("\0")) throw new EntryProblem(name, "has a NUL byte in its name");
  if (name.startsWith("/") || name.startsWith("\\") || /^[A-Za-z]:/.test(name)) {
    throw new EntryProblem(name, "has an absolute path");
  }
  const components: string[] = [];
  for (const component of name.split("/")) {
    if (component === "" || component === ".") continue;
    if (component === "..") throw new EntryProblem(name, "leaves the destination");
    components.push(component);
  }
  return components;
}

/** The components of a member's parent directory, then its target, resolved lexically. */
function lexicalEscape(parent: readonly string[], target: string): boolean {
  let depth = parent.length;
  for (const component of target.split("/")) {
    if (component === "" || component === ".") continue;
    if (component === "..") {
      if (depth === 0) return true;
      depth--;
    } else {
      depth++;
    }
  }
  return false;
}

interface Node {
  readonly kind: EntryKind | "implicit-directory";
  /** For symbolic links: the target as stored. */
  readonly target: string;
  /** The raw member name, for messages. */
  readonly name: string;
}

/** What {@link TreeModel.add} tells the writer to do besides creating the member. */
export interface Placement {
  /** Parent directories not seen yet, shallowest first: create each once, before the member. */
  readonly newDirectories: readonly string[];
  /** An earlier file with the same name exists and must be unlinked first (never truncated: it may be a hard link). */
  readonly replacesFile: boolean;
  /** A directory with this name exists already (a repeated or late directory member). */
  readonly directoryExists: boolean;
}

/** A symbolic link that passed every rule, to be created by the writer at the end. */
export interface SymlinkPlan {
  readonly path: string;
  readonly target: string;
}

/**
 * The tree extracted so far, as the archive described it; decides for each member whether it
 * may be written. Paths are `/`-joined components relative to the destination.
 */
export class TreeModel {
  readonly #nodes = new Map<string, Node>();
  readonly #symlinks: string[] = [];

  /** How many members were accepted. */
  get size(): number {
    return this.#nodes.size;
  }

  /**
   * Checks one member and records it; throws an {@link EntryProblem} naming `name` when a rule
   * is broken. `linkTarget` is the stored target of symbolic and hard links (hard link targets
   * are archive member names, relative to the destination as tar and zip define them).
   */
  add(name: string, components: readonly string[], kind: EntryKind, linkTarget = ""): Placement {
    if (components.length === 0) {
      if (kind === "directory") {
        return { newDirectories: [], replacesFile: false, directoryExists: true };
      }
      throw new EntryProblem(name, "has an empty name");
    }
    const newDirectories = this.#checkParents(name, components);
    const path = components.join("/");
    if (kind === "symlink") this.#checkSymlink(name, components, linkTarget);
    if (kind === "hardlink") this.#checkHardlink(name, path, linkTarget);

    const existing = this.#nodes.get(path);
    let replacesFile = false;
    let directoryExists = false;
    if (existing !== undefined) {
      const before = describe(existing.kind);
      const after = describe(kind);
      if (existing.kind === "symlink") {
        throw new EntryProblem(name, `would replace the symbolic link of the same name`);
      }
      if (isFile(existing.kind) && isFile(kind)) {
        replacesFile = true;
      } else if (isDirectory(existing.kind) && kind === "directory") {
        directoryExists = true;
      } else {
        throw new EntryProblem(
          name,
          `would replace the ${before} of the same name with a ${after}`,
        );
      }
    }
    for (const directory of newDirectories) {
      this.#nodes.set(directory, { kind: "implicit-directory", target: "", name: directory });
    }
    this.#nodes.set(path, { kind, target: linkTarget, name });
    if (kind === "symlink" && existing === undefined) this.#symlinks.push(path);
    return { newDirectories, replacesFile, directoryExists };
  }

  /**
   * Judges every symbolic link against the complete tree, resolving through the other links
   * as the kernel would, and returns the links to create. Call once, after the last member.
   */
  finish(): SymlinkPlan[] {
    const plans: SymlinkPlan[] = [];
    for (const path of this.#symlinks) {
      const node = this.#nodes.get(path);
      if (node === undefined) continue;
      const parent = path.split("/").slice(0, -1);
      if (!this.#resolvesInside(parent, node.target)) {
        throw new EntryProblem(
          node.name,
          `is a symbolic link to "${node.target}", which leaves the destination`,
        );
      }
      plans.push({ path, target: node.target });
    }
    return plans;
  }

  #checkParents(name: string, components: readonly string[]): string[] {
    const newDirectories: string[] = [];
    let prefix = "";
    for (let i = 0; i < components.length - 1; i++) {
      prefix = i === 0 ? components[0]! : `${prefix}/${components[i]!}`;
      const node = this.#nodes.get(prefix);
      if (node === undefined) {
        newDirectories.push(prefix);
      } else if (node.kind === "symlink") {
        throw new EntryProblem(name, `would be written through the symbolic link "${node.name}"`);
      } else if (isFile(node.kind)) {
        throw new EntryProblem(name, `is inside "${node.name}", which is not a directory`);
      }
    }
    return newDirectories;
  }

  #checkSymlink(name: string, components: readonly string[], target: string): void {
    if (target === "") throw new EntryProblem(name, "is a symbolic link with an empty target");
    if (target.includes("\0")) throw new EntryProblem(name, "has a NUL byte in its link target");
    if (target.startsWith("/") || target.startsWith("\\") || /^[A-Za-z]:/.test(target)) {
      throw new EntryProblem(name, `is a symbolic link to the absolute path "${target}"`);
    }
    if (lexicalEscape(components.slice(0, -1), target)) {
      throw new EntryProblem(
        name,
        `is a symbolic link to "${target}", which leaves the destination`,
      );
    }
  }

  #checkHardlink(name: string, path: string, target: string): void {
    let targetComponents: string[];
    try {
      targetComponents = entryComponents(target);
    } catch {
      throw new EntryProblem(name, `is a hard link to "${target}", which leaves the destination`);
    }
    const targetPath = targetComponents.join("/");
    const node = this.#nodes.get(targetPath);
    if (targetPath === path) throw new EntryProblem(name, "is a hard link to itself");
    if (node === undefined) {
      throw new EntryProblem(name, `is a hard link to "${target}", which is not an earlier member`);
    }
    if (!isFile(node.kind)) {
      throw new EntryProblem(
        name,
        `is a hard link to "${target}", which is a ${describe(node.kind)}`,
      );
    }
  }

  /** Whether `target`, read from directory `parent`, stays inside the tree once links are followed. */
  #resolvesInside(parent: readonly string[], target: string): boolean {
    const stack = [...parent];
    const queue = target.split("/").reverse(); // pop() takes the next component
    let hops = 0;
    while (queue.length > 0) {
      const component = queue.pop()!;
      if (component === "" || component === ".") continue;
      if (component === "..") {
        if (stack.length === 0) return false;
        stack.pop();
        continue;
      }
      stack.push(component);
      // Only components something follows are looked through: a link at the end of the path
      // is judged on its own, and following it here would turn harmless loops into errors.
      if (queue.length === 0) break;
      const node = this.#nodes.get(stack.join("/"));
      if (node?.kind !== "symlink") continue;
      if (++hops > maxSymlinkHops) return false;
      stack.pop();
      if (node.target.startsWith("/")) return false;
      queue.push(...node.target.split("/").reverse());
    }
    return true;
  }
}

function isFile(kind: Node["kind"]): boolean {
  return kind === "file" || kind === "hardlink";
}

function isDirectory(kind: Node["kind"]): boolean {
  return kind === "directory" || kind === "implicit-directory";
}

function describe(kind: Node["kind"]): string {
  switch (kind) {
    case "file":
      return "file";
    case "hardlink":
      return "hard link";
    case "symlink":
      return "symbolic link";
    case "directory":
    case "implicit-directory":
      return "directory";
  }
}

/**
 * The permission bits a member is created with: the archive's `rwx` bits, never setuid,
 * setgid or sticky (setuid and setgid members are refused earlier; this is the belt to that
 * brace). Directories always keep `rwx` for their owner: one the owner could not write would
 * stop the extraction of its own members and, later, tooltool's removal of the old tree.
 */
export function safeMode(mode: number, kind: "file" | "directory"): number {
  const bits = mode & 0o777;
  return kind === "directory" ? bits | 0o700 : bits;
}

/** Whether a mode asks for setuid or setgid, which every format refuses. */
export function hasSpecialBits(mode: number): boolean {
  return (mode & 0o6000) !== 0;
}

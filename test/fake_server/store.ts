/**
 * The fake server's database and bucket in one folder: each blob is named by its sha512
 * digest, with its record beside it (`<digest>.json`), bytes that were PUT but not yet
 * verified in `<digest>.upload`, and upload batches in `batches/<id>.json`.
 *
 * Records are kept in memory and written through, so a `--storage` folder survives a
 * restart of `deno task serve`. Blobs are only ever streamed.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";

/** Visibility levels, as the service stores them. */
export type Visibility = "public" | "internal";

/** The region every instance lives in: the fake has one bucket. */
export const REGION = "us-east-1";

/** A file row, as production's `File` + `FileInstance` + `PendingUpload` tables hold it. */
export interface StoredFile {
  readonly digest: string;
  /** Recorded when the file was first announced; later batches do not change it. */
  size: number;
  visibility: Visibility;
  /** Regions holding a verified copy; empty means "not downloadable". */
  instances: string[];
  /** An outstanding signed upload URL (epoch ms of its expiry), as production's PendingUpload. */
  pendingUpload: { region: string; expires: number } | undefined;
  /** S3-style ETag (quoted md5 hex) of the stored blob. */
  etag: string | undefined;
}

/** An upload batch: who sent which files under which names, and when. */
export interface StoredBatch {
  readonly id: number;
  /** Epoch ms. */
  readonly uploaded: number;
  readonly author: string;
  readonly message: string;
  /** Filename to digest. */
  readonly files: Readonly<Record<string, string>>;
}

/** Outcome of checking the bytes PUT for a pending upload. */
export type VerifyOutcome = "stored" | "rejected" | "absent";

const digestPattern = /^[0-9a-f]{128}$/;

/** Whether a string is a sha512 digest as the service accepts it (lowercase hex). */
export function isValidSha512(digest: string): boolean {
  return digestPattern.test(digest);
}

/** Files and batches on disk, indexed in memory. */
export class FileStore {
  readonly dir: string;
  readonly #files = new Map<string, StoredFile>();
  readonly #batches: StoredBatch[] = [];

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Opens (creating if needed) a storage folder and loads its records. */
  static async open(dir: string): Promise<FileStore> {
    await Deno.mkdir(join(dir, "batches"), { recursive: true });
    const store = new FileStore(dir);
    for await (const entry of Deno.readDir(dir)) {
      const match = /^([0-9a-f]{128})\.json$/.exec(entry.name);
      if (!entry.isFile || match === null) continue;
      const record = JSON.parse(await Deno.readTextFile(join(dir, entry.name))) as StoredFile;
      store.#files.set(record.digest, { ...record, pendingUpload: record.pendingUpload });
    }
    for await (const entry of Deno.readDir(join(dir, "batches"))) {
      if (!entry.isFile || !entry.name.endsWith(".json")) continue;
      store.#batches.push(
        JSON.parse(await Deno.readTextFile(join(dir, "batches", entry.name))) as StoredBatch,
      );
    }
    store.#batches.sort((a, b) => a.id - b.id);
    return store;
  }

  file(digest: string): StoredFile | undefined {
    return this.#files.get(digest);
  }

  files(): StoredFile[] {
    return [...this.#files.values()];
  }

  batches(): readonly StoredBatch[] {
    return this.#batches;
  }

  blobPath(digest: string): string {
    return join(this.dir, digest);
  }

  uploadPath(digest: string): string {
    return join(this.dir, `${digest}.upload`);
  }

  /** Writes a record through to disk (temp file, then rename, so a crash leaves no half file). */
  async save(file: StoredFile): Promise<void> {
    this.#files.set(file.digest, file);
    await writeAtomically(join(this.dir, `${file.digest}.json`), JSON.stringify(file, null, 2));
  }

  /** Creates a record for a file announced in a batch, without any instance yet. */
  async announce(digest: string, size: number, visibility: Visibility): Promise<StoredFile> {
    const file: StoredFile = {
      digest,
      size,
      visibility,
      instances: [],
      pendingUpload: undefined,
      etag: undefined,
    };
    await this.save(file);
    return file;
  }

  async addBatch(batch: Omit<StoredBatch, "id">): Promise<StoredBatch> {
    const stored: StoredBatch = { id: (this.#batches.at(-1)?.id ?? 0) + 1, ...batch };
    this.#batches.push(stored);
    await writeAtomically(
      join(this.dir, "batches", `${stored.id}.json`),
      JSON.stringify(stored, null, 2),
    );
    return stored;
  }

  /**
   * Stores a blob that is trusted as is (the test seeding path, not the upload path):
   * hashes it while writing, then records one instance.
   */
  async ingest(
    body: ReadableStream<Uint8Array>,
    visibility: Visibility,
  ): Promise<{ digest: string; size: number }> {
    const temp = await Deno.makeTempFile({ dir: this.dir, prefix: ".ingest-" });
    try {
      const { sha512, md5, size } = await writeHashing(body, temp);
      await Deno.rename(temp, this.blobPath(sha512));
      const existing = this.#files.get(sha512);
      await this.save({
        digest: sha512,
        size,
        visibility,
        instances: existing?.instances.includes(REGION) ? existing.instances : [
          ...(existing?.instances ?? []),
          REGION,
        ],
        pendingUpload: existing?.pendingUpload,
        etag: `"${md5}"`,
      });
      return { digest: sha512, size };
    } catch (error) {
      await Deno.remove(temp).catch(() => {});
      throw error;
    }
  }

  /**
   * Receives the body of a PUT to a signed upload URL. The bytes are kept aside until the
   * upload is verified, as S3 keeps them until tooltool's worker checks them. Returns how
   * many bytes arrived and their md5 (the ETag S3 answers with).
   */
  async receiveUpload(
    digest: string,
    body: ReadableStream<Uint8Array>,
  ): Promise<{ size: number; etag: string }> {
    const temp = await Deno.makeTempFile({ dir: this.dir, prefix: ".upload-" });
    try {
      const { md5, size } = await writeHashing(body, temp);
      await Deno.rename(temp, this.uploadPath(digest));
      return { size, etag: `"${md5}"` };
    } catch (error) {
      await Deno.remove(temp).catch(() => {});
      throw error;
    }
  }

  /** Drops bytes that arrived but must not be kept (short body, bad length). */
  async discardTemp(path: string): Promise<void> {
    await Deno.remove(path).catch(() => {});
  }

  /**
   * What production's `check_pending_upload` does once the URL has expired: if bytes
   * were PUT, check their size and sha512; keep them as an instance if they match, delete
   * them (and the pending upload) if not. Nothing PUT yet leaves the pending upload alone.
   */
  async verifyUpload(file: StoredFile): Promise<VerifyOutcome> {
    const pending = file.pendingUpload;
    if (pending === undefined) return "absent";
    const uploaded = this.uploadPath(file.digest);
    let stat: Deno.FileInfo;
    try {
      stat = await Deno.stat(uploaded);
    } catch {
      return "absent";
    }
    let valid = stat.size === file.size;
    let md5 = "";
    if (valid) {
      const hashes = await hashFile(uploaded);
      valid = hashes.sha512 === file.digest;
      md5 = hashes.md5;
    }
    if (!valid) {
      await Deno.remove(uploaded).catch(() => {});
      await this.save({ ...file, pendingUpload: undefined });
      return "rejected";
    }
    await Deno.rename(uploaded, this.blobPath(file.digest));
    await this.save({
      ...file,
      instances: file.instances.includes(pending.region)
        ? file.instances
        : [...file.instances, pending.region],
      pendingUpload: undefined,
      etag: `"${md5}"`,
    });
    return "stored";
  }

  /** Removes every instance of a file; the record stays, as in production. */
  async deleteInstances(file: StoredFile): Promise<StoredFile> {
    await Deno.remove(this.blobPath(file.digest)).catch(() => {});
    const updated = { ...file, instances: [] };
    await this.save(updated);
    return updated;
  }
}

async function writeAtomically(path: string, text: string): Promise<void> {
  const temp = `${path}.${crypto.randomUUID()}.tmp`;
  await Deno.writeTextFile(temp, text);
  await Deno.rename(temp, path);
}

/** Copies a stream to a file, hashing each chunk on the way (one pass per byte). */
async function writeHashing(
  body: ReadableStream<Uint8Array>,
  path: string,
): Promise<{ sha512: string; md5: string; size: number }> {
  const sha512 = createHash("sha512");
  const md5 = createHash("md5");
  let size = 0;
  const file = await Deno.open(path, { write: true, truncate: true });
  try {
    for await (const chunk of body) {
      sha512.update(chunk);
      md5.update(chunk);
      size += chunk.length;
      let written = 0;
      while (written < chunk.length) written += await file.write(chunk.subarray(written));
    }
  } finally {
    file.close();
  }
  return { sha512: sha512.digest("hex"), md5: md5.digest("hex"), size };
}

async function hashFile(path: string): Promise<{ sha512: string; md5: string }> {
  const sha512 = createHash("sha512");
  const md5 = createHash("md5");
  using file = await Deno.open(path);
  for await (const chunk of file.readable) {
    sha512.update(chunk);
    md5.update(chunk);
  }
  return { sha512: sha512.digest("hex"), md5: md5.digest("hex") };
}

/**
 * Streams `length` bytes of a file from `start`, closing the file when the stream ends or
 * is cancelled (a client that hangs up must not leak a file handle).
 */
export async function fileRange(
  path: string,
  start: number,
  length: number,
): Promise<ReadableStream<Uint8Array>> {
  const file = await Deno.open(path);
  let remaining = length;
  let closed = false;
  const close = () => {
    if (!closed) {
      closed = true;
      file.close();
    }
  };
  try {
    if (start > 0) await file.seek(start, Deno.SeekMode.Start);
  } catch (error) {
    close();
    throw error;
  }
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (remaining <= 0) {
        close();
        controller.close();
        return;
      }
      const buffer = new Uint8Array(Math.min(remaining, 64 * 1024));
      const read = await file.read(buffer);
      if (read === null) {
        close();
        controller.close();
        return;
      }
      remaining -= read;
      controller.enqueue(buffer.subarray(0, read));
    },
    cancel() {
      close();
    },
  }, { highWaterMark: 0 });
}

/**
 * Big files hashed on worker threads, one whole file per worker at a time.
 *
 * The main-thread hasher hands every 1 MiB chunk to Deno's blocking pool and waits for the
 * event loop to hand it the next: one thread hop per chunk. With two files hashing on two
 * cores each hop costs ~0.3 ms here (the hash of the chunk itself ~1.4 ms), so two lanes ran
 * at ~70% of two cores while Python's hashlib threads, which read and hash in one loop,
 * kept both busy. A worker does exactly that loop, so nothing waits between chunks.
 *
 * Workers exist only inside `open()` or `scope()` (a command's bulk hashing: validate, list, add, the
 * present files of a fetch), are started on the first big file, at most one per core (and
 * at most `maxWorkers`), and end when the last scope closes, so they never keep the process
 * alive or leak into a test. Small files stay on the main-thread path: a worker costs ~18
 * ms to start, and a small file gains nothing from it. Where a worker cannot start (a
 * compiled binary without the module, a missing permission), `hash` rejects with
 * `WorkerUnavailableError` once and callers hash on the main thread from then on.
 *
 * @module
 */

import type { FileDigest, Sha512Backend } from "./digest.ts";
import type { Sha512 } from "./sha512.ts";

/** The pool could not run a worker: hash on the calling thread instead. */
export class WorkerUnavailableError extends Error {
  override name = "WorkerUnavailableError";
}

/** Files at least this big go to a worker. */
export const WORKER_MIN_BYTES = 8 << 20;

/** An isolate costs ~15 MB of RSS: enough workers to fill a CI machine's cores, no more. */
const DEFAULT_MAX_WORKERS = 4;

interface Job {
  readonly path: string;
  readonly backend: Sha512Backend | undefined;
  readonly signal: AbortSignal | undefined;
  readonly resolve: (digest: FileDigest) => void;
  readonly reject: (error: unknown) => void;
  onAbort?: () => void;
}

type Reply =
  | { digest: Sha512; size: number; error?: undefined }
  | { error: { name: string; message: string; code?: unknown } };

/** Options of a pool; the defaults suit every command. */
export interface HashWorkerPoolOptions {
  /** The worker module (tests point it elsewhere). */
  readonly url?: URL | undefined;
  readonly maxWorkers?: number | undefined;
  readonly minBytes?: number | undefined;
}

/** A pool of hashing workers that lives while at least one `open()` scope runs. */
export class HashWorkerPool {
  readonly #url: URL;
  readonly #maxWorkers: number;
  readonly #minBytes: number;
  #scopes = 0;
  #unavailable = false;
  readonly #idle: Worker[] = [];
  readonly #running = new Map<Worker, Job>();
  readonly #queue: Job[] = [];

  constructor(options: HashWorkerPoolOptions = {}) {
    this.#url = options.url ?? new URL("./hash_worker.ts", import.meta.url);
    this.#maxWorkers = Math.max(
      1,
      Math.min(options.maxWorkers ?? DEFAULT_MAX_WORKERS, navigator.hardwareConcurrency ?? 1),
    );
    this.#minBytes = options.minBytes ?? WORKER_MIN_BYTES;
  }

  /** Runs `task` with the workers available to it; they end when the last scope does. */
  async open<T>(task: () => Promise<T>): Promise<T> {
    using _scope = this.scope();
    return await task();
  }

  /** `open` for code that cannot wrap a function (a generator): dispose to close. */
  scope(): Disposable {
    this.#scopes++;
    let closed = false;
    return {
      [Symbol.dispose]: () => {
        if (closed) return;
        closed = true;
        this.#scopes--;
        if (this.#scopes === 0) this.#endIdle();
      },
    };
  }

  /** Whether a file of `size` bytes should be hashed by `hash` rather than in this thread. */
  takes(size: number | undefined): boolean {
    return this.#scopes > 0 && !this.#unavailable && size !== undefined &&
      size >= this.#minBytes;
  }

  /** Workers now alive (for tests). */
  get workers(): number {
    return this.#idle.length + this.#running.size;
  }

  /**
   * Hashes the file at `path` on a worker, with `backend` if given: a worker does not see
   * `forceNodeBackend()` called on the thread that asks.
   */
  hash(
    path: string,
    options: { signal?: AbortSignal | undefined; backend?: Sha512Backend | undefined } = {},
  ): Promise<FileDigest> {
    if (this.#unavailable) return Promise.reject(new WorkerUnavailableError("no hash workers"));
    const { signal, backend } = options;
    signal?.throwIfAborted();
    return new Promise<FileDigest>((resolve, reject) => {
      const job: Job = { path, backend, signal, resolve, reject };
      if (signal !== undefined) {
        job.onAbort = () => this.#abort(job);
        signal.addEventListener("abort", job.onAbort, { once: true });
      }
      this.#queue.push(job);
      this.#pump();
    });
  }

  #pump(): void {
    for (;;) {
      // One abort ends many jobs, one listener at a time: a queued job whose signal has
      // fired but whose listener has not run yet must not get a worker (a new thread and
      // isolate, at Ctrl-C) only to end it at once. Its listener removes it.
      const next = this.#queue.findIndex((job) => job.signal?.aborted !== true);
      if (next === -1) return;
      let worker = this.#idle.pop();
      if (worker === undefined) {
        if (this.#running.size >= this.#maxWorkers) return;
        worker = this.#spawn();
        if (worker === undefined) return;
      }
      this.#run(worker, this.#queue.splice(next, 1)[0]!);
    }
  }

  #spawn(): Worker | undefined {
    try {
      const worker = new Worker(this.#url, { type: "module" });
      worker.onmessage = (event: MessageEvent<Reply>) => this.#finished(worker, event.data);
      worker.onerror = (event) => {
        // A module that will not load (or a worker that died): no worker will do better.
        event.preventDefault();
        this.#fail(worker);
      };
      return worker;
    } catch {
      this.#giveUp();
      return undefined;
    }
  }

  #run(worker: Worker, job: Job): void {
    this.#running.set(worker, job);
    worker.postMessage({ path: job.path, backend: job.backend });
  }

  #finished(worker: Worker, reply: Reply): void {
    const job = this.#running.get(worker);
    this.#running.delete(worker);
    if (this.#scopes > 0 || this.#queue.length > 0) this.#idle.push(worker);
    else worker.terminate();
    if (job !== undefined) {
      this.#settle(job);
      if (reply.error === undefined) job.resolve({ digest: reply.digest, size: reply.size });
      else job.reject(rebuildError(reply.error));
    }
    this.#pump();
  }

  #abort(job: Job): void {
    const queued = this.#queue.indexOf(job);
    if (queued !== -1) this.#queue.splice(queued, 1);
    for (const [worker, running] of this.#running) {
      // A synchronous loop cannot be told to stop: end its thread.
      if (running === job) {
        this.#running.delete(worker);
        worker.terminate();
      }
    }
    this.#settle(job);
    job.reject(job.signal?.reason);
    this.#pump();
  }

  #fail(worker: Worker): void {
    const job = this.#running.get(worker);
    this.#running.delete(worker);
    worker.terminate();
    this.#giveUp();
    if (job !== undefined) {
      this.#settle(job);
      job.reject(new WorkerUnavailableError("a hash worker failed"));
    }
  }

  /** From now on every caller hashes on its own thread, queued jobs included. */
  #giveUp(): void {
    this.#unavailable = true;
    for (const job of this.#queue.splice(0)) {
      this.#settle(job);
      job.reject(new WorkerUnavailableError("no hash workers"));
    }
    this.#endIdle();
  }

  #settle(job: Job): void {
    if (job.onAbort !== undefined) job.signal?.removeEventListener("abort", job.onAbort);
  }

  #endIdle(): void {
    for (const worker of this.#idle.splice(0)) worker.terminate();
  }
}

/** A file system error from a worker, with its class and `code` back (`describeFsError`). */
function rebuildError(error: { name: string; message: string; code?: unknown }): Error {
  const known = (Deno.errors as Record<string, (new (message: string) => Error) | undefined>)[
    error.name
  ];
  const rebuilt = known !== undefined ? new known(error.message) : new Error(error.message);
  if (typeof error.code === "string") Object.assign(rebuilt, { code: error.code });
  return rebuilt;
}

/** The process's pool. */
export const hashWorkers: HashWorkerPool = new HashWorkerPool();

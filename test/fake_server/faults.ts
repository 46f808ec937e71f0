/**
 * Misbehaviour on demand for the fake ToolTool server: the fault rules, which requests they
 * hit, and the body shaper that makes a response slow, corrupt, cut short or stalled.
 *
 * A rule either replaces the response (`status`, `retry-after`, `hang` before headers,
 * `expired-redirect`) or reshapes a successful body (`drop-after`, `flip-byte`, `slow`,
 * `hang` with `afterBytes`). Rules are consulted in the order they were added; the first
 * replacing rule that matches wins, and every matching body rule applies. `times` counts
 * the requests a rule actually affected, so `{ kind: "status", status: 500, times: 2 }`
 * fails exactly the first two matching requests.
 *
 * @module
 */

/** Which of the two listeners a request reached: the API, or the S3-like blob storage. */
export type ServerOrigin = "api" | "storage";

/** Which requests a rule applies to, and how many times. Every field narrows the match. */
export interface FaultScope {
  /** Only requests whose path names this sha512 digest (`/sha512/<d>`, `/file/sha512/<d>`...). */
  readonly digest?: string | undefined;
  /**
   * Only requests to this listener. Default: both for `status`, `retry-after` and `hang`,
   * `storage` for the body faults, `api` for `expired-redirect`.
   */
  readonly origin?: ServerOrigin | undefined;
  /** Only requests with this method (case-insensitive). */
  readonly method?: string | undefined;
  /** Only requests whose path starts with this (e.g. `/upload/complete/`). */
  readonly path?: string | undefined;
  /** How many requests the rule affects before it retires; unlimited when absent. */
  readonly times?: number | undefined;
}

/** Answer with this status instead of doing the work (a 500 storm, a 503 from a proxy). */
export interface StatusFault extends FaultScope {
  readonly kind: "status";
  readonly status: number;
  /** Replaces the usual error body (API: JSON error document, storage: S3 XML error). */
  readonly body?: string | undefined;
  /** Content type of `body`; default `text/plain; charset=utf-8`. */
  readonly contentType?: string | undefined;
}

/** Throttling: `status` (default 429) with a `Retry-After: <seconds>` header. */
export interface RetryAfterFault extends FaultScope {
  readonly kind: "retry-after";
  readonly status?: number | undefined;
  readonly seconds: number;
}

/**
 * Send the headers (full Content-Length) and this many body bytes, then cut the connection.
 * Response bodies only: Deno's server cannot cut a connection before answering, so a PUT
 * is failed with `status` or stalled with `hang` instead.
 */
export interface DropAfterFault extends FaultScope {
  readonly kind: "drop-after";
  readonly bytes: number;
}

/** Invert every bit of the body byte at this offset (counted from the start of the blob). */
export interface FlipByteFault extends FaultScope {
  readonly kind: "flip-byte";
  readonly offset: number;
}

/** Deliver the body no faster than this. */
export interface SlowFault extends FaultScope {
  readonly kind: "slow";
  readonly bytesPerSecond: number;
}

/** `GET /sha512/<d>` redirects to a storage URL whose signature has already expired. */
export interface ExpiredRedirectFault extends FaultScope {
  readonly kind: "expired-redirect";
}

/**
 * Never answer (until the client gives up or the server closes). With `afterBytes`, send
 * the headers and that many body bytes, then stall: a stuck transfer rather than a dead server.
 */
export interface HangFault extends FaultScope {
  readonly kind: "hang";
  readonly afterBytes?: number | undefined;
}

/** One way for the fake server to fail; see each member for what it does. */
export type FaultRule =
  | StatusFault
  | RetryAfterFault
  | DropAfterFault
  | FlipByteFault
  | SlowFault
  | ExpiredRedirectFault
  | HangFault;

/** What a rule is matched against. */
export interface FaultTarget {
  readonly origin: ServerOrigin;
  readonly method: string;
  readonly path: string;
}

/** A response body about to be sent: where it starts in the blob and how long it is. */
export interface BodyTarget extends FaultTarget {
  readonly start: number;
  readonly length: number;
}

function affects(rule: FaultRule, body: BodyTarget): boolean {
  switch (rule.kind) {
    case "drop-after":
      return rule.bytes < body.length;
    case "flip-byte":
      return rule.offset >= body.start && rule.offset < body.start + body.length;
    case "hang":
      return (rule.afterBytes ?? 0) < body.length;
    default:
      return true;
  }
}

/** The body faults that apply to one response, merged. */
export interface BodyShape {
  /** Absolute offsets to corrupt. */
  readonly flipOffsets: readonly number[];
  /** Cut the connection after this many body bytes. */
  readonly dropAfter: number | undefined;
  /** Throttle to this rate. */
  readonly bytesPerSecond: number | undefined;
  /** Stall forever after this many body bytes. */
  readonly hangAfter: number | undefined;
}

const faultKinds: ReadonlySet<string> = new Set([
  "status",
  "retry-after",
  "drop-after",
  "flip-byte",
  "slow",
  "expired-redirect",
  "hang",
]);

/**
 * Checks a rule that arrived as JSON (control endpoint, `--fault`) and returns it typed,
 * or throws a `TypeError` naming the bad field.
 */
export function parseFaultRule(value: unknown): FaultRule {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError("Cannot use fault rule: expected a JSON object");
  }
  const rule = value as Record<string, unknown>;
  const kind = rule.kind;
  if (typeof kind !== "string" || !faultKinds.has(kind)) {
    throw new TypeError(`Cannot use fault rule: unknown kind ${JSON.stringify(kind)}`);
  }
  const requireNumber = (name: string, optional = false) => {
    const field = rule[name];
    if (field === undefined && optional) return;
    if (typeof field !== "number" || !Number.isFinite(field) || field < 0) {
      throw new TypeError(`Cannot use "${kind}" fault rule: "${name}" must be a number >= 0`);
    }
  };
  const requireString = (name: string) => {
    const field = rule[name];
    if (field !== undefined && typeof field !== "string") {
      throw new TypeError(`Cannot use "${kind}" fault rule: "${name}" must be a string`);
    }
  };
  requireNumber("times", true);
  requireString("digest");
  requireString("method");
  requireString("path");
  if (rule.origin !== undefined && rule.origin !== "api" && rule.origin !== "storage") {
    throw new TypeError(`Cannot use "${kind}" fault rule: "origin" must be "api" or "storage"`);
  }
  switch (kind) {
    case "status":
      requireNumber("status");
      requireString("body");
      requireString("contentType");
      break;
    case "retry-after":
      requireNumber("status", true);
      requireNumber("seconds");
      break;
    case "drop-after":
      requireNumber("bytes");
      break;
    case "flip-byte":
      requireNumber("offset");
      break;
    case "slow":
      requireNumber("bytesPerSecond");
      if (rule.bytesPerSecond === 0) {
        throw new TypeError(`Cannot use "slow" fault rule: "bytesPerSecond" must be > 0`);
      }
      break;
    case "hang":
      requireNumber("afterBytes", true);
      break;
  }
  return rule as unknown as FaultRule;
}

function defaultOrigin(rule: FaultRule): ServerOrigin | undefined {
  switch (rule.kind) {
    case "drop-after":
    case "flip-byte":
    case "slow":
      return "storage";
    case "expired-redirect":
      return "api";
    case "hang":
      return rule.afterBytes === undefined ? undefined : "storage";
    default:
      return undefined;
  }
}

/** Whether a rule reshapes a body rather than replacing the response. */
function isBodyRule(rule: FaultRule): boolean {
  return rule.kind === "drop-after" || rule.kind === "flip-byte" || rule.kind === "slow" ||
    (rule.kind === "hang" && rule.afterBytes !== undefined);
}

interface ActiveRule {
  readonly rule: FaultRule;
  remaining: number;
}

/** A rule as the control endpoint lists it: the rule plus how many uses it has left. */
export interface ActiveFault {
  readonly rule: FaultRule;
  /** `null` when unlimited. */
  readonly remaining: number | null;
}

/**
 * The live set of rules of one server. Taking a rule counts one use of it; a rule whose
 * `times` are used up is dropped.
 */
export class FaultBook {
  readonly #rules: ActiveRule[] = [];

  add(rule: FaultRule): void {
    this.#rules.push({ rule, remaining: rule.times ?? Infinity });
  }

  clear(): void {
    this.#rules.length = 0;
  }

  list(): ActiveFault[] {
    return this.#rules.map(({ rule, remaining }) => ({
      rule,
      remaining: Number.isFinite(remaining) ? remaining : null,
    }));
  }

  /** The first replacing rule (`status`, `retry-after`, `hang` before headers) for a request. */
  takeResponseFault(target: FaultTarget): StatusFault | RetryAfterFault | HangFault | undefined {
    for (const active of this.#rules) {
      const { rule } = active;
      if (rule.kind !== "status" && rule.kind !== "retry-after" && rule.kind !== "hang") continue;
      if (isBodyRule(rule) || !this.#matches(rule, target)) continue;
      this.#use(active);
      return rule;
    }
    return undefined;
  }

  /** Whether an `expired-redirect` rule claims this download redirect. */
  takeExpiredRedirect(target: FaultTarget): boolean {
    for (const active of this.#rules) {
      if (active.rule.kind !== "expired-redirect" || !this.#matches(active.rule, target)) continue;
      this.#use(active);
      return true;
    }
    return false;
  }

  /** Whether some body rule could apply to this request (saves buffering bodies for nothing). */
  hasBodyRuleFor(target: FaultTarget): boolean {
    return this.#rules.some(({ rule }) => isBodyRule(rule) && this.#matches(rule, target));
  }

  /**
   * Every body rule that would change this body, merged; undefined when none. A rule that
   * would not (a cut beyond the end, a flip outside the range sent) is not used up, so
   * `{ kind: "flip-byte", offset: 0, times: 1 }` hits the first download that covers byte 0.
   */
  takeBodyShape(target: BodyTarget): BodyShape | undefined {
    const flipOffsets: number[] = [];
    let dropAfter: number | undefined;
    let bytesPerSecond: number | undefined;
    let hangAfter: number | undefined;
    let any = false;
    const candidates = this.#rules.filter(({ rule }) =>
      isBodyRule(rule) && this.#matches(rule, target) && affects(rule, target)
    );
    // A flip beyond where a cut or stall ends the body would never be seen.
    const sent = Math.min(
      target.length,
      ...candidates.map(({ rule }) =>
        rule.kind === "drop-after"
          ? rule.bytes
          : rule.kind === "hang"
          ? rule.afterBytes ?? 0
          : Infinity
      ),
    );
    for (const active of candidates) {
      const { rule } = active;
      if (rule.kind === "flip-byte" && rule.offset >= target.start + sent) continue;
      any = true;
      this.#use(active);
      switch (rule.kind) {
        case "flip-byte":
          flipOffsets.push(rule.offset);
          break;
        case "drop-after":
          dropAfter = Math.min(dropAfter ?? Infinity, rule.bytes);
          break;
        case "slow":
          bytesPerSecond = Math.min(bytesPerSecond ?? Infinity, rule.bytesPerSecond);
          break;
        case "hang":
          hangAfter = Math.min(hangAfter ?? Infinity, rule.afterBytes ?? 0);
          break;
      }
    }
    return any ? { flipOffsets, dropAfter, bytesPerSecond, hangAfter } : undefined;
  }

  #matches(rule: FaultRule, target: FaultTarget): boolean {
    const origin = rule.origin ?? defaultOrigin(rule);
    if (origin !== undefined && origin !== target.origin) return false;
    if (rule.method !== undefined && rule.method.toUpperCase() !== target.method.toUpperCase()) {
      return false;
    }
    if (rule.path !== undefined && !target.path.startsWith(rule.path)) return false;
    if (rule.digest !== undefined && !target.path.split("/").includes(rule.digest)) return false;
    return true;
  }

  #use(active: ActiveRule): void {
    active.remaining -= 1;
    if (active.remaining <= 0) this.#rules.splice(this.#rules.indexOf(active), 1);
  }
}

/** Where a shaped body starts, and what stops it early. */
export interface ShapeOptions {
  /** Offset of the first body byte within the whole blob (the start of a Range). */
  readonly start: number;
  /** Aborted when the server closes: slow and stalled bodies end at once. */
  readonly signal: AbortSignal;
}

/**
 * Wraps a body so that it is corrupted, throttled, cut or stalled as `shape` says.
 * Cutting works by ending the stream before the declared Content-Length, which makes
 * the HTTP layer drop the connection: what a client sees when a peer dies mid-body.
 */
export function shapeBody(
  source: ReadableStream<Uint8Array>,
  shape: BodyShape,
  options: ShapeOptions,
): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  // Cancelling the body (the client went away) must also end a pending delay or stall,
  // or its timer would outlive the request.
  const cancelled = new AbortController();
  const signal = AbortSignal.any([options.signal, cancelled.signal]);
  let position = 0; // bytes sent so far
  const stop = Math.min(shape.dropAfter ?? Infinity, shape.hangAfter ?? Infinity);
  const pieceSize = shape.bytesPerSecond === undefined
    ? Infinity
    : Math.max(1, Math.floor(shape.bytesPerSecond / 20));
  let pending: Uint8Array = new Uint8Array(0);

  // After a cancel the controller is closed already; closing again would throw.
  const end = async (controller: ReadableStreamDefaultController<Uint8Array>) => {
    await reader.cancel().catch(() => {});
    try {
      controller.close();
    } catch {
      // already closed by a cancel
    }
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (position >= stop) {
        if (shape.hangAfter !== undefined && position >= shape.hangAfter) {
          await abortable(new Promise<never>(() => {}), signal).catch(() => {});
        }
        await end(controller);
        return;
      }
      if (pending.length === 0) {
        const next = await reader.read();
        if (next.done) {
          controller.close();
          return;
        }
        pending = next.value;
      }
      let piece = pending.subarray(0, Math.min(pieceSize, stop - position));
      pending = pending.subarray(piece.length);
      piece = flip(piece, position + options.start, shape.flipOffsets);
      if (shape.bytesPerSecond !== undefined) {
        const ok = await abortable(delay(1000 * piece.length / shape.bytesPerSecond), signal)
          .then(() => true, () => false);
        if (!ok) {
          await end(controller);
          return;
        }
      }
      position += piece.length;
      controller.enqueue(piece);
    },
    async cancel(reason) {
      cancelled.abort();
      await reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}

function flip(piece: Uint8Array, at: number, offsets: readonly number[]): Uint8Array {
  const hits = offsets.filter((offset) => offset >= at && offset < at + piece.length);
  if (hits.length === 0) return piece;
  const copy = piece.slice();
  for (const offset of hits) copy[offset - at] = (copy[offset - at] ?? 0) ^ 0xff;
  return copy;
}

/** Resolves after `ms`; the timer never outlives the promise. */
export function delay(ms: number): Promise<void> & { cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let settle: () => void = () => {};
  const promise = new Promise<void>((resolve) => {
    settle = resolve;
    timer = setTimeout(resolve, ms);
  });
  return Object.assign(promise, {
    cancel() {
      clearTimeout(timer);
      settle();
    },
  });
}

/** Rejects as soon as `signal` aborts, cancelling a `delay` it wraps. */
export function abortable<T>(
  promise: Promise<T> & { cancel?(): void },
  signal: AbortSignal,
): Promise<T> {
  if (signal.aborted) {
    promise.cancel?.();
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      promise.cancel?.();
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

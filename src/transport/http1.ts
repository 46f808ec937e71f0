/**
 * A `fetch` for the tool's own body-less GETs, speaking HTTP/1.1 over `Deno.connect` /
 * `Deno.connectTls`, with kept-alive connections; everything else goes to the real `fetch`.
 *
 * Why: a cold fetch of many small files makes two GETs per file (the API's redirect, then
 * storage), and Deno's `fetch` costs about 0.12 ms of main-thread time per request
 * (request and response objects, a native-backed stream per body, the hand-offs to its
 * client). On 200 × 100 KiB that was a quarter of the run and the whole of our gap to
 * curl. Here a request is one write, the answer's head is parsed from the connection's
 * own buffer, and a download's body can be read straight from the socket into that buffer
 * (`directBody`) without any stream.
 *
 * What it takes: `GET`/`HEAD` without a body, `redirect: "manual"`, http(s) URLs without
 * userinfo. Anything else (an upload, a JSON request, a `Request` object, a followed
 * redirect) is handed to the fallback `fetch` unchanged. `Accept-Encoding` defaults to
 * `identity`; a gzip or deflate answer is still decoded (through the slower stream path),
 * any other coding fails the request. Proxies are the caller's business: `main.ts` uses
 * the real `fetch` whenever a proxy variable is set.
 *
 * Hostile answers end in a `TypeError` (as `fetch` rejects) or a failed body read, never in
 * unbounded memory: the head is capped at `MAX_HEAD_BYTES`, a chunk's size line and the
 * trailers likewise, and a body is read into one buffer per connection.
 *
 * @module
 */

import { giveBack, takeBuffer } from "../buffer_pool.ts";
import { type BodyReader, DirectBody, registerDirectBody } from "./body_reader.ts";
import { writeAll } from "../write_all.ts";

/** The most bytes of a response head (status line and headers) read before giving up. */
export const MAX_HEAD_BYTES = 64 * 1024;

/** Size of each connection's read buffer (the most a body read returns). */
const BUFFER_BYTES = 256 * 1024;

/** The most bytes of an abandoned body read and dropped to keep its connection. */
const MAX_DRAINED_BYTES = 64 * 1024;

/**
 * How long an idle connection may wait for its next request. Below the shortest keep-alive
 * timeouts servers use (5 s for Node and Apache): a server that closes an idle connection
 * may first send something (a `408`), which a request sent on it would read as its answer;
 * nothing reads an idle connection to notice. A new connection costs a millisecond or two.
 */
const MAX_IDLE_MS = 4_000;

/** Idle connections kept per origin; more are closed when they come back. */
const MAX_IDLE_PER_ORIGIN = 32;

/** How to open a connection (tests give their own, e.g. with a test CA). */
export type Connector = (target: {
  readonly hostname: string;
  readonly port: number;
  readonly tls: boolean;
}) => Promise<Deno.Conn>;

/** Options for `http1Fetch`. */
export interface Http1Options {
  /** Takes every request this client does not handle; the global `fetch` by default. */
  readonly fallback?: typeof globalThis.fetch;
  readonly connect?: Connector;
  /** How long an idle connection may be reused; `MAX_IDLE_MS` by default (tests). */
  readonly maxIdleMs?: number;
  /** Extra trusted CA certificates (PEM) for https, next to the runtime's own (tests). */
  readonly caCerts?: readonly string[];
}

const encoder = new TextEncoder();

/** Opens plain TCP, or TLS (HTTP/1.1 by ALPN) trusting what Deno's `fetch` trusts. */
const connector = (caCerts: readonly string[] | undefined): Connector =>
async (
  { hostname, port, tls },
) => {
  let conn: Deno.Conn;
  try {
    conn = tls
      ? await Deno.connectTls({
        hostname,
        port,
        alpnProtocols: ["http/1.1"],
        ...(caCerts === undefined ? {} : { caCerts: [...caCerts] }),
      })
      : await Deno.connect({ hostname, port });
  } catch (error) {
    throw connectError(error);
  }
  if (!tls) {
    (conn as Deno.TcpConn).setNoDelay(true);
    return conn;
  }
  try {
    await (conn as Deno.TlsConn).handshake();
  } catch (error) {
    conn.close();
    throw connectError(error);
  }
  return conn;
};

/**
 * A failed connect worded as Deno's `fetch` words it (`client error (Connect): ...`), so
 * that `networkReason` tells a DNS failure, a refusal and a TLS failure apart the same way.
 */
function connectError(error: unknown): TypeError {
  const message = messageOf(error);
  const kind = /lookup address|name or service|nodename nor servname|no such host/i.test(message)
    ? "dns error: "
    : "";
  // No `cause`: networkReason reads the deepest one, and this wording is the one to read.
  return new TypeError(`client error (Connect): ${kind}${message}`);
}

/** A `fetch` that sends body-less GETs and HEADs itself (see the module's notes). */
export function http1Fetch(options: Http1Options = {}): typeof globalThis.fetch {
  const fallback = options.fallback ?? globalThis.fetch;
  const pool = new ConnectionPool(
    options.connect ?? connector(options.caCerts),
    options.maxIdleMs ?? MAX_IDLE_MS,
  );
  return (input, init) => {
    const url = handledUrl(input, init);
    if (url === undefined) return fallback(input, init);
    return send(pool, url, init ?? {});
  };
}

/** The URL of a request this client takes, or `undefined` to pass it to the fallback. */
function handledUrl(input: RequestInfo | URL, init: RequestInit | undefined): URL | undefined {
  // Not `instanceof Request`: the first look at the `Request` global loads its code.
  if (typeof input !== "string" && !(input instanceof URL)) return undefined;
  const method = init?.method?.toUpperCase() ?? "GET";
  if (method !== "GET" && method !== "HEAD") return undefined;
  if (init?.body !== undefined && init.body !== null) return undefined;
  if (init?.redirect !== "manual") return undefined;
  let url: URL;
  try {
    url = input instanceof URL ? input : new URL(input);
  } catch {
    return undefined;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
  if (url.username !== "" || url.password !== "") return undefined;
  return url;
}

async function send(pool: ConnectionPool, url: URL, init: RequestInit): Promise<Response> {
  const signal = init.signal ?? undefined;
  signal?.throwIfAborted();
  const method = init.method?.toUpperCase() === "HEAD" ? "HEAD" : "GET";
  const head = encoder.encode(requestHead(method, url, headersOf(init.headers)));
  const origin = originOf(url);
  // A kept-alive connection the server has closed in the meantime fails before any answer:
  // the GET is sent again once, on a fresh connection.
  for (let attempt = 0;; attempt++) {
    const reused = attempt === 0 ? pool.idle(origin.key) : undefined;
    const connection = reused ?? await pool.open(origin, signal);
    const onAbort = () => connection.destroy(true);
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      await writeHead(connection, head, reused !== undefined);
      const answer = await readAnswerHead(connection);
      return makeResponse(pool, origin.key, connection, method, answer, signal, onAbort);
    } catch (error) {
      signal?.removeEventListener("abort", onAbort);
      connection.destroy();
      signal?.throwIfAborted();
      if (reused !== undefined && error instanceof StaleConnection) continue;
      throw asFetchError(error);
    }
  }
}

/** Sends the whole head (`Conn.write` may take only part of it). */
async function writeHead(connection: Connection, head: Uint8Array, reused: boolean): Promise<void> {
  try {
    await writeAll(connection.conn, head);
  } catch (error) {
    // A kept-alive connection the server closed: nothing of this request was answered.
    if (reused) throw new StaleConnection(messageOf(error));
    throw error;
  }
}

/** The request's headers as a `Headers`, which refuses CR, LF and NUL in names and values. */
function headersOf(given: HeadersInit | undefined): Headers {
  // A `Headers` was checked as it was filled: read it as it is (a copy costs as much again).
  return given instanceof Headers ? given : new Headers(given);
}

/** Headers this client writes itself, whatever the caller gave. */
const OWN_HEADERS = new Set(["host", "connection", "content-length", "transfer-encoding"]);

function requestHead(method: string, url: URL, headers: Headers): string {
  let head = `${method} ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n`;
  let acceptEncoding = false;
  let accept = false;
  // Names come lowercased from `Headers`.
  for (const [name, value] of headers) {
    if (OWN_HEADERS.has(name)) continue;
    if (name === "accept-encoding") acceptEncoding = true;
    else if (name === "accept") accept = true;
    head += `${name}: ${value}\r\n`;
  }
  if (!acceptEncoding) head += "accept-encoding: identity\r\n";
  if (!accept) head += "accept: */*\r\n";
  return `${head}\r\n`;
}

interface Origin {
  readonly key: string;
  readonly hostname: string;
  readonly port: number;
  readonly tls: boolean;
}

function originOf(url: URL): Origin {
  const tls = url.protocol === "https:";
  const port = url.port === "" ? (tls ? 443 : 80) : Number(url.port);
  // `[::1]` in a URL, `::1` to connect.
  const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
  return { key: `${url.protocol}//${url.host}`, hostname, port, tls };
}

/** The connection failed before any byte of the answer: safe to send the GET again. */
class StaleConnection extends Error {}

/** A malformed or hostile answer. */
class ProtocolError extends Error {}

/** One connection and its read buffer (from the buffer pool, returned when it closes). */
class Connection {
  readonly conn: Deno.Conn;
  readonly buffer: Uint8Array = takeBuffer(BUFFER_BYTES);
  /** Unread bytes are `buffer[start, end)`. */
  start = 0;
  end = 0;
  #closed = false;
  /** When it last went back to the pool (`performance.now()`). */
  idleSince = 0;

  constructor(conn: Deno.Conn) {
    this.conn = conn;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Reads more bytes after the unread ones; `false` at the end of the stream. */
  async fill(): Promise<boolean> {
    if (this.start === this.end) this.start = this.end = 0;
    if (this.end === this.buffer.length) {
      this.buffer.copyWithin(0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
    }
    const count = await this.conn.read(this.buffer.subarray(this.end));
    if (count === null) return false;
    this.end += count;
    return true;
  }

  /**
   * Closes the connection. `readInFlight`: a read may still be pending (an abort closes the
   * connection under it), so the buffer is not given back to the pool, where someone else
   * could take it while that read is still being served.
   */
  destroy(readInFlight = false): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
    if (!readInFlight) giveBack(this.buffer);
  }
}

class ConnectionPool {
  readonly #connect: Connector;
  readonly #idle = new Map<string, Connection[]>();
  readonly #maxIdleMs: number;

  constructor(connect: Connector, maxIdleMs: number) {
    this.#connect = connect;
    this.#maxIdleMs = maxIdleMs;
  }

  idle(key: string): Connection | undefined {
    const list = this.#idle.get(key);
    const now = performance.now();
    for (let connection = list?.pop(); connection !== undefined; connection = list?.pop()) {
      if (connection.closed) continue;
      if (now - connection.idleSince <= this.#maxIdleMs) return connection;
      connection.destroy();
    }
    return undefined;
  }

  async open(origin: Origin, signal: AbortSignal | undefined): Promise<Connection> {
    const pending = this.#connect(origin);
    if (signal === undefined) return new Connection(await pending);
    // A connect cannot be cancelled: on abort, close the connection when it arrives.
    return await new Promise<Connection>((resolve, reject) => {
      // The connection is closed by the handler below when it arrives; closing it here too
      // made the second close throw, an unhandled rejection that ended the run.
      const onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      pending.then(
        (conn) => {
          signal.removeEventListener("abort", onAbort);
          if (signal.aborted) conn.close();
          else resolve(new Connection(conn));
        },
        (error) => {
          signal.removeEventListener("abort", onAbort);
          reject(error);
        },
      );
    });
  }

  /** Takes back a connection whose answer was read to its end. */
  release(key: string, connection: Connection): void {
    if (connection.closed) return;
    // Bytes past the end of the answer were never asked for (a body longer than its length,
    // a 204 or a HEAD answered with one): kept, they would be read as the next answer.
    if (connection.start !== connection.end) return connection.destroy();
    let list = this.#idle.get(key);
    if (list === undefined) this.#idle.set(key, list = []);
    if (list.length >= MAX_IDLE_PER_ORIGIN) connection.destroy();
    else {
      connection.idleSince = performance.now();
      list.push(connection);
    }
  }
}

interface AnswerHead {
  readonly version: "1.0" | "1.1";
  readonly status: number;
  readonly statusText: string;
  readonly headers: FieldList;
}

/** Reads heads until one that is not an interim (1xx) answer. */
async function readAnswerHead(connection: Connection): Promise<AnswerHead> {
  let gotAnything = false;
  for (;;) {
    const text = await readHeadText(connection, gotAnything);
    gotAnything = true;
    const head = parseHead(text);
    if (head.status < 100 || head.status > 599) {
      throw new ProtocolError(`the answer's status ${head.status} is unknown`);
    }
    if (head.status >= 200) return head;
    if (head.status === 101) throw new ProtocolError("the server switched protocols unasked");
  }
}

/** The bytes before the next CRLF CRLF, as Latin-1 text; consumes them and the CRLF CRLF. */
async function readHeadText(connection: Connection, gotAnything: boolean): Promise<string> {
  let searched = 0;
  for (;;) {
    const { buffer, start, end } = connection;
    for (let index = Math.max(start + searched, start + 3); index < end; index++) {
      if (
        buffer[index] === 10 && buffer[index - 1] === 13 && buffer[index - 2] === 10 &&
        buffer[index - 3] === 13
      ) {
        const text = latin1(buffer.subarray(start, index - 3));
        connection.start = index + 1;
        return text;
      }
    }
    searched = Math.max(0, end - start - 3);
    if (end - start >= MAX_HEAD_BYTES) {
      throw new ProtocolError(`the answer's head is larger than ${MAX_HEAD_BYTES / 1024} KiB`);
    }
    let more: boolean;
    try {
      more = await connection.fill();
    } catch (error) {
      if (!gotAnything && end === start) throw new StaleConnection(messageOf(error));
      throw error;
    }
    if (!more) {
      if (!gotAnything && connection.end === connection.start) {
        throw new StaleConnection("the server closed the connection before answering");
      }
      throw new ProtocolError("the connection closed in the middle of the answer's head");
    }
  }
}

const utf8 = new TextDecoder();

function isAscii(bytes: Uint8Array): boolean {
  for (let index = 0; index < bytes.length; index++) if (bytes[index]! >= 0x80) return false;
  return true;
}

/** Bytes as Latin-1 text: what `Headers` takes (a byte string), whatever the bytes are. */
function latin1(bytes: Uint8Array): string {
  // Heads are ASCII almost always, and the decoder is much faster than building a string.
  if (isAscii(bytes)) return utf8.decode(bytes);
  let text = "";
  for (let index = 0; index < bytes.length; index += 8192) {
    text += String.fromCharCode(...bytes.subarray(index, index + 8192));
  }
  return text;
}

const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: ([^\r\n]*))?$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FORBIDDEN_IN_VALUE = /[\0\r\n]/;

/** What HTTP counts as the whitespace around a field value (RFC 9110, section 5.5). */
function trimSpacesAndTabs(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && isSpaceOrTab(value.charCodeAt(start))) start++;
  while (end > start && isSpaceOrTab(value.charCodeAt(end - 1))) end--;
  return start === 0 && end === value.length ? value : value.slice(start, end);
}

function isSpaceOrTab(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/** Read access to header fields, as `Headers.get` gives it. */
export interface FieldReader {
  get(name: string): string | null;
}

/**
 * An answer's header fields as parsed, read by name as `Headers` reads them (any case,
 * repeated fields joined with ", "). Filling a `Headers` costs ~10 us per answer and the
 * response copies them into its own anyway: the fields go to the response as they are.
 */
class FieldList implements FieldReader {
  readonly fields: readonly (readonly [string, string])[];

  constructor(fields: readonly (readonly [string, string])[]) {
    this.fields = fields;
  }

  get(name: string): string | null {
    const wanted = name.toLowerCase();
    let found: string | null = null;
    for (const [field, value] of this.fields) {
      if (field.length !== wanted.length || field.toLowerCase() !== wanted) continue;
      found = found === null ? value : `${found}, ${value}`;
    }
    return found;
  }
}
/** What `Response` accepts as a reason phrase. */
const REASON = /^[\t\x20-\x7e\x80-\xff]*$/;
/**
 * The longest reason phrase kept. Callers put `statusText` in messages unclipped, as
 * `fetch` gives only the short standard phrase; a server's could be the whole 64 KiB head.
 */
const MAX_REASON_CHARS = 100;

/** Parses a status line and header fields. Pure. */
export function parseHead(text: string): AnswerHead {
  const lines = text.split("\r\n");
  const match = STATUS_LINE.exec(lines[0] ?? "");
  if (match === null) throw new ProtocolError("the answer does not start with an HTTP/1 status");
  const fields: [string, string][] = [];
  for (let index = 1; index < lines.length; index++) {
    const line = lines[index]!;
    const first = line.charCodeAt(0);
    const colon = line.indexOf(":");
    // Folded lines (obsolete, and a smuggling device) and bare LFs are refused.
    if (first === 0x20 || first === 0x09 || colon <= 0) {
      throw new ProtocolError("the answer has a malformed header line");
    }
    const name = line.slice(0, colon);
    const value = trimSpacesAndTabs(line.slice(colon + 1));
    // Exactly what `Headers` would refuse, so that the response made from these never throws.
    if (!TOKEN.test(name) || FORBIDDEN_IN_VALUE.test(value)) {
      throw new ProtocolError("the answer has a malformed header line");
    }
    fields.push([name, value]);
  }
  const headers = new FieldList(fields);
  const reason = match[3] ?? "";
  return {
    version: match[1] === "0" ? "1.0" : "1.1",
    status: Number(match[2]),
    statusText: reason.length <= MAX_REASON_CHARS && REASON.test(reason) ? reason : "",
    headers,
  };
}

/** How the body of an answer is delimited (RFC 9112, section 6.3). */
export type Framing =
  | { readonly kind: "none" }
  | { readonly kind: "length"; readonly length: number }
  | { readonly kind: "chunked" }
  | { readonly kind: "close" };

/** How the answer's body ends, from the request method, status and headers. Pure. */
export function framingOf(method: string, status: number, headers: FieldReader): Framing {
  if (method === "HEAD" || status === 204 || status === 304 || status < 200) {
    return { kind: "none" };
  }
  const transferEncoding = headers.get("Transfer-Encoding");
  if (transferEncoding !== null) {
    const codings = transferEncoding.split(",").map((coding) => coding.trim().toLowerCase());
    if (codings.at(-1) !== "chunked") return { kind: "close" };
    if (codings.slice(0, -1).some((coding) => coding !== "identity")) {
      throw new ProtocolError(`the answer's transfer coding "${transferEncoding}" is not known`);
    }
    return { kind: "chunked" };
  }
  const declared = headers.get("Content-Length");
  if (declared === null) return { kind: "close" };
  const values = new Set(declared.split(",").map((value) => value.trim()));
  const [only] = values;
  if (values.size !== 1 || only === undefined || !/^\d{1,15}$/.test(only)) {
    throw new ProtocolError(`the answer's Content-Length "${declared}" is not a length`);
  }
  return { kind: "length", length: Number(only) };
}

function responseInit(answer: AnswerHead): ResponseInit {
  return {
    status: answer.status,
    statusText: answer.statusText,
    headers: answer.headers.fields as [string, string][],
  };
}

/** Whether the connection may carry another request once this answer is read. */
function keepsAlive(answer: AnswerHead, framing: Framing): boolean {
  if (framing.kind === "close") return false;
  const tokens = (answer.headers.get("Connection") ?? "").toLowerCase().split(",").map((token) =>
    token.trim()
  );
  if (tokens.includes("close")) return false;
  return answer.version === "1.1" || tokens.includes("keep-alive");
}

function makeResponse(
  pool: ConnectionPool,
  key: string,
  connection: Connection,
  method: string,
  answer: AnswerHead,
  signal: AbortSignal | undefined,
  onAbort: () => void,
): Response {
  const framing = framingOf(method, answer.status, answer.headers);
  const reusable = keepsAlive(answer, framing);
  const finished = (clean: boolean) => {
    signal?.removeEventListener("abort", onAbort);
    if (clean && reusable) pool.release(key, connection);
    else connection.destroy();
  };
  const reader = new FramedReader(connection, framing, finished, signal);
  const nullBody = answer.status === 204 || answer.status === 205 || answer.status === 304;
  if (framing.kind === "none" || nullBody) {
    // A body after a status that has none would be read as the next answer.
    reader.cancelNow();
    return new Response(null, responseInit(answer));
  }
  const coding = (answer.headers.get("Content-Encoding") ?? "identity").trim().toLowerCase();
  if (coding === "identity" || coding === "") {
    const direct = new DirectBody(reader);
    const response = lazyBodyResponse(direct, responseInit(answer));
    registerDirectBody(response, direct);
    return response;
  }
  const stream = streamOf(reader);
  const format = coding === "gzip" || coding === "x-gzip"
    ? "gzip"
    : coding === "deflate"
    ? "deflate"
    : undefined;
  if (format === undefined) {
    reader.cancelNow();
    throw new ProtocolError(`the answer's content coding "${coding}" is not supported`);
  }
  const decoder = new DecompressionStream(format) as unknown as TransformStream<
    Uint8Array,
    Uint8Array
  >;
  return new Response(stream.pipeThrough(decoder), responseInit(answer));
}

/**
 * A response whose body stream is made only when something asks for it. Most answers never
 * need one: a download reads its `directBody`, and a redirect's page is dropped through it
 * (`discardBody`); a `ReadableStream`, and a `Response` around it, cost more than the rest
 * of the answer's parsing. Every body method goes to a real `Response` made on first use.
 */
function lazyBodyResponse(direct: DirectBody, init: ResponseInit): Response {
  LazyBodyResponse ??= defineLazyBodyResponse();
  return new LazyBodyResponse(direct, init);
}

/**
 * Defined on first use: a class that extends `Response` reads the global as it is defined,
 * which loads all of `Response`'s code, and a command that sends no request (a fetch of
 * files already present) must not pay the ~5 ms.
 */
let LazyBodyResponse: ReturnType<typeof defineLazyBodyResponse> | undefined;

const defineLazyBodyResponse = () =>
  class LazyBodyResponse extends Response {
    readonly #direct: DirectBody;
    readonly #init: ResponseInit;
    #full: Response | undefined;

    constructor(direct: DirectBody, init: ResponseInit) {
      super(null, init);
      this.#direct = direct;
      this.#init = init;
    }

    #materialized(): Response {
      if (this.#full !== undefined) return this.#full;
      const reader = this.#direct.takeForStream();
      if (reader !== undefined) return this.#full = new Response(streamOf(reader), this.#init);
      // Taken directly (read, or discarded): a used body, which every body method refuses.
      const used = new Response(new ReadableStream(), this.#init);
      void used.body!.cancel();
      return this.#full = used;
    }

    override get body(): ReadableStream<Uint8Array<ArrayBuffer>> {
      return this.#materialized().body!;
    }
    override get bodyUsed(): boolean {
      return this.#direct.takenDirectly || (this.#full?.bodyUsed ?? false);
    }
    override arrayBuffer(): Promise<ArrayBuffer> {
      return this.#materialized().arrayBuffer();
    }
    override blob(): Promise<Blob> {
      return this.#materialized().blob();
    }
    override bytes(): Promise<Uint8Array<ArrayBuffer>> {
      return this.#materialized().bytes();
    }
    override formData(): Promise<FormData> {
      return this.#materialized().formData();
    }
    override json(): Promise<unknown> {
      return this.#materialized().json();
    }
    override text(): Promise<string> {
      return this.#materialized().text();
    }
    override clone(): Response {
      return this.#materialized().clone();
    }
  };

/** A plain stream over a reader, for callers that use `response.body`. */
function streamOf(reader: BodyReader): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const chunk = await reader.read(64 * 1024);
      if (chunk === null) controller.close();
      else controller.enqueue(chunk.slice());
    },
    cancel: () => reader.cancel(),
  }, { highWaterMark: 0 });
}

/**
 * Reads one answer's body from its connection, as its framing delimits it, and hands the
 * connection back (or closes it) once the body is read or abandoned.
 */
class FramedReader implements BodyReader {
  readonly #connection: Connection;
  readonly #framing: Framing;
  readonly #finished: (clean: boolean) => void;
  readonly #signal: AbortSignal | undefined;
  /** Bytes left: of the whole body (length framing) or of the current chunk. */
  #left: number;
  /** The CRLF after a chunk's data is still to be read. */
  #chunkEndDue = false;
  /** All the body was handed out; the next read says so. */
  #exhausted: boolean;
  #done = false;
  /** A read is waiting on the socket (a stream can be cancelled under its pending pull). */
  #reading = false;

  constructor(
    connection: Connection,
    framing: Framing,
    finished: (clean: boolean) => void,
    signal: AbortSignal | undefined,
  ) {
    this.#connection = connection;
    this.#framing = framing;
    this.#finished = finished;
    this.#signal = signal;
    this.#left = framing.kind === "length" ? framing.length : 0;
    this.#exhausted = framing.kind === "none" || (framing.kind === "length" && this.#left === 0);
    if (this.#exhausted) this.#end(true);
  }

  /**
   * The next bytes of the body, at most `limit`, or `null` at its end. The chunk is a view
   * of the connection's buffer: valid until the next call, which is also why the
   * connection goes back to the pool only then, never while a chunk is still out.
   */
  async read(limit: number): Promise<Uint8Array | null> {
    this.#reading = true;
    try {
      return await this.#read(limit);
    } finally {
      this.#reading = false;
    }
  }

  async #read(limit: number): Promise<Uint8Array | null> {
    if (this.#exhausted) this.#end(true);
    if (this.#done) return null;
    try {
      const kind = this.#framing.kind;
      if (kind === "chunked" && this.#left === 0) {
        if (this.#chunkEndDue) {
          if ((await this.#line()) !== "") {
            throw new ProtocolError("a chunk is longer than its size");
          }
          this.#chunkEndDue = false;
        }
        this.#left = await this.#nextChunkSize();
        if (this.#left === 0) {
          await this.#skipTrailers();
          this.#end(true);
          return null;
        }
      }
      const connection = this.#connection;
      if (connection.start === connection.end && !(await connection.fill())) {
        if (kind === "close") {
          this.#end(false);
          return null;
        }
        throw new ProtocolError("the connection closed before the end of the body");
      }
      let count = Math.min(Math.max(1, limit), connection.end - connection.start);
      if (kind !== "close") count = Math.min(count, this.#left);
      const chunk = connection.buffer.subarray(connection.start, connection.start + count);
      connection.start += count;
      if (kind !== "close") this.#left -= count;
      if (kind === "chunked" && this.#left === 0) this.#chunkEndDue = true;
      if (kind === "length" && this.#left === 0) this.#exhausted = true;
      return chunk;
    } catch (error) {
      this.#end(false);
      this.#signal?.throwIfAborted();
      throw asFetchError(error);
    }
  }

  cancel(): Promise<void> {
    this.cancelNow();
    return Promise.resolve();
  }

  cancelNow(): void {
    this.#abandon();
  }

  release(): void {
    this.#abandon();
  }

  /** The consumer is done with the body, read to its end or not. */
  #abandon(): void {
    if (this.#done) return;
    if (this.#reading) {
      // A drain would read beside the pending read, and that read would take the rest of the
      // body, leaving the drain waiting for bytes that never come, on a connection never
      // given back. Closing ends the pending read too (the buffer stays out of the pool).
      this.#connection.destroy(true);
      return this.#end(false);
    }
    if (this.#skipBuffered()) return this.#end(true);
    if (this.#framing.kind !== "length" || this.#left > MAX_DRAINED_BYTES) return this.#end(false);
    this.#done = true;
    void this.#drain().then(() => this.#finished(true), () => this.#finished(false));
  }

  /**
   * Reads and drops the rest of a short body, so that the connection can be kept. Not
   * waited for, and unref'd meanwhile: a server that never sends the rest must not keep
   * the process alive.
   */
  async #drain(): Promise<void> {
    const connection = this.#connection;
    connection.conn.unref();
    while (this.#left > 0) {
      if (connection.start === connection.end && !(await connection.fill())) {
        throw new ProtocolError("the connection closed before the end of the body");
      }
      const count = Math.min(this.#left, connection.end - connection.start);
      connection.start += count;
      this.#left -= count;
    }
    connection.conn.ref();
  }

  /**
   * Whether the connection can carry the next answer after the body was abandoned: when
   * the rest of it is already in the buffer (a redirect's short page usually arrives with
   * its head), it is skipped; otherwise it would be read as the next answer, so the
   * connection is closed instead.
   */
  #skipBuffered(): boolean {
    if (this.#exhausted || this.#done) return this.#exhausted;
    const connection = this.#connection;
    if (this.#framing.kind !== "length" || this.#left > connection.end - connection.start) {
      return false;
    }
    connection.start += this.#left;
    this.#left = 0;
    this.#exhausted = true;
    return true;
  }

  #end(clean: boolean): void {
    if (this.#done) return;
    this.#done = true;
    this.#finished(clean);
  }

  /** A line of the chunked framing (size, CRLF or trailer), without its CRLF. */
  async #line(): Promise<string> {
    const connection = this.#connection;
    for (;;) {
      const { buffer, start, end } = connection;
      for (let index = start + 1; index < end; index++) {
        if (buffer[index] === 10 && buffer[index - 1] === 13) {
          connection.start = index + 1;
          return latin1(buffer.subarray(start, index - 1));
        }
      }
      if (end - start > 4096) throw new ProtocolError("a chunk's framing line is too long");
      if (!(await connection.fill())) {
        throw new ProtocolError("the connection closed in the middle of a chunk");
      }
    }
  }

  async #nextChunkSize(): Promise<number> {
    const line = await this.#line();
    const size = line.split(";")[0]!.trim();
    if (!/^[0-9a-fA-F]{1,12}$/.test(size)) throw new ProtocolError("a chunk's size is malformed");
    return parseInt(size, 16);
  }

  async #skipTrailers(): Promise<void> {
    for (let count = 0; (await this.#line()) !== ""; count++) {
      if (count >= 100) throw new ProtocolError("the answer has too many trailer fields");
    }
  }
}

/** A rejection like `fetch`'s: a `TypeError` whose message networkReason can read. */
function asFetchError(error: unknown): unknown {
  if (error instanceof TypeError) return error;
  return new TypeError(`error sending request: ${messageOf(error)}`, { cause: error });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Variables that route Deno's `fetch` through a proxy, which this client does not do. */
const PROXY_VARIABLES = ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"];

/**
 * The `fetch` a run uses: this client in front of Deno's, unless a proxy variable is set
 * (Deno's `fetch` honours them) or `TOOLTOOL_HTTP_CLIENT=fetch` asks for Deno's alone.
 */
export function fetchForRun(
  env: (name: string) => string | undefined,
  fallback: typeof globalThis.fetch = globalThis.fetch,
): typeof globalThis.fetch {
  const proxied = PROXY_VARIABLES.some((name) =>
    (env(name) ?? "") !== "" || (env(name.toLowerCase()) ?? "") !== ""
  );
  if (proxied || env("TOOLTOOL_HTTP_CLIENT") === "fetch") return fallback;
  return http1Fetch({ fallback });
}

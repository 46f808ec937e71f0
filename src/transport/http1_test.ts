import assert from "node:assert/strict";
import { directBody, discardBody } from "./body_reader.ts";
import { fetchForRun, framingOf, http1Fetch, MAX_HEAD_BYTES, parseHead } from "./http1.ts";
import { scriptedServer, write } from "../../test/helpers/scripted_server.ts";

const encoder = new TextEncoder();

const manual = { redirect: "manual" } as const;

Deno.test("GETs to one origin share a kept-alive connection, with Host, path, query and identity", async () => {
  await using server = scriptedServer(async ({ conn }) => {
    await write(conn, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Thing: a b \r\n\r\nhello");
  });
  const fetch = http1Fetch();
  for (const path of ["/a?b=1", "/c"]) {
    const response = await fetch(`${server.url}${path}`, {
      ...manual,
      headers: { "User-Agent": "tooltool-test" },
    });
    assert.equal(response.status, 200);
    assert.equal(response.statusText, "OK");
    assert.equal(
      response.headers.get("x-thing"),
      "a b",
      "spaces around a value are not part of it",
    );
    assert.equal(await response.text(), "hello");
  }
  assert.equal(server.accepted, 1);
  const first = server.heads[0]!;
  assert.match(first, /^GET \/a\?b=1 HTTP\/1\.1\r\n/);
  assert.match(first, new RegExp(`\r\nHost: ${server.url.slice("http://".length)}\r\n`));
  assert.match(first, /\r\naccept-encoding: identity\r\n/i);
  assert.match(first, /\r\nuser-agent: tooltool-test\r\n/i);
});

Deno.test("a chunked body is decoded, extensions and trailers skipped, and the connection kept", async () => {
  await using server = scriptedServer(async ({ conn }) => {
    await write(
      conn,
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
        "5;name=value\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nTrailer: x\r\n\r\n",
    );
  });
  const fetch = http1Fetch();
  assert.equal(await (await fetch(server.url, manual)).text(), "hello world");
  assert.equal(await (await fetch(server.url, manual)).text(), "hello world");
  assert.equal(server.accepted, 1);
});

Deno.test("a body that ends with its connection is read to the end; the connection is not reused", async () => {
  await using server = scriptedServer(async ({ conn }) => {
    await write(conn, "HTTP/1.1 200 OK\r\n\r\nuntil the end");
    return "close";
  });
  const fetch = http1Fetch();
  assert.equal(await (await fetch(server.url, manual)).text(), "until the end");
  assert.equal(await (await fetch(server.url, manual)).text(), "until the end");
  assert.equal(server.accepted, 2);
});

Deno.test("interim answers are skipped; HEAD, 204 and 304 answers have no body", async () => {
  await using server = scriptedServer(async ({ conn, head }) => {
    if (head.startsWith("HEAD")) {
      await write(conn, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
    } else if (head.includes("/empty")) {
      await write(conn, "HTTP/1.1 204 No Content\r\n\r\n");
    } else if (head.includes("/same")) {
      await write(conn, "HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n");
    } else {
      await write(conn, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n");
      await write(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    }
  });
  const fetch = http1Fetch();
  const interim = await fetch(server.url, manual);
  assert.equal(interim.status, 200);
  assert.equal(await interim.text(), "ok");
  const head = await fetch(server.url, { ...manual, method: "HEAD" });
  assert.equal(head.headers.get("content-length"), "1000");
  assert.equal(head.body, null);
  assert.equal((await fetch(`${server.url}/empty`, manual)).body, null);
  assert.equal((await fetch(`${server.url}/same`, manual)).body, null);
  assert.equal(await (await fetch(server.url, manual)).text(), "ok");
  assert.equal(server.accepted, 1, "a body-less answer leaves the connection usable");
});

Deno.test("a redirect's short page, abandoned, is skipped so that the connection is kept", async () => {
  await using server = scriptedServer(async ({ conn, request }) => {
    const page = "<p>Redirecting…</p>".repeat(50);
    const bytes = encoder.encode(page);
    await write(
      conn,
      `HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: ${bytes.length}\r\n\r\n`,
    );
    // Sent after a pause on the first request: the rest is not in the buffer at cancel time.
    if (request === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    await write(conn, bytes);
  });
  const fetch = http1Fetch();
  for (let index = 0; index < 3; index++) {
    const response = await fetch(server.url, manual);
    assert.equal(response.status, 302);
    assert.equal(response.headers.get("location"), "/x");
    await response.body?.cancel();
    // The drain of the first page finishes in the background.
    await new Promise((resolve) => setTimeout(resolve, 40));
  }
  assert.equal(server.accepted, 1);
});

Deno.test("a body stream is made only when asked for, and every body method reads it", async () => {
  await using server = scriptedServer(async ({ conn }) => {
    await write(conn, 'HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{"a": 12}');
  });
  const fetch = http1Fetch();
  const read: Record<string, (response: Response) => Promise<unknown>> = {
    text: (response) => response.text(),
    json: (response) => response.json(),
    bytes: async (response) => new TextDecoder().decode(await response.bytes()),
    arrayBuffer: async (response) => new TextDecoder().decode(await response.arrayBuffer()),
    blob: (response) => response.blob().then((blob) => blob.text()),
    clone: (response) => response.clone().text(),
    body: (response) => new Response(response.body).text(),
  };
  for (const [method, readBody] of Object.entries(read)) {
    const response = await fetch(server.url, manual);
    assert.equal(response.bodyUsed, false, method);
    assert.equal(response.headers.get("content-length"), "9", method);
    const body = await readBody(response);
    assert.deepEqual(body, method === "json" ? { a: 12 } : '{"a": 12}', method);
    if (method !== "clone") assert.equal(response.bodyUsed, true, method);
  }
  // Every body was read to its end: the connection was kept throughout.
  assert.equal(server.accepted, 1);
});

Deno.test("discardBody() drops a redirect's page and keeps the connection, any response too", async () => {
  await using server = scriptedServer(async ({ conn }) => {
    await write(conn, "HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 7\r\n\r\nMoved.\n");
  });
  const fetch = http1Fetch();
  for (let index = 0; index < 3; index++) {
    const response = await fetch(server.url, manual);
    assert.equal(response.status, 302);
    await discardBody(response);
  }
  assert.equal(server.accepted, 1);
  // A response of Deno's own kind, with a body or without.
  await discardBody(new Response("page"));
  await discardBody(new Response(null, { status: 204 }));
});

Deno.test("a kept-alive connection the server dropped is replaced without a failed request", async () => {
  await using server = scriptedServer(async ({ conn }) => {
    await write(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    return "close";
  });
  const fetch = http1Fetch();
  for (let index = 0; index < 3; index++) {
    assert.equal(await (await fetch(server.url, manual)).text(), "ok");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.equal(server.accepted, 3);
});

Deno.test("a connection idle for longer than the limit is not reused: the server may be closing it", async () => {
  await using server = scriptedServer(async ({ conn }) => {
    await write(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  });
  const fetch = http1Fetch({ maxIdleMs: 30 });
  assert.equal(await (await fetch(server.url, manual)).text(), "ok");
  assert.equal(await (await fetch(server.url, manual)).text(), "ok");
  assert.equal(server.accepted, 1, "reused within the limit");
  await new Promise((resolve) => setTimeout(resolve, 80));
  assert.equal(await (await fetch(server.url, manual)).text(), "ok");
  assert.equal(server.accepted, 2);
});

Deno.test("hostile heads reject like fetch does, with a TypeError", async (t) => {
  const heads: Record<string, string> = {
    "no HTTP/1 status": "HTTP/2 200 OK\r\n\r\n",
    "a two-digit status": "HTTP/1.1 20 OK\r\n\r\n",
    "a status above 599": "HTTP/1.1 999 What\r\n\r\n",
    "a status below 100": "HTTP/1.1 099 What\r\n\r\n",
    "an unasked protocol switch": "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
    "conflicting lengths": "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello",
    "two length fields that differ":
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
    "a negative length": "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    "a length that is not a number": "HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n",
    "a folded header": "HTTP/1.1 200 OK\r\nX-A: 1\r\n  continued\r\nContent-Length: 0\r\n\r\n",
    "a header without a colon": "HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
    "a header name with a space": "HTTP/1.1 200 OK\r\nBad Name: 1\r\n\r\n",
    "an unknown transfer coding first":
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: zip, chunked\r\n\r\n",
    "an unknown content coding":
      "HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 1\r\n\r\nx",
    "a head that never ends": `HTTP/1.1 200 OK\r\nX-Pad: ${"a".repeat(MAX_HEAD_BYTES)}`,
    "a connection closed mid-head": "HTTP/1.1 200 OK\r\nContent-",
  };
  for (const [name, text] of Object.entries(heads)) {
    await t.step(name, async () => {
      await using server = scriptedServer(async ({ conn }) => {
        await write(conn, text);
        return "close";
      });
      await assert.rejects(http1Fetch()(server.url, manual), TypeError);
    });
  }
});

Deno.test("hostile bodies fail the read that meets them, and memory stays bounded", async (t) => {
  const answers: Record<string, string> = {
    "a chunk size that is not hex": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "a chunk longer than its size":
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
    "a chunk size line without end": `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1${
      "0".repeat(8000)
    }`,
    "a chunk size beyond 2^48":
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000\r\n",
    "endless trailers": `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n${
      "T: x\r\n".repeat(200)
    }\r\n`,
    "a body shorter than its length": "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
    "a chunked body cut short": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
  };
  for (const [name, text] of Object.entries(answers)) {
    await t.step(name, async () => {
      await using server = scriptedServer(async ({ conn }) => {
        await write(conn, text);
        return "close";
      });
      const response = await http1Fetch()(server.url, manual);
      await assert.rejects(response.arrayBuffer(), TypeError);
    });
  }
});

Deno.test("an abort rejects a request waiting for its answer, and a body read, with its reason", async () => {
  await using server = scriptedServer(async ({ conn, head }) => {
    if (head.includes("/body")) {
      await write(conn, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  });
  const fetch = http1Fetch();
  const waiting = new AbortController();
  const pending = fetch(`${server.url}/head`, { ...manual, signal: waiting.signal });
  setTimeout(() => waiting.abort(new Error("stop waiting")), 20);
  await assert.rejects(pending, /stop waiting/);

  const reading = new AbortController();
  const response = await fetch(`${server.url}/body`, { ...manual, signal: reading.signal });
  const body = directBody(response)!;
  assert.equal(new TextDecoder().decode((await body.read(100))!), "abc");
  setTimeout(() => reading.abort(new Error("stop reading")), 20);
  await assert.rejects(body.read(100), /stop reading/);

  const already = AbortSignal.abort(new Error("never started"));
  await assert.rejects(fetch(server.url, { ...manual, signal: already }), /never started/);
});

Deno.test("a direct body's last chunk stays valid until the next read, even while others reuse the origin", async () => {
  const payload = "x".repeat(1000);
  await using server = scriptedServer(async ({ conn, connection }) => {
    const body = connection === 0 ? payload : "y".repeat(1000);
    await write(conn, `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  });
  const fetch = http1Fetch();
  const first = directBody(await fetch(server.url, manual))!;
  let received = "";
  let chunk = await first.read(600);
  received += new TextDecoder().decode(chunk!);
  chunk = await first.read(600);
  // The whole body was handed out; another request to the same origin goes out meanwhile.
  const second = await fetch(server.url, manual);
  assert.equal(await second.text(), "y".repeat(1000));
  received += new TextDecoder().decode(chunk!);
  assert.equal(received, payload, "the second answer did not land in the first one's chunk");
  assert.equal(await first.read(600), null);
  assert.equal(server.accepted, 2, "the first connection was not lent while its chunk was out");
});

Deno.test("a gzip answer is decoded, though identity was asked", async () => {
  const compressed = new Uint8Array(
    await new Response(
      new Blob([encoder.encode("squeezed")]).stream().pipeThrough(new CompressionStream("gzip")),
    ).arrayBuffer(),
  );
  await using server = scriptedServer(async ({ conn }) => {
    await write(
      conn,
      `HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: ${compressed.length}\r\n\r\n`,
    );
    await write(conn, compressed);
  });
  const response = await http1Fetch()(server.url, manual);
  assert.equal(directBody(response), undefined, "a coded body goes through the stream");
  assert.equal(await response.text(), "squeezed");
});

Deno.test("requests it does not take go to the fallback fetch unchanged", async () => {
  const seen: string[] = [];
  const fallback: typeof globalThis.fetch = (input, init) => {
    seen.push(`${init?.method ?? "GET"} ${input instanceof Request ? "Request" : String(input)}`);
    return Promise.resolve(new Response("fallback"));
  };
  const fetch = http1Fetch({ fallback });
  await fetch("http://127.0.0.1:9/upload", { ...manual, method: "POST", body: "{}" });
  await fetch("http://127.0.0.1:9/followed");
  await fetch("http://user:secret@127.0.0.1:9/x", manual);
  await fetch("file:///etc/passwd", manual);
  await fetch(new Request("http://127.0.0.1:9/request"), manual);
  assert.deepEqual(seen, [
    "POST http://127.0.0.1:9/upload",
    "GET http://127.0.0.1:9/followed",
    "GET http://user:secret@127.0.0.1:9/x",
    "GET file:///etc/passwd",
    "GET Request",
  ]);
});

Deno.test("a run uses Deno's fetch alone behind a proxy or when asked to", () => {
  const fallback: typeof globalThis.fetch = () => Promise.resolve(new Response());
  const env = (values: Record<string, string>) => (name: string) => values[name];
  assert.equal(fetchForRun(env({ HTTPS_PROXY: "http://proxy:3128" }), fallback), fallback);
  assert.equal(fetchForRun(env({ http_proxy: "http://proxy:3128" }), fallback), fallback);
  assert.equal(fetchForRun(env({ TOOLTOOL_HTTP_CLIENT: "fetch" }), fallback), fallback);
  assert.notEqual(fetchForRun(env({ HTTPS_PROXY: "" }), fallback), fallback);
  assert.notEqual(fetchForRun(env({}), fallback), fallback);
});

Deno.test("parseHead() reads fields as Headers would: any case, repeats joined, only SP and HTAB trimmed", () => {
  const head = parseHead(
    "HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length:\t7 \r\nx-a: 2\r\nX-B: \u00a0v\u00a0\r\nEmpty:",
  );
  assert.equal(head.headers.get("x-a"), "1, 2");
  assert.equal(head.headers.get("CONTENT-LENGTH"), "7");
  assert.equal(head.headers.get("x-b"), "\u00a0v\u00a0", "a no-break space is not HTTP whitespace");
  assert.equal(head.headers.get("empty"), "");
  assert.equal(head.headers.get("x-missing"), null);
  const response = new Response(null, { headers: head.headers.fields as [string, string][] });
  for (const name of ["x-a", "content-length", "x-b", "empty"]) {
    assert.equal(response.headers.get(name), head.headers.get(name), name);
  }
  for (const line of ["Bad Name: x", "Nul: a\0b", "CR: a\rb", ": no name", " folded"]) {
    assert.throws(() => parseHead(`HTTP/1.1 200 OK\r\n${line}`), /malformed header line/, line);
  }
});

Deno.test("framingOf() follows RFC 9112: transfer coding over length, none for HEAD, 204, 304", () => {
  const headers = (entries: Record<string, string>) => new Headers(entries);
  assert.deepEqual(framingOf("HEAD", 200, headers({ "Content-Length": "9" })), { kind: "none" });
  assert.deepEqual(framingOf("GET", 304, headers({ "Content-Length": "9" })), { kind: "none" });
  assert.deepEqual(
    framingOf("GET", 200, headers({ "Content-Length": "9", "Transfer-Encoding": "chunked" })),
    { kind: "chunked" },
  );
  assert.deepEqual(framingOf("GET", 200, headers({ "Transfer-Encoding": "gzip" })), {
    kind: "close",
  });
  assert.deepEqual(framingOf("GET", 200, headers({ "Content-Length": "7, 7" })), {
    kind: "length",
    length: 7,
  });
  assert.deepEqual(framingOf("GET", 200, headers({})), { kind: "close" });
});

/** A self-signed certificate for 127.0.0.1, made by the system's `openssl`. */
async function selfSignedCertificate(): Promise<{ cert: string; key: string }> {
  const dir = await Deno.makeTempDir();
  try {
    const output = await new Deno.Command("openssl", {
      args: [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        // rustls refuses a CA certificate as the server's own.
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        "-days",
        "1",
        "-keyout",
        `${dir}/key.pem`,
        "-out",
        `${dir}/cert.pem`,
      ],
      stdout: "null",
      stderr: "piped",
    }).output().catch((error) => {
      throw new Error(`this test needs openssl to make a certificate: ${error}`);
    });
    if (!output.success) throw new Error(new TextDecoder().decode(output.stderr));
    return {
      cert: await Deno.readTextFile(`${dir}/cert.pem`),
      key: await Deno.readTextFile(`${dir}/key.pem`),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("https: a trusted certificate is served over kept-alive TLS; an unknown one is refused", async () => {
  const { cert, key } = await selfSignedCertificate();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert, key, onListen: () => {} },
    () => new Response("secret bytes"),
  );
  try {
    const url = `https://127.0.0.1:${server.addr.port}/`;
    const fetch = http1Fetch({ caCerts: [cert] });
    for (let index = 0; index < 2; index++) {
      const response = await fetch(url, manual);
      assert.equal(await response.text(), "secret bytes");
    }
    await assert.rejects(http1Fetch()(url, manual), (error: unknown) => {
      assert.ok(error instanceof TypeError);
      assert.match(error.message, /^client error \(Connect\): .*(certificate|issuer)/i);
      return true;
    });
  } finally {
    await server.shutdown();
  }
});

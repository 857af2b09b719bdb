// Bodies as the Fetch spec shows them to a script: a body is a real
// ReadableStream whenever it is looked at (the runtime's fast path, a body
// kept whole, must never show), bodyUsed/locked/disturbed after reading,
// copies of buffer sources, .blob(), the Content-Type each kind of body
// sets, and Request's URL, integrity and keepalive.
import { test, assert, assertEquals, assertThrows, assertRejects, run } from "./harness.js";

const text = (u8) => new TextDecoder().decode(u8);

async function readAll(stream) {
  const reader = stream.getReader();
  const parts = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    assert(value instanceof Uint8Array, `a body chunk is a Uint8Array, got ${Object.prototype.toString.call(value)}`);
    parts.push(...value);
  }
  return new Uint8Array(parts);
}

test("body: a string body is a ReadableStream of its UTF-8 bytes", async () => {
  const r = new Response("héllo");
  const body = r.body;
  assert(body instanceof ReadableStream, "body is a ReadableStream");
  assertEquals(r.body, body, "the same stream every time");
  assertEquals([body.locked, r.bodyUsed], [false, false]);
  assertEquals(text(await readAll(body)), "héllo");
  assertEquals([body.locked, r.bodyUsed], [true, true]);
  await assertRejects(() => r.text(), TypeError, "already been used");
});

test("body: bytes and a Request's body are streams too", async () => {
  const r = new Response(new Uint8Array([1, 2, 3]));
  assertEquals(await readAll(r.body), new Uint8Array([1, 2, 3]));
  const q = new Request("http://x/", { method: "POST", body: "posted" });
  assert(q.body instanceof ReadableStream);
  assertEquals(text(await readAll(q.body)), "posted");
  assert(q.bodyUsed);
});

test("body: reading it whole leaves a locked, disturbed stream behind", async () => {
  const r = new Response("whole");
  assertEquals(await r.text(), "whole");
  assert(r.bodyUsed, "bodyUsed after text()");
  const body = r.body;
  assert(body instanceof ReadableStream, "body is still a ReadableStream");
  assert(body.locked, "locked by the read");
  assertThrows(() => body.getReader(), TypeError);
  await assertRejects(() => r.arrayBuffer(), TypeError, "already been used");
});

test("body: looked at but unread, it is still taken whole by text()", async () => {
  const r = new Response("peeked");
  const body = r.body;
  assertEquals(await r.text(), "peeked");
  assert(body.locked, "the stream the script saw is locked");
  assert(r.bodyUsed);
  // A partly read stream gives the rest.
  const s = new Response(new ReadableStream({
    start(c) {
      c.enqueue(new TextEncoder().encode("ab"));
      c.enqueue(new TextEncoder().encode("cd"));
      c.close();
    },
  }));
  const reader = s.body.getReader();
  await reader.read();
  reader.releaseLock();
  assert(s.bodyUsed, "a read disturbs the body");
  await assertRejects(() => s.text(), TypeError);
});

test("body: a null body stays null and can be read again", async () => {
  const r = new Response(null);
  assertEquals(r.body, null);
  assertEquals(await r.text(), "");
  assertEquals(await r.text(), "");
  assertEquals([r.bodyUsed, r.body], [false, null]);
  assertEquals(new Request("http://x/").body, null);
  assertEquals((await new Response().arrayBuffer()).byteLength, 0);
});

test("body: an empty string body is a stream that closes at once", async () => {
  const body = new Response("").body;
  assert(body instanceof ReadableStream);
  const { done } = await body.getReader().read();
  assert(done);
});

test("body: tee, pipeTo, pipeThrough and async iteration work on a whole body", async () => {
  const [a, b] = new Response("twice").body.tee();
  assertEquals([text(await readAll(a)), text(await readAll(b))], ["twice", "twice"]);
  const got = [];
  await new Response("piped").body.pipeTo(new WritableStream({ write: (c) => got.push(text(c)) }));
  assertEquals(got.join(""), "piped");
  const upper = new Response("up").body.pipeThrough(new TextDecoderStream());
  assertEquals(text(new TextEncoder().encode(await new Response(upper).text())), "up");
  let n = 0;
  for await (const chunk of new Response("iter").body) n += chunk.byteLength;
  assertEquals(n, 4);
});

test("body: a whole body is a byte stream (BYOB readers work)", async () => {
  const reader = new Response("byob!").body.getReader({ mode: "byob" });
  const { value } = await reader.read(new Uint8Array(16));
  assertEquals(text(value), "byob!");
});

test("body: a returned response whose body was looked at is sent as it is", async () => {
  // (The runtime takes an untouched stream of a whole body whole: seen
  // from JS, the stream ends up read.)
  const r = new Response("sent");
  const body = r.body;
  const copy = r.clone();
  assertEquals(await copy.text(), "sent");
  assertEquals(body.locked, false);
  assertEquals(await r.text(), "sent");
});

test("body: buffer sources are copied when the body is made", async () => {
  const u8 = new Uint8Array([1, 2, 3]);
  const r = new Response(u8);
  u8[0] = 9;
  assertEquals(new Uint8Array(await r.arrayBuffer()), new Uint8Array([1, 2, 3]));
  const ab = new Uint8Array([4, 5]).buffer;
  const q = new Request("http://x/", { method: "PUT", body: ab });
  new Uint8Array(ab)[0] = 0;
  assertEquals(await q.bytes(), new Uint8Array([4, 5]));
  const view = new DataView(new Uint8Array([0, 7, 8, 0]).buffer, 1, 2);
  assertEquals(await new Response(view).bytes(), new Uint8Array([7, 8]));
});

test("body: what a read returns is the caller's own (no shared buffers)", async () => {
  const blob = new Blob(["shared"]);
  const a = new Response(blob);
  const b = a.clone();
  const bytes = await a.bytes();
  bytes[0] = 0;
  assertEquals(await b.text(), "shared");
  assertEquals(await blob.text(), "shared");
});

test("body: clone() of a whole body gives two independent bodies", async () => {
  const r = new Response("c");
  const c = r.clone();
  assertEquals(await c.text(), "c");
  assertEquals([r.bodyUsed, c.bodyUsed], [false, true]);
  assertEquals(await r.text(), "c");
  assertThrows(() => r.clone(), TypeError, "already been used");
});

test("body: blob() carries the Content-Type", async () => {
  const b = await new Response("x", { headers: { "content-type": "Text/Custom" } }).blob();
  assert(b instanceof Blob);
  assertEquals([b.type, b.size, await b.text()], ["text/custom", 1, "x"]);
  assertEquals((await new Response(new Uint8Array([1])).blob()).type, "");
  const q = new Request("http://x/", { method: "POST", body: "q", headers: { "content-type": "a/b" } });
  q.headers.set("content-type", "test/test");
  assertEquals((await q.blob()).type, "test/test");
  await assertRejects(() => q.blob(), TypeError);
});

test("body: each kind of body sets its Content-Type (unless one is given)", async () => {
  assertEquals(new Response("s").headers.get("content-type"), "text/plain;charset=UTF-8");
  assertEquals(new Response(new Blob(["b"], { type: "image/png" })).headers.get("content-type"), "image/png");
  assertEquals(new Response(new Blob(["b"])).headers.get("content-type"), null);
  assertEquals(new Response(new Uint8Array(1)).headers.get("content-type"), null);
  assertEquals(
    new Response(new URLSearchParams("a=1&b=2")).headers.get("content-type"),
    "application/x-www-form-urlencoded;charset=UTF-8",
  );
  const fd = new FormData();
  fd.append("k", "v");
  const type = new Response(fd).headers.get("content-type");
  assert(/^multipart\/form-data; boundary=\S+$/.test(type), type);
  assertEquals(new Response("s", { headers: { "content-type": "x/y" } }).headers.get("content-type"), "x/y");
  const q = new Request("http://x/", { method: "POST", body: new URLSearchParams({ q: "1" }) });
  assertEquals(q.headers.get("content-type"), "application/x-www-form-urlencoded;charset=UTF-8");
  assertEquals(await q.text(), "q=1");
  assertEquals(new Request("http://x/", { method: "POST", body: "t" }).headers.get("content-type"), "text/plain;charset=UTF-8");
});

test("Request: a Request made from another takes its body", async () => {
  const a = new Request("http://x/", { method: "POST", body: "moved" });
  const b = new Request(a);
  assert(a.bodyUsed, "the source's body is used");
  assertEquals(await b.text(), "moved");
  assertThrows(() => new Request(a), TypeError, "already been used");
  // Without a body nothing is used.
  const g = new Request("http://x/");
  new Request(g);
  assertEquals(g.bodyUsed, false);
  // A new body in init leaves the source alone.
  const c = new Request("http://x/", { method: "POST", body: "kept" });
  const d = new Request(c, { body: "other" });
  assertEquals([c.bodyUsed, await d.text(), await c.text()], [false, "other", "kept"]);
});

test("Request: the URL must be absolute, without credentials; it is serialized", () => {
  assertThrows(() => new Request("/relative"), TypeError, "absolute URL");
  assertThrows(() => new Request("not a url"), TypeError);
  assertThrows(() => new Request("http://user:pw@x/"), TypeError, "credentials");
  assertEquals(new Request("HTTP://Example.com/a b").url, "http://example.com/a%20b");
  assertEquals(new Request(new URL("http://h/p?q")).url, "http://h/p?q");
});

test("Request: integrity and keepalive", () => {
  const r = new Request("http://x/");
  assertEquals([r.integrity, r.keepalive], ["", false]);
  const s = new Request("http://x/", { integrity: "sha256-abc", keepalive: true });
  assertEquals([s.integrity, s.keepalive], ["sha256-abc", true]);
  const t = new Request(s);
  assertEquals([t.integrity, t.keepalive], ["sha256-abc", true]);
  assertEquals(new Request(s, { keepalive: false }).keepalive, false);
});

export default { fetch: run };

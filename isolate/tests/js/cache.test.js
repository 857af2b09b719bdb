// The Cache API with the Workers rules (put/match/delete, Cache-Control,
// Set-Cookie, Vary, ignoreMethod, ranges), as workerd's cache tests and the
// Workers docs describe them.
import { test, assert, assertEquals, assertRejects, assertThrows, run } from "./harness.js";

let n = 0;
// A fresh URL per test: the cache outlives each test.
const url = (path = "") => `https://cache.test/${++n}${path}`;
const cacheable = (body, headers = {}) =>
  new Response(body, { headers: { "cache-control": "max-age=60", "content-type": "text/plain", ...headers } });

test("caches.default and caches.open(name) are distinct Cache objects", async () => {
  assert(caches.default instanceof Cache);
  const a = await caches.open("a");
  assert(a instanceof Cache);
  assert(a === (await caches.open("a")), "the same name opens the same cache");
  const u = url();
  await caches.default.put(u, cacheable("default"));
  assertEquals(await a.match(u), undefined, "named caches are apart from the default one");
  await a.put(u, cacheable("named"));
  assertEquals(await (await a.match(u)).text(), "named");
  assertEquals(await (await caches.default.match(u)).text(), "default");
  assertThrows(() => new Cache(), TypeError);
});

test("put then match: status, headers and body come back, with cf-cache-status HIT", async () => {
  const u = url();
  assertEquals(await caches.default.match(u), undefined);
  await caches.default.put(new Request(u), cacheable("hello", { "x-a": "1" }));
  const hit = await caches.default.match(new Request(u));
  assertEquals(hit.status, 200);
  assertEquals(hit.headers.get("x-a"), "1");
  assertEquals(hit.headers.get("cf-cache-status"), "HIT");
  assertEquals(await hit.text(), "hello");
  // Matched again (a hit is not consumed), by URL string too.
  assertEquals(await (await caches.default.match(u)).text(), "hello");
  // The fragment is not part of the key; the query is.
  assertEquals(await (await caches.default.match(u + "#frag")).text(), "hello");
  assertEquals(await caches.default.match(u + "?q"), undefined);
});

test("put: only GET requests; no 206, no Vary: *, no used body", async () => {
  const u = url();
  await assertRejects(() => caches.default.put(new Request(u, { method: "POST", body: "x" }), cacheable("x")), TypeError, "non-GET");
  await assertRejects(() => caches.default.put(u, new Response("x", { status: 206 })), TypeError, "206");
  await assertRejects(() => caches.default.put(u, cacheable("x", { vary: "*" })), TypeError, "Vary: *");
  const used = cacheable("x");
  await used.text();
  await assertRejects(() => caches.default.put(u, used), TypeError, "already been used");
  await assertRejects(() => caches.default.put(u, "not a response"), TypeError);
});

test("Cache-Control: no-store, private, no-cache and no freshness are not kept; s-maxage and Expires are", async () => {
  for (const cc of ["no-store", "private, max-age=60", "no-cache", "max-age=0"]) {
    const u = url();
    await caches.default.put(u, new Response("x", { headers: { "cache-control": cc } }));
    assertEquals(await caches.default.match(u), undefined, cc);
  }
  const bare = url();
  await caches.default.put(bare, new Response("x"));
  assertEquals(await caches.default.match(bare), undefined, "no Cache-Control/Expires");
  const s = url();
  await caches.default.put(s, new Response("s", { headers: { "cache-control": "s-maxage=30" } }));
  assertEquals(await (await caches.default.match(s)).text(), "s");
  const e = url();
  const later = new Date(Date.now() + 3600_000).toUTCString();
  await caches.default.put(e, new Response("e", { headers: { expires: later } }));
  assertEquals(await (await caches.default.match(e)).text(), "e");
  const past = url();
  await caches.default.put(past, new Response("p", { headers: { expires: new Date(0).toUTCString() } }));
  assertEquals(await caches.default.match(past), undefined);
});

test("Set-Cookie: not kept, unless Cache-Control: private=Set-Cookie (then the cookie is dropped)", async () => {
  const u = url();
  await caches.default.put(u, cacheable("c", { "set-cookie": "id=1" }));
  assertEquals(await caches.default.match(u), undefined);
  const v = url();
  await caches.default.put(
    v,
    new Response("c", { headers: { "cache-control": 'max-age=60, private="Set-Cookie"', "set-cookie": "id=1" } }),
  );
  const hit = await caches.default.match(v);
  assertEquals(await hit.text(), "c");
  assertEquals(hit.headers.get("set-cookie"), null);
});

test("Vary: a match needs the same values of the varied request headers", async () => {
  const u = url();
  const gz = new Request(u, { headers: { "accept-encoding": "gzip" } });
  await caches.default.put(gz, cacheable("gzipped", { vary: "Accept-Encoding" }));
  assertEquals(await (await caches.default.match(new Request(u, { headers: { "accept-encoding": "gzip" } }))).text(), "gzipped");
  assertEquals(await caches.default.match(new Request(u, { headers: { "accept-encoding": "br" } })), undefined);
  assertEquals(await caches.default.match(u), undefined);
});

test("match and delete: other methods only with ignoreMethod", async () => {
  const u = url();
  await caches.default.put(u, cacheable("m"));
  const head = new Request(u, { method: "HEAD" });
  assertEquals(await caches.default.match(head), undefined);
  assertEquals(await (await caches.default.match(head, { ignoreMethod: true })).text(), "m");
  assertEquals(await caches.default.delete(new Request(u, { method: "POST" })), false);
  assertEquals(await caches.default.delete(new Request(u, { method: "POST" }), { ignoreMethod: true }), true);
  assertEquals(await caches.default.match(u), undefined);
  assertEquals(await caches.default.delete(u), false, "already gone");
});

test("Range requests are answered from the stored full response", async () => {
  const u = url();
  await caches.default.put(u, cacheable("0123456789"));
  const part = await caches.default.match(new Request(u, { headers: { range: "bytes=2-5" } }));
  assertEquals(part.status, 206);
  assertEquals(part.headers.get("content-range"), "bytes 2-5/10");
  assertEquals(await part.text(), "2345");
  const tail = await caches.default.match(new Request(u, { headers: { range: "bytes=-3" } }));
  assertEquals(await tail.text(), "789");
  const bad = await caches.default.match(new Request(u, { headers: { range: "bytes=20-" } }));
  assertEquals(bad.status, 416);
  assertEquals(bad.headers.get("content-range"), "bytes */10");
  const whole = await caches.default.match(new Request(u, { headers: { range: "bytes=0-1,4-5" } }));
  assertEquals(whole.status, 200, "several ranges: the whole response");
});

test("binary bodies and empty bodies round-trip; a put replaces", async () => {
  const u = url();
  const bytes = new Uint8Array(256).map((_, i) => i);
  await caches.default.put(u, cacheable(bytes));
  assertEquals(new Uint8Array(await (await caches.default.match(u)).arrayBuffer()), bytes);
  await caches.default.put(u, cacheable(""));
  assertEquals(await (await caches.default.match(u)).text(), "");
  const nc = url();
  await caches.default.put(nc, new Response(null, { status: 204, headers: { "cache-control": "max-age=9" } }));
  const r = await caches.default.match(nc);
  assertEquals([r.status, r.body], [204, null]);
});

test("a body over the entry limit is refused with a TypeError", async () => {
  const big = new Uint8Array(33 << 20);
  await assertRejects(() => caches.default.put(url(), cacheable(big)), TypeError, "entry limit");
});

export default { fetch: run };

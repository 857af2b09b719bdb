// URL, TextEncoder/TextDecoder, crypto, performance, structuredClone.
import { test, assert, assertEquals, assertThrows, run } from "./harness.js";

test("URL: components, relative resolution, normalization", () => {
  const u = new URL("https://user:pw@Example.COM:8443/a/../b/c?x=1&y=2#frag");
  assertEquals(u.protocol, "https:");
  assertEquals(u.username, "user");
  assertEquals(u.password, "pw");
  assertEquals(u.hostname, "example.com");
  assertEquals(u.port, "8443");
  assertEquals(u.host, "example.com:8443");
  assertEquals(u.origin, "https://example.com:8443");
  assertEquals(u.pathname, "/b/c");
  assertEquals(u.search, "?x=1&y=2");
  assertEquals(u.hash, "#frag");
  assertEquals(new URL("../d?q", "http://h/a/b/c").href, "http://h/a/d?q");
  assertEquals(new URL("http://h:80/").port, "", "default port is elided");
  assertEquals(new URL("http://h/ä b").pathname, "/%C3%A4%20b");
  assertEquals(String(new URL("HTTP://H/")), "http://h/");
  assertEquals(JSON.stringify({ u: new URL("http://h/") }), '{"u":"http://h/"}');
});

test("URL: every component at the edges (IPv6, empty query and fragment, no host, origins)", () => {
  const v6 = new URL("http://[::1]:8080/p");
  assertEquals([v6.hostname, v6.host, v6.port, v6.origin], ["[::1]", "[::1]:8080", "8080", "http://[::1]:8080"]);
  const bare = new URL("http://h/p?#");
  assertEquals([bare.search, bare.hash, bare.href], ["", "", "http://h/p?#"]);
  const data = new URL("data:text/plain,hi");
  assertEquals([data.protocol, data.host, data.hostname, data.pathname, data.origin], ["data:", "", "", "text/plain,hi", "null"]);
  const mail = new URL("mailto:a@b.c?subject=x");
  assertEquals([mail.pathname, mail.search, mail.username], ["a@b.c", "?subject=x", ""]);
  const u = new URL("http://user@h/");
  assertEquals([u.username, u.password], ["user", ""]);
  assertEquals(u.origin, "http://h");
  u.host = "other:81";
  assertEquals(u.origin, "http://other:81", "a setter changes the origin");
  assertEquals(Object.keys(Object.getOwnPropertyDescriptors(URL.prototype)).filter((k) => k !== "constructor" && typeof k === "string").includes("origin"), true);
});

test("URL: invalid input is a TypeError; canParse and parse", () => {
  assertThrows(() => new URL("not a url"), TypeError, "Invalid URL");
  assertThrows(() => new URL("/relative"), TypeError);
  assertThrows(() => new URL("http://[::1"), TypeError);
  assert(URL.canParse("/x", "http://h/"));
  assert(!URL.canParse("/x"));
  assertEquals(URL.parse("nope"), null);
  assertEquals(URL.parse("/p", "http://h").href, "http://h/p");
});

test("URL: setters follow the spec, including ignored ones", () => {
  const u = new URL("http://h/p?q#f");
  u.pathname = "/a b";
  assertEquals(u.pathname, "/a%20b");
  u.search = "x=1";
  assertEquals(u.search, "?x=1");
  u.hash = "";
  assertEquals(u.href, "http://h/a%20b?x=1");
  u.port = "99999"; // out of range: ignored
  assertEquals(u.port, "");
  u.port = "8080";
  assertEquals(u.host, "h:8080");
  u.protocol = "ftp";
  assertEquals(u.protocol, "ftp:");
  assertThrows(() => (u.href = "::bad"), TypeError);
});

test("URL: searchParams reads and writes the query", () => {
  const u = new URL("http://h/p?a=1&b=x+y");
  assertEquals(u.searchParams.get("a"), "1");
  assertEquals(u.searchParams.get("b"), "x y");
  u.searchParams.append("c", "ä&");
  assertEquals(u.search, "?a=1&b=x+y&c=%C3%A4%26");
  u.searchParams.delete("a");
  u.searchParams.delete("b");
  u.searchParams.delete("c");
  assertEquals(u.href, "http://h/p");
  u.search = "?z=9";
  assertEquals(u.searchParams.get("z"), "9");
});

test("TextEncoder: encode and encodeInto", () => {
  const e = new TextEncoder();
  assertEquals(e.encoding, "utf-8");
  assertEquals(e.encode("é€😀"), new Uint8Array([0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80]));
  assertEquals(e.encode(), new Uint8Array([]));
  const dst = new Uint8Array(5);
  const r = e.encodeInto("a€😀", dst);
  // "a" (1 byte) and "€" (3 bytes) fit; the emoji (4 bytes) does not.
  assertEquals(r, { read: 2, written: 4 });
  assertEquals(dst.slice(0, 4), new Uint8Array([0x61, 0xe2, 0x82, 0xac]));
});

test("TextDecoder: split multi-byte sequences across stream chunks", () => {
  const bytes = new TextEncoder().encode("h€llo😀!");
  const d = new TextDecoder();
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += d.decode(bytes.subarray(i, i + 1), { stream: true });
  out += d.decode();
  assertEquals(out, "h€llo😀!");
});

test("TextDecoder: BOM, fatal, replacement, labels", () => {
  assertEquals(new TextDecoder().decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x41])), "A");
  assertEquals(new TextDecoder("utf-8", { ignoreBOM: true }).decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x41])), "\ufeffA");
  assertEquals(new TextDecoder().decode(new Uint8Array([0x41, 0xff, 0x42])), "A\ufffdB");
  assertThrows(() => new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array([0xff])), TypeError, "not valid");
  // A truncated sequence at the end of a non-streaming decode is an error too.
  assertThrows(() => new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array([0xe2, 0x82])), TypeError);
  assertEquals(new TextDecoder(" Latin1 ").encoding, "windows-1252");
  assertEquals(new TextDecoder("windows-1252").decode(new Uint8Array([0x80])), "€");
  assertEquals(new TextDecoder("utf-16le").decode(new Uint8Array([0x41, 0x00])), "A");
  assertThrows(() => new TextDecoder("no-such-encoding"), RangeError);
  assertThrows(() => new TextDecoder().decode("string"), TypeError);
  // The decoder is reusable after a non-streaming decode.
  const d = new TextDecoder();
  d.decode(new Uint8Array([0xe2]), { stream: true });
  assertEquals(d.decode(new Uint8Array([0x82, 0xac])), "€");
  assertEquals(d.decode(new Uint8Array([0x41])), "A");
});

test("crypto: getRandomValues and randomUUID", () => {
  const a = crypto.getRandomValues(new Uint8Array(64));
  assert(a.some((x) => x !== 0), "random bytes are not all zero");
  const w = crypto.getRandomValues(new Uint32Array(4));
  assertEquals(w.length, 4);
  assertEquals(assertThrows(() => crypto.getRandomValues(new Float32Array(4)), DOMException).name, "TypeMismatchError");
  assertThrows(() => crypto.getRandomValues(new Uint8Array(65537)));
  const id = crypto.randomUUID();
  assert(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id), id);
  assert(crypto.randomUUID() !== id);
});

test("performance.now is monotonic; timeOrigin is wall-clock ms", async () => {
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, 5));
  const t1 = performance.now();
  assert(t1 - t0 >= 4, `${t1 - t0}`);
  assert(Math.abs(performance.timeOrigin + performance.now() - Date.now()) < 1000);
});

test("structuredClone: deep copies with cycles and shared references", () => {
  const shared = { n: 1 };
  const src = {
    d: new Date(5),
    r: /a+/gi,
    m: new Map([[1, shared]]),
    s: new Set([shared]),
    u8: new Uint8Array([1, 2, 3]),
    arr: [shared, shared],
    e: new RangeError("bad"),
  };
  src.self = src;
  const c = structuredClone(src);
  assert(c !== src);
  assert(c.self === c, "cycle preserved");
  assertEquals(c.d.getTime(), 5);
  assertEquals(c.r.flags, "gi");
  assert(c.arr[0] === c.arr[1], "shared reference preserved");
  assert(c.arr[0] !== shared);
  assert(c.m.get(1) === c.arr[0]);
  assertEquals(c.u8, new Uint8Array([1, 2, 3]));
  c.u8[0] = 9;
  assertEquals(src.u8[0], 1);
  assert(c.e instanceof RangeError);
  assertEquals(c.e.message, "bad");
  assertThrows(() => structuredClone(() => 1));
  assertThrows(() => structuredClone({ s: Symbol("x") }));
});

export default { fetch: run };

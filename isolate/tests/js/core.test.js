// Headers, Request, Response, console and timers.
import { test, assert, assertEquals, assertThrows, assertRejects, run } from "./harness.js";

test("Headers: names are case-insensitive and values combine", () => {
  const h = new Headers({ "Content-Type": "text/plain" });
  h.append("X-A", "1");
  h.append("x-a", "2");
  assertEquals(h.get("content-type"), "text/plain");
  assertEquals(h.get("X-A"), "1, 2");
  assert(h.has("x-A"));
  h.set("x-a", "3");
  assertEquals(h.get("x-a"), "3");
  h.delete("X-A");
  assertEquals(h.get("x-a"), null);
});

test("Headers: invalid names and values are TypeErrors", () => {
  assertThrows(() => new Headers({ "bad name": "x" }), TypeError, "invalid header name");
  assertThrows(() => new Headers().set("x", "a\r\nb"), TypeError, "invalid header value");
  assertThrows(() => new Headers([["only-one"]]), TypeError);
});

test("Headers: set-cookie stays separate; iteration is sorted", () => {
  const h = new Headers([["Set-Cookie", "a=1"], ["set-cookie", "b=2"], ["B", "x"], ["a", "y"]]);
  assertEquals(h.getSetCookie(), ["a=1", "b=2"]);
  assertEquals([...h], [["a", "y"], ["b", "x"], ["set-cookie", "a=1"], ["set-cookie", "b=2"]]);
});

test("Headers: values are trimmed", () => {
  assertEquals(new Headers({ a: "  v \t" }).get("a"), "v");
});

test("Response: defaults, json, redirect, status checks", async () => {
  const r = new Response("hi");
  assertEquals(r.status, 200);
  assert(r.ok);
  assertEquals(r.headers.get("content-type"), "text/plain;charset=UTF-8");
  assertEquals(await r.text(), "hi");
  await assertRejects(() => r.text(), TypeError, "already been used");
  const j = Response.json({ a: 1 }, { status: 201 });
  assertEquals(j.status, 201);
  assertEquals(j.headers.get("content-type"), "application/json");
  assertEquals(await j.json(), { a: 1 });
  // A content type of init's wins; init's Headers are copied, not changed.
  const h = new Headers({ "x-a": "1" });
  const j2 = Response.json([1], { headers: h });
  assertEquals([j2.headers.get("content-type"), j2.headers.get("x-a"), h.has("content-type")], ["application/json", "1", false]);
  assertEquals(Response.json(null, { headers: { "Content-Type": "application/vnd.x+json" } }).headers.get("content-type"), "application/vnd.x+json");
  assertThrows(() => Response.json(undefined), TypeError, "not JSON-serializable");
  assertEquals(new Response("t").headers.get("content-type"), "text/plain;charset=UTF-8", "the next Response is typed as usual");
  h.set("x-b", "2");
  const r2 = new Response("x", { headers: h });
  h.set("x-c", "3");
  assertEquals([r2.headers.get("x-b"), r2.headers.has("x-c")], ["2", false], "a Response copies the Headers it was given");
  const red = Response.redirect("https://example.com/", 301);
  assertEquals(red.headers.get("location"), "https://example.com/");
  assertThrows(() => Response.redirect("/", 200), RangeError);
  assertThrows(() => new Response("x", { status: 99 }), RangeError);
  assertThrows(() => new Response("x", { status: 204 }), TypeError);
});

test("Response: byte bodies", async () => {
  const r = new Response(new Uint8Array([1, 2, 3]));
  assertEquals(new Uint8Array(await r.arrayBuffer()), new Uint8Array([1, 2, 3]));
});

test("Response/Request: a whole body is a real ReadableStream once looked at", async () => {
  const r = new Response("héllo");
  const clone = r.clone();
  assert(r.body instanceof ReadableStream);
  assert(r.body === r.body, "the same stream each time");
  const reader = r.body.getReader();
  const { value, done } = await reader.read();
  assertEquals([done, new TextDecoder().decode(value)], [false, "héllo"]);
  assertEquals((await reader.read()).done, true);
  assertEquals(await clone.text(), "héllo", "the clone keeps its own body");
  await assertRejects(() => r.text(), TypeError, "locked");
  const bytes = new Response(new Uint8Array([1, 2]));
  assertEquals(new Uint8Array(await new Response(bytes.body).arrayBuffer()), new Uint8Array([1, 2]));
  const req = new Request("http://x/", { method: "POST", body: "abc" });
  assert(req.body instanceof ReadableStream);
  assertEquals(await req.text(), "abc");
  assertEquals(new Response(null).body, null);
  assertEquals(new Response("").body instanceof ReadableStream, true);
});

test("Request: method normalization and GET bodies", () => {
  assertEquals(new Request("http://x/", { method: "post", body: "b" }).method, "POST");
  assertEquals(new Request("http://x/", { method: "PaTcH" }).method, "PaTcH");
  assertThrows(() => new Request("http://x/", { method: "GET", body: "b" }), TypeError);
  assertThrows(() => new Request("http://x/", { method: "bad method" }), TypeError);
});

test("timers: setTimeout order, clearTimeout, setInterval", async () => {
  const seen = [];
  const t = setTimeout(() => seen.push("cleared"), 1);
  clearTimeout(t);
  await new Promise((r) => setTimeout(() => { seen.push("a"); r(); }, 5));
  let n = 0;
  await new Promise((r) => {
    const i = setInterval(() => {
      n++;
      if (n === 3) { clearInterval(i); r(); }
    }, 1);
  });
  assertEquals(seen, ["a"]);
  assertEquals(n, 3);
});

test("setTimeout rejects a non-function", () => {
  assertThrows(() => setTimeout("code", 1), TypeError);
});

export default {
  async fetch(request, env, ctx) {
    test("incoming request: url, method, headers", () => {
      assertEquals(request.method, "GET");
      assert(request.url.startsWith("http://"), request.url);
      assertThrows(() => request.headers.set("x", "y"), TypeError, "immutable");
      assertEquals(typeof ctx.waitUntil, "function");
    });
    return run();
  },
};

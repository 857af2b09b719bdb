// URLPattern (the URL Pattern standard): constructor forms, component
// patterns as read back, matching with named, wildcard, optional and regexp
// groups, base URLs, ignoreCase, and errors.
import { test, assert, assertEquals, assertThrows, run } from "./harness.js";

test("URLPattern: a pathname pattern with named groups", () => {
  const p = new URLPattern({ pathname: "/books/:id" });
  assert(p.test("https://example.com/books/123"));
  assert(!p.test("https://example.com/books"));
  assert(!p.test("https://example.com/books/1/2"));
  const m = p.exec("https://example.com/books/123?x=1");
  assertEquals(m.pathname, { input: "/books/123", groups: { id: "123" } });
  assertEquals(m.search.input, "x=1");
  assertEquals(m.inputs, ["https://example.com/books/123?x=1"]);
  assertEquals(p.exec("https://example.com/authors/1"), null);
});

test("URLPattern: components read back; unspecified ones are wildcards", () => {
  const p = new URLPattern({ hostname: "{*.}?example.com", pathname: "/a/*" });
  assertEquals(
    [p.protocol, p.username, p.password, p.hostname, p.port, p.pathname, p.search, p.hash],
    ["*", "*", "*", "{*.}?example.com", "*", "/a/*", "*", "*"],
  );
  assert(p.test("http://api.example.com/a/b/c"));
  assert(p.test("https://example.com/a/"));
  assertEquals(p.exec("https://x.example.com/a/b/c").pathname.groups, { 0: "b/c" });
  assertEquals(p.hasRegExpGroups, false);
});

test("URLPattern: a pattern string with a base URL, and match inputs with a base", () => {
  const p = new URLPattern("/users/:user/repos{/:repo}?", "https://github.example");
  assertEquals([p.protocol, p.hostname, p.pathname], ["https", "github.example", "/users/:user/repos/:repo?"]);
  assertEquals(p.exec("https://github.example/users/ann/repos").pathname.groups, { user: "ann", repo: undefined });
  const m = p.exec("/users/ann/repos/x", "https://github.example");
  assertEquals(m.pathname.groups, { user: "ann", repo: "x" });
  assertEquals(m.inputs, ["/users/ann/repos/x", "https://github.example"]);
  assert(!p.test("https://other.example/users/ann/repos"));
  assertThrows(() => new URLPattern("/no/base"), TypeError);
});

test("URLPattern: full pattern strings, ports, search and hash", () => {
  // (A "?" right after a group would make it optional: the path goes on.)
  const p = new URLPattern("http{s}?://*.shop.test:8080/items/:sku(\\d+)/view?q=*#frag");
  assertEquals([p.pathname, p.search, p.hash, p.port], ["/items/:sku(\\d+)/view", "q=*", "frag", "8080"]);
  assert(p.test("https://a.shop.test:8080/items/42/view?q=z#frag"));
  assert(!p.test("https://a.shop.test:8080/items/abc/view?q=z#frag"));
  assert(!p.test("https://a.shop.test:9090/items/42/view?q=z#frag"));
  assertEquals(p.exec("http://b.shop.test:8080/items/7/view?q=#frag").pathname.groups, { sku: "7" });
  assertEquals(p.hasRegExpGroups, true);
});

test("URLPattern: init objects as match input, and ignoreCase", () => {
  const p = new URLPattern({ pathname: "/Case/:x" }, { ignoreCase: true });
  assert(p.test({ pathname: "/case/1" }));
  assert(p.test("https://h/CASE/2"));
  const strict = new URLPattern({ pathname: "/Case/:x" });
  assert(!strict.test({ pathname: "/case/1" }));
  assertEquals(strict.exec({ pathname: "/Case/1" }).inputs, [{ pathname: "/Case/1" }]);
  assertThrows(() => strict.test({ pathname: "/x" }, "https://base/"), TypeError);
});

test("URLPattern: canonicalizes inputs and patterns", () => {
  const p = new URLPattern({ pathname: "/caf%C3%A9" });
  assert(p.test("https://h/café"));
  assertEquals(new URLPattern({ protocol: "HTTPS" }).protocol, "https");
  assertEquals(new URLPattern({ port: "443", protocol: "https" }).port, "");
  assertEquals(p.test("not a url"), false, "an input that is not a URL matches nothing");
});

test("URLPattern: bad patterns are TypeErrors", () => {
  assertThrows(() => new URLPattern({ pathname: "/:" }), TypeError);
  assertThrows(() => new URLPattern({ pathname: "/(unclosed" }), TypeError);
  assertThrows(() => new URLPattern({ pathname: "/([)" }), TypeError);
  assertThrows(() => new URLPattern({ pathname: "/a" }, "https://base/"), TypeError);
  assertThrows(() => URLPattern.prototype.test.call({}, "http://h/"), TypeError);
  assertEquals(Object.prototype.toString.call(new URLPattern()), "[object URLPattern]");
});

export default { fetch: run };

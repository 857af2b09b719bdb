// HTMLRewriter: Cloudflare's API on lol_html (what workerd's
// htmlrewriter-test.js and the Workers docs cover).
import { test, assert, assertEquals, assertThrows, assertRejects, run } from "./harness.js";

const enc = new TextEncoder();

// A response whose body arrives in these chunks.
function chunked(chunks, headers = { "content-type": "text/html; charset=utf-8" }) {
  const body = new ReadableStream({
    start(c) {
      for (const ch of chunks) c.enqueue(enc.encode(ch));
      c.close();
    },
  });
  return new Response(body, { headers });
}

function rewrite(build, chunks) {
  const rw = build(new HTMLRewriter());
  return rw.transform(chunked(Array.isArray(chunks) ? chunks : [chunks])).text();
}

test("element: attributes get/has/set/remove, tagName, namespaceURI", async () => {
  const seen = [];
  const out = await rewrite(
    (r) =>
      r.on("a[href]", {
        element(el) {
          seen.push(el.tagName, el.namespaceURI, el.getAttribute("href"), el.hasAttribute("x"), el.getAttribute("x"));
          seen.push([...el.attributes]);
          el.setAttribute("href", "https://example.com" + el.getAttribute("href"));
          el.setAttribute("rel", "nofollow");
          el.removeAttribute("class");
          el.tagName = "span";
        },
      }),
    ['<p><a class="c" href="/x">link</a><a>no</a></p>'],
  );
  assertEquals(out, '<p><span href="https://example.com/x" rel="nofollow">link</span><a>no</a></p>');
  assertEquals(seen, ["a", "http://www.w3.org/1999/xhtml", "/x", false, null, [["class", "c"], ["href", "/x"]]]);
});

test("element: before/after/prepend/append/replace/setInnerContent, text vs { html: true }", async () => {
  const out = await rewrite(
    (r) =>
      r
        .on("#a", {
          element(el) {
            el.before("<i>b</i>", { html: true });
            el.after("<after>");
            el.prepend("[");
            el.append("]");
          },
        })
        .on("#b", { element: (el) => el.setInnerContent("<em>new</em>", { html: true }) })
        .on("#c", { element: (el) => el.replace("gone & done") }),
    ['<div id="a">x</div><div id="b"><span>old</span></div><div id="c">c</div>'],
  );
  assertEquals(
    out,
    '<i>b</i><div id="a">[x]</div>&lt;after&gt;<div id="b"><em>new</em></div>gone &amp; done',
  );
});

test("element: remove and removeAndKeepContent; removed", async () => {
  const flags = [];
  const out = await rewrite(
    (r) =>
      r.on("b", {
        element(el) {
          flags.push(el.removed);
          el.remove();
          flags.push(el.removed);
        },
      }).on("i", { element: (el) => el.removeAndKeepContent() }),
    ["<p>1<b>2</b>3<i>4</i>5</p>"],
  );
  assertEquals(out, "<p>1345</p>");
  assertEquals(flags, [false, true]);
});

test("selectors: descendant, attribute operators, :nth-child, :not; a bad one throws at on()", async () => {
  const tags = [];
  await rewrite(
    (r) =>
      r
        .on("ul > li:nth-child(2)", { element: (el) => tags.push("2nd") })
        .on('img[src$=".png"]', { element: (el) => tags.push(el.getAttribute("src")) })
        .on("p:not(.x)", { element: (el) => tags.push("p") }),
    ['<ul><li>1</li><li>2</li></ul><img src="a.png"><img src="b.jpg"><p class="x"></p><p></p>'],
  );
  assertEquals(tags, ["2nd", "a.png", "p"]);
  assertThrows(() => new HTMLRewriter().on("p:::", {}), TypeError, "Invalid selector");
  assertThrows(() => new HTMLRewriter().on("p", null), TypeError);
});

test("text chunks: text, lastInTextNode, replace; split across input chunks", async () => {
  const parts = [];
  const out = await rewrite(
    (r) =>
      r.on("p", {
        text(t) {
          parts.push([t.text, t.lastInTextNode]);
          if (t.text.includes("world")) t.replace(t.text.replace("world", "there"));
        },
      }),
    ["<p>hello ", "world</p>"],
  );
  assertEquals(out, "<p>hello there</p>");
  const joined = parts.map((p) => p[0]).join("");
  assertEquals(joined, "hello world");
  assertEquals(parts[parts.length - 1], ["", true], "the last chunk of a text node is flagged");
});

test("comments: text get/set, replace, remove, before/after", async () => {
  const out = await rewrite(
    (r) =>
      r.onDocument({
        comments(c) {
          if (c.text === "drop") c.remove();
          else if (c.text === "swap") c.replace("<b>s</b>", { html: true });
          else {
            c.text = c.text.toUpperCase();
            c.after("!");
          }
        },
      }),
    ["<!--drop--><!--swap--><!--keep-->"],
  );
  assertEquals(out, "<b>s</b><!--KEEP-->!");
});

test("onDocument: doctype fields and the end handler", async () => {
  let doctype;
  const out = await rewrite(
    (r) =>
      r.onDocument({
        doctype(d) {
          doctype = [d.name, d.publicId, d.systemId];
        },
        end(end) {
          end.append("<!-- served by ringworker -->", { html: true });
        },
      }),
    ['<!DOCTYPE html PUBLIC "-//W3C//DTD HTML 4.01//EN" "http://www.w3.org/TR/html4/strict.dtd"><p>x</p>'],
  );
  assertEquals(doctype, ["html", "-//W3C//DTD HTML 4.01//EN", "http://www.w3.org/TR/html4/strict.dtd"]);
  assert(out.endsWith("<p>x</p><!-- served by ringworker -->"), out);
});

test("onEndTag: name, before/after, remove; a void element refuses it", async () => {
  let voidError;
  const out = await rewrite(
    (r) =>
      r
        .on("span", {
          element(el) {
            el.onEndTag((end) => {
              assertEquals(end.name, "span");
              end.before("?");
              end.after("!");
              end.name = "SPAN";
            });
          },
        })
        .on("br", {
          element(el) {
            try {
              el.onEndTag(() => {});
            } catch (e) {
              voidError = e;
            }
          },
        }),
    ["<span>hi</span><br>"],
  );
  assertEquals(out, "<span>hi?</SPAN>!<br>");
  assert(voidError instanceof TypeError, `${voidError}`);
});

test("async handlers: the parser waits for the promise (timers included)", async () => {
  const order = [];
  const out = await rewrite(
    (r) =>
      r.on("x-slot", {
        async element(el) {
          order.push("start " + el.getAttribute("n"));
          await new Promise((resolve) => setTimeout(resolve, 5));
          el.replace(`<b>${el.getAttribute("n")}</b>`, { html: true });
          order.push("end " + el.getAttribute("n"));
        },
      }),
    ['<p><x-slot n="1"></x-slot>', '<x-slot n="2"></x-slot></p>'],
  );
  assertEquals(out, "<p><b>1</b><b>2</b></p>");
  assertEquals(order, ["start 1", "end 1", "start 2", "end 2"]);
});

test("handlers are called with their object as this", async () => {
  class Counter {
    constructor() {
      this.n = 0;
    }
    element() {
      this.n++;
    }
  }
  const c = new Counter();
  await rewrite((r) => r.on("li", c), ["<li></li><li></li><li></li>"]);
  assertEquals(c.n, 3);
});

test("a token used after its handler returned is refused", async () => {
  let kept;
  await rewrite((r) => r.on("p", { element: (el) => void (kept = el) }), ["<p></p><p></p>"]);
  assertThrows(() => kept.getAttribute("x"), TypeError, "no longer valid");
  assertThrows(() => kept.tagName, TypeError, "no longer valid");
});

test("a throwing handler errors the body with its exception; so does a rejecting one", async () => {
  const sync = new HTMLRewriter().on("p", {
    element() {
      throw new RangeError("boom");
    },
  });
  await assertRejects(() => sync.transform(chunked(["<p>x</p>"])).text(), RangeError, "boom");
  const asyncOne = new HTMLRewriter().on("p", {
    async element() {
      await null;
      throw new SyntaxError("later");
    },
  });
  await assertRejects(() => asyncOne.transform(chunked(["<p>x</p>"])).text(), SyntaxError, "later");
});

test("transform: keeps status and headers, drops content-length; a null body passes through", async () => {
  const src = new Response("<p>hi</p>", { status: 404, headers: { "content-type": "text/html", "content-length": "9", "x-a": "1" } });
  const out = new HTMLRewriter().on("p", { element: (el) => el.setAttribute("class", "c") }).transform(src);
  assertEquals(out.status, 404);
  assertEquals(out.headers.get("x-a"), "1");
  assertEquals(out.headers.get("content-length"), null);
  assertEquals(await out.text(), '<p class="c">hi</p>');
  const empty = new HTMLRewriter().transform(new Response(null, { status: 204 }));
  assertEquals(empty.status, 204);
  assertEquals(empty.body, null);
  assertThrows(() => new HTMLRewriter().transform("nope"), TypeError);
  assertThrows(() => new HTMLRewriter().transform(Response.error()), TypeError, "error response");
});

test("transform: non-UTF-8 documents by their charset; an unsupported one is a TypeError", async () => {
  const latin1 = new Uint8Array([0x3c, 0x70, 0x3e, 0xe9, 0x3c, 0x2f, 0x70, 0x3e]); // <p>é</p>
  let text;
  const out = new HTMLRewriter()
    .on("p", { text: (t) => void (text = (text || "") + t.text) })
    .transform(new Response(latin1, { headers: { "content-type": "text/html; charset=windows-1252" } }));
  const bytes = new Uint8Array(await out.arrayBuffer());
  assertEquals(bytes, latin1, "bytes pass through in their encoding");
  assertEquals(text, "é");
  const utf16 = new Response("<p>x</p>", { headers: { "content-type": "text/html; charset=utf-16" } });
  assertThrows(() => new HTMLRewriter().transform(utf16), TypeError, "Unsupported encoding");
});

test("streaming: output comes out as input goes in (backpressure: nothing is parsed unread)", async () => {
  let pulled = 0;
  let parsed = 0;
  const src = new ReadableStream(
    {
      pull(c) {
        pulled++;
        if (pulled > 3) return c.close();
        c.enqueue(enc.encode(`<p>${pulled}</p>`));
      },
    },
    { highWaterMark: 0 },
  );
  const out = new HTMLRewriter().on("p", { element: () => void parsed++ }).transform(new Response(src));
  await new Promise((r) => setTimeout(r, 5));
  assertEquals(parsed, 0, "nothing parsed before the body is read");
  const reader = out.body.getReader();
  const first = await reader.read();
  assertEquals(new TextDecoder().decode(first.value), "<p>1</p>");
  assert(pulled <= 2, `pulled ${pulled}`);
  let rest = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    rest += new TextDecoder().decode(value);
  }
  assertEquals(rest, "<p>2</p><p>3</p>");
  assertEquals(parsed, 3);
});

test("cancelling the rewritten body cancels the source", async () => {
  let cancelled;
  const src = new ReadableStream({
    pull(c) {
      c.enqueue(enc.encode("<p>x</p>"));
    },
    cancel(reason) {
      cancelled = reason;
    },
  });
  const out = new HTMLRewriter().on("p", { element() {} }).transform(new Response(src));
  const reader = out.body.getReader();
  await reader.read();
  await reader.cancel("enough");
  assertEquals(cancelled, "enough");
});

test("a 100 KiB document with many handler calls", async () => {
  const row = '<tr><td class="n">1</td><td><a href="/item">item</a></td></tr>';
  let html = "<table>";
  while (html.length < 100 * 1024) html += row;
  html += "</table>";
  let links = 0;
  const out = await new HTMLRewriter()
    .on("a", {
      element(el) {
        links++;
        el.setAttribute("href", "/x" + el.getAttribute("href"));
      },
    })
    .on("td.n", { text: (t) => t.text && t.replace("2") })
    .transform(new Response(html))
    .text();
  assert(links > 1000, `${links}`);
  assertEquals(out.length, html.length + 2 * links);
  assert(!out.includes('href="/item"'));
});

export default { fetch: run };

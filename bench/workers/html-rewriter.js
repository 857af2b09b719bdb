// HTMLRewriter on a ~100 KiB page, for bench/scripts/html-rewriter.sh: the
// same script on ringworker and workerd. The page is built once and served
// as one body; each request rewrites it whole: every link (attribute get and
// set), every image (attribute set), the title's text, and a footer.
//   GET /        the rewritten page
//   GET /plain   the page as is (the cost of serving it without rewriting)
const ROW = (i) =>
  `<tr><td class="id">${i}</td><td><a href="http://shop.example/item/${i}">Item ${i}</a></td><td><img src="/img/${i}.png" alt="item ${i}"></td></tr>\n`;
let page = "<!DOCTYPE html><html><head><title>Catalogue</title></head><body><table>\n";
for (let i = 0; page.length < 100 * 1024; i++) page += ROW(i);
page += "</table><!-- end --></body></html>\n";
const bytes = new TextEncoder().encode(page);

export default {
  fetch(request) {
    const plain = new Response(bytes, { headers: { "content-type": "text/html; charset=utf-8" } });
    if (new URL(request.url).pathname === "/plain") return plain;
    return new HTMLRewriter()
      .on("a[href]", {
        element(el) {
          el.setAttribute("href", el.getAttribute("href").replace("http://", "https://"));
        },
      })
      .on("img", {
        element(el) {
          el.setAttribute("loading", "lazy");
        },
      })
      .on("title", {
        text(t) {
          if (t.lastInTextNode) t.after(" (rewritten)");
        },
      })
      .onDocument({
        end(end) {
          end.append("<!-- rewritten -->", { html: true });
        },
      })
      .transform(plain);
  },
};

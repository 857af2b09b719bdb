// HTMLRewriter in front of an origin: the page is fetched and rewritten as
// it streams through, never held whole.
//
//   ringworker serve --config examples/html-rewriter/wrangler.toml
//   curl localhost:8080/              # the rewritten catalogue
//   curl localhost:8080/origin/       # what the origin sends
//
// - links to http:// become https://;
// - <x-include src="name"> is replaced by a fragment fetched from the origin
//   (an async handler: the parser waits for the fetch);
// - images get loading="lazy", the title a suffix, the document a footer.
import { catalogue, fragments } from "./pages.js";

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname.startsWith("/origin/")) return origin(url);
    const upstream = await fetch(new URL(`/origin${url.pathname}${url.search}`, url));
    return rewrite(upstream, url, env.SITE_NAME || "ringworker");
  },
};

// The origin: catalogue pages (`?rows=N`) and fragments.
function origin(url) {
  const path = url.pathname.slice("/origin".length);
  if (path.startsWith("/fragments/")) {
    const f = fragments[path.slice("/fragments/".length)];
    return f === undefined ? new Response("no such fragment", { status: 404 }) : new Response(f, { headers: { "content-type": "text/html" } });
  }
  const rows = Math.min(Number(url.searchParams.get("rows") || 20), 100000);
  return new Response(catalogue(rows), { headers: { "content-type": "text/html; charset=utf-8" } });
}

function rewrite(response, url, site) {
  return new HTMLRewriter()
    .on('a[href^="http://"]', {
      element(el) {
        el.setAttribute("href", "https://" + el.getAttribute("href").slice("http://".length));
      },
    })
    .on("x-include[src]", {
      async element(el) {
        const r = await fetch(new URL(`/origin/fragments/${el.getAttribute("src")}`, url));
        el.replace(r.ok ? await r.text() : `<!-- include ${el.getAttribute("src")}: ${r.status} -->`, { html: true });
      },
    })
    .on("img:not([loading])", {
      element(el) {
        el.setAttribute("loading", "lazy");
      },
    })
    .on("title", {
      text(t) {
        if (t.lastInTextNode) t.after(` · ${site}`);
      },
    })
    .onDocument({
      comments(c) {
        c.remove();
      },
      end(end) {
        end.append(`<!-- rewritten by ${site} -->\n`, { html: true });
      },
    })
    .transform(response);
}

// The cost of a Cache API hit, for bench/scripts/cache-hit.sh:
//   GET /plain   a 1 KiB response made per request (the baseline)
//   GET /hit     the same response from caches.default (one key; the
//                first request stores it)
const body = "x".repeat(1024);
const KEY = "https://cache-bench.example/item";

function make() {
  return new Response(body, { headers: { "content-type": "text/plain", "cache-control": "max-age=3600" } });
}

export default {
  async fetch(request) {
    if (new URL(request.url).pathname === "/plain") return make();
    const hit = await caches.default.match(KEY);
    if (hit !== undefined) return hit;
    await caches.default.put(KEY, make());
    return make();
  },
};

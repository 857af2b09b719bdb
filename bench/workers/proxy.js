// The proxy benchmark's worker (bench/scripts/proxy.sh): forwards every
// request to the upstream origin in the `UPSTREAM` env var
// (`ringworker serve bench/workers/proxy.js --var UPSTREAM=http://127.0.0.1:PORT`),
// keeping the path and query.
//
//   /anything        return fetch(...): the upstream body is forwarded
//                    natively, it never enters JS.
//   /buffer/anything the same upstream request, but the body is read whole
//                    into an ArrayBuffer and sent in a new Response: what
//                    touching the body costs.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname.startsWith("/buffer/")) {
      const target = env.UPSTREAM + url.pathname.slice("/buffer".length) + url.search;
      const r = await fetch(target, request);
      return new Response(await r.arrayBuffer(), { status: r.status });
    }
    return fetch(env.UPSTREAM + url.pathname + url.search, request);
  },
};

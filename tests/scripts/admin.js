// The admin listener end to end (tests/admin.rs): each route makes one
// thing the metrics, /stats, the dashboard and tail clients must show.
import { DurableObject } from "cloudflare:workers";

export class Counter extends DurableObject {
  async fetch() {
    const n = ((await this.ctx.storage.get("n")) ?? 0) + 1;
    await this.ctx.storage.put("n", n);
    return new Response(String(n));
  }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    switch (url.pathname) {
      case "/ok":
        return new Response("ok");
      case "/missing":
        return new Response("not here", { status: 404 });
      case "/throw":
        console.log("about to throw", url.searchParams.get("id"));
        throw new Error("boom " + url.searchParams.get("id"));
      case "/reject":
        // An unhandled rejection besides the response.
        Promise.reject(new TypeError("nobody listens"));
        return new Response("rejected elsewhere");
      case "/spin":
        for (;;) {}
      case "/log":
        console.log("hello from", url.pathname, url.searchParams.get("id"));
        await new Promise((r) => setTimeout(r, 1));
        console.warn("after a timer", url.searchParams.get("id"));
        return new Response("logged");
      case "/big-log":
        console.log("x".repeat(Number(url.searchParams.get("size") ?? 8192)));
        return new Response("big");
      case "/ws": {
        const [client, server] = Object.values(new WebSocketPair());
        server.accept();
        server.addEventListener("message", (e) => server.send(e.data));
        return new Response(null, { status: 101, webSocket: client });
      }
      case "/actor":
        return env.COUNTER.get(env.COUNTER.idFromName("one")).fetch(request);
      case "/fetch":
        return fetch(env.UPSTREAM);
      default:
        return new Response("unknown route", { status: 404 });
    }
  },
};

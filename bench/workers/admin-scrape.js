// The admin listener's scrape cost (bench/scripts/admin-scrape.py): idle
// WebSockets (GET /ws) and resident actors (GET /actor/<name>) for the
// shards to report on.
import { DurableObject } from "cloudflare:workers";

export class Counter extends DurableObject {
  async fetch() {
    const n = ((await this.ctx.storage.get("n")) ?? 0) + 1;
    await this.ctx.storage.put("n", n);
    return new Response(String(n));
  }
}

export default {
  fetch(request, env) {
    const [, kind, name] = new URL(request.url).pathname.split("/");
    if (kind === "ws") {
      const [client, server] = Object.values(new WebSocketPair());
      server.accept();
      server.addEventListener("message", (e) => server.send(e.data));
      return new Response(null, { status: 101, webSocket: client });
    }
    if (kind === "actor") return env.COUNTER.getByName(name).fetch(request);
    return new Response("ok");
  },
};

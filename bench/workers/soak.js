// The soak workload (`ringworker-bench soak`): every kind of traffic the
// runtime serves, so that anything one of them leaks shows up over time.
//   GET /            hello
//   GET /stream      a ReadableStream response (?chunks=&size=&interval=)
//   GET /actor       an RPC to a Durable Object that writes its storage (?name=)
//   GET /fetch       a fetch() to the local upstream (env.UPSTREAM), read whole
//   GET /forward     the upstream's response returned as is (native body)
//   GET /ws          a WebSocket echo (upgrade)
import { DurableObject } from "cloudflare:workers";

export class SoakCounter extends DurableObject {
  async inc() {
    const n = ((await this.ctx.storage.get("n")) ?? 0) + 1;
    await this.ctx.storage.put("n", n);
    // A rolling window of entries: the database stays the same size.
    await this.ctx.storage.put(`log:${n % 32}`, { n, at: Date.now(), text: "x".repeat(64) });
    return n;
  }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const q = (k, d) => Number(url.searchParams.get(k) ?? d);
    switch (url.pathname) {
      case "/":
        return new Response("Hello World");
      case "/stream": {
        const chunks = q("chunks", 16);
        const chunk = new TextEncoder().encode("s".repeat(q("size", 1024)));
        const interval = q("interval", 0);
        let sent = 0;
        return new Response(
          new ReadableStream({
            async pull(controller) {
              if (sent++ >= chunks) return controller.close();
              if (interval > 0) await new Promise((r) => setTimeout(r, interval));
              controller.enqueue(chunk);
            },
          }),
        );
      }
      case "/actor": {
        const n = await env.SOAK.getByName(url.searchParams.get("name") ?? "a").inc();
        return new Response(String(n));
      }
      case "/fetch": {
        const r = await fetch(`${env.UPSTREAM}/data`);
        return new Response(await r.text());
      }
      case "/forward":
        return fetch(`${env.UPSTREAM}/data`);
      case "/ws": {
        if (request.headers.get("Upgrade") !== "websocket") return new Response("expected websocket", { status: 426 });
        const [client, server] = Object.values(new WebSocketPair());
        server.accept();
        server.addEventListener("message", (e) => server.send(e.data));
        return new Response(null, { status: 101, webSocket: client });
      }
    }
    return new Response("not found", { status: 404 });
  },
};

// Actor benchmarks (bench/scripts/actors.sh):
// - GET /rpc/<name>: an RPC call to a counter actor (storage read + write);
// - GET /fetch/<name>: the same through the actor's fetch();
// - GET /rpc-any/<n>: the RPC call to one of n actors, at random;
// - WebSocket /room/<n>: a hibernatable room whose sockets carry an
//   attachment and whose webSocketMessage echoes.
import { DurableObject } from "cloudflare:workers";

export class Counter extends DurableObject {
  async increment() {
    const v = ((await this.ctx.storage.get("n")) ?? 0) + 1;
    await this.ctx.storage.put("n", v);
    return v;
  }
  async fetch() {
    return new Response(String(await this.increment()));
  }
}

export class Room extends DurableObject {
  async fetch(request) {
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    server.serializeAttachment({ joined: Date.now(), path: new URL(request.url).pathname });
    return new Response(null, { status: 101, webSocket: client });
  }
  webSocketMessage(ws, message) {
    ws.send(message);
  }
}

export default {
  async fetch(request, env) {
    const [, kind, name] = new URL(request.url).pathname.split("/");
    if (kind === "rpc") return new Response(String(await env.COUNTER.getByName(name).increment()));
    // One of N actors at random.
    if (kind === "rpc-any") {
      const n = Math.floor(Math.random() * Number(name));
      return new Response(String(await env.COUNTER.getByName(`a${n}`).increment()));
    }
    if (kind === "fetch") return env.COUNTER.getByName(name).fetch(request);
    if (kind === "room") return env.ROOM.getByName(name).fetch(request);
    return new Response("not found", { status: 404 });
  },
};

// A chat room per name, as a Durable Object with hibernatable WebSockets.
//
// - GET /rooms/<room>?name=<who> with Upgrade: websocket joins the room;
//   the last 50 messages are sent first.
// - Each socket's user travels in its attachment, so the room may hibernate
//   between messages (its JS object is dropped; the sockets stay open) and
//   a woken room still knows who is who.
// - "ping" is answered by the runtime (an auto-response) without waking
//   the room; clients use it as their heartbeat.
// - GET /rooms/<room>/history returns the history as JSON.
import { DurableObject } from "cloudflare:workers";

const HISTORY = 50;

export class ChatRoom extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS messages (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      at INTEGER NOT NULL,
      name TEXT NOT NULL,
      text TEXT NOT NULL
    )`);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  history() {
    return this.ctx.storage.sql
      .exec("SELECT at, name, text FROM messages ORDER BY id DESC LIMIT ?", HISTORY)
      .toArray()
      .reverse();
  }

  async fetch(request) {
    if (new URL(request.url).pathname.endsWith("/history")) {
      return Response.json(this.history());
    }
    if (request.headers.get("Upgrade") !== "websocket") {
      return new Response("join with a WebSocket client\n", { status: 426 });
    }
    const name = new URL(request.url).searchParams.get("name") || "anonymous";
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server, [name]);
    server.serializeAttachment({ name });
    for (const m of this.history()) server.send(JSON.stringify(m));
    this.broadcast({ at: Date.now(), name: "*", text: `${name} joined` });
    return new Response(null, { status: 101, webSocket: client });
  }

  async webSocketMessage(ws, message) {
    const { name } = ws.deserializeAttachment();
    const text = typeof message === "string" ? message.slice(0, 1000) : "(binary)";
    const m = { at: Date.now(), name, text };
    this.ctx.storage.sql.exec("INSERT INTO messages (at, name, text) VALUES (?, ?, ?)", m.at, m.name, m.text);
    this.broadcast(m);
  }

  async webSocketClose(ws, code) {
    const { name } = ws.deserializeAttachment();
    ws.close(code === 1005 ? 1000 : code, "bye");
    this.broadcast({ at: Date.now(), name: "*", text: `${name} left` });
  }

  broadcast(m) {
    const text = JSON.stringify(m);
    for (const peer of this.ctx.getWebSockets()) {
      try {
        peer.send(text);
      } catch {
        // closing under us
      }
    }
  }
}

export default {
  async fetch(request, env) {
    const [, kind, room] = new URL(request.url).pathname.split("/");
    if (kind !== "rooms" || !room) return new Response("try /rooms/<name>\n", { status: 404 });
    return env.ROOMS.getByName(room).fetch(request);
  },
};

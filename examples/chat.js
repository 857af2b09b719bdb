// A chat room: every message is broadcast to every socket of the shard.
// (Sockets on other shards are other rooms; a room that spans shards is an
// actor's job.)
//
//   ringworker serve examples/chat.js --shards 1
//   python3 -m websockets ws://127.0.0.1:8080/?name=ada
const sockets = new Set();

function broadcast(text) {
  for (const ws of sockets) {
    try {
      ws.send(text);
    } catch {
      sockets.delete(ws); // closing under us
    }
  }
}

export default {
  fetch(request) {
    if (request.headers.get("Upgrade") !== "websocket") {
      return new Response("connect with a WebSocket client\n", { status: 426 });
    }
    const name = new URL(request.url).searchParams.get("name") || "anonymous";
    const [client, server] = Object.values(new WebSocketPair());
    server.accept();
    sockets.add(server);
    broadcast(JSON.stringify({ joined: name, online: sockets.size }));
    server.addEventListener("message", (e) => {
      const text = typeof e.data === "string" ? e.data : "(binary)";
      broadcast(JSON.stringify({ from: name, text }));
    });
    server.addEventListener("close", (e) => {
      sockets.delete(server);
      broadcast(JSON.stringify({ left: name, code: e.code, online: sockets.size }));
    });
    return new Response(null, { status: 101, webSocket: client });
  },
};

// A WebSocket echo server, the Workers way.
//
//   ringworker serve examples/ws-echo.js
//   python3 -m websockets ws://127.0.0.1:8080/
export default {
  fetch(request) {
    if (request.headers.get("Upgrade") !== "websocket") {
      return new Response("expected a WebSocket upgrade\n", { status: 426 });
    }
    const [client, server] = Object.values(new WebSocketPair());
    server.accept();
    server.addEventListener("message", (e) => server.send(e.data));
    return new Response(null, { status: 101, webSocket: client });
  },
};

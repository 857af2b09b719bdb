// WebSocket echo on Bun's native server (Bun.serve's `websocket` handler),
// the reference point for `ringworker-bench ws`.
// usage: PORT=8081 bun bench/peers/bun-ws-echo.js
Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT ?? 8081),
  idleTimeout: 0,
  fetch(req, server) {
    if (server.upgrade(req)) return;
    return new Response("expected a WebSocket upgrade", { status: 426 });
  },
  websocket: {
    idleTimeout: 0,
    message(ws, message) {
      ws.send(message);
    },
  },
});

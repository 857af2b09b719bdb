// WebSocket echo on Deno.serve + Deno.upgradeWebSocket, the reference point
// for `ringworker-bench ws`.
// usage: PORT=8081 deno run -A bench/peers/deno-ws-echo.js
Deno.serve({ hostname: "127.0.0.1", port: Number(Deno.env.get("PORT") ?? 8081), onListen() {} }, (req) => {
  if (req.headers.get("upgrade") !== "websocket") {
    return new Response("expected a WebSocket upgrade", { status: 426 });
  }
  const { socket, response } = Deno.upgradeWebSocket(req, { idleTimeout: 0 });
  socket.onmessage = (e) => socket.send(e.data);
  return response;
});

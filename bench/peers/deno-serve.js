// Serves a Workers-style module (`export default { fetch }`) with Deno.serve.
// usage: PORT=8082 [UPSTREAM=http://...] deno run -A bench/peers/deno-serve.js bench/peers/workload.js
// `env` is the process environment's UPSTREAM. Deno has no WebSocketPair:
// an upgrade to /ws is answered here with Deno.upgradeWebSocket (echo).
const worker = (await import(new URL(Deno.args[0], `file://${Deno.cwd()}/`).href)).default;
const env = { UPSTREAM: Deno.env.get("UPSTREAM") };
const ctx = { waitUntil() {}, passThroughOnException() {} };
Deno.serve(
  { hostname: "127.0.0.1", port: Number(Deno.env.get("PORT") ?? 8082), onListen() {} },
  (request) => {
    if (request.headers.get("upgrade") === "websocket") {
      const { socket, response } = Deno.upgradeWebSocket(request, { idleTimeout: 0 });
      socket.onmessage = (e) => socket.send(e.data);
      return response;
    }
    return worker.fetch(request, env, ctx);
  },
);

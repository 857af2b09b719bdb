// Serves a Workers-style module (`export default { fetch }`) with Bun.serve.
// usage: PORT=8081 [UPSTREAM=http://...] bun bench/peers/bun-serve.js bench/peers/workload.js
// `env` is the process environment's UPSTREAM. Bun has no WebSocketPair: an
// upgrade is answered here with Bun's native WebSocket server (echo).
import { resolve } from "node:path";
const worker = (await import(resolve(process.argv[2]))).default;
const env = { UPSTREAM: process.env.UPSTREAM };
const ctx = { waitUntil() {}, passThroughOnException() {} };
Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT ?? 8081),
  idleTimeout: 0,
  fetch(request, server) {
    if (request.headers.get("upgrade") === "websocket" && server.upgrade(request)) return;
    return worker.fetch(request, env, ctx);
  },
  websocket: {
    idleTimeout: 0,
    message(ws, message) {
      ws.send(message);
    },
  },
});

// Serves a Workers-style module (`export default { fetch }`) with Bun.serve.
// usage: PORT=8081 bun bench/peers/bun-serve.js bench/workers/disconnect.js
import { resolve } from "node:path";
const worker = (await import(resolve(process.argv[2]))).default;
const ctx = { waitUntil() {}, passThroughOnException() {} };
Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT ?? 8081),
  idleTimeout: 0,
  fetch: (request) => worker.fetch(request, {}, ctx),
});

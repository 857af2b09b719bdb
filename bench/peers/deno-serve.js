// Serves a Workers-style module (`export default { fetch }`) with Deno.serve.
// usage: PORT=8082 deno run -A bench/peers/deno-serve.js bench/workers/disconnect.js
const worker = (await import(new URL(Deno.args[0], `file://${Deno.cwd()}/`).href)).default;
const ctx = { waitUntil() {}, passThroughOnException() {} };
Deno.serve(
  { hostname: "127.0.0.1", port: Number(Deno.env.get("PORT") ?? 8082), onListen() {} },
  (request) => worker.fetch(request, {}, ctx),
);

// examples/ws-echo.js plus GET /gc, which runs a full collection: for
// reading the live JS heap per idle socket with
//   RINGWORKER_V8_FLAGS="--expose-gc --trace-gc-nvp" ringworker serve bench/workers/ws-echo-gc.js ...
// (curl /gc before and after opening the sockets; the two "testing" mark-compacts'
// end_object_size give the live heap). See bench/RESULTS.md §5.
export default {
  fetch(request) {
    if (new URL(request.url).pathname === "/gc") {
      globalThis.gc();
      return new Response("collected\n");
    }
    const [client, server] = Object.values(new WebSocketPair());
    server.accept();
    server.addEventListener("message", (e) => server.send(e.data));
    return new Response(null, { status: 101, webSocket: client });
  },
};

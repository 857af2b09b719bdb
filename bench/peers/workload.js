// The side-by-side workloads (`ringworker-bench compare`), written once in
// Workers syntax. ringworker and workerd run this file as it is; Deno, Bun
// and Node get the thinnest adapter (deno-serve.js, bun-serve.js,
// node-serve.mjs), which also answers the WebSocket upgrade where the
// runtime has no WebSocketPair.
//
//   GET  /        hello
//   GET  /stream  64 x 1 KiB chunks from a ReadableStream
//   POST /json    parse a small JSON body, answer JSON
//   GET  /proxy   fetch() env.UPSTREAM and forward its response
//   GET  /ws      WebSocket echo
//   GET  /gzip    64 x 1 KiB of text streamed through CompressionStream("gzip")
//   POST /formdata  request.formData() of a multipart upload (a field and a file)
const chunk = new Uint8Array(1024).fill(120);
// Text that compresses as a typical page or JSON does (~6:1), 1 KiB.
const words = "ringworker streams a response through gzip; the quick brown fox jumps over 13 lazy dogs. ";
const text = new TextEncoder().encode(words.repeat(Math.ceil(1024 / words.length)).slice(0, 1024));

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    switch (url.pathname) {
      case "/":
        return new Response("Hello, World!");
      case "/stream": {
        let sent = 0;
        return new Response(
          new ReadableStream({
            pull(controller) {
              controller.enqueue(chunk);
              if (++sent === 64) controller.close();
            },
          }),
          { headers: { "content-type": "application/octet-stream" } },
        );
      }
      case "/json": {
        const body = await request.json();
        const items = Array.isArray(body.items) ? body.items : [];
        return Response.json({
          id: body.id,
          count: items.length,
          total: items.reduce((s, x) => s + (Number(x.price) || 0) * (Number(x.qty) || 0), 0),
          ok: true,
        });
      }
      case "/gzip": {
        // (No Content-Encoding header: workerd would compress the body again.)
        let sent = 0;
        const body = new ReadableStream({
          pull(controller) {
            controller.enqueue(text);
            if (++sent === 64) controller.close();
          },
        });
        return new Response(body.pipeThrough(new CompressionStream("gzip")), {
          headers: { "content-type": "application/octet-stream" },
        });
      }
      case "/formdata": {
        const form = await request.formData();
        const file = form.get("file");
        return Response.json({ name: form.get("name"), file: file.name, size: file.size });
      }
      case "/proxy": {
        const upstream = await fetch(env.UPSTREAM);
        return new Response(upstream.body, { status: upstream.status, headers: upstream.headers });
      }
      case "/ws": {
        if (request.headers.get("upgrade") !== "websocket") return new Response("expected a WebSocket", { status: 426 });
        const [client, server] = Object.values(new WebSocketPair());
        server.accept();
        server.addEventListener("message", (e) => server.send(e.data));
        return new Response(null, { status: 101, webSocket: client });
      }
      default:
        return new Response("not found", { status: 404 });
    }
  },
};

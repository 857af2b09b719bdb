// The worker of tests/platform_bodies.rs: what a script sees of an incoming
// request's body (taken natively, whole or streamed, while nobody looks),
// forms parsed from it, and decompression of a body.
const json = (v, status = 200) => Response.json(v, { status });

async function readStream(stream) {
  const reader = stream.getReader();
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return n;
    if (!(value instanceof Uint8Array)) throw new TypeError("a body chunk is not a Uint8Array");
    n += value.byteLength;
  }
}

export default {
  async fetch(request) {
    const { pathname } = new URL(request.url);
    switch (pathname) {
      // Looking at the body: a real stream, read with a reader.
      case "/peek": {
        const body = request.body;
        const before = { isStream: body instanceof ReadableStream, locked: body.locked, used: request.bodyUsed };
        const bytes = await readStream(body);
        return json({ before, bytes, after: { locked: body.locked, used: request.bodyUsed } });
      }
      // Taken whole (the fast path): afterwards the body is a spent stream.
      case "/text": {
        const text = await request.text();
        const body = request.body;
        let getReader = "ok";
        try {
          body.getReader();
        } catch (e) {
          getReader = e.constructor.name;
        }
        const again = await request.text().then(
          () => "resolved",
          (e) => e.constructor.name,
        );
        return json({
          length: text.length,
          used: request.bodyUsed,
          isStream: body instanceof ReadableStream,
          locked: body.locked,
          getReader,
          again,
        });
      }
      // Looked at, then handed back: still forwarded.
      case "/echo-looked": {
        const body = request.body;
        if (!(body instanceof ReadableStream) || body.locked) return json({ error: "not a fresh stream" }, 500);
        return new Response(body);
      }
      // A whole body looked at and returned: sent whole.
      case "/whole-looked": {
        const r = new Response("whole body");
        const locked = r.body.locked;
        return new Response(r.body, { headers: { "x-locked-before": String(locked) } });
      }
      case "/form": {
        try {
          const fd = await request.formData();
          const out = [];
          for (const [name, value] of fd) {
            out.push(typeof value === "string" ? [name, value] : [name, { name: value.name, type: value.type, size: value.size }]);
          }
          return json(out);
        } catch (e) {
          return json({ error: `${e.name}: ${e.message}` }, e.message.includes("limit") ? 413 : 400);
        }
      }
      case "/gunzip": {
        let total = 0;
        let biggest = 0;
        try {
          for await (const chunk of request.body.pipeThrough(new DecompressionStream("gzip"))) {
            total += chunk.byteLength;
            if (chunk.byteLength > biggest) biggest = chunk.byteLength;
          }
        } catch (e) {
          return json({ error: `${e.name}: ${e.message}`, total }, 400);
        }
        return json({ total, biggest });
      }
      default:
        return new Response("not found", { status: 404 });
    }
  },
};

// The `disconnect` benchmark's script, portable to ringworker, Bun and Deno
// (bench/peers/*.js adapt it to Bun.serve / Deno.serve).
//
// GET /?id=N opens a stream that sends a line every 5 ms (?interval=MS). When the client
// leaves, the first of the runtime's signals — request.signal's abort, the
// stream's cancel(), controller.signal's abort (ringworker) — stamps the wall
// clock as `performance.timeOrigin + performance.now()`. GET /stamps returns
// the stamps as { id: ms } and forgets them.
//
// With ?ignore the script ignores the disconnect: its interval keeps running
// and swallows enqueue()'s error, so only the runtime can stop it.
const stamps = new Map();
const line = new TextEncoder().encode("data: tick\n\n");

function stamp(id) {
  if (!stamps.has(id)) stamps.set(id, performance.timeOrigin + performance.now());
}

export default {
  fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/stamps") {
      const out = Object.fromEntries(stamps);
      stamps.clear();
      return Response.json(out);
    }
    const id = url.searchParams.get("id") ?? "?";
    const ignore = url.searchParams.has("ignore");
    const interval = Number(url.searchParams.get("interval") ?? 5);
    request.signal.addEventListener("abort", () => stamp(id));
    let timer;
    const body = new ReadableStream({
      start(controller) {
        controller.signal?.addEventListener("abort", () => stamp(id));
        controller.enqueue(line);
        timer = setInterval(() => {
          try {
            controller.enqueue(line);
          } catch {
            if (!ignore) clearInterval(timer);
          }
        }, interval);
      },
      cancel() {
        stamp(id);
        if (!ignore) clearInterval(timer);
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  },
};

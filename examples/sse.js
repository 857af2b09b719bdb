// A server-sent-events clock: one event every `?interval=` ms (default 1000).
// When the client goes away the stream's signal aborts; the clock stops and
// the departure is logged.
export default {
  fetch(request) {
    const interval = Number(new URL(request.url).searchParams.get("interval") ?? 1000);
    const encoder = new TextEncoder();
    let timer;
    let sent = 0;
    const body = new ReadableStream({
      start(controller) {
        controller.signal.addEventListener("abort", () => {
          clearInterval(timer);
          console.log(`sse: client left after ${sent} events (${controller.signal.reason.message})`);
        });
        const tick = () => {
          controller.enqueue(encoder.encode(`id: ${sent}\nevent: tick\ndata: ${new Date().toISOString()}\n\n`));
          sent++;
        };
        tick();
        timer = setInterval(tick, interval);
      },
    });
    return new Response(body, {
      headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
    });
  },
};

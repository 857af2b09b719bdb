// A streaming response: ?chunks=N&size=S&interval=MS (defaults 64 x 1 KiB, no pause).
// The source's pull() runs only when the client has taken what was queued.
export default {
  fetch(request) {
    const q = new URL(request.url).searchParams;
    const chunks = Number(q.get("chunks") ?? 64);
    const size = Number(q.get("size") ?? 1024);
    const interval = Number(q.get("interval") ?? 0);
    const chunk = new Uint8Array(size).fill(120); // "x"
    let sent = 0;
    const body = new ReadableStream({
      async pull(controller) {
        if (sent === chunks) return controller.close();
        if (interval > 0) await new Promise((r) => setTimeout(r, interval));
        controller.enqueue(chunk);
        sent++;
      },
      cancel(reason) {
        console.log(`stream cancelled after ${sent} chunks: ${reason}`);
      },
    });
    return new Response(body, { headers: { "content-type": "application/octet-stream" } });
  },
};

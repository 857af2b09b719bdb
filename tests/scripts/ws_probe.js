// The WebSocket test worker: echoes, answers a few commands, and records
// every error and close event it sees in a log served at GET /log.
const log = [];
// The ids of the sockets the script accepted, served at GET /opened.
const opened = [];

function apiErrors() {
  const out = {};
  const name = (f) => {
    try {
      f();
      return "no error";
    } catch (e) {
      return `${e.name}: ${e.message}`;
    }
  };
  const pair = () => Object.values(new WebSocketPair());
  out.sendBeforeAccept = name(() => pair()[1].send("x"));
  out.acceptClientEnd = name(() => pair()[0].accept());
  out.acceptTwice = name(() => {
    const s = pair()[1];
    s.accept();
    s.accept();
  });
  out.badCode = name(() => {
    const s = pair()[1];
    s.accept();
    s.close(1005);
  });
  out.longReason = name(() => {
    const s = pair()[1];
    s.accept();
    s.close(1000, "é".repeat(62));
  });
  out.outbound = name(() => new WebSocket("ftp://example.com/"));
  out.status101WithoutSocket = name(() => new Response(null, { status: 101 }));
  out.socketWith200 = name(() => new Response(null, { status: 200, webSocket: pair()[0] }));
  const s = pair()[1];
  s.accept();
  out.states = [WebSocket.CONNECTING, WebSocket.OPEN, WebSocket.CLOSING, WebSocket.CLOSED, s.readyState];
  out.binaryType = s.binaryType;
  s.binaryType = "blob";
  out.binaryTypeAfter = s.binaryType;
  s.close(1000);
  out.readyStateAfterClose = s.readyState;
  out.sendAfterClose = name(() => s.send("x"));
  out.closeTwice = name(() => s.close());
  return out;
}

export default {
  fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/log") return Response.json(log);
    if (url.pathname === "/opened") return Response.json(opened);
    if (url.pathname === "/api-errors") return Response.json(apiErrors());
    if (url.pathname === "/unaccepted") {
      const [c] = Object.values(new WebSocketPair());
      return new Response(null, { status: 101, webSocket: c });
    }
    if (request.headers.get("Upgrade") !== "websocket") {
      return new Response("expected websocket", { status: 426 });
    }
    const [client, server] = Object.values(new WebSocketPair());
    server.accept();
    const id = url.searchParams.get("id") || "";
    opened.push(id);
    if (url.searchParams.has("binaryType")) server.binaryType = url.searchParams.get("binaryType");
    server.onmessage = async (e) => {
      const d = e.data;
      if (d === "close-me") return server.close(4000, "asked");
      if (d === "close-no-code") return server.close();
      if (d === "spin") for (;;); // terminated by the CPU limit
      if (d === "throw") throw new Error("handler failed on purpose");
      if (d === "flood") {
        const chunk = new Uint8Array(64 * 1024);
        for (let i = 0; i < 64; i++) server.send(chunk);
        return server.send(`buffered=${server.bufferedAmount}`);
      }
      if (typeof d === "string") return server.send(d);
      if (d instanceof ArrayBuffer) return server.send(d);
      // A Blob (binaryType "blob"): echo its bytes with a marker.
      const bytes = new Uint8Array(await d.arrayBuffer());
      server.send(`blob:${bytes.length}`);
    };
    server.addEventListener("error", (e) => log.push({ id, error: e.message }));
    server.addEventListener("close", (e) =>
      log.push({ id, code: e.code, reason: e.reason, wasClean: e.wasClean, readyState: server.readyState }),
    );
    const headers = {};
    const offered = request.headers.get("Sec-WebSocket-Protocol");
    const pick = url.searchParams.get("protocol");
    if (pick) headers["Sec-WebSocket-Protocol"] = pick;
    else if (offered) headers["Sec-WebSocket-Protocol"] = offered.split(",")[0].trim();
    if (url.searchParams.has("early")) server.send("sent before the handshake completed");
    return new Response(null, { status: 101, webSocket: client, headers });
  },
};

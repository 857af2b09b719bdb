// 30_websocket: WebSocket, WebSocketPair, MessageEvent, CloseEvent, ErrorEvent.
//
// A script accepts a WebSocket the Workers way: `new WebSocketPair()`, then
// `server.accept()` and `new Response(null, { status: 101, webSocket: client })`.
// The server end is bound to a native socket (ops.wsAccept); the runtime
// delivers its events in batches through rw.wsDispatch.
(function websocket(ops, rw) {
  "use strict";

  const TypeErr = TypeError;
  const ObjectFreeze = Object.freeze;
  const ObjectDefineProperty = Object.defineProperty;
  const MapPrototypeGet = Function.prototype.call.bind(Map.prototype.get);
  const MapPrototypeSet = Function.prototype.call.bind(Map.prototype.set);
  const MapPrototypeDelete = Function.prototype.call.bind(Map.prototype.delete);
  const ArrayBufferIsView = ArrayBuffer.isView;
  const { Event, EventTarget, DOMException, dispatchTrusted, defineEventHandler } = rw;

  const CONNECTING = 0;
  const OPEN = 1;
  const CLOSING = 2;
  const CLOSED = 3;
  const kInternal = ObjectFreeze({});

  // ----------------------------------------------------------------- events
  class MessageEvent extends Event {
    #data;
    #origin;
    #lastEventId;
    constructor(type, init = undefined) {
      super(type, init);
      const i = init === undefined || init === null ? {} : init;
      this.#data = i.data === undefined ? null : i.data;
      this.#origin = i.origin === undefined ? "" : `${i.origin}`;
      this.#lastEventId = i.lastEventId === undefined ? "" : `${i.lastEventId}`;
    }
    get data() {
      return this.#data;
    }
    get origin() {
      return this.#origin;
    }
    get lastEventId() {
      return this.#lastEventId;
    }
    get source() {
      return null;
    }
    get ports() {
      return [];
    }
  }

  class CloseEvent extends Event {
    #code;
    #reason;
    #wasClean;
    constructor(type, init = undefined) {
      super(type, init);
      const i = init === undefined || init === null ? {} : init;
      this.#code = i.code === undefined ? 0 : i.code & 0xffff;
      this.#reason = i.reason === undefined ? "" : `${i.reason}`;
      this.#wasClean = !!i.wasClean;
    }
    get code() {
      return this.#code;
    }
    get reason() {
      return this.#reason;
    }
    get wasClean() {
      return this.#wasClean;
    }
  }

  class ErrorEvent extends Event {
    #message;
    #error;
    constructor(type, init = undefined) {
      super(type, init);
      const i = init === undefined || init === null ? {} : init;
      this.#message = i.message === undefined ? "" : `${i.message}`;
      this.#error = i.error;
    }
    get message() {
      return this.#message;
    }
    get error() {
      return this.#error;
    }
    get filename() {
      return "";
    }
    get lineno() {
      return 0;
    }
    get colno() {
      return 0;
    }
  }

  // -------------------------------------------------------------- WebSocket
  // Accepted server ends by native id.
  const byId = new Map();
  const encoder = new TextEncoder();

  class WebSocket extends EventTarget {
    #id = 0; // native socket, once accepted
    #state = CONNECTING;
    #role; // "client" | "server" (ends of a WebSocketPair), "outbound" (new WebSocket(url)), "fetched" (fetch() with Upgrade)
    #url = null;
    #peer = null; // a pair's client end: its server end
    #binaryType = "arraybuffer";
    #protocol = "";
    #closeSent = false;

    constructor(url, protocols = undefined, key = undefined) {
      if (key === kInternal) {
        super();
        this.#role = protocols;
        return;
      }
      if (arguments.length < 1) throw new TypeErr("WebSocket: 1 argument required, but only 0 present");
      // The browser API: an outbound connection that opens by itself.
      const target = outboundUrl(url, "WebSocket");
      const list = protocols === undefined ? [] : typeof protocols === "string" ? [protocols] : [...protocols];
      const seen = new Set();
      for (const p of list) {
        const t = `${p}`;
        if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(t) || seen.has(t)) {
          throw new DOMException(`WebSocket: invalid or duplicate subprotocol "${t}"`, "SyntaxError");
        }
        seen.add(t);
      }
      super();
      this.#role = "outbound";
      this.#url = target;
      const [id, promise] = ops.wsConnect(target, [], [...seen], false);
      this.#id = id;
      MapPrototypeSet(byId, id, this);
      const fail = (message, error) => {
        MapPrototypeDelete(byId, id);
        this.#state = CLOSED;
        fire(this, new ErrorEvent("error", { message, error }));
        fire(this, new CloseEvent("close", { code: 1006, reason: "", wasClean: false }));
      };
      promise.then(
        ([status, protocol]) => {
          if (status !== 101) {
            fail(`WebSocket: the server answered ${status} instead of 101`, new TypeErr(`status ${status}`));
            return;
          }
          if (this.#state !== CONNECTING) {
            // close() was called while connecting: the connection is failed
            // without an open event (the close frame is already queued).
            ops.wsListen(id);
            return;
          }
          this.#protocol = protocol;
          this.#state = OPEN;
          fire(this, new Event("open"));
          // Messages flow only after open (frames that came with the 101
          // waited for it).
          ops.wsListen(id);
        },
        (e) => fail(e instanceof Error ? e.message : `${e}`, e),
      );
    }

    static {
      // The client end finds its server end (for the Response that hands
      // it over); not the other way round, so once the 101 went out the
      // client end is garbage unless the script keeps it.
      rw.wsLink = (client, server) => {
        client.#peer = server;
      };
      rw.wsServerId = (client) => {
        if (!(client instanceof WebSocket) || client.#role !== "client") {
          throw new TypeErr(
            "Response: webSocket must be the client end of a WebSocketPair (the first of its two sockets)",
          );
        }
        const server = client.#peer;
        if (server.#id === 0) {
          throw new TypeErr(
            "Response: call accept() on the server end of the WebSocketPair before returning the client end",
          );
        }
        if (server.#state !== OPEN && server.#state !== CONNECTING) {
          throw new TypeErr("Response: the server end of this WebSocketPair is already closed");
        }
        client.#state = OPEN;
        return server.#id;
      };
      // fetch(url, { headers: { Upgrade: "websocket" } }): a 101 Response
      // whose webSocket the script accept()s (until then its events wait).
      rw.fetchWebSocket = (url, request) => {
        const target = outboundUrl(url.href, "fetch");
        const flat = [];
        for (const [n, v] of request.headers[rw.kList]) {
          if (!n.startsWith("sec-websocket-") && !rw.isClientSetHeader(n)) flat.push(n, v);
        }
        const offered = request.headers.get("sec-websocket-protocol");
        const protocols = offered === null ? [] : offered.split(",").map((p) => p.trim()).filter((p) => p !== "");
        const [id, promise] = ops.wsConnect(target, flat, protocols, true);
        const signal = request[rw.kSignal];
        if (signal !== null) {
          rw.addAbortAlgorithm(signal, () => ops.wsClose(id, 1000, ""));
        }
        return promise.then(([status, protocol, headers]) => {
          if (status !== 101) {
            // The upstream refused the upgrade: its answer, without a socket.
            const resp = new Response(null, { status: status < 200 ? 502 : status === 101 ? 502 : 200 });
            resp[rw.kStatus] = status;
            const list = resp.headers[rw.kList];
            for (let i = 0; i < headers.length; i += 2) list.push([headers[i].toLowerCase(), headers[i + 1]]);
            resp.headers[rw.kGuard] = "immutable";
            return resp;
          }
          const ws = new WebSocket(undefined, "fetched", kInternal);
          ws.#id = id;
          ws.#protocol = protocol;
          ws.#url = target;
          const resp = new Response(null, { status, webSocket: ws });
          const list = resp.headers[rw.kList];
          for (let i = 0; i < headers.length; i += 2) {
            // (The handshake's own fields stay with the upstream connection.)
            const n = headers[i].toLowerCase();
            if (n === "upgrade" || n === "connection" || n === "sec-websocket-accept" || n === "sec-websocket-extensions") continue;
            list.push([n, headers[i + 1]]);
          }
          resp.headers[rw.kGuard] = "immutable";
          return resp;
        });
      };
      // A fetched socket returned unaccepted in a response: the runtime joins
      // it to the client's connection (a WebSocket proxy).
      rw.isFetchedWebSocket = (ws) => ws instanceof WebSocket && ws.#role === "fetched";
      rw.wsTakeFetched = (ws) => {
        if (ws.#state !== CONNECTING) {
          throw new TypeErr(
            "Response: this WebSocket was accept()ed by the script; return the fetched response without accepting it to proxy it, or a WebSocketPair's client end",
          );
        }
        ws.#state = CLOSED;
        return ws.#id;
      };
      // ctx.acceptWebSocket(ws): the server end is accepted with `accept`
      // (an op returning the native id); its events go to the actor.
      rw.wsAcceptWith = (ws, accept) => {
        if (!(ws instanceof WebSocket) || ws.#role !== "server") {
          throw new TypeErr("acceptWebSocket(): expected the server end of a WebSocketPair (the second socket)");
        }
        if (ws.#id !== 0) throw new TypeErr("acceptWebSocket(): this WebSocket was already accepted");
        ws.#id = accept();
        ws.#state = OPEN;
        return ws.#id;
      };
      // A hibernated actor's socket, seen again by its woken actor.
      rw.wsRevive = (id) => {
        const ws = new WebSocket(undefined, "server", kInternal);
        ws.#id = id;
        ws.#state = OPEN;
        return ws;
      };
      // This shard's end of a bridge to an actor's socket on another shard:
      // returned unaccepted, it is joined to the client's connection.
      rw.wsFetched = (id) => {
        const ws = new WebSocket(undefined, "fetched", kInternal);
        ws.#id = id;
        return ws;
      };
      rw.wsId = (ws) => (ws instanceof WebSocket ? ws.#id : 0);
      rw.wsPeerClosed = (ws) => {
        ws.#state = CLOSED;
      };
      rw.wsBinaryData = (ws, u8) => (ws.#binaryType === "blob" ? new rw.Blob([u8]) : u8.buffer);
      rw.wsSetProtocol = (client, protocol) => {
        client.#protocol = protocol;
        client.#peer.#protocol = protocol;
      };
      // [kind, a, b, c, kind, ...]: 0 text (string), 1 binary (Uint8Array),
      // 2 error (message), 3 close (code, reason, wasClean).
      rw.wsDispatch = (id, batch) => {
        const ws = MapPrototypeGet(byId, id);
        if (ws === undefined) return;
        for (let i = 0; i < batch.length; ) {
          const kind = batch[i];
          if (kind === 0 || kind === 1) {
            let data = batch[i + 1];
            if (kind === 1) {
              data = ws.#binaryType === "blob" ? new rw.Blob([data]) : data.buffer;
            }
            i += 2;
            if (ws.#state === CLOSED) continue;
            fire(ws, new MessageEvent("message", { data }));
          } else if (kind === 2) {
            const message = batch[i + 1];
            i += 2;
            fire(ws, new ErrorEvent("error", { message, error: new TypeErr(message) }));
          } else {
            const code = batch[i + 1];
            const reason = batch[i + 2];
            const wasClean = batch[i + 3];
            i += 4;
            ws.#state = CLOSED;
            MapPrototypeDelete(byId, id);
            fire(ws, new CloseEvent("close", { code, reason, wasClean }));
          }
        }
      };
    }

    accept() {
      if (this.#role === "fetched") {
        if (this.#state !== CONNECTING) throw new TypeErr("accept(): this WebSocket was already accepted");
        this.#state = OPEN;
        MapPrototypeSet(byId, this.#id, this);
        ops.wsListen(this.#id);
        return;
      }
      if (this.#role !== "server") {
        throw new TypeErr(
          "accept() is called on the server end of a WebSocketPair (the second socket), not the client end",
        );
      }
      if (this.#id !== 0) throw new TypeErr("accept(): this WebSocket was already accepted");
      this.#id = ops.wsAccept();
      this.#state = OPEN;
      MapPrototypeSet(byId, this.#id, this);
    }

    send(data) {
      if (arguments.length < 1) throw new TypeErr("send: 1 argument required, but only 0 present");
      if (this.#id === 0 || (this.#role === "fetched" && this.#state === CONNECTING)) {
        throw new TypeErr("send(): call accept() on this WebSocket before sending on it");
      }
      if (this.#state === CONNECTING) {
        throw new DOMException("send(): the WebSocket is still connecting", "InvalidStateError");
      }
      if (this.#closeSent || this.#state === CLOSING || this.#state === CLOSED) {
        throw new TypeErr("send(): this WebSocket is closing or closed");
      }
      if (typeof data === "string") {
        ops.wsSend(this.#id, data);
      } else if (data instanceof ArrayBuffer || ArrayBufferIsView(data)) {
        ops.wsSend(this.#id, data);
      } else if (rw.isBlob(data)) {
        ops.wsSend(this.#id, rw.blobBytes(data));
      } else {
        ops.wsSend(this.#id, `${data}`);
      }
    }

    close(code = undefined, reason = undefined) {
      if (code !== undefined) {
        code = Number(code);
        if (!Number.isInteger(code) || !validCloseCode(code)) {
          throw new DOMException(
            `close(): the code must be 1000, 1001-1003, 1007-1014 or 3000-4999 (got ${code})`,
            "InvalidAccessError",
          );
        }
      }
      reason = reason === undefined ? "" : `${reason}`;
      if (encoder.encode(reason).length > 123) {
        throw new DOMException(
          "close(): the reason must be at most 123 bytes of UTF-8",
          "SyntaxError",
        );
      }
      if (this.#id === 0) {
        throw new TypeErr("close(): call accept() on this WebSocket before closing it");
      }
      if (this.#closeSent || this.#state === CLOSED) return;
      this.#closeSent = true;
      if (this.#state === OPEN || (this.#role === "outbound" && this.#state === CONNECTING)) {
        this.#state = CLOSING;
      }
      ops.wsClose(this.#id, code === undefined ? -1 : code, reason);
    }

    // Kept natively (it survives the actor's hibernation): a structured
    // clone of at most 16 KiB.
    serializeAttachment(value) {
      if (this.#id === 0) throw new TypeErr("serializeAttachment(): accept this WebSocket first");
      ops.wsSetAttachment(this.#id, value);
    }
    deserializeAttachment() {
      if (this.#id === 0) return null;
      return ops.wsGetAttachment(this.#id);
    }

    get readyState() {
      return this.#state;
    }
    get bufferedAmount() {
      return this.#id === 0 || this.#state === CLOSED ? 0 : ops.wsBuffered(this.#id);
    }
    get binaryType() {
      return this.#binaryType;
    }
    set binaryType(v) {
      if (v === "arraybuffer" || v === "blob") this.#binaryType = v;
    }
    get protocol() {
      return this.#protocol;
    }
    get extensions() {
      return "";
    }
    get url() {
      return this.#url;
    }
  }

  // An outbound WebSocket URL: ws:, wss: (http: and https: are taken as
  // them, as browsers do); no fragment.
  function outboundUrl(input, what) {
    let u;
    try {
      u = new URL(`${input}`);
    } catch {
      throw new DOMException(`${what}: invalid URL "${input}"`, "SyntaxError");
    }
    if (u.protocol === "http:") u.protocol = "ws:";
    else if (u.protocol === "https:") u.protocol = "wss:";
    if (u.protocol !== "ws:" && u.protocol !== "wss:") {
      throw new DOMException(`${what}: the URL's scheme must be ws: or wss: (got "${u.protocol}")`, "SyntaxError");
    }
    if (u.hash !== "") throw new DOMException(`${what}: the URL must not have a fragment`, "SyntaxError");
    return u.href;
  }

  function validCloseCode(c) {
    return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
  }

  function fire(ws, event) {
    try {
      dispatchTrusted(ws, event);
    } catch (e) {
      rw.reportException(e);
    }
  }

  for (const type of ["open", "message", "close", "error"]) {
    defineEventHandler(WebSocket.prototype, type);
  }
  for (const [k, v] of [
    ["CONNECTING", CONNECTING],
    ["OPEN", OPEN],
    ["CLOSING", CLOSING],
    ["CLOSED", CLOSED],
  ]) {
    const d = { value: v, writable: false, enumerable: true, configurable: false };
    ObjectDefineProperty(WebSocket, k, d);
    ObjectDefineProperty(WebSocket.prototype, k, d);
  }

  class WebSocketPair {
    constructor() {
      const client = new WebSocket(undefined, "client", kInternal);
      const server = new WebSocket(undefined, "server", kInternal);
      rw.wsLink(client, server);
      this[0] = client;
      this[1] = server;
    }
  }

  rw.isWebSocket = (v) => v instanceof WebSocket;
  rw.define("WebSocket", WebSocket);
  rw.define("WebSocketPair", WebSocketPair);
  rw.define("MessageEvent", MessageEvent);
  rw.define("CloseEvent", CloseEvent);
  rw.define("ErrorEvent", ErrorEvent);
});

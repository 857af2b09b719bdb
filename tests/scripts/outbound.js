// Outbound probe for tests/outbound.rs: every route takes the upstream's
// address in `?up=http://127.0.0.1:PORT` (or `?ws=`, `?host=&port=`).
import { connect } from "cloudflare:sockets";

const pattern = (i) => (i * 31 + 7) % 251;

function patternStream(total, chunk) {
  let sent = 0;
  return new ReadableStream({
    pull(c) {
      if (sent >= total) return c.close();
      const n = Math.min(chunk, total - sent);
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i++) b[i] = pattern(sent + i);
      sent += n;
      c.enqueue(b);
    },
  });
}

const json = (v, status = 200) => Response.json(v, { status });
const describe = (e) => ({ name: e && e.name, message: e && e.message, isTypeError: e instanceof TypeError });

export default {
  async fetch(request, env, ctx) {
    try {
      return await route(request, env, ctx);
    } catch (e) {
      return new Response(`${e && e.stack}`, { status: 500 });
    }
  },
};

async function route(request, env, ctx) {
  {
    const u = new URL(request.url);
    const q = (k) => u.searchParams.get(k);
    const up = q("up");
    switch (u.pathname) {
      // fetch-forward: the upstream response streams to the client natively.
      case "/forward":
        return fetch(up + q("path"), request);
      case "/get": {
        const r = await fetch(up + q("path"));
        const buf = await r.arrayBuffer();
        const body = new TextDecoder().decode(buf);
        return json({ status: r.status, body, bytes: buf.byteLength, url: r.url, redirected: r.redirected, headers: [...r.headers] });
      }
      // A JS stream as the request body (unknown length: chunked upstream).
      case "/upload": {
        const n = Number(q("n"));
        const r = await fetch(up + "/sha256", { method: "POST", body: patternStream(n, 16384) });
        return new Response(await r.text(), { status: r.status });
      }
      // The incoming body forwarded natively both ways.
      case "/echo":
        return fetch(up + "/echo", { method: "POST", body: request.body });
      case "/redirect": {
        try {
          const r = await fetch(up + q("path"), { redirect: q("mode") || "follow" });
          await r.arrayBuffer();
          return json({ status: r.status, url: r.url, redirected: r.redirected, location: r.headers.get("location") });
        } catch (e) {
          return json({ error: describe(e) });
        }
      }
      case "/error": {
        try {
          const r = await fetch(q("url"));
          return json({ status: r.status });
        } catch (e) {
          return json({ error: describe(e) });
        }
      }
      // Read part of a body, then stop: the upstream connection must close.
      case "/partial": {
        const r = await fetch(up + q("path"));
        const reader = r.body.getReader();
        const first = await reader.read();
        await reader.cancel();
        return json({ first: first.value.length });
      }
      case "/abort": {
        const ac = new AbortController();
        setTimeout(() => ac.abort(), Number(q("ms")));
        try {
          const r = await fetch(up + q("path"), { signal: ac.signal });
          let n = 0;
          for await (const c of r.body) n += c.length;
          return json({ read: n });
        } catch (e) {
          return json({ error: describe(e) });
        }
      }
      case "/sequential": {
        const n = Number(q("n"));
        let total = 0;
        for (let i = 0; i < n; i++) total += (await (await fetch(up + "/hello")).text()).length;
        return json({ total });
      }
      case "/subrequests": {
        const n = Number(q("n"));
        const out = [];
        for (let i = 0; i < n; i++) {
          try {
            await (await fetch(up + "/hello")).text();
            out.push("ok");
          } catch (e) {
            out.push(e.message);
          }
        }
        return json({ last: out[out.length - 1], ok: out.filter((x) => x === "ok").length });
      }
      case "/ws": {
        // new WebSocket(url): the browser API.
        const ws = new WebSocket(q("ws"), q("proto") ? [q("proto")] : undefined);
        const got = [];
        const done = new Promise((resolve) => {
          ws.addEventListener("open", () => {
            ws.send("one");
            ws.send(new Uint8Array([1, 2, 3]));
            ws.send("close:4001:bye");
          });
          ws.addEventListener("message", (e) => got.push(typeof e.data === "string" ? e.data : [...new Uint8Array(e.data)]));
          ws.addEventListener("error", (e) => got.push("error: " + e.message));
          ws.addEventListener("close", (e) => resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean }));
        });
        const close = await done;
        return json({ got, close, protocol: ws.protocol, url: ws.url });
      }
      // A WebSocket proxy: the client's upgrade forwarded as is.
      case "/ws-proxy":
        return fetch(q("ws").replace(/^ws/, "http"), request);
      case "/ws-fetch": {
        const r = await fetch(q("ws").replace(/^ws/, "http"), { headers: { Upgrade: "websocket" } });
        const ws = r.webSocket;
        if (!ws) return json({ status: r.status });
        ws.accept();
        const got = [];
        const done = new Promise((resolve) => {
          ws.addEventListener("message", (e) => {
            got.push(e.data);
            if (got.length === 2) ws.close(1000, "done");
          });
          ws.addEventListener("close", (e) => resolve({ code: e.code, reason: e.reason }));
        });
        ws.send("a");
        ws.send("b");
        const close = await done;
        return json({ status: r.status, got, close });
      }
      case "/tcp": {
        const socket = connect({ hostname: q("host"), port: Number(q("port")) });
        const info = await socket.opened;
        const writer = socket.writable.getWriter();
        await writer.write(new TextEncoder().encode("ping\n"));
        const reader = socket.readable.getReader();
        const { value } = await reader.read();
        await socket.close();
        return json({ echo: new TextDecoder().decode(value), remote: info.remoteAddress });
      }
      case "/starttls": {
        const socket = connect(`127.0.0.1:${q("port")}`, { secureTransport: "starttls" });
        const w = socket.writable.getWriter();
        await w.write(new TextEncoder().encode("STARTTLS\r\n"));
        const r = socket.readable.getReader();
        const ok = new TextDecoder().decode((await r.read()).value);
        w.releaseLock();
        r.releaseLock();
        const secure = socket.startTls({ expectedServerHostname: "localhost" });
        const w2 = secure.writable.getWriter();
        await w2.write(new TextEncoder().encode("secret\n"));
        const r2 = secure.readable.getReader();
        const echo = new TextDecoder().decode((await r2.read()).value);
        await secure.close();
        return json({ ok, echo, upgraded: socket.upgraded });
      }
      // Outbound sockets held across requests (keepalive ledger tests).
      case "/ws-hold": {
        globalThis.held = globalThis.held || [];
        const n = Number(q("n") || 1);
        const opened = [];
        for (let i = 0; i < n; i++) {
          const ws = new WebSocket(q("ws"));
          globalThis.held.push(ws);
          opened.push(new Promise((resolve, reject) => {
            ws.addEventListener("open", resolve);
            ws.addEventListener("close", () => reject(new Error("closed")));
          }));
        }
        await Promise.all(opened);
        return json({ held: globalThis.held.length });
      }
      case "/ws-ping": {
        const echoes = await Promise.all((globalThis.held || []).map((ws) => new Promise((resolve) => {
          ws.addEventListener("message", (e) => resolve(e.data), { once: true });
          ws.send("still here");
        })));
        return json({ echoes });
      }
      case "/ws-release": {
        const all = globalThis.held || [];
        globalThis.held = [];
        await Promise.all(all.map((ws) => new Promise((resolve) => {
          ws.addEventListener("close", resolve);
          ws.close(1000, "done");
        })));
        return json({ closed: all.length });
      }
      // Two outbound WebSockets and a TCP socket held for `ms` within one
      // request (tokens live, then past the cap), then used and closed.
      case "/hold-all": {
        const wss = [new WebSocket(q("ws")), new WebSocket(q("ws"))];
        await Promise.all(wss.map((ws) => new Promise((resolve) => ws.addEventListener("open", resolve))));
        const socket = connect({ hostname: "127.0.0.1", port: Number(q("port")) });
        await socket.opened;
        await new Promise((r) => setTimeout(r, Number(q("ms"))));
        const echoes = await Promise.all(wss.map((ws) => new Promise((resolve) => {
          ws.addEventListener("message", (e) => resolve(e.data), { once: true });
          ws.send("still here");
        })));
        const w = socket.writable.getWriter();
        await w.write(new TextEncoder().encode("tcp still here"));
        const { value } = await socket.readable.getReader().read();
        await socket.close();
        await Promise.all(wss.map((ws) => new Promise((resolve) => {
          ws.addEventListener("close", resolve);
          ws.close(1000, "done");
        })));
        return json({ echoes, tcp: new TextDecoder().decode(value) });
      }
      // A socket the script never closes: it closes when the request ends.
      case "/tcp-forget": {
        const socket = connect({ hostname: "127.0.0.1", port: Number(q("port")) });
        await socket.opened;
        return json({ ok: true });
      }
      case "/clone": {
        const r = await fetch(up + q("path"));
        const c = r.clone();
        const copy = await c.arrayBuffer();
        return new Response(r.body, { headers: { "x-clone-bytes": `${copy.byteLength}`, "x-clone-url": c.url } });
      }
      case "/spin-after-fetch": {
        await (await fetch(up + "/hello")).text();
        for (;;) {}
      }
      case "/ws-reject": {
        const r = await fetch(q("ws").replace(/^ws/, "http"), { headers: { Upgrade: "websocket" } });
        const events = [];
        const ws = new WebSocket(q("ws"));
        await new Promise((resolve) => {
          ws.addEventListener("open", () => events.push("open"));
          ws.addEventListener("error", () => events.push("error"));
          ws.addEventListener("close", (e) => {
            events.push(`close ${e.code}`);
            resolve();
          });
        });
        return json({ status: r.status, webSocket: r.webSocket, events });
      }
      case "/ws-close-early": {
        const ws = new WebSocket(q("ws"));
        const events = [];
        const states = [ws.readyState];
        ws.close(1000, "changed my mind");
        states.push(ws.readyState);
        await new Promise((resolve) => {
          ws.addEventListener("open", () => events.push("open"));
          ws.addEventListener("error", () => events.push("error"));
          ws.addEventListener("close", () => {
            events.push("close");
            resolve();
          });
        });
        return json({ events, states });
      }
      case "/tls-now": {
        const socket = connect({ hostname: "localhost", port: Number(q("port")) }, { secureTransport: "starttls" });
        const secure = socket.startTls();
        const w = secure.writable.getWriter();
        await w.write(new TextEncoder().encode("right away\n"));
        const { value } = await secure.readable.getReader().read();
        await secure.close();
        return json({ echo: new TextDecoder().decode(value) });
      }
      // A response fetched and never read: its connection closes when the
      // request ends.
      case "/unread": {
        const r = await fetch(up + q("path"));
        return json({ status: r.status });
      }
      case "/tcp-hold": {
        const socket = connect({ hostname: "127.0.0.1", port: Number(q("port")) });
        await socket.opened;
        globalThis.tcpHeld = socket;
        return json({ ok: true });
      }
      case "/tcp-release": {
        await globalThis.tcpHeld.close();
        return json({ ok: true });
      }
      // The bug that must never happen: a WebSocket echoing every 50 ms
      // while 100 streaming subrequests are drained, cancelled and failed.
      case "/mixed": {
        const ws = new WebSocket(q("ws"));
        await new Promise((resolve, reject) => {
          ws.addEventListener("open", resolve);
          ws.addEventListener("error", reject);
        });
        let sent = 0;
        let got = 0;
        let closed = null;
        ws.addEventListener("message", () => got++);
        ws.addEventListener("close", (e) => (closed = { code: e.code, reason: e.reason }));
        const timer = setInterval(() => {
          if (closed === null) ws.send(`m${sent++}`);
        }, 50);
        const outcomes = { drained: 0, cancelled: 0, failed: 0 };
        const tasks = [];
        for (let i = 0; i < 40; i++) {
          tasks.push(fetch(up + "/stream?chunks=20&size=1000&delay_ms=5").then(async (r) => {
            const b = await r.arrayBuffer();
            if (b.byteLength === 20000) outcomes.drained++;
          }));
        }
        for (let i = 0; i < 30; i++) {
          tasks.push(fetch(up + `/hold?id=mixed${i}`).then(async (r) => {
            const reader = r.body.getReader();
            await reader.read();
            await reader.cancel();
            outcomes.cancelled++;
          }));
        }
        for (let i = 0; i < 30; i++) {
          tasks.push(fetch(up + "/fail-mid?n=100000").then((r) => r.arrayBuffer()).then(
            () => {},
            () => outcomes.failed++,
          ));
        }
        await Promise.all(tasks);
        // The reported bug struck 1-2 s after the streams ended.
        await new Promise((r) => setTimeout(r, 2000));
        clearInterval(timer);
        await new Promise((r) => setTimeout(r, 300));
        const result = { sent, got, closed, outcomes };
        ws.close(1000, "done");
        return json(result);
      }
      default:
        return new Response("not found", { status: 404 });
    }
  }
}

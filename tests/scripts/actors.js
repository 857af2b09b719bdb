// Actors end to end (tests/actors.rs): Durable Object classes in both
// forms, storage, RPC, input gates, alarms, hibernatable WebSockets and
// keepalive through outbound connections.
import { DurableObject } from "cloudflare:workers";
import { connect } from "cloudflare:sockets";

const constructions = {};
function constructed(cls) {
  constructions[cls] = (constructions[cls] ?? 0) + 1;
}

export class Counter extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    constructed("Counter");
  }
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname.endsWith("/inc")) {
      // Read-modify-write across two awaits: the input gate keeps
      // concurrent requests from interleaving here.
      const v = ((await this.ctx.storage.get("n")) ?? 0) + 1;
      await this.ctx.storage.put("n", v);
      return new Response(String(v));
    }
    return new Response(String((await this.ctx.storage.get("n")) ?? 0));
  }
  async add(by) {
    const v = ((await this.ctx.storage.get("n")) ?? 0) + by;
    await this.ctx.storage.put("n", v);
    return { value: v, id: this.ctx.id.toString(), name: this.ctx.id.name };
  }
  fail() {
    throw new RangeError("deliberate");
  }
  spin() {
    for (;;) {}
  }
}

// The older form: constructor(state, env), no base class.
export class Legacy {
  constructor(state, env) {
    this.state = state;
    this.env = env;
    constructed("Legacy");
  }
  async fetch(request) {
    return new Response(`legacy ${this.state.id} ${this.env.GREETING}`);
  }
}

export class Store extends DurableObject {
  async fetch(request) {
    const s = this.ctx.storage;
    const out = {};
    await s.deleteAll();
    await s.put("a", { nested: [1, 2, 3], when: new Date(0), big: 12345678901234567890n, bytes: new Uint8Array([7, 8]) });
    await s.put({ b: 2, c: "three", "pre:1": 1, "pre:2": 2, "pre:3": 3, "é": "accent" });
    const a = await s.get("a");
    out.a = [a.nested, a.when instanceof Date && a.when.getTime(), typeof a.big === "bigint" && a.big.toString(), [...a.bytes]];
    out.many = Object.fromEntries(await s.get(["b", "c", "missing"]));
    out.missing = (await s.get("missing")) === undefined;
    out.list = [...(await s.list()).keys()];
    out.prefix = [...(await s.list({ prefix: "pre:", reverse: true, limit: 2 })).keys()];
    out.range = [...(await s.list({ start: "b", end: "pre:2" })).keys()];
    out.startAfter = [...(await s.list({ startAfter: "pre:1", prefix: "pre:" })).keys()];
    out.deleted = [await s.delete("b"), await s.delete("b"), await s.delete(["c", "pre:1", "nope"])];
    // transaction: committed, explicitly rolled back, rolled back by a throw
    await s.transaction(async (txn) => {
      await txn.put("t1", 1);
    });
    await s.transaction(async (txn) => {
      await txn.put("t2", 2);
      txn.rollback();
    });
    try {
      await s.transaction(async (txn) => {
        await txn.put("t3", 3);
        throw new Error("abort txn");
      });
    } catch (e) {
      out.txnError = e.message;
    }
    out.txn = [await s.get("t1"), await s.get("t2"), await s.get("t3")];
    // SQL
    const sql = s.sql;
    sql.exec("CREATE TABLE IF NOT EXISTS msgs (id INTEGER PRIMARY KEY, body TEXT, score REAL, raw BLOB)");
    sql.exec("INSERT INTO msgs (body, score, raw) VALUES (?, ?, ?)", "hello", 1.5, new Uint8Array([1, 2]));
    sql.exec("INSERT INTO msgs (body, score, raw) VALUES (?, ?, ?)", "world", 2, null);
    const cur = sql.exec("SELECT id, body, score, raw FROM msgs ORDER BY id");
    out.columns = cur.columnNames;
    const rows = cur.toArray();
    out.rows = rows.map((r) => [r.id, r.body, r.score, r.raw === null ? null : [...new Uint8Array(r.raw)]]);
    out.one = sql.exec("SELECT count(*) AS n FROM msgs").one().n;
    out.raw = [...sql.exec("SELECT body FROM msgs ORDER BY id").raw()];
    out.written = sql.exec("UPDATE msgs SET score = score + 1").rowsWritten;
    for (const bad of ["SELECT * FROM _rw_kv", "SELECT * FROM nosuch"]) {
      try {
        sql.exec(bad);
        out[bad] = "no error";
      } catch (e) {
        out[bad] = e.message;
      }
    }
    out.size = sql.databaseSize > 0;
    out.sync = s.transactionSync(() => {
      sql.exec("INSERT INTO msgs (body) VALUES ('sync')");
      return sql.exec("SELECT count(*) AS n FROM msgs").one().n;
    });
    await s.deleteAll();
    out.afterDeleteAll = [(await s.list()).size, sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '_rw_%' AND name NOT LIKE 'sqlite_%'").toArray().length];
    return Response.json(out);
  }
}

// Survives a kill -9: writes, then reads back after a restart; alarms too.
export class Durable extends DurableObject {
  async fetch(request) {
    const url = new URL(request.url);
    const s = this.ctx.storage;
    if (url.pathname.endsWith("/write")) {
      const n = Number(url.searchParams.get("n"));
      for (let i = 0; i < n; i++) await s.put(`k${i}`, { i, text: "x".repeat(100) });
      await s.setAlarm(Date.now() + Number(url.searchParams.get("alarm_ms") ?? 500));
      return new Response("written");
    }
    if (url.pathname.endsWith("/read")) {
      const all = await s.list({ prefix: "k" });
      return Response.json({ count: all.size, fired: (await s.get("fired")) ?? 0, alarm: await s.getAlarm() });
    }
    return new Response("?", { status: 404 });
  }
  async alarm() {
    await this.ctx.storage.put("fired", ((await this.ctx.storage.get("fired")) ?? 0) + 1);
  }
}

// Alarms: retried with backoff when they throw; setAlarm/getAlarm/deleteAlarm.
export class Alarmed extends DurableObject {
  async fetch(request) {
    const url = new URL(request.url);
    const s = this.ctx.storage;
    if (url.pathname.endsWith("/set")) {
      await s.put("failFirst", Number(url.searchParams.get("fail") ?? 0));
      await s.put("runs", []);
      await s.put("times", []);
      await s.setAlarm(new Date(Date.now() + Number(url.searchParams.get("in") ?? 50)));
      return Response.json({ alarm: await s.getAlarm() });
    }
    if (url.pathname.endsWith("/delete")) {
      await s.deleteAlarm();
      return Response.json({ alarm: await s.getAlarm() });
    }
    return Response.json({ runs: await s.get("runs"), times: await s.get("times"), alarm: await s.getAlarm() });
  }
  async alarm(info) {
    const runs = (await this.ctx.storage.get("runs")) ?? [];
    runs.push(info.retryCount);
    await this.ctx.storage.put("runs", runs);
    // When each run started, so a test can see the backoff grow.
    const times = (await this.ctx.storage.get("times")) ?? [];
    times.push(Date.now());
    await this.ctx.storage.put("times", times);
    if (info.retryCount < (await this.ctx.storage.get("failFirst"))) throw new Error(`failing run ${info.retryCount}`);
  }
}

// Hibernatable WebSockets: a room whose sockets carry their user in an
// attachment; heartbeats are recorded in it, and an alarm closes sockets
// whose heartbeat is stale.
export class Room extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    constructed("Room");
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("auto-ping", "auto-pong"));
  }
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname.endsWith("/info")) {
      return Response.json({ sockets: this.ctx.getWebSockets().length, tagged: this.ctx.getWebSockets("user:" + url.searchParams.get("user")).length });
    }
    const user = url.searchParams.get("user") ?? "anon";
    const pair = new WebSocketPair();
    const [client, server] = Object.values(pair);
    this.ctx.acceptWebSocket(server, ["room", `user:${user}`]);
    server.serializeAttachment({ user, beat: Date.now() });
    return new Response(null, { status: 101, webSocket: client });
  }
  async webSocketMessage(ws, message) {
    const att = ws.deserializeAttachment();
    if (message === "ping") {
      ws.send(`pong ${att.user}`);
    } else if (message === "heartbeat") {
      att.beat = Date.now();
      ws.serializeAttachment(att);
      ws.send(`beat ${att.user}`);
    } else if (message.startsWith("stale-check ")) {
      // Close sockets whose heartbeat is older than N ms, by alarm.
      await this.ctx.storage.put("staleMs", Number(message.slice(12)));
      await this.ctx.storage.setAlarm(Date.now() + 20);
      ws.send("stale-check armed");
    } else if (message === "tags") {
      ws.send(`tags ${this.ctx.getTags(ws).join(",")}`);
    } else if (message === "auto-ts") {
      const t = this.ctx.getWebSocketAutoResponseTimestamp(ws);
      ws.send(`auto-ts ${t === null ? "null" : t.getTime()}`);
    } else if (message === "constructions") {
      ws.send(`constructions ${constructions.Room}`);
    } else {
      // Broadcast to everyone in the room, with the sender's attachment.
      for (const peer of this.ctx.getWebSockets("room")) peer.send(`${att.user}: ${message}`);
    }
  }
  async webSocketClose(ws, code, reason, wasClean) {
    ws.close(code === 1005 ? 1000 : code, "bye");
  }
  async alarm() {
    const staleMs = (await this.ctx.storage.get("staleMs")) ?? 1000;
    for (const ws of this.ctx.getWebSockets()) {
      const att = ws.deserializeAttachment();
      if (Date.now() - att.beat > staleMs) ws.close(4000, "stale heartbeat");
    }
  }
}

// Keepalive: an actor holding an outbound WebSocket or TCP socket stays in
// memory (up to the cap); one that only streams a fetch() does not.
export class Pinned extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    constructed("Pinned");
  }
  async fetch(request) {
    const url = new URL(request.url);
    const target = url.searchParams.get("target");
    const mode = url.searchParams.get("mode");
    if (mode === "ws") {
      this.ws = new WebSocket(target);
      await new Promise((resolve, reject) => {
        this.ws.addEventListener("open", resolve);
        this.ws.addEventListener("error", reject);
      });
    } else if (mode === "tcp") {
      const u = new URL(target);
      this.socket = connect({ hostname: u.hostname, port: Number(u.port) });
      await this.socket.opened;
    } else if (mode === "fetch") {
      const resp = await fetch(target);
      this.reader = resp.body.getReader();
      await this.reader.read();
    } else if (mode === "fetch-ws") {
      const resp = await fetch(target.replace(/^ws/, "http"), { headers: { Upgrade: "websocket" } });
      this.ws = resp.webSocket;
      this.ws.accept();
    }
    return new Response(`pinned ${mode}`);
  }
}

// Transactions: isolated (no other event runs inside one) and atomic
// (nothing acknowledged outside it is rolled back with it).
export class Ledger extends DurableObject {
  async fetch(request) {
    const url = new URL(request.url);
    const s = this.ctx.storage;
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    if (url.pathname.endsWith("/inc")) {
      const v = ((await s.get("n")) ?? 0) + 1;
      await s.put("n", v);
      return new Response(String(v));
    }
    if (url.pathname.endsWith("/slow-fail")) {
      // Adds 100 inside a transaction, waits, then throws: rolled back.
      try {
        await s.transaction(async (txn) => {
          await txn.put("n", ((await txn.get("n")) ?? 0) + 100);
          await sleep(Number(url.searchParams.get("ms") ?? 600));
          throw new Error("changed my mind");
        });
      } catch (e) {
        return new Response(`rolled back: ${e.message}`);
      }
      return new Response("committed?!");
    }
    if (url.pathname.endsWith("/late-write")) {
      // An event already running when a transaction starts: it writes
      // after the transaction began (and before it throws).
      await sleep(Number(url.searchParams.get("ms") ?? 300));
      await s.put("late", "kept");
      return new Response("late write acknowledged");
    }
    if (url.pathname.endsWith("/txn-api")) {
      // What a transaction sees of its own writes, and what it refuses
      // after rollback().
      await s.put({ a: 1, b: 2, c: 3 });
      const out = {};
      await s.transaction(async (txn) => {
        await txn.put("b", 20);
        await txn.delete("c");
        await txn.put("d", 4);
        out.inside = Object.fromEntries(await txn.list());
        out.get = [await txn.get("b"), await txn.get("c"), await txn.get("d")];
        out.many = Object.fromEntries(await txn.get(["a", "b", "c"]));
        out.outsideDuring = (await s.get("b")) ?? null;
        out.reversed = [...(await txn.list({ reverse: true, limit: 2 })).keys()];
      });
      out.after = Object.fromEntries(await s.list());
      await s.transaction(async (txn) => {
        await txn.put("e", 5);
        txn.rollback();
        try {
          await txn.put("f", 6);
          out.afterRollback = "no error";
        } catch (e) {
          out.afterRollback = e.message;
        }
      });
      out.rolledBack = [(await s.get("e")) ?? null, (await s.get("f")) ?? null];
      return Response.json(out);
    }
    return new Response(String((await s.get(url.searchParams.get("key") ?? "n")) ?? null));
  }
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    const parts = url.pathname.split("/").filter((p) => p !== "");
    const [kind, name] = parts;
    if (kind === "constructions") return Response.json(constructions);
    if (kind === "ids") {
      const a = env.COUNTER.idFromName("x");
      const b = env.COUNTER.idFromName("x");
      const u = env.COUNTER.newUniqueId();
      const errors = [];
      try {
        env.COUNTER.idFromString("nothex");
      } catch (e) {
        errors.push(e instanceof TypeError, e.message);
      }
      return Response.json({
        same: a.equals(b) && a.toString() === b.toString(),
        hex: /^[0-9a-f]{64}$/.test(a.toString()),
        name: a.name,
        uniqueDiffers: !u.equals(a),
        roundTrip: env.COUNTER.idFromString(u.toString()).equals(u),
        otherClass: env.LEGACY.idFromName("x").toString() !== a.toString(),
        errors,
      });
    }
    if (kind === "spin") {
      // Runs past the CPU limit inside the actor: this request fails (503).
      return new Response(await env.COUNTER.getByName(name).spin());
    }
    if (kind === "rpc") {
      const stub = env.COUNTER.getByName(name);
      const r = await stub.add(Number(url.searchParams.get("by") ?? 1));
      let error = null;
      try {
        await stub.fail();
      } catch (e) {
        error = `${e.name}: ${e.message}`;
      }
      let missing = null;
      try {
        await stub.nope();
      } catch (e) {
        missing = e.message;
      }
      return Response.json({ ...r, error, missing });
    }
    const ns = { counter: env.COUNTER, legacy: env.LEGACY, store: env.STORE, durable: env.DURABLE, alarmed: env.ALARMED, room: env.ROOM, pinned: env.PINNED, ledger: env.LEDGER }[kind];
    if (ns === undefined) return new Response("not found", { status: 404 });
    return ns.get(ns.idFromName(name)).fetch(request);
  },
};

// Actors (Durable Objects): namespaces, ids, stubs (fetch and RPC), the
// actor's ctx (storage, alarms, hibernatable WebSockets) and the input gate.
//
// An actor is one instance of an exported class per id. Its JS object lives
// here, keyed by `${class}:${id}`; the runtime (actor.rs) keeps its owner id,
// storage, alarms and hibernatable sockets, evicts it when idle and calls
// back through rw.actorHooks. Code of an actor runs "as" the actor
// (ops.runAs), so what it opens belongs to it, not to the request that
// called it.
//
// Input gate: while a storage operation is pending (from the call until the
// code awaiting it ran), and during blockConcurrencyWhile(), no new event
// (fetch, RPC call, WebSocket message, alarm) is delivered to the actor; they
// queue in order.
(function actors(ops, rw) {
  "use strict";

  const TypeErr = TypeError;
  const ArrayIsArray = Array.isArray;
  const ObjectFreeze = Object.freeze;
  const PromiseResolve = (v) => Promise.resolve(v);
  const PromiseReject = (e) => Promise.reject(e);
  const queueMicro = (f) => queueMicrotask(f);
  const kInternal = ObjectFreeze({});
  const kCommit = Symbol("commit");
  const kEnd = Symbol("end");
  const ID_RE = /^[0-9a-f]{64}$/;

  const classes = new Map(); // class name -> constructor
  const live = new Map(); // `${class}:${hex}` -> Actor
  const byOwner = new Map(); // owner -> Actor
  let workerEnv = undefined;
  let shard = 0;

  // The base classes of `cloudflare:workers`.
  class DurableObject {
    constructor(ctx, env) {
      this.ctx = ctx;
      this.env = env;
    }
  }
  class WorkerEntrypoint {
    constructor(ctx, env) {
      this.ctx = ctx;
      this.env = env;
    }
  }
  class RpcTarget {}

  class WebSocketRequestResponsePair {
    #request;
    #response;
    constructor(request, response) {
      if (arguments.length < 2) throw new TypeErr("WebSocketRequestResponsePair: 2 arguments required");
      this.#request = `${request}`;
      this.#response = `${response}`;
    }
    get request() {
      return this.#request;
    }
    get response() {
      return this.#response;
    }
  }

  // ------------------------------------------------------------ ids, stubs
  class DurableObjectId {
    #hex;
    #name;
    constructor(key, hex, name) {
      if (key !== kInternal) throw new TypeErr("Illegal constructor: use a namespace's idFromName(), newUniqueId() or idFromString()");
      this.#hex = hex;
      this.#name = name;
    }
    toString() {
      return this.#hex;
    }
    equals(other) {
      return other instanceof DurableObjectId && other.#hex === this.#hex;
    }
    get name() {
      return this.#name;
    }
  }

  class DurableObjectNamespace {
    #class;
    constructor(key, cls) {
      if (key !== kInternal) throw new TypeErr("Illegal constructor");
      this.#class = cls;
    }
    idFromName(name) {
      if (arguments.length < 1) throw new TypeErr("idFromName: 1 argument required");
      name = `${name}`;
      return new DurableObjectId(kInternal, ops.actorIdFromName(this.#class, name), name);
    }
    newUniqueId(_options = undefined) {
      return new DurableObjectId(kInternal, ops.actorUniqueId(), undefined);
    }
    idFromString(s) {
      s = `${s}`;
      if (!ID_RE.test(s)) {
        throw new TypeErr(`idFromString: Invalid Durable Object ID: expected 64 lowercase hex digits, got "${s}"`);
      }
      return new DurableObjectId(kInternal, s, undefined);
    }
    get(id, _options = undefined) {
      if (!(id instanceof DurableObjectId)) throw new TypeErr("get(): expected a DurableObjectId");
      return makeStub(this.#class, id);
    }
    getByName(name) {
      return this.get(this.idFromName(name));
    }
    jurisdiction(_name) {
      return this;
    }
  }

  // A stub: `fetch()`, and any other property is an RPC method.
  function makeStub(cls, id) {
    const hex = id.toString();
    const home = ops.actorHome(hex);
    const target = {
      id,
      name: id.name,
      fetch(input, init = undefined) {
        const request = init === undefined && input instanceof Request ? input : new Request(input, init);
        if (home !== shard) return remoteFetch(cls, hex, id.name, request);
        return deliver(cls, hex, id.name, (a) => {
          if (typeof a.instance.fetch !== "function") {
            throw new TypeErr(`The Durable Object class ${cls} has no fetch() method`);
          }
          return a.instance.fetch(request);
        }, "fetch");
      },
    };
    return new Proxy(target, {
      get(t, prop) {
        if (prop in t) return t[prop];
        // Not a thenable; symbols are not methods.
        if (typeof prop !== "string" || prop === "then") return undefined;
        return (...args) => {
          let cloned;
          try {
            cloned = structuredClone(args);
          } catch (e) {
            return PromiseReject(new TypeErr(`RPC ${prop}(): an argument cannot be cloned: ${e.message}`));
          }
          if (home !== shard) return ops.actorRemoteCall(cls, hex, id.name ?? null, prop, cloned);
          return deliver(cls, hex, id.name, (a) => {
            const f = prop === "constructor" ? undefined : a.instance[prop];
            if (typeof f !== "function") {
              throw new TypeErr(`The RPC receiver does not implement the method "${prop}".`);
            }
            return f.apply(a.instance, cloned);
          }, prop).then((v) => structuredClone(v));
        };
      },
    });
  }

  // A fetch() to an actor on another shard: the bodies cross whole; a 101
  // comes back with this shard's end of a bridge to the actor's socket.
  async function remoteFetch(cls, hex, name, request) {
    const body = request.body === null ? null : new Uint8Array(await request.arrayBuffer());
    const flat = [];
    for (const [n, v] of request.headers) flat.push(n, v);
    const [status, headers, rbody, socket] = await ops.actorRemoteFetch(
      cls,
      hex,
      name ?? null,
      request.method,
      request.url,
      flat,
      body,
    );
    const h = new Headers();
    for (let i = 0; i < headers.length; i += 2) h.append(headers[i], headers[i + 1]);
    if (socket !== 0) return new Response(null, { status: 101, headers: h, webSocket: rw.wsFetched(socket) });
    const nullBody = status === 101 || status === 204 || status === 205 || status === 304;
    return new Response(nullBody ? null : rbody, { status, headers: h });
  }

  function flatHeaders(headers) {
    const flat = [];
    for (const [n, v] of headers) flat.push(n, v);
    return flat;
  }

  // -------------------------------------------------------------- actors
  class Actor {
    constructor(cls, hex, name) {
      this.cls = cls;
      this.hex = hex;
      this.key = `${cls}:${hex}`;
      this.name = name;
      this.owner = ops.actorActivate(cls, hex);
      this.instance = undefined;
      this.failed = undefined;
      this.locks = 0;
      this.queue = [];
      this.sockets = new Map(); // native id -> WebSocket (hibernatable)
      this.gone = false;
    }
    // Delivers an event (`what`: its name for tail clients): now, or once
    // the gate opens.
    run(event, what) {
      const trace = ops.actorBusy(this.owner, 1, what);
      const settle = () => ops.actorBusy(this.owner, -1, trace, true);
      const failed = (e) => ops.actorBusy(this.owner, -1, trace, false, e);
      let p;
      if (this.locks > 0) {
        p = new Promise((resolve, reject) => this.queue.push(() => this.start(event).then(resolve, reject)));
      } else {
        p = this.start(event);
      }
      p.then(settle, failed);
      return p;
    }
    start(event) {
      if (this.failed !== undefined) return PromiseReject(this.failed);
      try {
        return PromiseResolve(ops.runAs(this.owner, () => event(this)));
      } catch (e) {
        return PromiseReject(e);
      }
    }
    lock() {
      this.locks++;
    }
    unlock() {
      if (--this.locks > 0) return;
      while (this.locks === 0 && this.queue.length > 0) this.queue.shift()();
    }
  }

  // The actor for (cls, hex), constructed if it is not in memory.
  function activate(cls, hex, name) {
    const key = `${cls}:${hex}`;
    let a = live.get(key);
    if (a !== undefined) return a;
    const ctor = classes.get(cls);
    if (ctor === undefined) throw new TypeErr(`no Durable Object class ${cls} is bound`);
    a = new Actor(cls, hex, name);
    live.set(key, a);
    byOwner.set(a.owner, a);
    const ctx = new DurableObjectState(kInternal, a);
    a.ctx = ctx;
    try {
      a.instance = ops.runAs(a.owner, () => new ctor(ctx, workerEnv));
    } catch (e) {
      a.failed = e;
      abort(a);
    }
    return a;
  }

  function deliver(cls, hex, name, event, what) {
    let a;
    try {
      a = activate(cls, hex, name);
    } catch (e) {
      return PromiseReject(e);
    }
    return a.run(event, what);
  }

  // The actor leaves memory (ctx.abort(), a failed constructor): the next
  // event makes a new one.
  function abort(a) {
    if (a.gone) return;
    forget(a);
    ops.actorEvicted(a.owner);
  }

  function forget(a) {
    a.gone = true;
    if (live.get(a.key) === a) live.delete(a.key);
    byOwner.delete(a.owner);
  }

  // A storage call under the input gate: its result as a promise; no event
  // is delivered until the code awaiting it ran.
  function gated(a, f) {
    let v;
    try {
      v = f();
    } catch (e) {
      return PromiseReject(e);
    }
    a.lock();
    const p = PromiseResolve(v);
    p.then(() => queueMicro(() => a.unlock()));
    return p;
  }

  // ---------------------------------------------------------- storage
  function keyOf(k) {
    return `${k}`;
  }

  function toMap(flat) {
    const m = new Map();
    for (let i = 0; i < flat.length; i += 2) m.set(flat[i], flat[i + 1]);
    return m;
  }

  function alarmTime(t) {
    const ms = t instanceof Date ? t.getTime() : Number(t);
    if (!Number.isFinite(ms)) throw new TypeErr("setAlarm(): expected a Date or a number of milliseconds since the epoch");
    return ms;
  }

  // Storage keys compare in UTF-8 byte order, which is code point order;
  // JS compares UTF-16 code units, which differ where a surrogate pair (a
  // code point past U+FFFF) meets U+E000..U+FFFF.
  function compareKeys(a, b) {
    const n = a.length < b.length ? a.length : b.length;
    for (let i = 0; i < n; i++) {
      let x = a.charCodeAt(i);
      let y = b.charCodeAt(i);
      if (x === y) continue;
      x = x >= 0xd800 && x <= 0xdfff ? x + 0x2000 : x >= 0xe000 ? x - 0x800 : x;
      y = y >= 0xd800 && y <= 0xdfff ? y + 0x2000 : y >= 0xe000 ? y - 0x800 : y;
      return x - y;
    }
    return a.length - b.length;
  }

  // What a transaction wrote: key -> { value } or DELETED.
  const DELETED = ObjectFreeze({});

  // A transaction's view of storage: its own writes over what is stored.
  // Nothing reaches the database until the closure returned; then all of
  // it does, in one SQLite transaction (ops.stCommit). So another event's
  // write (one that was already running when the transaction began) is
  // never mixed into it, and never rolled back with it.
  class DurableObjectTransaction {
    #a;
    #writes = new Map();
    // undefined: untouched; null: deleted; a number: set.
    #alarm = undefined;
    #rolledBack = false;
    #ended = false;
    constructor(key, a) {
      if (key !== kInternal) throw new TypeErr("Illegal constructor");
      this.#a = a;
    }
    #check() {
      if (this.#rolledBack) throw new Error("this transaction was rolled back: no further operations");
      if (this.#ended) throw new Error("this transaction has ended");
    }
    #stored(key) {
      const w = this.#writes.get(key);
      if (w === DELETED) return undefined;
      if (w !== undefined) return w.value;
      return ops.stGet(this.#a.owner, key);
    }
    #exists(key) {
      const w = this.#writes.get(key);
      if (w !== undefined) return w !== DELETED;
      return ops.stGetMany(this.#a.owner, [key]).length > 0;
    }
    async get(keys, _options = undefined) {
      this.#check();
      if (!ArrayIsArray(keys)) return this.#stored(keyOf(keys));
      if (keys.length > 128) throw new TypeErr("get(): at most 128 keys at once");
      const m = new Map();
      for (const k of keys.map(keyOf)) {
        const v = this.#stored(k);
        if (v !== undefined) m.set(k, v);
      }
      return m;
    }
    async put(key, value = undefined, _options = undefined) {
      this.#check();
      if (key !== null && typeof key === "object") {
        const entries = Object.keys(key).map((k) => [k, structuredClone(key[k])]);
        for (const [k, v] of entries) this.#writes.set(k, { value: v });
        return;
      }
      if (arguments.length < 2) throw new TypeErr("put(): a value is required");
      // (Cloned now: a later change to the object does not change what is written.)
      this.#writes.set(keyOf(key), { value: structuredClone(value) });
    }
    async delete(keys, _options = undefined) {
      this.#check();
      if (!ArrayIsArray(keys)) {
        const k = keyOf(keys);
        const existed = this.#exists(k);
        this.#writes.set(k, DELETED);
        return existed;
      }
      let n = 0;
      for (const k of keys.map(keyOf)) {
        if (this.#exists(k)) n++;
        this.#writes.set(k, DELETED);
      }
      return n;
    }
    async list(options = {}) {
      this.#check();
      const o = options ?? {};
      const s = (v) => (v === undefined || v === null ? null : `${v}`);
      if (o.limit !== undefined && !(Number.isInteger(o.limit) && o.limit > 0)) {
        throw new TypeErr("list(): limit must be a positive integer");
      }
      const [start, startAfter, end, prefix] = [s(o.start), s(o.startAfter), s(o.end), s(o.prefix)];
      const reverse = o.reverse === true;
      const limit = o.limit ?? null;
      // Enough stored pairs that the limit is still met once this
      // transaction's deletions took theirs out.
      const stored = limit === null ? null : limit + this.#writes.size;
      const merged = toMap(ops.stList(this.#a.owner, start, startAfter, end, prefix, reverse, stored));
      for (const [k, w] of this.#writes) {
        const inRange =
          (prefix === null || k.startsWith(prefix)) &&
          (start === null || compareKeys(k, start) >= 0) &&
          (startAfter === null || compareKeys(k, startAfter) > 0) &&
          (end === null || compareKeys(k, end) < 0);
        if (!inRange) continue;
        if (w === DELETED) merged.delete(k);
        else merged.set(k, w.value);
      }
      const keys = [...merged.keys()].sort(compareKeys);
      if (reverse) keys.reverse();
      const out = new Map();
      for (const k of limit === null ? keys : keys.slice(0, limit)) out.set(k, merged.get(k));
      return out;
    }
    async getAlarm(_options = undefined) {
      this.#check();
      return this.#alarm !== undefined ? this.#alarm : ops.stGetAlarm(this.#a.owner);
    }
    async setAlarm(time, _options = undefined) {
      this.#check();
      this.#alarm = alarmTime(time);
    }
    async deleteAlarm(_options = undefined) {
      this.#check();
      this.#alarm = null;
    }
    rollback() {
      this.#check();
      this.#rolledBack = true;
    }
    get rolledBack() {
      return this.#rolledBack;
    }
    // The closure returned: its writes go in at once, all or none (unless
    // it rolled back); the transaction is over either way.
    [kCommit]() {
      this.#ended = true;
      if (this.#rolledBack || (this.#writes.size === 0 && this.#alarm === undefined)) return;
      const puts = [];
      const deletes = [];
      for (const [k, w] of this.#writes) {
        if (w === DELETED) deletes.push(k);
        else puts.push(k, w.value);
      }
      ops.stCommit(this.#a.owner, puts, deletes, this.#alarm);
    }
    [kEnd]() {
      this.#ended = true;
    }
  }

  class SqlStorageCursor {
    #columns;
    #rows;
    #i = 0;
    #read;
    #written;
    constructor(key, [columns, rows, read, written]) {
      if (key !== kInternal) throw new TypeErr("Illegal constructor");
      this.#columns = columns;
      this.#rows = rows;
      this.#read = read;
      this.#written = written;
    }
    #object(row) {
      const o = {};
      for (let c = 0; c < this.#columns.length; c++) o[this.#columns[c]] = row[c];
      return o;
    }
    next() {
      if (this.#i >= this.#rows.length) return { done: true, value: undefined };
      return { done: false, value: this.#object(this.#rows[this.#i++]) };
    }
    toArray() {
      const out = [];
      while (this.#i < this.#rows.length) out.push(this.#object(this.#rows[this.#i++]));
      return out;
    }
    one() {
      const left = this.#rows.length - this.#i;
      if (left === 0) throw new Error("Expected exactly one result from SQL query, but got no results.");
      if (left > 1) throw new Error("Expected exactly one result from SQL query, but got multiple results.");
      return this.#object(this.#rows[this.#i++]);
    }
    *raw() {
      while (this.#i < this.#rows.length) yield this.#rows[this.#i++];
    }
    [Symbol.iterator]() {
      return this;
    }
    get columnNames() {
      return [...this.#columns];
    }
    get rowsRead() {
      return this.#read;
    }
    get rowsWritten() {
      return this.#written;
    }
  }

  class SqlStorage {
    #a;
    constructor(key, a) {
      if (key !== kInternal) throw new TypeErr("Illegal constructor");
      this.#a = a;
    }
    exec(query, ...bindings) {
      if (arguments.length < 1) throw new TypeErr("sql.exec: 1 argument required");
      return new SqlStorageCursor(kInternal, ops.stSql(this.#a.owner, `${query}`, bindings));
    }
    get databaseSize() {
      return ops.stSize(this.#a.owner);
    }
  }

  class DurableObjectStorage {
    #a;
    #sql;
    constructor(key, a) {
      if (key !== kInternal) throw new TypeErr("Illegal constructor");
      this.#a = a;
      this.#sql = new SqlStorage(kInternal, a);
    }
    get(keys, _options = undefined) {
      const a = this.#a;
      if (ArrayIsArray(keys)) return gated(a, () => toMap(ops.stGetMany(a.owner, keys.map(keyOf))));
      return gated(a, () => ops.stGet(a.owner, keyOf(keys)));
    }
    put(key, value = undefined, _options = undefined) {
      const a = this.#a;
      if (key !== null && typeof key === "object") {
        const flat = [];
        for (const k of Object.keys(key)) flat.push(k, key[k]);
        return gated(a, () => {
          ops.stPutMany(a.owner, flat);
        });
      }
      if (arguments.length < 2) return PromiseReject(new TypeErr("put(): a value is required"));
      return gated(a, () => {
        ops.stPut(a.owner, keyOf(key), value);
      });
    }
    delete(keys, _options = undefined) {
      const a = this.#a;
      if (ArrayIsArray(keys)) return gated(a, () => ops.stDeleteMany(a.owner, keys.map(keyOf)));
      return gated(a, () => ops.stDelete(a.owner, keyOf(keys)));
    }
    list(options = {}) {
      const a = this.#a;
      const o = options ?? {};
      const s = (v) => (v === undefined || v === null ? null : `${v}`);
      if (o.limit !== undefined && !(Number.isInteger(o.limit) && o.limit > 0)) {
        return PromiseReject(new TypeErr("list(): limit must be a positive integer"));
      }
      return gated(a, () =>
        toMap(ops.stList(a.owner, s(o.start), s(o.startAfter), s(o.end), s(o.prefix), o.reverse === true, o.limit ?? null)),
      );
    }
    deleteAll(_options = undefined) {
      const a = this.#a;
      return gated(a, () => {
        ops.stDeleteAll(a.owner);
      });
    }
    // Isolated: the input gate stays shut while the closure runs, so no
    // other event of the actor starts inside it. Atomic: its writes are
    // kept aside and go in together when it returns, or not at all when it
    // throws or rolls back (see DurableObjectTransaction).
    async transaction(closure) {
      const a = this.#a;
      a.lock();
      const txn = new DurableObjectTransaction(kInternal, a);
      try {
        const result = await closure(txn);
        txn[kCommit]();
        return result;
      } finally {
        txn[kEnd]();
        a.unlock();
      }
    }
    transactionSync(closure) {
      const a = this.#a;
      ops.stTxn(a.owner, 0);
      let result;
      try {
        result = closure();
      } catch (e) {
        ops.stTxn(a.owner, 2);
        throw e;
      }
      ops.stTxn(a.owner, 1);
      return result;
    }
    sync() {
      // Every write is in the database (its WAL) when its promise resolves.
      return PromiseResolve();
    }
    getAlarm(_options = undefined) {
      const a = this.#a;
      return gated(a, () => ops.stGetAlarm(a.owner));
    }
    setAlarm(time, _options = undefined) {
      const a = this.#a;
      let ms;
      try {
        ms = alarmTime(time);
      } catch (e) {
        return PromiseReject(e);
      }
      return gated(a, () => {
        ops.stSetAlarm(a.owner, ms);
      });
    }
    deleteAlarm(_options = undefined) {
      const a = this.#a;
      return gated(a, () => {
        ops.stSetAlarm(a.owner, null);
      });
    }
    get sql() {
      return this.#sql;
    }
  }

  // ------------------------------------------------------------ the ctx
  function socketFor(a, id) {
    let ws = a.sockets.get(id);
    if (ws === undefined) {
      ws = rw.wsRevive(id);
      a.sockets.set(id, ws);
    }
    return ws;
  }

  class DurableObjectState {
    #a;
    #storage;
    #id;
    #eventTimeout = null;
    constructor(key, a) {
      if (key !== kInternal) throw new TypeErr("Illegal constructor");
      this.#a = a;
      this.#storage = new DurableObjectStorage(kInternal, a);
      this.#id = new DurableObjectId(kInternal, a.hex, a.name);
    }
    get id() {
      return this.#id;
    }
    get storage() {
      return this.#storage;
    }
    waitUntil(promise) {
      rw.trackWaitUntil(PromiseResolve(promise).then(undefined, (e) => console.error("waitUntil:", e)));
    }
    blockConcurrencyWhile(callback) {
      const a = this.#a;
      a.lock();
      let p;
      try {
        p = PromiseResolve(callback());
      } catch (e) {
        p = PromiseReject(e);
      }
      return p.then(
        (v) => {
          a.unlock();
          return v;
        },
        (e) => {
          // As in Durable Objects: the object is reset.
          a.failed = e;
          abort(a);
          a.unlock();
          throw e;
        },
      );
    }
    acceptWebSocket(ws, tags = []) {
      const a = this.#a;
      const list = [...tags].map((t) => `${t}`);
      const id = rw.wsAcceptWith(ws, () => ops.actorAcceptWebSocket(a.owner, list));
      a.sockets.set(id, ws);
    }
    getWebSockets(tag = undefined) {
      const a = this.#a;
      return ops.actorSockets(a.owner, tag === undefined ? undefined : `${tag}`).map((id) => socketFor(a, id));
    }
    getTags(ws) {
      return ops.actorSocketTags(rw.wsId(ws));
    }
    setWebSocketAutoResponse(pair = undefined) {
      const a = this.#a;
      if (pair === undefined || pair === null) {
        ops.actorAutoResponse(a.owner, undefined, "");
        this.autoResponse = null;
        return;
      }
      if (!(pair instanceof WebSocketRequestResponsePair)) {
        throw new TypeErr("setWebSocketAutoResponse(): expected a WebSocketRequestResponsePair");
      }
      ops.actorAutoResponse(a.owner, pair.request, pair.response);
      this.autoResponse = pair;
    }
    getWebSocketAutoResponse() {
      return this.autoResponse ?? null;
    }
    getWebSocketAutoResponseTimestamp(ws) {
      const t = ops.actorAutoResponseAt(rw.wsId(ws));
      return t === null ? null : new Date(t);
    }
    setHibernatableWebSocketEventTimeout(ms = undefined) {
      this.#eventTimeout = ms === undefined ? null : Number(ms);
    }
    getHibernatableWebSocketEventTimeout() {
      return this.#eventTimeout;
    }
    abort(reason = undefined) {
      const a = this.#a;
      a.failed = reason instanceof Error ? reason : new Error(reason === undefined ? "the actor was aborted" : `${reason}`);
      abort(a);
    }
  }

  // ------------------------------------------------- hooks for the runtime
  rw.actorHooks = ObjectFreeze({
    // env[binding] for an exported class.
    register(cls, ctor, env, thisShard) {
      classes.set(cls, ctor);
      workerEnv = env;
      shard = thisShard;
      return new DurableObjectNamespace(kInternal, cls);
    },
    // The runtime evicts (or hibernates) an idle actor.
    evict(owner, why) {
      const a = byOwner.get(owner);
      if (a === undefined) return;
      forget(a);
      if (why === "aborted") {
        // Reset (it ran past its CPU limit): what waited at its gate fails.
        a.failed = new Error(`the Durable Object ${a.cls} was reset: its script exceeded the CPU time limit`);
        a.locks = 0;
        const q = a.queue;
        a.queue = [];
        for (const f of q) f();
      }
    },
    // An alarm is due: a promise of the handler's outcome.
    alarm(cls, hex, retryCount) {
      return deliver(cls, hex, undefined, (a) => {
        if (typeof a.instance.alarm !== "function") return undefined;
        return a.instance.alarm({ retryCount, isRetry: retryCount > 0 });
      }, "alarm");
    },
    // A fetch() from another shard: [status, flat headers, body, socket id].
    remoteFetch(cls, hex, name, method, url, flat, body) {
      const headers = new Headers();
      for (let i = 0; i < flat.length; i += 2) headers.append(flat[i], flat[i + 1]);
      const init = { method, headers };
      if (body !== null && method !== "GET" && method !== "HEAD") init.body = body;
      const request = new Request(url, init);
      return deliver(cls, hex, name, (a) => {
        if (typeof a.instance.fetch !== "function") {
          throw new TypeErr(`The Durable Object class ${cls} has no fetch() method`);
        }
        return a.instance.fetch(request);
      }, "fetch").then(async (resp) => {
        if (!(resp instanceof Response)) throw new TypeErr("fetch() of a Durable Object must return a Response");
        const ws = resp.webSocket;
        if (ws !== null && ws !== undefined) return [resp.status, flatHeaders(resp.headers), null, rw.wsServerId(ws)];
        const buf = resp.body === null ? null : new Uint8Array(await resp.arrayBuffer());
        return [resp.status, flatHeaders(resp.headers), buf, 0];
      });
    },
    // An RPC call from another shard: the result (cloned by the runtime).
    remoteCall(cls, hex, name, method, args) {
      return deliver(cls, hex, name, (a) => {
        const f = method === "constructor" ? undefined : a.instance[method];
        if (typeof f !== "function") {
          throw new TypeErr(`The RPC receiver does not implement the method "${method}".`);
        }
        return f.apply(a.instance, args);
      }, method);
    },
    // Events of a hibernatable socket: [kind, ...] as for rw.wsDispatch.
    socketEvents(key, id, batch) {
      const sep = key.indexOf(":");
      let a;
      try {
        a = activate(key.slice(0, sep), key.slice(sep + 1), undefined);
      } catch (e) {
        console.error(`cannot wake ${key}:`, e);
        return;
      }
      const ws = socketFor(a, id);
      const report = (what) => (e) => console.error(`${what} of ${a.cls} failed:`, e);
      for (let i = 0; i < batch.length; ) {
        const kind = batch[i];
        if (kind === 0 || kind === 1) {
          const data = kind === 1 ? rw.wsBinaryData(ws, batch[i + 1]) : batch[i + 1];
          i += 2;
          a.run((a) => a.instance.webSocketMessage?.(ws, data), "webSocketMessage").catch(report("webSocketMessage()"));
        } else if (kind === 2) {
          const message = batch[i + 1];
          i += 2;
          a.run((a) => a.instance.webSocketError?.(ws, new TypeErr(message)), "webSocketError").catch(
            report("webSocketError()"),
          );
        } else {
          const code = batch[i + 1];
          const reason = batch[i + 2];
          const wasClean = batch[i + 3];
          i += 4;
          rw.wsPeerClosed(ws);
          a.sockets.delete(id);
          a.run((a) => a.instance.webSocketClose?.(ws, code, reason, wasClean), "webSocketClose").catch(
            report("webSocketClose()"),
          );
        }
      }
    },
  });

  rw.builtinModules = rw.builtinModules || {};
  rw.builtinModules["cloudflare:workers"] = ObjectFreeze({
    DurableObject,
    WorkerEntrypoint,
    RpcTarget,
    WebSocketRequestResponsePair,
  });
  rw.define("WebSocketRequestResponsePair", WebSocketRequestResponsePair);
  rw.define("DurableObjectId", DurableObjectId);
  rw.define("DurableObjectNamespace", DurableObjectNamespace);
});

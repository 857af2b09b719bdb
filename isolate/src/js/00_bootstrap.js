// The Workers API surface that lives in JS, evaluated once per context.
//
// Every file in js/ is a function expression `(function (ops, rw) { ... })`
// called in file-name order with the native ops and `rw`, an internal object
// shared by the files (never visible to user code). This file must run first:
// it fills `rw.define` and `rw.hooks` (what the runtime calls per request).
// Builtins are captured up front so a script that monkey-patches them cannot
// break the runtime's own paths.
(function bootstrap(ops, rw) {
  "use strict";

  const ObjectFreeze = Object.freeze;
  const ArrayIsArray = Array.isArray;
  const StringToLowerCase = Function.prototype.call.bind(String.prototype.toLowerCase);
  const RegExpTest = Function.prototype.call.bind(RegExp.prototype.test);
  const JSONStringify = JSON.stringify;
  const JSONParse = JSON.parse;
  const SymbolIterator = Symbol.iterator;
  const TypeErr = TypeError;
  const PromiseResolve = (v) => Promise.resolve(v);
  const PromiseThen = Promise.prototype.then;
  const ReflectApply = Reflect.apply;

  const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
  const BAD_VALUE = /[\0\r\n]/;

  function normalizeName(name) {
    name = `${name}`;
    if (!RegExpTest(TOKEN, name)) {
      throw new TypeErr(`Headers: invalid header name "${name}"`);
    }
    return StringToLowerCase(name);
  }

  function normalizeValue(value) {
    value = `${value}`.replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, "");
    if (RegExpTest(BAD_VALUE, value)) {
      throw new TypeErr(`Headers: invalid header value "${value}"`);
    }
    return value;
  }

  // ---------------------------------------------------------------- Headers
  const kList = Symbol("headerList");
  const kGuard = Symbol("guard");

  class Headers {
    constructor(init = undefined) {
      this[kList] = [];
      this[kGuard] = "none";
      if (init === undefined || init === null) return;
      if (init instanceof Headers) {
        for (const [n, v] of init[kList]) this[kList].push([n, v]);
      } else if (typeof init === "object" && typeof init[SymbolIterator] === "function") {
        for (const pair of init) {
          if (!pair || typeof pair[SymbolIterator] !== "function") {
            throw new TypeErr("Headers: each init entry must be a [name, value] pair");
          }
          const arr = [...pair];
          if (arr.length !== 2) {
            throw new TypeErr("Headers: each init entry must have exactly two items");
          }
          this.append(arr[0], arr[1]);
        }
      } else if (typeof init === "object") {
        for (const key of Object.keys(init)) this.append(key, init[key]);
      } else {
        throw new TypeErr("Headers: init must be an object, an iterable of pairs, or Headers");
      }
    }
    append(name, value) {
      checkGuard(this);
      this[kList].push([normalizeName(name), normalizeValue(value)]);
    }
    set(name, value) {
      checkGuard(this);
      const n = normalizeName(name);
      const v = normalizeValue(value);
      const list = this[kList];
      let found = false;
      for (let i = 0; i < list.length; i++) {
        if (list[i][0] === n) {
          if (!found) {
            list[i][1] = v;
            found = true;
          } else {
            list.splice(i--, 1);
          }
        }
      }
      if (!found) list.push([n, v]);
    }
    delete(name) {
      checkGuard(this);
      const n = normalizeName(name);
      this[kList] = this[kList].filter((e) => e[0] !== n);
    }
    get(name) {
      const n = normalizeName(name);
      let out = null;
      for (const [k, v] of this[kList]) {
        if (k === n) out = out === null ? v : `${out}, ${v}`;
      }
      return out;
    }
    getSetCookie() {
      const out = [];
      for (const [k, v] of this[kList]) if (k === "set-cookie") out.push(v);
      return out;
    }
    has(name) {
      const n = normalizeName(name);
      return this[kList].some((e) => e[0] === n);
    }
    forEach(callback, thisArg = undefined) {
      for (const [k, v] of this.entries()) callback.call(thisArg, v, k, this);
    }
    *entries() {
      // Sorted and combined, as the spec's iteration requires; set-cookie stays apart.
      const names = [...new Set(this[kList].map((e) => e[0]))].sort();
      for (const n of names) {
        if (n === "set-cookie") {
          for (const v of this.getSetCookie()) yield [n, v];
        } else {
          yield [n, this.get(n)];
        }
      }
    }
    *keys() {
      for (const [k] of this.entries()) yield k;
    }
    *values() {
      for (const [, v] of this.entries()) yield v;
    }
    [SymbolIterator]() {
      return this.entries();
    }
    get [Symbol.toStringTag]() {
      return "Headers";
    }
  }

  function checkGuard(h) {
    if (h[kGuard] === "immutable") throw new TypeErr("Headers: these headers are immutable");
  }

  // For headers the runtime itself sets (known-valid, lower-case names): no
  // validation work on the hot path of every Response.
  function hasInternal(h, lowerName) {
    const list = h[kList];
    for (let i = 0; i < list.length; i++) if (list[i][0] === lowerName) return true;
    return false;
  }

  // The body type Response.json hands to the Response it makes (read and
  // cleared first thing by the constructor).
  let bodyTypeOverride = null;

  // ------------------------------------------------------------------ Bodies
  const encoder = { encode: (s) => ops.utf8Encode(`${s}`) };

  // Extracts a body (the Fetch spec's "extract a body"): { body, type },
  // where body is what the object keeps while nobody looks at it: null, a
  // string, a Uint8Array (a copy of a buffer source, or a Blob's immutable
  // bytes: never handed out without a copy), or a ReadableStream. A string
  // or bytes go to the connection whole; `.body` turns them into a stream
  // the moment a script looks (bodyOf).
  function extractBody(body) {
    if (body === undefined || body === null) return { body: null, type: null };
    if (typeof body === "string") return { body, type: "text/plain;charset=UTF-8" };
    if (body instanceof ArrayBuffer) return { body: new Uint8Array(body.slice(0)), type: null };
    if (ArrayBuffer.isView(body)) {
      const view = new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
      return { body: view.slice(), type: null };
    }
    // Later files add these kinds; they are looked up when a body is made.
    if (typeof rw.isReadableStream === "function" && rw.isReadableStream(body)) {
      return { body, type: null };
    }
    if (typeof rw.isBlob === "function" && rw.isBlob(body)) {
      return { body: rw.blobBytes(body), type: body.type || null };
    }
    if (typeof rw.isFormData === "function" && rw.isFormData(body)) {
      return rw.serializeFormData(body);
    }
    if (typeof rw.isURLSearchParams === "function" && rw.isURLSearchParams(body)) {
      return { body: `${body}`, type: "application/x-www-form-urlencoded;charset=UTF-8" };
    }
    return { body: `${body}`, type: "text/plain;charset=UTF-8" };
  }

  function isStream(body) {
    return body !== null && typeof body === "object" && typeof rw.isReadableStream === "function" && rw.isReadableStream(body);
  }

  // (UTF-8 decode: a leading BOM dropped, bad bytes as U+FFFD.)
  function bodyToText(body) {
    if (body === null) return "";
    if (typeof body === "string") return body;
    return ops.utf8Decode(body, true);
  }

  function bodyToArrayBuffer(body) {
    if (body === null) return new ArrayBuffer(0);
    if (typeof body === "string") return encoder.encode(body).buffer;
    if (body instanceof ArrayBuffer) return body.slice(0);
    return body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength);
  }

  // A whole body's bytes, never shared with the body itself.
  function bodyToBytes(body) {
    return new Uint8Array(bodyToArrayBuffer(body));
  }

  const kBody = Symbol("body");
  const kSignal = Symbol("signal");
  const kReqId = Symbol("requestId");

  // The abort reason for a client that went away: a DOMException
  // "AbortError" whose message says what happened.
  function disconnectReason(why) {
    return rw.newDOMExceptionWithoutStack(`The client disconnected (${why})`, "AbortError");
  }
  rw.disconnectReason = disconnectReason;
  const kUsed = Symbol("bodyUsed");
  // A body still in native hands (the socket's, a fetch() response's): its
  // id until the script looks at the body, when it becomes a stream (made
  // by obj[kNativeMake], or a plain socket body). Handed back unlooked-at,
  // it never becomes a JS object at all.
  const kNativeBody = Symbol("nativeBody");
  const kNativeMake = Symbol("nativeMake");

  // Streams made for a whole body the script looked at but has not read:
  // stream -> { body, handle }. Handed back untouched (returned as a
  // response, consumed with text() and the like), the bytes go whole and
  // the stream ends locked and disturbed, as if it had been read.
  const fullBodies = new WeakMap();

  // A byte stream over a whole body: its bytes arrive in one chunk (a copy:
  // a byte stream takes the chunk's buffer) when first read.
  function fullBodyStream(body) {
    const handle = rw.newNativeReadable(
      {
        pull(h) {
          fullBodies.delete(h.stream);
          h.enqueue(typeof body === "string" ? encoder.encode(body) : new Uint8Array(body));
          h.close();
        },
      },
      0,
      { type: "bytes" },
    );
    if (typeof body === "string" ? body.length > 0 : body.byteLength > 0) {
      fullBodies.set(handle.stream, { body, handle });
    } else {
      // Nothing to read: the stream just closes.
      handle.close();
    }
    return handle.stream;
  }

  // A stream as it is after "fully read body": closed, locked, disturbed.
  function spendStream(stream, handle = undefined) {
    if (handle !== undefined) handle.close();
    const reader = rw.streamReader(stream);
    reader.pump(1, 0);
  }

  function spentStream() {
    const handle = rw.newNativeReadable(undefined, 0, { type: "bytes" });
    spendStream(handle.stream, handle);
    return handle.stream;
  }

  // The whole body of an untouched stream made by fullBodyStream (which it
  // leaves spent), or undefined.
  function takeFullBody(stream) {
    const e = fullBodies.get(stream);
    if (e === undefined || rw.isLocked(stream) || rw.isDisturbed(stream)) return undefined;
    fullBodies.delete(stream);
    spendStream(stream, e.handle);
    return e.body;
  }

  // The body as a value the script may see (the `body` attribute): null or
  // a ReadableStream. A native body becomes a stream over its source, a
  // whole one a stream over its bytes, and a body already taken whole (by
  // text() and the like, or moved to another Request) a spent stream.
  function bodyOf(obj) {
    const id = obj[kNativeBody];
    if (id !== undefined && id !== null) {
      obj[kNativeBody] = null;
      const make = obj[kNativeMake];
      obj[kBody] = make !== undefined ? make(id) : socketBody(id);
      return obj[kBody];
    }
    const body = obj[kBody];
    if (body === null) {
      if (obj[kUsed]) obj[kBody] = spentStream();
      return obj[kBody];
    }
    if (isStream(body)) return body;
    obj[kBody] = obj[kUsed] ? spentStream() : fullBodyStream(body);
    return obj[kBody];
  }

  // Takes a native body out of `obj` (for the runtime, or the next hop of
  // a fetch): its id, or null if it has none or the script looked at it.
  // `obj` is used from then on.
  function takeNativeOf(obj) {
    const id = obj[kNativeBody];
    if (id === undefined || id === null) return null;
    obj[kNativeBody] = null;
    obj[kUsed] = true;
    return id;
  }

  // Whether the body can no longer be read ("unusable": disturbed or locked).
  function isUnusable(obj) {
    if (obj[kUsed]) return true;
    const b = obj[kBody];
    return isStream(b) && (rw.isLocked(b) || rw.isDisturbed(b));
  }

  // The body for a reader: the whole body if it is at hand without a
  // stream (a string, bytes, or null; the object is used from then on), or
  // else its ReadableStream. Throws a TypeError if it was used. With
  // `asText`, a request body that has all arrived comes as its text.
  // Bytes may be the body's own (a Blob's, a clone's): callers copy.
  function bodyForReading(obj, asText = false) {
    if (isUnusable(obj)) throw new TypeErr("Body has already been used (its stream is locked or read)");
    const id = obj[kNativeBody];
    if (id !== undefined && id !== null) {
      if (obj[kNativeMake] === undefined) {
        // A request body that has all arrived is taken whole, without a stream.
        const all = ops.bodyTakeAll(id, asText);
        if (all !== undefined) {
          obj[kNativeBody] = null;
          obj[kBody] = null;
          obj[kUsed] = true;
          return all;
        }
      }
    } else {
      const body = obj[kBody];
      if (body === null) return null;
      if (!isStream(body)) {
        // A whole body nobody looked at: taken as it is, no stream made.
        obj[kUsed] = true;
        return body;
      }
    }
    const stream = bodyOf(obj);
    const whole = takeFullBody(stream);
    return whole !== undefined ? whole : stream;
  }

  // Resolves with the whole body: a string, bytes, or null. A stream body is
  // read to its end (the request body streams in from the socket this way).
  function consume(obj, asText = false) {
    let body;
    try {
      body = bodyForReading(obj, asText);
    } catch (e) {
      return Promise.reject(e);
    }
    return isStream(body) ? rw.readAll(body) : Promise.resolve(body);
  }

  // A clone's body: the same bytes for a whole body; for a stream, the
  // stream is teed (this object keeps one branch, the clone gets the other).
  function teeBody(obj, what) {
    if (isUnusable(obj)) throw new TypeErr(`${what}: body has already been used`);
    const id = obj[kNativeBody];
    if (id === undefined || id === null) {
      const body = obj[kBody];
      if (!isStream(body)) return body;
      const whole = fullBodies.get(body);
      if (whole !== undefined && !rw.isLocked(body) && !rw.isDisturbed(body)) {
        // Still untouched: both keep the same bytes, each its own stream.
        return fullBodyStream(whole.body);
      }
    }
    const body = bodyOf(obj);
    const [a, b] = rw.ReadableStream.prototype.tee.call(body);
    obj[kBody] = a;
    return b;
  }

  const BodyMixin = {
    text() {
      return consume(this, true).then(bodyToText);
    },
    json() {
      return consume(this, true).then((b) => JSONParse(bodyToText(b)));
    },
    arrayBuffer() {
      return consume(this).then(bodyToArrayBuffer);
    },
    bytes() {
      return consume(this).then(bodyToBytes);
    },
    blob() {
      const type = this.headers.get("content-type");
      return consume(this).then((b) => rw.newBlob(bodyToBytes(b), type === null ? "" : type));
    },
  };

  function mixBody(cls) {
    for (const k of Object.keys(BodyMixin)) {
      Object.defineProperty(cls.prototype, k, {
        value: BodyMixin[k],
        writable: true,
        configurable: true,
      });
    }
    Object.defineProperty(cls.prototype, "bodyUsed", {
      get() {
        const b = this[kBody];
        return this[kUsed] || (isStream(b) && rw.isDisturbed(b));
      },
      configurable: true,
    });
  }

  // ----------------------------------------------------------------- Request
  const METHODS = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"];

  // Set by makeRequest: the URL of an incoming request is already the
  // serialization of a parsed URL (read and cleared first thing by the
  // Request constructor).
  let trustedUrl = false;

  // A Request's URL: absolute, no credentials (the Fetch spec's
  // constructor steps), serialized.
  function requestUrl(input) {
    const text = `${input}`;
    const parts = ops.urlParse(text);
    if (parts === undefined) {
      throw new TypeErr(`Request: invalid URL ${JSONStringify(text)} (a Request needs an absolute URL)`);
    }
    // (parts: [href, start, end, ...] for protocol, username, password, ...)
    if (parts[3] !== parts[4] || parts[5] !== parts[6]) {
      throw new TypeErr(`Request: the URL ${JSONStringify(text)} includes credentials`);
    }
    return parts[0];
  }

  class Request {
    constructor(input, init = {}) {
      const trusted = trustedUrl;
      trustedUrl = false;
      if (init === null || init === undefined) init = {};
      let url;
      let method = "GET";
      let headers;
      let body = null;
      let native = null;
      let from = null;
      if (input instanceof Request) {
        url = input.url;
        method = input.method;
        headers = new Headers(input.headers);
        from = input;
      } else {
        url = trusted ? input : requestUrl(input);
      }
      if (init.method !== undefined) {
        const m = `${init.method}`;
        if (!RegExpTest(TOKEN, m)) throw new TypeErr(`Request: invalid method "${m}"`);
        const upper = m.toUpperCase();
        method = METHODS.includes(upper) ? upper : m;
      }
      if (init.headers !== undefined) headers = new Headers(init.headers);
      if (init instanceof Request) {
        // `fetch(url, request)`: the request's body moves over as it is
        // (natively for an incoming request's body).
        from = init;
      } else if (init.body !== undefined && init.body !== null) {
        from = null;
        const extracted = extractBody(init.body);
        body = extracted.body;
        if (extracted.type !== null) {
          if (headers === undefined) headers = new Headers();
          if (!headers.has("content-type")) headers.append("content-type", extracted.type);
        }
      }
      if (from !== null && (from[kNativeBody] !== null || from[kBody] !== null)) {
        if (isUnusable(from)) throw new TypeErr("Request: the body of the given Request has already been used");
        native = takeNativeOf(from);
        body = native !== null ? null : from[kBody];
        from[kUsed] = true;
      }
      if ((body !== null || native !== null) && (method === "GET" || method === "HEAD")) {
        throw new TypeErr("Request with GET/HEAD method cannot have body");
      }
      this.url = url;
      this.method = method;
      this.headers = headers || new Headers();
      const redirect = init.redirect !== undefined ? `${init.redirect}` : input instanceof Request ? input.redirect : "follow";
      if (redirect !== "follow" && redirect !== "manual" && redirect !== "error") {
        throw new TypeErr(`Request: invalid redirect mode "${redirect}"`);
      }
      this.redirect = redirect;
      this.integrity = init.integrity !== undefined ? `${init.integrity}` : input instanceof Request ? input.integrity : "";
      this.keepalive = init.keepalive !== undefined ? !!init.keepalive : input instanceof Request ? input.keepalive : false;
      this[kBody] = body;
      this[kNativeBody] = native;
      // (A Request's signal is read raw: looking at an incoming request's
      // `signal` would start watching its client for nothing.)
      const initSignal = init instanceof Request ? init[kSignal] : init.signal;
      this[kSignal] =
        initSignal !== undefined && initSignal !== null ? initSignal : input instanceof Request ? input[kSignal] : null;
      this[kReqId] = null;
      this[kUsed] = false;
    }
    get body() {
      return bodyOf(this);
    }
    // Aborts when the client of an incoming request goes away (the reason
    // names the disconnect). Made on first use: a request that never looks
    // at it costs nothing.
    get signal() {
      if (this[kSignal] === null) {
        const signal = rw.newAbortSignal();
        this[kSignal] = signal;
        if (this[kReqId] !== null) {
          const gone = ops.watchRequest(this[kReqId], signal);
          if (gone) rw.abortSignal(signal, disconnectReason(gone));
        }
      }
      return this[kSignal];
    }
    clone() {
      if (this[kUsed]) throw new TypeErr("Request.clone: body has already been used");
      const body = teeBody(this, "Request.clone");
      // (Made from this request, which keeps its own branch: not moved.)
      const mine = this[kBody];
      this[kBody] = null;
      const r = new Request(this);
      this[kBody] = mine;
      r[kBody] = body;
      return r;
    }
    get [Symbol.toStringTag]() {
      return "Request";
    }
  }
  mixBody(Request);

  // ---------------------------------------------------------------- Response
  const kStatus = Symbol("status");
  const kUrl = Symbol("url");
  const kRedirected = Symbol("redirected");
  const kStatusText = Symbol("statusText");
  const kHeaders = Symbol("headers");
  const kWebSocket = Symbol("webSocket");

  class Response {
    constructor(body = null, init = {}) {
      const typeOverride = bodyTypeOverride;
      bodyTypeOverride = null;
      const status = init.status === undefined ? 200 : init.status | 0;
      const webSocket = init.webSocket === undefined ? null : init.webSocket;
      if (webSocket !== null) {
        if (!rw.isWebSocket(webSocket)) {
          throw new TypeErr("Response: webSocket must be a WebSocket (from a WebSocketPair)");
        }
        if (status !== 101) {
          throw new RangeError(`Response: a response with a webSocket must have status 101, not ${status}`);
        }
      } else if (status < 200 || status > 599) {
        throw new RangeError(
          status === 101
            ? "Response: status 101 needs a webSocket (the client end of a WebSocketPair)"
            : `Response: status ${status} is outside 200-599`,
        );
      }
      // A copy, also of a Headers object: changing it later changes nothing here.
      const headers = new Headers(init.headers);
      const extracted = extractBody(body);
      if (extracted.body !== null && (status === 204 || status === 304)) {
        throw new TypeErr(`Response: status ${status} cannot have a body`);
      }
      const type = typeOverride !== null && extracted.type !== null ? typeOverride : extracted.type;
      if (type !== null && !hasInternal(headers, "content-type")) {
        headers[kList].push(["content-type", type]);
      }
      this[kStatus] = status;
      this[kStatusText] = init.statusText === undefined ? "" : `${init.statusText}`;
      this[kHeaders] = headers;
      this[kBody] = extracted.body;
      this[kUsed] = false;
      this[kWebSocket] = webSocket;
      this[kUrl] = "";
      this[kRedirected] = false;
    }
    get url() {
      return this[kUrl];
    }
    get type() {
      return this[kStatus] === 0 ? "error" : "default";
    }
    get webSocket() {
      return this[kWebSocket];
    }
    get status() {
      return this[kStatus];
    }
    get statusText() {
      return this[kStatusText];
    }
    get ok() {
      return this[kStatus] >= 200 && this[kStatus] < 300;
    }
    get headers() {
      return this[kHeaders];
    }
    get body() {
      return bodyOf(this);
    }
    get redirected() {
      return this[kRedirected];
    }
    clone() {
      if (this[kUsed]) throw new TypeErr("Response.clone: body has already been used");
      if (this[kWebSocket] !== null) throw new TypeErr("Response.clone: a WebSocket response cannot be cloned");
      const r = new Response(null, { statusText: this[kStatusText], headers: this[kHeaders] });
      r[kStatus] = this[kStatus];
      r[kBody] = teeBody(this, "Response.clone");
      r[kUrl] = this[kUrl];
      r[kRedirected] = this[kRedirected];
      return r;
    }
    static json(data, init = {}) {
      const text = JSONStringify(data);
      if (text === undefined) throw new TypeErr("Response.json: value is not JSON-serializable");
      bodyTypeOverride = "application/json";
      try {
        return new Response(text, init);
      } finally {
        bodyTypeOverride = null;
      }
    }
    static redirect(url, status = 302) {
      if (![301, 302, 303, 307, 308].includes(status)) {
        throw new RangeError(`Response.redirect: invalid redirect status ${status}`);
      }
      return new Response(null, { status, headers: { location: `${url}` } });
    }
    static error() {
      const r = new Response(null, { status: 200 });
      r[kStatus] = 0;
      return r;
    }
    get [Symbol.toStringTag]() {
      return "Response";
    }
  }
  mixBody(Response);

  // ----------------------------------------------------------------- console
  function format(args) {
    let out = "";
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      if (i > 0) out += " ";
      if (typeof a === "string") out += a;
      else if (a instanceof Error) out += a.stack || `${a}`;
      else {
        try {
          out += typeof a === "object" && a !== null ? JSONStringify(a) : `${a}`;
        } catch {
          out += `${a}`;
        }
      }
    }
    return out;
  }
  const console = {
    log: (...a) => ops.log(1, format(a)),
    info: (...a) => ops.log(4, format(a)),
    debug: (...a) => ops.log(0, format(a)),
    warn: (...a) => ops.log(2, format(a)),
    error: (...a) => ops.log(3, format(a)),
  };

  // --------------------------------------------------------- install globals
  // Globals are non-enumerable, writable and configurable, as in browsers.
  const define = (name, value) =>
    Object.defineProperty(globalThis, name, {
      value,
      writable: true,
      configurable: true,
      enumerable: false,
    });
  rw.define = define;
  // Set-up that needs what V8 adds to each new context and a startup
  // snapshot does not hold (WebAssembly): run by the runtime for every
  // context it makes, after the surface is in place.
  const contextInits = [];
  rw.onContext = (init) => {
    contextInits.push(init);
  };
  rw.initContext = () => {
    for (const init of contextInits) init();
  };
  rw.kBody = kBody;
  rw.kUsed = kUsed;
  rw.extractBody = extractBody;
  rw.kList = kList;
  rw.kGuard = kGuard;
  rw.kSignal = kSignal;
  rw.kStatus = kStatus;
  rw.kUrl = kUrl;
  rw.kRedirected = kRedirected;
  rw.kWebSocket = kWebSocket;
  rw.isStream = isStream;
  rw.kNativeBody = kNativeBody;
  rw.kNativeMake = kNativeMake;
  rw.takeNativeOf = takeNativeOf;
  rw.takeFullBody = takeFullBody;
  rw.consumeBody = consume;
  rw.bodyForReading = bodyForReading;
  rw.bodyToBytes = bodyToBytes;
  rw.bodyToText = bodyToText;
  define("Headers", Headers);
  define("Request", Request);
  define("Response", Response);
  define("console", console);

  // ------------------------------------------- service-worker syntax (fetch)
  // `addEventListener("fetch", (event) => event.respondWith(...))`, the older
  // Workers form; used when the main module has no default export.
  const fetchListeners = [];
  const noop = () => {};
  class FetchEvent {
    #responded = false;
    #response = undefined;
    constructor(type, init) {
      this.type = `${type}`;
      this.request = init.request;
      this.waitUntil = init.waitUntil;
      this.passThroughOnException = noop;
    }
    respondWith(response) {
      if (this.#responded) {
        throw new TypeErr("FetchEvent.respondWith: already called for this request");
      }
      this.#responded = true;
      this.#response = response;
    }
    get responded() {
      return this.#responded;
    }
    get response() {
      return this.#response;
    }
  }
  define("FetchEvent", FetchEvent);
  define("addEventListener", function addEventListener(type, listener) {
    if (`${type}` !== "fetch") return; // other events: no such events here
    if (typeof listener !== "function" && !(listener && typeof listener.handleEvent === "function")) {
      throw new TypeErr("addEventListener: the listener must be a function or have handleEvent");
    }
    if (!fetchListeners.includes(listener)) fetchListeners.push(listener);
  });
  define("removeEventListener", function removeEventListener(type, listener) {
    const i = fetchListeners.indexOf(listener);
    if (`${type}` === "fetch" && i >= 0) fetchListeners.splice(i, 1);
  });
  function dispatchFetch(request, env, ctx) {
    const event = new FetchEvent("fetch", { request, waitUntil: ctx.waitUntil });
    for (const l of fetchListeners) {
      if (typeof l === "function") l.call(globalThis, event);
      else l.handleEvent(event);
      if (event.responded) break;
    }
    if (!event.responded) {
      throw new TypeErr("no fetch event listener called event.respondWith()");
    }
    return event.response;
  }

  // ------------------------------------------------ hooks the runtime calls
  // A request body read from the socket chunk by chunk as the stream is
  // pulled (highWaterMark 0: nothing is read before the script asks).
  // Streams whose bytes come from a native body (a request body from the
  // socket, a fetch() response body), by stream: while untouched, such a
  // stream can be handed back to the runtime whole (a response body, a
  // fetch() request body) and its bytes never pass through JS.
  const nativeBodies = new WeakMap();
  // `onDone` (optional) runs once the body ended, failed or was cancelled.
  function socketBody(id, onDone = undefined) {
    let handle;
    const done = () => {
      if (onDone !== undefined) {
        const f = onDone;
        onDone = undefined;
        f();
      }
    };
    handle = rw.newNativeReadable(
      {
        pull() {
          return ops.bodyRead(id).then(
            (chunk) => {
              if (chunk === null) {
                handle.close();
                done();
              } else handle.enqueue(chunk);
            },
            (e) => {
              done();
              throw e;
            },
          );
        },
        cancel() {
          ops.bodyCancel(id);
          done();
        },
      },
      0,
    );
    nativeBodies.set(handle.stream, id);
    return handle.stream;
  }
  rw.socketBody = socketBody;
  // The native body id of an untouched native stream, or null.
  function nativeBodyId(stream) {
    const id = nativeBodies.get(stream);
    if (id === undefined || rw.isLocked(stream) || rw.isDisturbed(stream)) return null;
    return id;
  }
  rw.nativeBodyId = nativeBodyId;
  // Hands a native stream's body to the runtime: the stream is spent (a
  // later read sees it locked) and its id is returned.
  function takeNativeBody(stream) {
    const id = nativeBodyId(stream);
    if (id === null) return null;
    nativeBodies.delete(stream);
    rw.streamReader(stream); // lock it: the bytes are the runtime's now
    return id;
  }
  rw.takeNativeBody = takeNativeBody;

  function makeRequest(method, url, flatHeaders, bodyId, reqId) {
    // An incoming request does not follow redirects when forwarded as is
    // (Workers: `redirect` is "manual" on the request a worker receives).
    trustedUrl = true;
    const req = new Request(url, { method, redirect: "manual" });
    const list = req.headers[kList];
    for (let i = 0; i < flatHeaders.length; i += 2) {
      list.push([StringToLowerCase(flatHeaders[i]), flatHeaders[i + 1]]);
    }
    req.headers[kGuard] = "immutable";
    if (bodyId !== null) req[kNativeBody] = bodyId;
    req[kReqId] = reqId;
    return req;
  }

  // -> [status, [name, value, ...], body (string | ArrayBuffer | view | null), reader?]
  // A stream body comes back as a reader the runtime pulls chunk by chunk.
  function responseParts(resp) {
    if (!(resp instanceof Response)) {
      throw new TypeErr(
        `fetch handler must return a Response (or a Promise of one), got ${
          resp === null ? "null" : typeof resp
        }`,
      );
    }
    const flat = [];
    for (const [n, v] of resp[kHeaders][kList]) flat.push(n, v);
    const ws = resp[kWebSocket];
    if (ws !== null) {
      if (rw.isFetchedWebSocket(ws)) {
        // -> [101, headers, ..., id of the outbound socket to splice in]
        return [101, flat, null, null, null, null, null, rw.wsTakeFetched(ws)];
      }
      // -> [101, headers, null, null, null, id of the accepted server end]
      const id = rw.wsServerId(ws);
      const protocol = resp[kHeaders].get("sec-websocket-protocol");
      if (protocol !== null) rw.wsSetProtocol(ws, protocol);
      return [101, flat, null, null, null, id];
    }
    // A body the script never looked at goes back to the runtime whole.
    const untouched = takeNativeOf(resp);
    if (untouched !== null) {
      resp[kUsed] = true;
      return [resp[kStatus], flat, null, null, null, null, untouched];
    }
    const body = resp[kBody];
    if (isStream(body)) {
      if (rw.isLocked(body) || rw.isDisturbed(body)) {
        throw new TypeErr("Response body stream is locked or has been read");
      }
      resp[kUsed] = true;
      // A whole body the script only looked at: sent whole all the same.
      const whole = takeFullBody(body);
      if (whole !== undefined) return [resp[kStatus], flat, whole];
      // A body straight from the socket or from fetch(): forwarded natively.
      const native = takeNativeBody(body);
      if (native !== null) return [resp[kStatus], flat, null, null, null, null, native];
      // controller.signal of the stream's source aborts if the client leaves.
      let signal = rw.controllerSignal(body);
      if (signal === undefined) {
        signal = rw.newAbortSignal();
        rw.setControllerSignal(body, signal);
      }
      return [resp[kStatus], flat, null, rw.streamReader(body), { signal, stream: body }];
    }
    if (body !== null) resp[kUsed] = true;
    return [resp[kStatus], flat, body];
  }

  // The client of a streaming response left: from now on enqueue() throws
  // and close() is a no-op; controller.signal aborts (its listeners can clean
  // up); then the stream is cancelled, so the source's cancel(reason) runs.
  function clientGone(parts, reader, why) {
    const reason = disconnectReason(why);
    rw.markStreamFailed(parts.stream, "Cannot enqueue: client disconnected");
    rw.abortSignal(parts.signal, reason);
    return reader.cancel(reason).catch(() => {});
  }

  // Hands `p` to the runtime as `waitUntil` work of the request (or actor)
  // the calling code runs for; the runtime hears when it settles. (Plain
  // closures: a native function made per call is a new function template
  // in V8's old space each time.)
  function trackWaitUntil(p) {
    const owner = ops.waitUntil(p);
    if (owner !== 0) {
      const done = () => ops.waitUntilDone(owner);
      ReflectApply(PromiseThen, p, [done, done]);
    }
  }
  rw.trackWaitUntil = trackWaitUntil;

  // The `ctx` every fetch gets. waitUntil work belongs to the request that
  // handed it over (the runtime knows which): it runs to completion even if
  // that request's client leaves, and holds off its tear-down.
  function makeCtx() {
    const logFailure = (e) => console.error("waitUntil:", e);
    return {
      waitUntil(promise) {
        trackWaitUntil(PromiseResolve(promise).then(undefined, logFailure));
      },
      passThroughOnException() {},
    };
  }

  rw.hooks = ObjectFreeze({
    clientGone,
    makeCtx,
    abortWithDisconnect: (signal, why) => rw.abortSignal(signal, disconnectReason(why)),
    makeRequest,
    responseParts,
    dispatchFetch,
    hasFetchListeners: () => fetchListeners.length > 0,
    // A body stream's reader handle (rw.streamReader), read in batches:
    // results already there, or else a batch of up to n reads or `bytes`
    // bytes started; what it produced; a promise for when there is something.
    readerPull: (reader, n, bytes) => reader.take() ?? reader.pump(n, bytes),
    readerTake: (reader) => reader.take(),
    readerWait: (reader) => reader.whenReady(),
    // The runtime waits on `promise` as pending entry `id`: its outcome is
    // handed back through ops.settled. (Plain closures: a native function
    // made per wait would be a new function template in V8's old space each
    // time.)
    watchPromise(promise, id) {
      ReflectApply(PromiseThen, promise, [
        (v) => ops.settled(id, true, v),
        (e) => ops.settled(id, false, e),
      ]);
    },
  });
});

// 05_web.js: natively backed web APIs — URL (the `url` crate's WHATWG
// parser), TextEncoder/TextDecoder (every WHATWG label, via encoding_rs),
// performance — and structuredClone (crypto is in 25_crypto.js).
// See 00_bootstrap.js for the file convention.
(function (ops, rw) {
  "use strict";

  const TypeErr = TypeError;
  const ObjectPrototypeToString = Function.prototype.call.bind(Object.prototype.toString);
  const domException = (message, name) =>
    typeof globalThis.DOMException === "function"
      ? new globalThis.DOMException(message, name)
      : new TypeErr(`${name}: ${message}`);

  // --------------------------------------------------------------------- URL
  // A URL keeps what ops.urlParse / ops.urlSet answer: [href, start, end,
  // ...], where each component of PIECES lies in the href. A component is
  // sliced out when read; the origin is computed when first read.
  const kParts = Symbol("urlParts");
  const kSearch = Symbol("searchParams");
  const kOrigin = Symbol("urlOrigin");
  const PIECES = ["protocol", "username", "password", "host", "hostname", "port", "pathname", "search", "hash"];
  const SEARCH = PIECES.indexOf("search");
  const piece = (parts, i) => parts[0].slice(parts[1 + 2 * i], parts[2 + 2 * i]);

  function parseOrThrow(input, base) {
    const parts = base === undefined ? ops.urlParse(`${input}`) : ops.urlParse(`${input}`, `${base}`);
    if (parts === undefined) {
      throw new TypeErr(`Invalid URL: ${JSON.stringify(`${input}`)}${base === undefined ? "" : ` (base ${JSON.stringify(`${base}`)})`}`);
    }
    return parts;
  }

  class URL {
    constructor(url, base = undefined) {
      if (arguments.length === 0) throw new TypeErr("URL: 1 argument required");
      this[kParts] = parseOrThrow(url, base);
      this[kSearch] = null;
      this[kOrigin] = undefined;
    }
    static canParse(url, base = undefined) {
      return (base === undefined ? ops.urlParse(`${url}`) : ops.urlParse(`${url}`, `${base}`)) !== undefined;
    }
    static parse(url, base = undefined) {
      try {
        return new URL(url, base);
      } catch {
        return null;
      }
    }
    get searchParams() {
      if (this[kSearch] === null) {
        const make = rw.makeSearchParams;
        if (typeof make !== "function") throw new TypeErr("URLSearchParams is not available");
        this[kSearch] = make(piece(this[kParts], SEARCH).slice(1), (serialized) => {
          // Mutations of searchParams write the query back (an empty one clears it).
          this[kParts] = ops.urlSet(this[kParts][0], "search", serialized);
        });
      }
      return this[kSearch];
    }
    toString() {
      return this[kParts][0];
    }
    toJSON() {
      return this[kParts][0];
    }
    get [Symbol.toStringTag]() {
      return "URL";
    }
  }
  for (const name of ["href", "origin", ...PIECES]) {
    const i = PIECES.indexOf(name);
    const desc = {
      get:
        name === "href"
          ? function () {
              return this[kParts][0];
            }
          : name === "origin"
            ? function () {
                if (this[kOrigin] === undefined) this[kOrigin] = ops.urlOrigin(this[kParts][0]);
                return this[kOrigin];
              }
            : function () {
                return piece(this[kParts], i);
              },
      configurable: true,
      enumerable: true,
    };
    if (name !== "origin") {
      desc.set = function (value) {
        this[kParts] = ops.urlSet(this[kParts][0], name, `${value}`);
        this[kOrigin] = undefined;
        if ((name === "search" || name === "href") && this[kSearch] !== null && typeof rw.resetSearchParams === "function") {
          rw.resetSearchParams(this[kSearch], piece(this[kParts], SEARCH).slice(1));
        }
      };
    }
    Object.defineProperty(URL.prototype, name, desc);
  }
  rw.define("URL", URL);

  // ------------------------------------------------------- TextEncoder/Decoder
  class TextEncoder {
    get encoding() {
      return "utf-8";
    }
    encode(input = "") {
      return ops.utf8Encode(`${input}`);
    }
    encodeInto(source, destination) {
      if (!(destination instanceof Uint8Array)) {
        throw new TypeErr("TextEncoder.encodeInto: destination must be a Uint8Array");
      }
      const [read, written] = ops.utf8EncodeInto(`${source}`, destination);
      return { read, written };
    }
    get [Symbol.toStringTag]() {
      return "TextEncoder";
    }
  }
  rw.define("TextEncoder", TextEncoder);

  const kDec = Symbol("decoder");
  class TextDecoder {
    constructor(label = "utf-8", options = {}) {
      const fatal = !!(options && options.fatal);
      const ignoreBOM = !!(options && options.ignoreBOM);
      const opened = ops.decoderOpen(`${label}`, ignoreBOM);
      if (opened === undefined) {
        throw new RangeError(`TextDecoder: the encoding label "${label}" is not supported`);
      }
      this[kDec] = { id: opened[0], encoding: opened[1], fatal, ignoreBOM };
    }
    get encoding() {
      return this[kDec].encoding;
    }
    get fatal() {
      return this[kDec].fatal;
    }
    get ignoreBOM() {
      return this[kDec].ignoreBOM;
    }
    decode(input = undefined, options = {}) {
      const d = this[kDec];
      if (input !== undefined && !(input instanceof ArrayBuffer) && !ArrayBuffer.isView(input)) {
        if (typeof SharedArrayBuffer === "undefined" || !(input instanceof SharedArrayBuffer)) {
          throw new TypeErr("TextDecoder.decode: input must be an ArrayBuffer or an ArrayBufferView");
        }
      }
      const stream = !!(options && options.stream);
      const out = ops.decode(d.id, input, stream, d.fatal, d.ignoreBOM);
      if (out === null) throw new TypeErr("TextDecoder.decode: the encoded data was not valid");
      return out;
    }
    get [Symbol.toStringTag]() {
      return "TextDecoder";
    }
  }
  rw.define("TextDecoder", TextDecoder);

  // ------------------------------------------------------------- performance
  // Read per isolate (this file may run once, into a startup snapshot).
  const performance = {
    now: () => ops.now(),
    get timeOrigin() {
      return ops.timeOrigin();
    },
    toJSON() {
      return { timeOrigin: ops.timeOrigin() };
    },
  };
  rw.define("performance", performance);

  // --------------------------------------------------------- structuredClone
  // The HTML structured clone algorithm for the types Workers scripts pass
  // around: primitives, wrappers, Date, RegExp, ArrayBuffer and views, Map,
  // Set, Array, plain objects, Error types; cycles and shared references kept.
  const ERRORS = { Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError };
  function clone(value, memory) {
    if (value === null || (typeof value !== "object" && typeof value !== "function")) {
      if (typeof value === "symbol") throw domException("structuredClone: a Symbol cannot be cloned", "DataCloneError");
      return value;
    }
    if (typeof value === "function") throw domException("structuredClone: a function cannot be cloned", "DataCloneError");
    if (memory.has(value)) return memory.get(value);
    const tag = ObjectPrototypeToString(value);
    let out;
    switch (tag) {
      case "[object Boolean]":
      case "[object Number]":
      case "[object String]":
      case "[object BigInt]":
        out = Object(value.valueOf());
        break;
      case "[object Date]":
        out = new Date(value.getTime());
        break;
      case "[object RegExp]":
        out = new RegExp(value.source, value.flags);
        break;
      case "[object ArrayBuffer]":
        out = value.slice(0);
        break;
      case "[object Map]":
        out = new Map();
        memory.set(value, out);
        for (const [k, v] of value) out.set(clone(k, memory), clone(v, memory));
        return out;
      case "[object Set]":
        out = new Set();
        memory.set(value, out);
        for (const v of value) out.add(clone(v, memory));
        return out;
      case "[object Error]": {
        const C = ERRORS[value.name] || Error;
        out = new C(value.message);
        if ("stack" in value) out.stack = value.stack;
        if ("cause" in value) out.cause = clone(value.cause, memory);
        break;
      }
      case "[object Array]":
        out = new Array(value.length);
        memory.set(value, out);
        for (const k of Object.keys(value)) out[k] = clone(value[k], memory);
        return out;
      case "[object Object]":
        if (typeof rw.isBlob === "function" && rw.isBlob(value)) {
          out = value.slice(0, value.size, value.type);
          break;
        }
        out = {};
        memory.set(value, out);
        for (const k of Object.keys(value)) out[k] = clone(value[k], memory);
        return out;
      default:
        if (ArrayBuffer.isView(value)) {
          const buf = clone(value.buffer, memory);
          const C = value.constructor;
          out = C === DataView ? new DataView(buf, value.byteOffset, value.byteLength) : new C(buf, value.byteOffset, value.length);
          break;
        }
        if (typeof rw.isBlob === "function" && rw.isBlob(value)) {
          out = value.slice(0, value.size, value.type);
          break;
        }
        // A CryptoKey shares its key material with the clone (25_crypto.js).
        if (typeof rw.cloneCryptoKey === "function") {
          out = rw.cloneCryptoKey(value);
          if (out !== undefined) break;
        }
        throw domException(`structuredClone: ${tag.slice(8, -1)} objects cannot be cloned`, "DataCloneError");
    }
    memory.set(value, out);
    return out;
  }
  const ArrayBufferPrototypeTransfer = ArrayBuffer.prototype.transfer;
  const ArrayBufferDetached = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, "detached").get;

  // structuredClone with a transfer list: MessagePorts move (a new port
  // takes each one's place in its channel), ArrayBuffers are copied into
  // the clone, then detached, as transferring leaves them.
  function cloneWithTransfer(value, transfer) {
    const list = [...transfer];
    const memory = new Map();
    const buffers = [];
    for (let i = 0; i < list.length; i++) {
      const t = list[i];
      if (list.indexOf(t) !== i) throw domException("structuredClone: an object is in the transfer list twice", "DataCloneError");
      if (ObjectPrototypeToString(t) === "[object ArrayBuffer]") {
        if (Reflect.apply(ArrayBufferDetached, t, [])) {
          throw domException("structuredClone: an ArrayBuffer in the transfer list is detached", "DataCloneError");
        }
        buffers.push(t);
      } else if (typeof rw.isMessagePort === "function" && rw.isMessagePort(t)) {
        memory.set(t, null);
      } else {
        throw domException("structuredClone: only ArrayBuffers and MessagePorts can be transferred", "DataCloneError");
      }
    }
    for (const port of memory.keys()) memory.set(port, rw.transferPort(port));
    const out = clone(value, memory);
    for (const b of buffers) Reflect.apply(ArrayBufferPrototypeTransfer, b, []);
    return out;
  }

  rw.define("structuredClone", function structuredClone(value, options = undefined) {
    if (arguments.length === 0) throw new TypeErr("structuredClone: 1 argument required");
    const transfer = options === undefined || options === null ? undefined : options.transfer;
    if (transfer !== undefined && transfer !== null) {
      if (typeof transfer[Symbol.iterator] !== "function") {
        throw new TypeErr("structuredClone: options.transfer must be a sequence");
      }
      return cloneWithTransfer(value, transfer);
    }
    return clone(value, new Map());
  });
});

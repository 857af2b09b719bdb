// nodejs_compat: the most used part of Node's API, as Workers offers it
// (node:buffer, node:events, node:async_hooks, node:util, node:process,
// node:crypto hashing). Built into the snapshot with the rest of the API, but
// reachable only when the script runs with the nodejs_compat flag: the module
// loader resolves `node:*` (and the bare names) to rw.nodeModules then, and
// rw.enableNodeCompat installs the globals Workers adds (Buffer, process,
// global).
(function nodeCompat(ops, rw) {
  "use strict";

  const TypeErr = TypeError;
  const RangeErr = RangeError;
  const ObjectFreeze = Object.freeze;
  const ReflectApply = Reflect.apply;
  const Uint8 = Uint8Array;
  const U8Prototype = Uint8Array.prototype;
  const U8Subarray = U8Prototype.subarray;
  const U8Set = U8Prototype.set;
  const U8Fill = U8Prototype.fill;
  const TypedArrayPrototype = Object.getPrototypeOf(U8Prototype);
  const TypedArrayToStringTag = Object.getOwnPropertyDescriptor(TypedArrayPrototype, Symbol.toStringTag).get;

  function nodeError(Ctor, code, message) {
    const e = new Ctor(message);
    e.code = code;
    return e;
  }
  const invalidArg = (message) => nodeError(TypeErr, "ERR_INVALID_ARG_TYPE", message);
  const outOfRange = (message) => nodeError(RangeErr, "ERR_OUT_OF_RANGE", message);

  // ===================================================================== buffer
  const ENCODINGS = {
    utf8: "utf8", "utf-8": "utf8", hex: "hex", base64: "base64", base64url: "base64url",
    latin1: "latin1", binary: "latin1", ascii: "ascii",
    utf16le: "utf16le", "utf-16le": "utf16le", ucs2: "utf16le", "ucs-2": "utf16le",
  };

  function normEncoding(enc) {
    if (enc === undefined || enc === null || enc === "") return "utf8";
    const e = ENCODINGS[`${enc}`.toLowerCase()];
    if (e === undefined) throw nodeError(TypeErr, "ERR_UNKNOWN_ENCODING", `Unknown encoding: ${enc}`);
    return e;
  }

  const HEX = "0123456789abcdef";
  const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  // Both alphabets decode (as Node's decoder does); anything else is skipped.
  const B64_LOOKUP = new Int16Array(128).fill(-1);
  for (let i = 0; i < 64; i++) {
    B64_LOOKUP[B64.charCodeAt(i)] = i;
    B64_LOOKUP[B64URL.charCodeAt(i)] = i;
  }

  function base64Encode(bytes, alphabet, pad) {
    let out = "";
    let i = 0;
    for (; i + 2 < bytes.length; i += 3) {
      const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
      out += alphabet[n >> 18] + alphabet[(n >> 12) & 63] + alphabet[(n >> 6) & 63] + alphabet[n & 63];
    }
    const rest = bytes.length - i;
    if (rest === 1) {
      const n = bytes[i] << 16;
      out += alphabet[n >> 18] + alphabet[(n >> 12) & 63] + (pad ? "==" : "");
    } else if (rest === 2) {
      const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
      out += alphabet[n >> 18] + alphabet[(n >> 12) & 63] + alphabet[(n >> 6) & 63] + (pad ? "=" : "");
    }
    return out;
  }

  function base64Decode(str) {
    const out = new Uint8(Math.ceil((str.length * 3) / 4));
    let acc = 0;
    let bits = 0;
    let n = 0;
    for (let i = 0; i < str.length; i++) {
      const c = str.charCodeAt(i);
      if (c === 61) break; // '='
      const v = c < 128 ? B64_LOOKUP[c] : -1;
      if (v < 0) continue;
      acc = (acc << 6) | v;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out[n++] = (acc >> bits) & 0xff;
      }
    }
    return ReflectApply(U8Subarray, out, [0, n]);
  }

  function hexDecode(str) {
    const out = new Uint8(str.length >>> 1);
    let n = 0;
    for (; n < out.length; n++) {
      const hi = parseInt(str[2 * n], 16);
      const lo = parseInt(str[2 * n + 1], 16);
      // Node stops at the first pair that is not hex.
      if (Number.isNaN(hi) || Number.isNaN(lo)) break;
      out[n] = (hi << 4) | lo;
    }
    return ReflectApply(U8Subarray, out, [0, n]);
  }

  // A string as bytes in `enc` (a normalized encoding).
  function encodeString(str, enc) {
    switch (enc) {
      case "utf8":
        return ops.utf8Encode(str);
      case "hex":
        return hexDecode(str);
      case "base64":
      case "base64url":
        return base64Decode(str);
      case "latin1":
      case "ascii": {
        const out = new Uint8(str.length);
        for (let i = 0; i < str.length; i++) out[i] = str.charCodeAt(i) & 0xff;
        return out;
      }
      case "utf16le": {
        const out = new Uint8(str.length * 2);
        for (let i = 0; i < str.length; i++) {
          const c = str.charCodeAt(i);
          out[2 * i] = c & 0xff;
          out[2 * i + 1] = c >> 8;
        }
        return out;
      }
    }
    throw nodeError(TypeErr, "ERR_UNKNOWN_ENCODING", `Unknown encoding: ${enc}`);
  }

  function charCodes(codes) {
    let out = "";
    for (let i = 0; i < codes.length; i += 8192) {
      out += String.fromCharCode.apply(null, codes.subarray(i, i + 8192));
    }
    return out;
  }

  // Bytes as a string in `enc`.
  function decodeBytes(bytes, enc) {
    switch (enc) {
      case "utf8":
        return ops.utf8Decode(bytes, false);
      case "hex": {
        let out = "";
        for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i] >> 4] + HEX[bytes[i] & 15];
        return out;
      }
      case "base64":
        return base64Encode(bytes, B64, true);
      case "base64url":
        return base64Encode(bytes, B64URL, false);
      case "latin1":
        return charCodes(bytes);
      case "ascii": {
        const codes = new Uint8(bytes.length);
        for (let i = 0; i < bytes.length; i++) codes[i] = bytes[i] & 0x7f;
        return charCodes(codes);
      }
      case "utf16le": {
        const n = bytes.length >>> 1;
        const codes = new Uint16Array(n);
        for (let i = 0; i < n; i++) codes[i] = bytes[2 * i] | (bytes[2 * i + 1] << 8);
        return charCodes(codes);
      }
    }
    throw nodeError(TypeErr, "ERR_UNKNOWN_ENCODING", `Unknown encoding: ${enc}`);
  }

  const kMaxLength = 2 ** 32;

  function checkSize(size, what) {
    if (typeof size !== "number") throw invalidArg(`The "${what}" argument must be of type number. Received ${typeof size}`);
    if (!(size >= 0 && size <= kMaxLength) || size !== Math.floor(size)) {
      throw outOfRange(`The value of "${what}" is out of range. It must be >= 0 && <= ${kMaxLength}. Received ${size}`);
    }
  }

  function checkOffset(buf, offset, bytes) {
    if (offset === undefined) offset = 0;
    if (typeof offset !== "number" || offset !== Math.floor(offset)) {
      throw invalidArg(`The "offset" argument must be an integer. Received ${offset}`);
    }
    if (offset < 0 || offset + bytes > buf.length) {
      if (buf.length - bytes < 0) throw nodeError(RangeErr, "ERR_BUFFER_OUT_OF_BOUNDS", "Attempt to access memory outside buffer bounds");
      throw outOfRange(`The value of "offset" is out of range. It must be >= 0 and <= ${buf.length - bytes}. Received ${offset}`);
    }
    return offset;
  }

  function view(buf) {
    return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  function toBuffer(u8) {
    return new Buffer(u8.buffer, u8.byteOffset, u8.byteLength);
  }

  class Buffer extends Uint8 {
    // (`new Buffer(...)` is deprecated in Node; the constructor here is the
    // typed array's, used by the factories below.)
    static from(value, encodingOrOffset, length) {
      if (typeof value === "string") return toBuffer(encodeString(value, normEncoding(encodingOrOffset)));
      if (value instanceof ArrayBuffer || (typeof SharedArrayBuffer !== "undefined" && value instanceof SharedArrayBuffer)) {
        const offset = encodingOrOffset === undefined ? 0 : +encodingOrOffset;
        if (offset > value.byteLength) throw nodeError(RangeErr, "ERR_BUFFER_OUT_OF_BOUNDS", '"offset" is outside of buffer bounds');
        const len = length === undefined ? value.byteLength - offset : +length;
        if (offset + len > value.byteLength) throw nodeError(RangeErr, "ERR_BUFFER_OUT_OF_BOUNDS", '"length" is outside of buffer bounds');
        return new Buffer(value, offset, len);
      }
      if (ArrayBuffer.isView(value)) {
        // A copy (of the bytes a Uint8Array holds, or each element of another view).
        const src = value instanceof Uint8 ? value : Uint8.from(value);
        const out = Buffer.allocUnsafe(src.length);
        ReflectApply(U8Set, out, [src]);
        return out;
      }
      if (value === null || value === undefined) {
        throw invalidArg(
          `The first argument must be of type string or an instance of Buffer, ArrayBuffer, or Array or an Array-like Object. Received ${value}`,
        );
      }
      if (typeof value === "object") {
        if (typeof value.valueOf === "function") {
          const prim = value.valueOf();
          if (prim !== value && prim !== null && prim !== undefined && (typeof prim === "string" || typeof prim === "object")) {
            return Buffer.from(prim, encodingOrOffset, length);
          }
        }
        if (value.type === "Buffer" && Array.isArray(value.data)) return Buffer.from(value.data);
        if (typeof value.length === "number" || Array.isArray(value)) {
          const out = Buffer.allocUnsafe(value.length >>> 0);
          for (let i = 0; i < out.length; i++) out[i] = value[i] & 0xff;
          return out;
        }
        if (typeof value[Symbol.toPrimitive] === "function") {
          return Buffer.from(value[Symbol.toPrimitive]("string"), encodingOrOffset, length);
        }
      }
      throw invalidArg(
        `The first argument must be of type string or an instance of Buffer, ArrayBuffer, or Array or an Array-like Object. Received type ${typeof value}`,
      );
    }
    static alloc(size, fill, encoding) {
      checkSize(size, "size");
      const b = new Buffer(size);
      if (fill !== undefined && fill !== 0) b.fill(fill, 0, b.length, encoding);
      return b;
    }
    static allocUnsafe(size) {
      checkSize(size, "size");
      return new Buffer(size);
    }
    static allocUnsafeSlow(size) {
      return Buffer.allocUnsafe(size);
    }
    static isBuffer(b) {
      return b instanceof Buffer;
    }
    static isEncoding(enc) {
      return typeof enc === "string" && enc !== "" && ENCODINGS[enc.toLowerCase()] !== undefined;
    }
    static byteLength(value, encoding) {
      if (typeof value !== "string") {
        if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return value.byteLength;
        throw invalidArg(`The "string" argument must be of type string or an instance of Buffer or ArrayBuffer. Received type ${typeof value}`);
      }
      const enc = normEncoding(encoding);
      if (enc === "utf8") return ops.utf8Encode(value).length;
      if (enc === "utf16le") return value.length * 2;
      if (enc === "latin1" || enc === "ascii") return value.length;
      return encodeString(value, enc).length;
    }
    static concat(list, totalLength) {
      if (!Array.isArray(list)) throw invalidArg('The "list" argument must be an instance of Array');
      if (totalLength === undefined) {
        totalLength = 0;
        for (const b of list) {
          if (!(b instanceof Uint8)) throw invalidArg('The "list" argument must contain only Buffer or Uint8Array instances');
          totalLength += b.length;
        }
      }
      const out = Buffer.alloc(totalLength);
      let at = 0;
      for (const b of list) {
        if (!(b instanceof Uint8)) throw invalidArg('The "list" argument must contain only Buffer or Uint8Array instances');
        if (at >= totalLength) break;
        const part = b.length > totalLength - at ? ReflectApply(U8Subarray, b, [0, totalLength - at]) : b;
        ReflectApply(U8Set, out, [part, at]);
        at += part.length;
      }
      return out;
    }
    static compare(a, b) {
      if (!(a instanceof Uint8) || !(b instanceof Uint8)) throw invalidArg('The "buf1" and "buf2" arguments must be Buffer or Uint8Array instances');
      const n = Math.min(a.length, b.length);
      for (let i = 0; i < n; i++) {
        if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
      }
      return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
    }
    // Typed-array methods that make new arrays make Buffers.
    static get [Symbol.species]() {
      return Buffer;
    }

    get parent() {
      return this.buffer;
    }
    get offset() {
      return this.byteOffset;
    }
    toString(encoding, start, end) {
      if (arguments.length === 0) return ops.utf8Decode(this, false);
      const enc = normEncoding(encoding);
      start = start === undefined ? 0 : Math.max(0, start | 0);
      end = end === undefined ? this.length : Math.min(this.length, end | 0);
      if (end <= start) return "";
      return decodeBytes(ReflectApply(U8Subarray, this, [start, end]), enc);
    }
    toJSON() {
      return { type: "Buffer", data: Array.from(this) };
    }
    toLocaleString(encoding, start, end) {
      return this.toString(encoding, start, end);
    }
    equals(other) {
      if (!(other instanceof Uint8)) throw invalidArg('The "otherBuffer" argument must be an instance of Buffer or Uint8Array');
      return Buffer.compare(this, other) === 0;
    }
    compare(target, targetStart = 0, targetEnd = target.length, sourceStart = 0, sourceEnd = this.length) {
      if (!(target instanceof Uint8)) throw invalidArg('The "target" argument must be an instance of Buffer or Uint8Array');
      return Buffer.compare(
        ReflectApply(U8Subarray, this, [sourceStart, sourceEnd]),
        ReflectApply(U8Subarray, target, [targetStart, targetEnd]),
      );
    }
    // A view of the same memory (Node's slice, unlike Uint8Array's).
    slice(start, end) {
      return this.subarray(start, end);
    }
    subarray(start, end) {
      const u = ReflectApply(U8Subarray, this, [start, end]);
      return toBuffer(u);
    }
    write(string, offset, length, encoding) {
      if (typeof offset === "string") {
        encoding = offset;
        offset = 0;
        length = this.length;
      } else if (typeof length === "string") {
        encoding = length;
        length = undefined;
      }
      offset = offset === undefined ? 0 : offset >>> 0;
      if (offset > this.length) throw outOfRange(`The value of "offset" is out of range. It must be >= 0 && <= ${this.length}. Received ${offset}`);
      const room = this.length - offset;
      length = length === undefined ? room : Math.min(room, length >>> 0);
      const enc = normEncoding(encoding);
      let bytes = encodeString(`${string}`, enc);
      if (bytes.length > length) {
        // UTF-8: only whole characters fit.
        let n = length;
        if (enc === "utf8") while (n > 0 && (bytes[n] & 0xc0) === 0x80) n--;
        bytes = ReflectApply(U8Subarray, bytes, [0, n]);
      }
      ReflectApply(U8Set, this, [bytes, offset]);
      return bytes.length;
    }
    fill(value, offset, end, encoding) {
      if (typeof offset === "string") {
        encoding = offset;
        offset = 0;
        end = this.length;
      } else if (typeof end === "string") {
        encoding = end;
        end = this.length;
      }
      offset = offset === undefined ? 0 : offset;
      end = end === undefined ? this.length : end;
      if (offset < 0 || end > this.length) throw outOfRange('The value of "offset" is out of range.');
      if (typeof value === "number" || typeof value === "boolean") {
        ReflectApply(U8Fill, this, [value & 0xff, offset, end]);
        return this;
      }
      const bytes = typeof value === "string" ? encodeString(value, normEncoding(encoding)) : value;
      if (bytes.length === 0) {
        if (typeof value === "string" && value !== "") throw nodeError(TypeErr, "ERR_INVALID_ARG_VALUE", "The argument 'value' is invalid.");
        ReflectApply(U8Fill, this, [0, offset, end]);
        return this;
      }
      for (let i = offset, j = 0; i < end; i++, j = (j + 1) % bytes.length) this[i] = bytes[j];
      return this;
    }
    indexOf(value, byteOffset, encoding) {
      return searchBytes(this, value, byteOffset, encoding, true);
    }
    lastIndexOf(value, byteOffset, encoding) {
      return searchBytes(this, value, byteOffset, encoding, false);
    }
    includes(value, byteOffset, encoding) {
      return this.indexOf(value, byteOffset, encoding) !== -1;
    }
    copy(target, targetStart = 0, sourceStart = 0, sourceEnd = this.length) {
      if (!(target instanceof Uint8)) throw invalidArg('The "target" argument must be an instance of Buffer or Uint8Array');
      if (sourceEnd > this.length) sourceEnd = this.length;
      if (targetStart >= target.length || sourceStart >= sourceEnd) return 0;
      const n = Math.min(sourceEnd - sourceStart, target.length - targetStart);
      ReflectApply(U8Set, target, [ReflectApply(U8Subarray, this, [sourceStart, sourceStart + n]), targetStart]);
      return n;
    }
    swap16() {
      return swap(this, 2);
    }
    swap32() {
      return swap(this, 4);
    }
    swap64() {
      return swap(this, 8);
    }
    readUIntLE(offset, byteLength) {
      return readVar(this, offset, byteLength, true, false);
    }
    readUIntBE(offset, byteLength) {
      return readVar(this, offset, byteLength, false, false);
    }
    readIntLE(offset, byteLength) {
      return readVar(this, offset, byteLength, true, true);
    }
    readIntBE(offset, byteLength) {
      return readVar(this, offset, byteLength, false, true);
    }
    writeUIntLE(value, offset, byteLength) {
      return writeVar(this, value, offset, byteLength, true, false);
    }
    writeUIntBE(value, offset, byteLength) {
      return writeVar(this, value, offset, byteLength, false, false);
    }
    writeIntLE(value, offset, byteLength) {
      return writeVar(this, value, offset, byteLength, true, true);
    }
    writeIntBE(value, offset, byteLength) {
      return writeVar(this, value, offset, byteLength, false, true);
    }
  }

  function swap(buf, size) {
    if (buf.length % size !== 0) {
      throw nodeError(RangeErr, "ERR_INVALID_BUFFER_SIZE", `Buffer size must be a multiple of ${size * 8}-bits`);
    }
    for (let i = 0; i < buf.length; i += size) {
      for (let a = i, b = i + size - 1; a < b; a++, b--) {
        const t = buf[a];
        buf[a] = buf[b];
        buf[b] = t;
      }
    }
    return buf;
  }

  function readVar(buf, offset, byteLength, little, signed) {
    if (!(byteLength >= 1 && byteLength <= 6)) throw outOfRange(`The value of "byteLength" is out of range. It must be >= 1 and <= 6. Received ${byteLength}`);
    offset = checkOffset(buf, offset, byteLength);
    let v = 0;
    for (let i = 0; i < byteLength; i++) {
      const b = buf[offset + (little ? byteLength - 1 - i : i)];
      v = v * 256 + b;
    }
    if (signed && v >= 2 ** (8 * byteLength - 1)) v -= 2 ** (8 * byteLength);
    return v;
  }

  function writeVar(buf, value, offset, byteLength, little, signed) {
    if (!(byteLength >= 1 && byteLength <= 6)) throw outOfRange(`The value of "byteLength" is out of range. It must be >= 1 and <= 6. Received ${byteLength}`);
    offset = checkOffset(buf, offset, byteLength);
    const max = signed ? 2 ** (8 * byteLength - 1) - 1 : 2 ** (8 * byteLength) - 1;
    const min = signed ? -(2 ** (8 * byteLength - 1)) : 0;
    if (value > max || value < min || value !== Math.floor(value)) {
      throw outOfRange(`The value of "value" is out of range. It must be >= ${min} and <= ${max}. Received ${value}`);
    }
    let v = value < 0 ? value + 2 ** (8 * byteLength) : value;
    for (let i = 0; i < byteLength; i++) {
      buf[offset + (little ? i : byteLength - 1 - i)] = v % 256;
      v = Math.floor(v / 256);
    }
    return offset + byteLength;
  }

  function searchBytes(buf, value, byteOffset, encoding, forward) {
    if (typeof byteOffset === "string") {
      encoding = byteOffset;
      byteOffset = undefined;
    }
    let needle;
    if (typeof value === "number") needle = new Uint8([value & 0xff]);
    else if (typeof value === "string") needle = encodeString(value, normEncoding(encoding));
    else if (value instanceof Uint8) needle = value;
    else throw invalidArg('The "value" argument must be one of type number or string or an instance of Buffer or Uint8Array');
    const len = buf.length;
    let from = byteOffset === undefined ? (forward ? 0 : len) : +byteOffset;
    if (Number.isNaN(from)) from = forward ? 0 : len;
    if (from < 0) from = len + from;
    if (needle.length === 0) return Math.min(Math.max(from, 0), len);
    if (forward) {
      for (let i = Math.max(from, 0); i <= len - needle.length; i++) {
        let j = 0;
        while (j < needle.length && buf[i + j] === needle[j]) j++;
        if (j === needle.length) return i;
      }
    } else {
      for (let i = Math.min(from, len - needle.length); i >= 0; i--) {
        let j = 0;
        while (j < needle.length && buf[i + j] === needle[j]) j++;
        if (j === needle.length) return i;
      }
    }
    return -1;
  }

  // Fixed-size reads and writes: (name, bytes, DataView getter/setter, little-endian?, bounds).
  const FIXED = [
    ["UInt8", 1, "Uint8", false, 0, 255],
    ["UInt16LE", 2, "Uint16", true, 0, 0xffff],
    ["UInt16BE", 2, "Uint16", false, 0, 0xffff],
    ["UInt32LE", 4, "Uint32", true, 0, 0xffffffff],
    ["UInt32BE", 4, "Uint32", false, 0, 0xffffffff],
    ["Int8", 1, "Int8", false, -128, 127],
    ["Int16LE", 2, "Int16", true, -0x8000, 0x7fff],
    ["Int16BE", 2, "Int16", false, -0x8000, 0x7fff],
    ["Int32LE", 4, "Int32", true, -0x80000000, 0x7fffffff],
    ["Int32BE", 4, "Int32", false, -0x80000000, 0x7fffffff],
    ["FloatLE", 4, "Float32", true],
    ["FloatBE", 4, "Float32", false],
    ["DoubleLE", 8, "Float64", true],
    ["DoubleBE", 8, "Float64", false],
    ["BigUInt64LE", 8, "BigUint64", true],
    ["BigUInt64BE", 8, "BigUint64", false],
    ["BigInt64LE", 8, "BigInt64", true],
    ["BigInt64BE", 8, "BigInt64", false],
  ];
  for (const [name, size, dv, little, min, max] of FIXED) {
    const get = DataView.prototype[`get${dv}`];
    const set = DataView.prototype[`set${dv}`];
    const read = function (offset) {
      offset = checkOffset(this, offset, size);
      return ReflectApply(get, view(this), [offset, little]);
    };
    const write = function (value, offset) {
      offset = checkOffset(this, offset, size);
      if (min !== undefined && (typeof value !== "number" || value < min || value > max)) {
        throw outOfRange(`The value of "value" is out of range. It must be >= ${min} and <= ${max}. Received ${value}`);
      }
      if (dv.startsWith("Big") && typeof value !== "bigint") throw invalidArg('The "value" argument must be of type bigint');
      ReflectApply(set, view(this), [offset, value, little]);
      return offset + size;
    };
    Object.defineProperty(Buffer.prototype, `read${name}`, { value: read, writable: true, configurable: true });
    Object.defineProperty(Buffer.prototype, `write${name}`, { value: write, writable: true, configurable: true });
    // Node's lower-case `Uint` aliases.
    if (name.includes("UInt")) {
      const alias = name.replace("UInt", "Uint");
      Object.defineProperty(Buffer.prototype, `read${alias}`, { value: read, writable: true, configurable: true });
      Object.defineProperty(Buffer.prototype, `write${alias}`, { value: write, writable: true, configurable: true });
    }
  }
  for (const alias of ["UIntLE", "UIntBE"]) {
    const to = alias.replace("UInt", "Uint");
    Buffer.prototype[`read${to}`] = Buffer.prototype[`read${alias}`];
    Buffer.prototype[`write${to}`] = Buffer.prototype[`write${alias}`];
  }
  Object.defineProperty(Buffer.prototype, Symbol.toStringTag, { get: TypedArrayToStringTag, configurable: true });
  Buffer.poolSize = 8192;

  const bufferModule = {
    Buffer,
    kMaxLength,
    kStringMaxLength: 2 ** 29 - 24,
    constants: ObjectFreeze({ MAX_LENGTH: kMaxLength, MAX_STRING_LENGTH: 2 ** 29 - 24 }),
    SlowBuffer: Buffer.allocUnsafeSlow,
    INSPECT_MAX_BYTES: 50,
    Blob: globalThis.Blob,
    File: globalThis.File,
    atob: globalThis.atob,
    btoa: globalThis.btoa,
    isUtf8(input) {
      const bytes = input instanceof ArrayBuffer ? new Uint8(input) : input;
      try {
        new TextDecoder("utf-8", { fatal: true }).decode(bytes);
        return true;
      } catch {
        return false;
      }
    },
    isAscii(input) {
      const bytes = input instanceof ArrayBuffer ? new Uint8(input) : input;
      for (let i = 0; i < bytes.length; i++) if (bytes[i] > 127) return false;
      return true;
    },
  };

  // ===================================================================== events
  const kCapture = Symbol("kCapture");
  const errorMonitor = Symbol("events.errorMonitor");

  function checkListener(listener) {
    if (typeof listener !== "function") {
      throw invalidArg(`The "listener" argument must be of type function. Received type ${typeof listener}`);
    }
  }

  function EventEmitter(opts) {
    EventEmitter.init.call(this, opts);
  }
  EventEmitter.prototype._events = undefined;
  EventEmitter.prototype._eventsCount = 0;
  EventEmitter.prototype._maxListeners = undefined;
  let defaultMaxListeners = 10;
  Object.defineProperty(EventEmitter, "defaultMaxListeners", {
    enumerable: true,
    get: () => defaultMaxListeners,
    set(n) {
      if (typeof n !== "number" || n < 0 || Number.isNaN(n)) throw outOfRange('The value of "defaultMaxListeners" is out of range.');
      defaultMaxListeners = n;
    },
  });
  EventEmitter.errorMonitor = errorMonitor;
  EventEmitter.captureRejectionSymbol = Symbol.for("nodejs.rejection");
  EventEmitter.init = function (opts) {
    if (this._events === undefined || this._events === Object.getPrototypeOf(this)._events) {
      this._events = Object.create(null);
      this._eventsCount = 0;
    }
    this._maxListeners = this._maxListeners || undefined;
    this[kCapture] = !!(opts && opts.captureRejections);
  };

  function addListener(target, type, listener, prepend) {
    checkListener(listener);
    let events = target._events;
    if (events === undefined) {
      events = target._events = Object.create(null);
      target._eventsCount = 0;
    } else if (events.newListener !== undefined) {
      target.emit("newListener", type, listener.listener ? listener.listener : listener);
      events = target._events;
    }
    const existing = events[type];
    if (existing === undefined) {
      events[type] = listener;
      target._eventsCount++;
    } else if (typeof existing === "function") {
      events[type] = prepend ? [listener, existing] : [existing, listener];
    } else if (prepend) {
      existing.unshift(listener);
    } else {
      existing.push(listener);
    }
    const list = events[type];
    const max = target.getMaxListeners();
    if (Array.isArray(list) && max > 0 && list.length > max && !list.warned) {
      list.warned = true;
      console.warn(
        `MaxListenersExceededWarning: Possible EventEmitter memory leak detected. ${list.length} ${String(type)} listeners added. Use emitter.setMaxListeners() to increase limit`,
      );
    }
    return target;
  }

  function onceWrapper(...args) {
    if (!this.fired) {
      this.target.removeListener(this.type, this.wrapFn);
      this.fired = true;
      return ReflectApply(this.listener, this.target, args);
    }
  }
  function onceWrap(target, type, listener) {
    const state = { fired: false, wrapFn: undefined, target, type, listener };
    const wrapped = onceWrapper.bind(state);
    wrapped.listener = listener;
    state.wrapFn = wrapped;
    return wrapped;
  }

  const EEProto = EventEmitter.prototype;
  EEProto.setMaxListeners = function setMaxListeners(n) {
    if (typeof n !== "number" || n < 0 || Number.isNaN(n)) throw outOfRange(`The value of "n" is out of range. It must be a non-negative number. Received ${n}`);
    this._maxListeners = n;
    return this;
  };
  EEProto.getMaxListeners = function getMaxListeners() {
    return this._maxListeners === undefined ? defaultMaxListeners : this._maxListeners;
  };
  EEProto.emit = function emit(type, ...args) {
    const events = this._events;
    if (type === "error" && events !== undefined && events[errorMonitor] !== undefined) {
      this.emit(errorMonitor, ...args);
    }
    const handler = events === undefined ? undefined : events[type];
    if (handler === undefined) {
      if (type === "error") {
        const er = args[0];
        if (er instanceof Error) throw er;
        const err = nodeError(Error, "ERR_UNHANDLED_ERROR", `Unhandled error. (${er})`);
        err.context = er;
        throw err;
      }
      return false;
    }
    if (typeof handler === "function") {
      ReflectApply(handler, this, args);
    } else {
      for (const l of handler.slice()) ReflectApply(l, this, args);
    }
    return true;
  };
  EEProto.addListener = function (type, listener) {
    return addListener(this, type, listener, false);
  };
  EEProto.on = EEProto.addListener;
  EEProto.prependListener = function (type, listener) {
    return addListener(this, type, listener, true);
  };
  EEProto.once = function once(type, listener) {
    checkListener(listener);
    this.on(type, onceWrap(this, type, listener));
    return this;
  };
  EEProto.prependOnceListener = function (type, listener) {
    checkListener(listener);
    this.prependListener(type, onceWrap(this, type, listener));
    return this;
  };
  EEProto.removeListener = function removeListener(type, listener) {
    checkListener(listener);
    const events = this._events;
    if (events === undefined) return this;
    const list = events[type];
    if (list === undefined) return this;
    if (list === listener || list.listener === listener) {
      if (--this._eventsCount === 0) this._events = Object.create(null);
      else delete events[type];
      if (events.removeListener) this.emit("removeListener", type, list.listener || listener);
    } else if (typeof list !== "function") {
      let at = -1;
      for (let i = list.length - 1; i >= 0; i--) {
        if (list[i] === listener || list[i].listener === listener) {
          at = i;
          break;
        }
      }
      if (at < 0) return this;
      list.splice(at, 1);
      if (list.length === 1) events[type] = list[0];
      if (events.removeListener !== undefined) this.emit("removeListener", type, listener);
    }
    return this;
  };
  EEProto.off = EEProto.removeListener;
  EEProto.removeAllListeners = function removeAllListeners(type) {
    const events = this._events;
    if (events === undefined) return this;
    if (events.removeListener === undefined) {
      if (arguments.length === 0) {
        this._events = Object.create(null);
        this._eventsCount = 0;
      } else if (events[type] !== undefined) {
        if (--this._eventsCount === 0) this._events = Object.create(null);
        else delete events[type];
      }
      return this;
    }
    if (arguments.length === 0) {
      for (const key of Reflect.ownKeys(events)) {
        if (key !== "removeListener") this.removeAllListeners(key);
      }
      this.removeAllListeners("removeListener");
      this._events = Object.create(null);
      this._eventsCount = 0;
      return this;
    }
    const listeners = events[type];
    if (typeof listeners === "function") this.removeListener(type, listeners);
    else if (listeners !== undefined) for (let i = listeners.length - 1; i >= 0; i--) this.removeListener(type, listeners[i]);
    return this;
  };
  function listenersOf(target, type, unwrap) {
    const events = target._events;
    const l = events === undefined ? undefined : events[type];
    if (l === undefined) return [];
    const list = typeof l === "function" ? [l] : l.slice();
    return unwrap ? list.map((f) => f.listener || f) : list;
  }
  EEProto.listeners = function (type) {
    return listenersOf(this, type, true);
  };
  EEProto.rawListeners = function (type) {
    return listenersOf(this, type, false);
  };
  EEProto.listenerCount = function (type, listener) {
    const list = listenersOf(this, type, true);
    return listener === undefined ? list.length : list.filter((f) => f === listener).length;
  };
  EEProto.eventNames = function () {
    return this._eventsCount > 0 ? Reflect.ownKeys(this._events) : [];
  };
  EventEmitter.listenerCount = (emitter, type) => emitter.listenerCount(type);
  EventEmitter.EventEmitter = EventEmitter;
  EventEmitter.usingDomains = false;
  // `events.once(emitter, name)`: a promise of the next event's arguments
  // (rejected by an 'error' event first); EventTargets work too.
  EventEmitter.once = function once(emitter, name, options = undefined) {
    const signal = options && options.signal;
    return new Promise((resolve, reject) => {
      if (signal && signal.aborted) return reject(signal.reason);
      if (typeof emitter.addEventListener === "function" && typeof emitter.on !== "function") {
        emitter.addEventListener(name, (e) => resolve([e]), { once: true, signal });
        return;
      }
      const onError = (err) => {
        emitter.removeListener(name, onEvent);
        reject(err);
      };
      const onEvent = (...args) => {
        if (name !== "error") emitter.removeListener("error", onError);
        resolve(args);
      };
      emitter.once(name, onEvent);
      if (name !== "error") emitter.once("error", onError);
      if (signal) {
        signal.addEventListener(
          "abort",
          () => {
            emitter.removeListener(name, onEvent);
            emitter.removeListener("error", onError);
            reject(signal.reason);
          },
          { once: true },
        );
      }
    });
  };
  EventEmitter.getEventListeners = (emitter, name) =>
    typeof emitter.listeners === "function" ? emitter.listeners(name) : [];
  EventEmitter.setMaxListeners = (n = defaultMaxListeners, ...targets) => {
    if (targets.length === 0) defaultMaxListeners = n;
    for (const t of targets) if (typeof t.setMaxListeners === "function") t.setMaxListeners(n);
  };
  EventEmitter.default = EventEmitter;

  // ================================================================ async_hooks
  // The async context (AsyncLocalStorage's stores) rides in V8's
  // continuation-preserved embedder data, as the owning request does: the
  // value is the owner id alone, or [owner, Map<storage, store>] once a store
  // was entered. V8 carries it through promise reactions, the runtime
  // through timers.
  function currentFrame() {
    return ops.asyncContextGet();
  }
  function frameOwner(frame) {
    return Array.isArray(frame) ? frame[0] : typeof frame === "number" ? frame : 0;
  }
  function frameStores(frame) {
    return Array.isArray(frame) ? frame[1] : undefined;
  }
  function runInFrame(frame, fn, thisArg, args) {
    const before = currentFrame();
    ops.asyncContextSet(frame);
    try {
      return ReflectApply(fn, thisArg, args);
    } finally {
      ops.asyncContextSet(before);
    }
  }

  class AsyncLocalStorage {
    #enabled = true;
    getStore() {
      const stores = frameStores(currentFrame());
      return stores === undefined ? undefined : stores.get(this);
    }
    run(store, fn, ...args) {
      const frame = currentFrame();
      const stores = new Map(frameStores(frame));
      stores.set(this, store);
      this.#enabled = true;
      return runInFrame([frameOwner(frame), stores], fn, undefined, args);
    }
    exit(fn, ...args) {
      const frame = currentFrame();
      const stores = new Map(frameStores(frame));
      stores.delete(this);
      return runInFrame([frameOwner(frame), stores], fn, undefined, args);
    }
    disable() {
      this.#enabled = false;
    }
    static bind(fn) {
      return AsyncResource.bind(fn);
    }
    static snapshot() {
      const frame = currentFrame();
      return function runInSnapshot(fn, ...args) {
        return runInFrame(frame, fn, undefined, args);
      };
    }
    get [Symbol.toStringTag]() {
      return "AsyncLocalStorage";
    }
  }

  class AsyncResource {
    #frame;
    constructor(type, options = undefined) {
      if (typeof type !== "string") throw invalidArg('The "type" argument must be of type string');
      this.type = type;
      this.#frame = currentFrame();
    }
    runInAsyncScope(fn, thisArg, ...args) {
      return runInFrame(this.#frame, fn, thisArg, args);
    }
    bind(fn, thisArg) {
      const res = this;
      const bound = function (...args) {
        return res.runInAsyncScope(fn, thisArg === undefined ? this : thisArg, ...args);
      };
      Object.defineProperty(bound, "length", { value: fn.length });
      bound.asyncResource = res;
      return bound;
    }
    static bind(fn, type = "bound-anonymous-fn", thisArg = undefined) {
      return new AsyncResource(type).bind(fn, thisArg);
    }
    emitDestroy() {
      return this;
    }
    asyncId() {
      return 0;
    }
    triggerAsyncId() {
      return 0;
    }
  }

  const asyncHooksModule = {
    AsyncLocalStorage,
    AsyncResource,
    // (Hooks into every async operation are not offered, as in Workers.)
    createHook() {
      return { enable() { return this; }, disable() { return this; } };
    },
    executionAsyncId: () => 0,
    triggerAsyncId: () => 0,
    executionAsyncResource: () => ({}),
  };

  // ======================================================================= util
  const customPromisify = Symbol.for("nodejs.util.promisify.custom");
  const customInspect = Symbol.for("nodejs.util.inspect.custom");

  function promisify(original) {
    if (typeof original !== "function") throw invalidArg('The "original" argument must be of type function');
    if (original[customPromisify]) {
      const fn = original[customPromisify];
      if (typeof fn !== "function") throw invalidArg('The "util.promisify.custom" argument must be of type function');
      return fn;
    }
    function fn(...args) {
      return new Promise((resolve, reject) => {
        ReflectApply(original, this, [
          ...args,
          (err, ...values) => {
            if (err) return reject(err);
            resolve(values.length > 1 ? values : values[0]);
          },
        ]);
      });
    }
    Object.setPrototypeOf(fn, Object.getPrototypeOf(original));
    Object.defineProperty(fn, customPromisify, { value: fn, configurable: true });
    return Object.defineProperties(fn, Object.getOwnPropertyDescriptors(original));
  }
  promisify.custom = customPromisify;

  function callbackify(original) {
    if (typeof original !== "function") throw invalidArg('The "original" argument must be of type function');
    return function (...args) {
      const cb = args.pop();
      if (typeof cb !== "function") throw invalidArg("The last argument must be of type function");
      ReflectApply(original, this, args).then(
        (v) => queueMicrotask(() => cb(null, v)),
        (e) => queueMicrotask(() => cb(e || Object.assign(new Error("Promise was rejected with a falsy value"), { reason: e }))),
      );
    };
  }

  const types = {
    isPromise: (v) => v instanceof Promise,
    isDate: (v) => v instanceof Date,
    isRegExp: (v) => v instanceof RegExp,
    isMap: (v) => v instanceof Map,
    isSet: (v) => v instanceof Set,
    isWeakMap: (v) => v instanceof WeakMap,
    isWeakSet: (v) => v instanceof WeakSet,
    isNativeError: (v) => v instanceof Error,
    isArrayBuffer: (v) => v instanceof ArrayBuffer,
    isSharedArrayBuffer: (v) => typeof SharedArrayBuffer !== "undefined" && v instanceof SharedArrayBuffer,
    isAnyArrayBuffer: (v) => v instanceof ArrayBuffer || (typeof SharedArrayBuffer !== "undefined" && v instanceof SharedArrayBuffer),
    isArrayBufferView: (v) => ArrayBuffer.isView(v),
    isDataView: (v) => v instanceof DataView,
    isTypedArray: (v) => ArrayBuffer.isView(v) && !(v instanceof DataView),
    isUint8Array: (v) => v instanceof Uint8Array,
    isUint8ClampedArray: (v) => v instanceof Uint8ClampedArray,
    isUint16Array: (v) => v instanceof Uint16Array,
    isUint32Array: (v) => v instanceof Uint32Array,
    isInt8Array: (v) => v instanceof Int8Array,
    isInt16Array: (v) => v instanceof Int16Array,
    isInt32Array: (v) => v instanceof Int32Array,
    isFloat32Array: (v) => v instanceof Float32Array,
    isFloat64Array: (v) => v instanceof Float64Array,
    isBigInt64Array: (v) => v instanceof BigInt64Array,
    isBigUint64Array: (v) => v instanceof BigUint64Array,
    isAsyncFunction: (v) => typeof v === "function" && v[Symbol.toStringTag] === "AsyncFunction",
    isGeneratorFunction: (v) =>
      typeof v === "function" && (v[Symbol.toStringTag] === "GeneratorFunction" || v[Symbol.toStringTag] === "AsyncGeneratorFunction"),
    isGeneratorObject: (v) => v !== null && typeof v === "object" && v[Symbol.toStringTag] === "Generator",
    isBoxedPrimitive: (v) =>
      v instanceof Number || v instanceof String || v instanceof Boolean || v instanceof BigInt || v instanceof Symbol,
    isNumberObject: (v) => v instanceof Number,
    isStringObject: (v) => v instanceof String,
    isBooleanObject: (v) => v instanceof Boolean,
    isSymbolObject: (v) => v instanceof Symbol,
    isProxy: () => false,
  };

  function inspect(value, opts = undefined) {
    const options = typeof opts === "object" && opts !== null ? opts : {};
    const depth = options.depth === undefined ? 2 : options.depth === null ? Infinity : options.depth;
    const seen = new Set();
    const str = (v) => JSON.stringify(v);
    function fmt(v, d) {
      if (v === null) return "null";
      switch (typeof v) {
        case "undefined":
          return "undefined";
        case "string":
          return d === 0 ? v : `'${v.replace(/\\/g, "\\\\").replace(/'/g, "\\'").replace(/\n/g, "\\n")}'`;
        case "number":
          return Object.is(v, -0) ? "-0" : `${v}`;
        case "bigint":
          return `${v}n`;
        case "boolean":
          return `${v}`;
        case "symbol":
          return v.toString();
        case "function":
          return `[${types.isAsyncFunction(v) ? "AsyncFunction" : "Function"}: ${v.name || "(anonymous)"}]`;
      }
      if (typeof v[customInspect] === "function") return `${v[customInspect](depth - d, options, inspect)}`;
      if (seen.has(v)) return "[Circular *1]";
      if (v instanceof Error) return v.stack || `${v}`;
      if (v instanceof Date) return Number.isNaN(v.getTime()) ? "Invalid Date" : v.toISOString();
      if (v instanceof RegExp) return `${v}`;
      if (d > depth) return Array.isArray(v) ? "[Array]" : "[Object]";
      seen.add(v);
      try {
        if (v instanceof Buffer) {
          const shown = Array.from(v.subarray(0, 50), (b) => HEX[b >> 4] + HEX[b & 15]).join(" ");
          return `<Buffer${v.length ? " " + shown : ""}${v.length > 50 ? ` ... ${v.length - 50} more bytes` : ""}>`;
        }
        if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
          return `${v.constructor.name}(${v.length}) [ ${Array.from(v, (x) => fmt(x, d + 1)).join(", ")} ]`.replace("[  ]", "[]");
        }
        if (Array.isArray(v)) {
          if (v.length === 0) return "[]";
          return `[ ${v.map((x) => fmt(x, d + 1)).join(", ")} ]`;
        }
        if (v instanceof Map) {
          return `Map(${v.size}) {${v.size ? " " + [...v].map(([k, x]) => `${fmt(k, d + 1)} => ${fmt(x, d + 1)}`).join(", ") + " " : ""}}`;
        }
        if (v instanceof Set) {
          return `Set(${v.size}) {${v.size ? " " + [...v].map((x) => fmt(x, d + 1)).join(", ") + " " : ""}}`;
        }
        if (v instanceof Promise) return "Promise { <pending> }";
        const keys = Object.keys(v);
        const ctor = v.constructor;
        const prefix = ctor && ctor !== Object && ctor.name ? `${ctor.name} ` : Object.getPrototypeOf(v) === null ? "[Object: null prototype] " : "";
        if (keys.length === 0) return `${prefix}{}`;
        const body = keys.map((k) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : str(k)}: ${fmt(v[k], d + 1)}`).join(", ");
        return `${prefix}{ ${body} }`;
      } finally {
        seen.delete(v);
      }
    }
    return fmt(value, 1);
  }
  inspect.custom = customInspect;
  inspect.defaultOptions = { depth: 2 };

  function format(f, ...args) {
    if (typeof f !== "string") {
      return [f, ...args].map((a) => (typeof a === "string" ? a : inspect(a))).join(" ");
    }
    let i = 0;
    let out = f.replace(/%[sdifjoOc%]/g, (m) => {
      if (m === "%%") return "%";
      if (i >= args.length) return m;
      const a = args[i++];
      switch (m) {
        case "%s":
          return typeof a === "string" ? a : typeof a === "bigint" ? `${a}n` : typeof a === "object" && a !== null ? inspect(a, { depth: 0 }) : `${a}`;
        case "%d":
          return typeof a === "bigint" ? `${a}n` : typeof a === "object" ? "NaN" : `${Number(a)}`;
        case "%i":
          return typeof a === "bigint" ? `${a}n` : `${parseInt(a, 10)}`;
        case "%f":
          return `${parseFloat(a)}`;
        case "%j":
          try {
            return JSON.stringify(a);
          } catch {
            return "[Circular]";
          }
        case "%o":
        case "%O":
          return inspect(a);
        case "%c":
          return "";
      }
      return m;
    });
    for (; i < args.length; i++) out += " " + (typeof args[i] === "string" ? args[i] : inspect(args[i]));
    return out;
  }

  function inherits(ctor, superCtor) {
    if (typeof ctor !== "function" || typeof superCtor !== "function" || superCtor.prototype === undefined) {
      throw invalidArg('The "ctor" and "superCtor" arguments must be functions with a prototype');
    }
    Object.defineProperty(ctor, "super_", { value: superCtor, writable: true, configurable: true });
    Object.setPrototypeOf(ctor.prototype, superCtor.prototype);
  }

  function deprecate(fn, message) {
    let warned = false;
    return function (...args) {
      if (!warned) {
        warned = true;
        console.warn(`DeprecationWarning: ${message}`);
      }
      return new.target ? Reflect.construct(fn, args, new.target) : ReflectApply(fn, this, args);
    };
  }

  const utilModule = {
    promisify,
    callbackify,
    inspect,
    format,
    formatWithOptions: (opts, ...args) => format(...args),
    types,
    inherits,
    deprecate,
    isArray: Array.isArray,
    TextEncoder: globalThis.TextEncoder,
    TextDecoder: globalThis.TextDecoder,
    debuglog: () => {
      const f = () => {};
      f.enabled = false;
      return f;
    },
    toUSVString: (s) => `${s}`.toWellFormed(),
    stripVTControlCharacters: (s) => `${s}`.replace(/\u001b\[[0-9;]*[A-Za-z]/g, ""),
  };

  // ==================================================================== process
  const processStart = Date.now();
  const processModule = new EventEmitter();
  Object.assign(processModule, {
    // Filled with the script's string vars by enableNodeCompat.
    env: {},
    version: "v22.14.0",
    versions: ObjectFreeze({ node: "22.14.0" }),
    platform: "linux",
    arch: "x64",
    release: ObjectFreeze({ name: "node" }),
    argv: [],
    argv0: "",
    execArgv: [],
    exitCode: undefined,
    pid: 1,
    ppid: 0,
    title: "workerd",
    features: ObjectFreeze({}),
    cwd: () => "/",
    chdir() {
      throw nodeError(Error, "ERR_METHOD_NOT_IMPLEMENTED", "process.chdir() is not supported");
    },
    umask: () => 0o22,
    // nextTick callbacks run as microtasks, with their arguments.
    nextTick(callback, ...args) {
      if (typeof callback !== "function") throw invalidArg('The "callback" argument must be of type function');
      queueMicrotask(() => ReflectApply(callback, undefined, args));
    },
    emitWarning(warning, type) {
      console.warn(`${typeof type === "string" ? type : "Warning"}: ${warning instanceof Error ? warning.message : warning}`);
    },
    uptime: () => (Date.now() - processStart) / 1000,
    memoryUsage: () => ({ rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 }),
    exit(code) {
      throw nodeError(Error, "ERR_METHOD_NOT_IMPLEMENTED", `process.exit(${code === undefined ? "" : code}) is not supported in a Worker`);
    },
    abort() {
      throw nodeError(Error, "ERR_METHOD_NOT_IMPLEMENTED", "process.abort() is not supported in a Worker");
    },
  });
  function hrtime(prev) {
    const ns = BigInt(Math.round(performance.now() * 1e6));
    const sec = Number(ns / 1_000_000_000n);
    const nsec = Number(ns % 1_000_000_000n);
    if (Array.isArray(prev)) {
      let s = sec - prev[0];
      let n = nsec - prev[1];
      if (n < 0) {
        s -= 1;
        n += 1e9;
      }
      return [s, n];
    }
    return [sec, nsec];
  }
  hrtime.bigint = () => BigInt(Math.round(performance.now() * 1e6));
  processModule.hrtime = hrtime;

  // ===================================================================== crypto
  // Hashing, HMAC and randomness (hash.rs in Rust); crypto.subtle is
  // WebCrypto's (the global `crypto`).
  function toBytes(data, encoding, what) {
    if (typeof data === "string") return encodeString(data, normEncoding(encoding));
    if (data instanceof ArrayBuffer) return new Uint8(data);
    if (ArrayBuffer.isView(data)) return new Uint8(data.buffer, data.byteOffset, data.byteLength);
    throw invalidArg(
      `The "${what}" argument must be of type string or an instance of Buffer, TypedArray, DataView, or ArrayBuffer. Received ${data === null ? "null" : typeof data}`,
    );
  }
  const finalized = () => nodeError(Error, "ERR_CRYPTO_HASH_FINALIZED", "Digest already called");
  const kDigest = Symbol("digest");

  // Hash and Hmac share these: the native digest's id, 0 once finished.
  class Digest {
    update(data, encoding) {
      if (this[kDigest] === 0) throw finalized();
      ops.nodeHashUpdate(this[kDigest], toBytes(data, encoding, "data"));
      return this;
    }
    digest(encoding) {
      if (this[kDigest] === 0) throw finalized();
      const out = toBuffer(ops.nodeHashDigest(this[kDigest]));
      this[kDigest] = 0;
      return encoding === undefined || encoding === "buffer" ? out : out.toString(encoding);
    }
  }

  class Hash extends Digest {
    constructor(algorithm) {
      super();
      if (typeof algorithm !== "string") throw invalidArg('The "algorithm" argument must be of type string');
      this[kDigest] = ops.nodeHashNew(this, algorithm, undefined);
      if (this[kDigest] === 0) throw nodeError(Error, "ERR_OSSL_EVP_UNSUPPORTED", "Digest method not supported");
    }
    copy() {
      if (this[kDigest] === 0) throw finalized();
      const c = Object.create(Hash.prototype);
      c[kDigest] = ops.nodeHashCopy(this[kDigest], c);
      return c;
    }
  }

  class Hmac extends Digest {
    constructor(algorithm, key, options) {
      super();
      if (typeof algorithm !== "string") throw invalidArg('The "hmac" argument must be of type string');
      const keyBytes = key !== null && typeof key === "object" && key.type === "secret" && typeof key.export === "function" ? key.export() : toBytes(key, options && options.encoding, "key");
      this[kDigest] = ops.nodeHashNew(this, algorithm, keyBytes);
      if (this[kDigest] === 0) throw nodeError(TypeErr, "ERR_CRYPTO_INVALID_DIGEST", `Invalid digest: ${algorithm}`);
    }
  }

  function randomFillSync(buf, offset = 0, size = undefined) {
    if (!ArrayBuffer.isView(buf) && !(buf instanceof ArrayBuffer)) throw invalidArg('The "buf" argument must be an instance of ArrayBuffer or ArrayBufferView');
    const bytes = buf instanceof ArrayBuffer ? new Uint8(buf) : new Uint8(buf.buffer, buf.byteOffset, buf.byteLength);
    const end = size === undefined ? bytes.length : offset + size;
    if (offset < 0 || end > bytes.length) throw outOfRange('The value of "offset + size" is out of range.');
    for (let at = offset; at < end; at += 65536) {
      globalThis.crypto.getRandomValues(ReflectApply(U8Subarray, bytes, [at, Math.min(end, at + 65536)]));
    }
    return buf;
  }

  function randomBytes(size, callback) {
    checkSize(size, "size");
    const buf = randomFillSync(Buffer.allocUnsafe(size));
    if (typeof callback === "function") {
      queueMicrotask(() => callback(null, buf));
      return undefined;
    }
    return buf;
  }

  function randomInt(min, max, callback) {
    if (typeof max !== "number" || typeof max === "function") {
      callback = max;
      max = min;
      min = 0;
    }
    if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max)) throw invalidArg('The "min" and "max" arguments must be safe integers');
    if (max <= min) throw outOfRange(`The value of "max" is out of range. It must be greater than the value of "min" (${min}). Received ${max}`);
    const range = max - min;
    // Rejection sampling over 48 random bits: no modulo bias.
    const limit = 2 ** 48 - (2 ** 48 % range);
    let x;
    do {
      const b = randomFillSync(new Uint8(6));
      x = b[0] * 2 ** 40 + b[1] * 2 ** 32 + b[2] * 2 ** 24 + b[3] * 2 ** 16 + b[4] * 2 ** 8 + b[5];
    } while (x >= limit);
    const n = min + (x % range);
    if (typeof callback === "function") {
      queueMicrotask(() => callback(null, n));
      return undefined;
    }
    return n;
  }

  function timingSafeEqual(a, b) {
    if (!ArrayBuffer.isView(a) && !(a instanceof ArrayBuffer)) throw invalidArg('The "buf1" argument must be an instance of ArrayBuffer, Buffer, TypedArray, or DataView');
    if (!ArrayBuffer.isView(b) && !(b instanceof ArrayBuffer)) throw invalidArg('The "buf2" argument must be an instance of ArrayBuffer, Buffer, TypedArray, or DataView');
    if (a.byteLength !== b.byteLength) {
      throw nodeError(RangeErr, "ERR_CRYPTO_TIMING_SAFE_EQUAL_LENGTH", "Input buffers must have the same byte length");
    }
    return ops.nodeTimingSafeEqual(a, b);
  }

  const cryptoModule = {
    createHash: (algorithm, options) => new Hash(algorithm, options),
    createHmac: (algorithm, key, options) => new Hmac(algorithm, key, options),
    // One-shot `crypto.hash(algorithm, data, outputEncoding = "hex")`.
    hash(algorithm, data, outputEncoding = "hex") {
      return new Hash(algorithm).update(data).digest(outputEncoding);
    },
    Hash,
    Hmac,
    getHashes: () => ops.nodeHashNames(),
    randomBytes,
    randomFillSync,
    randomFill(buf, offset, size, callback) {
      if (typeof offset === "function") [callback, offset, size] = [offset, 0, undefined];
      else if (typeof size === "function") [callback, size] = [size, undefined];
      randomFillSync(buf, offset, size);
      queueMicrotask(() => callback(null, buf));
    },
    randomInt,
    randomUUID: () => globalThis.crypto.randomUUID(),
    getRandomValues: (array) => globalThis.crypto.getRandomValues(array),
    timingSafeEqual,
    get webcrypto() {
      return globalThis.crypto;
    },
    get subtle() {
      return globalThis.crypto.subtle;
    },
    constants: ObjectFreeze({}),
  };

  rw.nodeModules = {
    "node:buffer": bufferModule,
    "node:events": EventEmitter,
    "node:async_hooks": asyncHooksModule,
    "node:util": utilModule,
    "node:process": processModule,
    "node:crypto": cryptoModule,
  };
  rw.nodeHelpers = { Buffer, encodeString, decodeBytes, normEncoding, nodeError, invalidArg };

  // Called once per isolate when the script runs with nodejs_compat.
  // `modules`: the bare names the flags allow (all, or async_hooks alone).
  rw.enableNodeCompat = function enableNodeCompat(vars, modules) {
    rw.builtinModules = rw.builtinModules || {};
    for (const m of modules) rw.builtinModules[`node:${m}`] = rw.nodeModules[`node:${m}`];
    if (!modules.includes("buffer")) return;
    for (let i = 0; i < vars.length; i += 2) processModule.env[vars[i]] = vars[i + 1];
    rw.define("Buffer", Buffer);
    rw.define("process", processModule);
    rw.define("global", globalThis);
  };
});

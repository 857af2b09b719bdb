// 25_crypto.js: WebCrypto — `crypto` (a Crypto: getRandomValues,
// randomUUID, subtle, DigestStream), SubtleCrypto and CryptoKey, as the
// W3C Web Cryptography API (with the Secure Curves draft's Ed25519 and
// X25519) and Cloudflare's Workers docs describe them.
//
// Here: WebIDL conversions, algorithm normalization (case-insensitive
// names, dictionary members with [EnforceRange], copies of buffers) and the
// shape of the answers. The cryptography, every check that needs the key,
// and the key material itself are in Rust (src/crypto/, the crypto* ops): a
// CryptoKey carries a handle (a V8 private property set by the op), never
// key bytes. Runs after 20_streams.js (DigestStream is a WritableStream).
// See 00_bootstrap.js for the file convention.
(function (ops, rw) {
  "use strict";

  const TypeErr = TypeError;
  const DOMExc = globalThis.DOMException;
  const WritableStreamCtor = globalThis.WritableStream;
  const PromiseCtor = Promise;
  const promiseResolve = (v) => PromiseCtor.resolve(v);
  const promiseReject = (e) => PromiseCtor.reject(e);
  const PromisePrototypeThen = Function.prototype.call.bind(Promise.prototype.then);
  const JSONStringify = JSON.stringify;
  const JSONParse = JSON.parse;
  const ArrayBufferIsView = ArrayBuffer.isView;
  const ArrayBufferCtor = ArrayBuffer;
  const SharedArrayBufferCtor = typeof SharedArrayBuffer === "function" ? SharedArrayBuffer : undefined;
  const Uint8ArrayCtor = Uint8Array;
  const StringToUpperCase = Function.prototype.call.bind(String.prototype.toUpperCase);
  const MathTrunc = Math.trunc;
  const NumberIsFinite = Number.isFinite;
  const SymbolIterator = Symbol.iterator;
  const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype);
  const TypedArrayTag = Function.prototype.call.bind(
    Object.getOwnPropertyDescriptor(TypedArrayPrototype, Symbol.toStringTag).get,
  );
  const TypedArrayByteLength = Function.prototype.call.bind(
    Object.getOwnPropertyDescriptor(TypedArrayPrototype, "byteLength").get,
  );
  const kInternal = Symbol("internal");

  const domError = (message, name) => new DOMExc(message, name);
  // The ops throw and reject with these (src/crypto/ops.rs).
  rw.cryptoError = (name, message) => new DOMExc(message, name);

  // ------------------------------------------------------------ conversions
  function isBufferSource(v) {
    return (
      ArrayBufferIsView(v) ||
      v instanceof ArrayBufferCtor ||
      (SharedArrayBufferCtor !== undefined && v instanceof SharedArrayBufferCtor)
    );
  }

  function bufferArg(v, what) {
    if (!isBufferSource(v)) throw new TypeErr(`${what} is not an ArrayBuffer or an ArrayBufferView`);
    return v;
  }

  // A copy of a BufferSource's bytes (the spec copies dictionary members).
  function copyBytes(v, what) {
    if (ArrayBufferIsView(v)) return new Uint8ArrayCtor(v.buffer, v.byteOffset, v.byteLength).slice();
    if (isBufferSource(v)) return new Uint8ArrayCtor(v).slice();
    throw new TypeErr(`${what} is not an ArrayBuffer or an ArrayBufferView`);
  }

  // WebIDL's [EnforceRange] integer conversion.
  function enforceRange(v, max, what) {
    const n = +v;
    if (!NumberIsFinite(n)) throw new TypeErr(`${what} is not a finite number`);
    const t = MathTrunc(n);
    if (t < 0 || t > max) throw new TypeErr(`${what} is outside the range [0, ${max}]`);
    return t === 0 ? 0 : t;
  }

  function argc(n, need, method) {
    if (n < need) {
      throw new TypeErr(`Failed to execute '${method}' on 'SubtleCrypto': ${need} arguments required, but only ${n} present.`);
    }
  }

  const FORMATS = new Set(["raw", "pkcs8", "spki", "jwk"]);
  function formatArg(v) {
    const f = `${v}`;
    if (!FORMATS.has(f)) throw new TypeErr(`'${f}' is not a valid enum value of type KeyFormat`);
    return f;
  }

  const USAGE_NAMES = ["encrypt", "decrypt", "sign", "verify", "deriveKey", "deriveBits", "wrapKey", "unwrapKey"];
  const USAGE_BITS = new Map(USAGE_NAMES.map((n, i) => [n, 1 << i]));
  // sequence<KeyUsage> -> the usage bits (src/crypto/algorithm.rs `usage`).
  function usageMask(usages) {
    if (usages === null || typeof usages !== "object" || typeof usages[SymbolIterator] !== "function") {
      throw new TypeErr("keyUsages must be a sequence of KeyUsage");
    }
    let mask = 0;
    for (const u of usages) {
      const bit = USAGE_BITS.get(`${u}`);
      if (bit === undefined) throw new TypeErr(`'${u}' is not a valid enum value of type KeyUsage`);
      mask |= bit;
    }
    return mask;
  }

  // ----------------------------------------------------------- normalizing
  const HASH = "hash";
  const BUF = "BufferSource";
  // The dictionaries, members in lexicographic order (as WebIDL reads them):
  // [type, required].
  const DICTS = {
    RsaHashedKeyGenParams: { hash: [HASH, true], modulusLength: ["u32", true], publicExponent: ["BigInteger", true] },
    EcKeyGenParams: { namedCurve: ["DOMString", true] },
    AesKeyGenParams: { length: ["u16", true] },
    HmacKeyGenParams: { hash: [HASH, true], length: ["u32", false] },
    RsaHashedImportParams: { hash: [HASH, true] },
    EcKeyImportParams: { namedCurve: ["DOMString", true] },
    HmacImportParams: { hash: [HASH, true], length: ["u32", false] },
    RsaPssParams: { saltLength: ["u32", true] },
    EcdsaParams: { hash: [HASH, true] },
    RsaOaepParams: { label: [BUF, false] },
    AesCtrParams: { counter: [BUF, true], length: ["u8", true] },
    AesCbcParams: { iv: [BUF, true] },
    AesGcmParams: { additionalData: [BUF, false], iv: [BUF, true], tagLength: ["u8", false] },
    EcdhKeyDeriveParams: { public: ["CryptoKey", true] },
    HkdfParams: { hash: [HASH, true], info: [BUF, true], salt: [BUF, true] },
    Pbkdf2Params: { hash: [HASH, true], iterations: ["u32", true], salt: [BUF, true] },
    AesDerivedKeyParams: { length: ["u16", true] },
  };
  const SHA = { "SHA-1": null, "SHA-256": null, "SHA-384": null, "SHA-512": null };
  const RSA_GEN = "RsaHashedKeyGenParams";
  const AES_GEN = "AesKeyGenParams";
  const SIGN = { "RSASSA-PKCS1-v1_5": null, "RSA-PSS": "RsaPssParams", ECDSA: "EcdsaParams", HMAC: null, Ed25519: null };
  const CIPHER = { "RSA-OAEP": "RsaOaepParams", "AES-CTR": "AesCtrParams", "AES-CBC": "AesCbcParams", "AES-GCM": "AesGcmParams" };
  // Per operation, the registered algorithms and their parameter dictionary.
  // MD5 is a digest only (Workers' extension); `hash` members take SHA-*.
  const REGISTRY = {
    digest: { ...SHA, MD5: null },
    hash: SHA,
    generateKey: {
      "RSASSA-PKCS1-v1_5": RSA_GEN,
      "RSA-PSS": RSA_GEN,
      "RSA-OAEP": RSA_GEN,
      ECDSA: "EcKeyGenParams",
      ECDH: "EcKeyGenParams",
      "AES-CTR": AES_GEN,
      "AES-CBC": AES_GEN,
      "AES-GCM": AES_GEN,
      "AES-KW": AES_GEN,
      HMAC: "HmacKeyGenParams",
      Ed25519: null,
      X25519: null,
    },
    importKey: {
      "RSASSA-PKCS1-v1_5": "RsaHashedImportParams",
      "RSA-PSS": "RsaHashedImportParams",
      "RSA-OAEP": "RsaHashedImportParams",
      ECDSA: "EcKeyImportParams",
      ECDH: "EcKeyImportParams",
      "AES-CTR": null,
      "AES-CBC": null,
      "AES-GCM": null,
      "AES-KW": null,
      HMAC: "HmacImportParams",
      HKDF: null,
      PBKDF2: null,
      Ed25519: null,
      X25519: null,
    },
    sign: SIGN,
    verify: SIGN,
    encrypt: CIPHER,
    decrypt: CIPHER,
    deriveBits: { ECDH: "EcdhKeyDeriveParams", X25519: "EcdhKeyDeriveParams", HKDF: "HkdfParams", PBKDF2: "Pbkdf2Params" },
    wrapKey: { "AES-KW": null },
    unwrapKey: { "AES-KW": null },
    getKeyLength: {
      "AES-CTR": "AesDerivedKeyParams",
      "AES-CBC": "AesDerivedKeyParams",
      "AES-GCM": "AesDerivedKeyParams",
      "AES-KW": "AesDerivedKeyParams",
      HMAC: "HmacImportParams",
      HKDF: null,
      PBKDF2: null,
    },
  };
  // Upper-cased name -> registered name, per operation.
  const LOOKUP = {};
  for (const op of Object.keys(REGISTRY)) {
    LOOKUP[op] = new Map(Object.keys(REGISTRY[op]).map((n) => [StringToUpperCase(n), n]));
  }

  // Algorithms named by a string normalize to the same member-less object
  // every time (only the ops see it): kept, per operation.
  const BY_STRING = {};
  for (const op of Object.keys(REGISTRY)) BY_STRING[op] = new Map();

  // The spec's "normalize an algorithm": a plain object with the registered
  // name and the converted members of its dictionary (hash as its name).
  function normalize(alg, op) {
    if (typeof alg === "string") {
      const known = BY_STRING[op].get(alg);
      if (known !== undefined) return known;
      const out = normalize({ name: alg }, op);
      if (BY_STRING[op].size < 64) BY_STRING[op].set(alg, out);
      return out;
    }
    if (alg === null || (typeof alg !== "object" && typeof alg !== "function")) {
      throw new TypeErr("Algorithm: expected a string or an object");
    }
    const nameValue = alg.name;
    if (nameValue === undefined) throw new TypeErr("Algorithm: name is required");
    const name = `${nameValue}`;
    const registered = LOOKUP[op].get(StringToUpperCase(name));
    if (registered === undefined) throw domError(`Unrecognized algorithm name: ${name}`, "NotSupportedError");
    const dictName = REGISTRY[op][registered];
    const out = { name: registered };
    if (dictName === null) return out;
    const dict = DICTS[dictName];
    for (const member of Object.keys(dict)) {
      const [type, required] = dict[member];
      const v = alg[member];
      const what = `${dictName}.${member}`;
      if (v === undefined) {
        if (required) throw new TypeErr(`${what} is required`);
        continue;
      }
      switch (type) {
        case HASH:
          out[member] = normalize(v, "hash").name;
          break;
        case BUF:
          out[member] = copyBytes(v, what);
          break;
        case "u8":
          out[member] = enforceRange(v, 0xff, what);
          break;
        case "u16":
          out[member] = enforceRange(v, 0xffff, what);
          break;
        case "u32":
          out[member] = enforceRange(v, 0xffffffff, what);
          break;
        case "DOMString":
          out[member] = `${v}`;
          break;
        case "BigInteger":
          if (!(v instanceof Uint8ArrayCtor)) throw new TypeErr(`${what} must be a Uint8Array`);
          out[member] = v.slice();
          break;
        case "CryptoKey":
          if (!isCryptoKey(v)) throw new TypeErr(`${what} must be a CryptoKey`);
          out[member] = v;
          break;
      }
    }
    return out;
  }

  // The spec's "get key length" for deriveKey's derived key type.
  function keyLength(alg) {
    switch (alg.name) {
      case "HMAC":
        if (alg.length === undefined) return alg.hash === "SHA-1" || alg.hash === "SHA-256" ? 512 : 1024;
        if (alg.length === 0) throw new TypeErr("HmacImportParams.length must not be zero");
        return alg.length;
      case "HKDF":
      case "PBKDF2":
        return null;
      default:
        if (alg.length !== 128 && alg.length !== 192 && alg.length !== 256) {
          throw domError(`AES key length must be 128, 192 or 256 bits, not ${alg.length}`, "OperationError");
        }
        return alg.length;
    }
  }

  // JsonWebKey, its members in lexicographic order.
  const JWK_MEMBERS = ["alg", "crv", "d", "dp", "dq", "e", "ext", "k", "key_ops", "kty", "n", "oth", "p", "q", "qi", "use", "x", "y"];
  function jwkDict(v) {
    const out = {};
    for (const m of JWK_MEMBERS) {
      const x = v[m];
      if (x === undefined) continue;
      if (m === "ext") out.ext = !!x;
      else if (m === "key_ops" || m === "oth") {
        if (x === null || typeof x !== "object" || typeof x[SymbolIterator] !== "function") {
          throw new TypeErr(`JsonWebKey.${m} must be a sequence`);
        }
        out[m] = m === "oth" ? [...x].map(() => ({})) : [...x].map((s) => `${s}`);
      } else out[m] = `${x}`;
    }
    return out;
  }

  // -------------------------------------------------------------- CryptoKey
  // The ops make CryptoKey objects themselves (objects of this prototype
  // carrying a handle; also the structured-clone deserializer, where no JS
  // may run). The getters read the key's slots from Rust once and keep
  // them, so `algorithm` and `usages` are the same objects every time.
  const ArrayIsArray = Array.isArray;
  const WeakMapGet = Function.prototype.call.bind(WeakMap.prototype.get);
  const WeakMapSet = Function.prototype.call.bind(WeakMap.prototype.set);
  const SLOTS = new WeakMap();
  function slots(key) {
    let s = WeakMapGet(SLOTS, key);
    if (s !== undefined) return s;
    const [type, extractable, usages, name, hash, length, curve, modulusLength, publicExponent] = ops.cryptoKeyInfo(key);
    const list = [];
    for (let i = 0; i < USAGE_NAMES.length; i++) if (usages & (1 << i)) list.push(USAGE_NAMES[i]);
    const algorithm = { name };
    if (modulusLength !== undefined) {
      algorithm.modulusLength = modulusLength;
      algorithm.publicExponent = publicExponent;
    }
    if (hash !== undefined) algorithm.hash = { name: hash };
    if (length !== undefined) algorithm.length = length;
    if (curve !== undefined) algorithm.namedCurve = curve;
    s = { type, extractable, algorithm, usages: list };
    WeakMapSet(SLOTS, key, s);
    return s;
  }
  class CryptoKey {
    constructor() {
      throw new TypeErr("Illegal constructor");
    }
    get type() {
      return slots(this).type;
    }
    get extractable() {
      return slots(this).extractable;
    }
    get algorithm() {
      return slots(this).algorithm;
    }
    get usages() {
      return slots(this).usages;
    }
  }
  rw.cryptoKeyPrototype = CryptoKey.prototype;
  const isCryptoKey = (v) => typeof v === "object" && v !== null && ops.cryptoKeyIs(v);
  // An op's keys: one, or a pair ([public, private]).
  const makeKeys = (r) => (ArrayIsArray(r) ? { publicKey: r[0], privateKey: r[1] } : r);
  // An op's answer now, or its promise (an operation that left the shard).
  const then = (v, f) => (v instanceof PromiseCtor ? PromisePrototypeThen(v, f) : f(v));
  function keyArg(v, what) {
    if (!isCryptoKey(v)) throw new TypeErr(`${what} is not a CryptoKey`);
    return v;
  }
  // structuredClone (05_web.js) shares the key material with the clone;
  // actor RPC across shards serializes it as a host object (src/actor.rs).
  rw.cloneCryptoKey = (v) => (isCryptoKey(v) ? ops.cryptoKeyClone(v) : undefined);

  // ------------------------------------------------------------ SubtleCrypto
  // Every method answers a promise; an error, also a WebIDL one, rejects it.
  function attempt(f) {
    try {
      return promiseResolve(f());
    } catch (e) {
      return promiseReject(e);
    }
  }

  function normalizeEither(alg, first, second) {
    try {
      return normalize(alg, first);
    } catch {
      return normalize(alg, second);
    }
  }

  class SubtleCrypto {
    constructor(token = undefined) {
      if (token !== kInternal) throw new TypeErr("Illegal constructor");
    }
    digest(algorithm, data) {
      const n = arguments.length;
      return attempt(() => {
        argc(n, 2, "digest");
        const alg = normalize(algorithm, "digest");
        return ops.cryptoDigest(alg.name, bufferArg(data, "data"));
      });
    }
    generateKey(algorithm, extractable, keyUsages) {
      const n = arguments.length;
      return attempt(() => {
        argc(n, 3, "generateKey");
        const alg = normalize(algorithm, "generateKey");
        const mask = usageMask(keyUsages);
        return then(ops.cryptoGenerateKey(alg, !!extractable, mask), makeKeys);
      });
    }
    importKey(format, keyData, algorithm, extractable, keyUsages) {
      const n = arguments.length;
      return attempt(() => {
        argc(n, 5, "importKey");
        const f = formatArg(format);
        let data;
        if (f === "jwk") {
          if (keyData === null || typeof keyData !== "object" || isBufferSource(keyData)) {
            throw new TypeErr("importKey: a JWK must be an object (JsonWebKey)");
          }
          data = JSONStringify(jwkDict(keyData));
        } else {
          data = bufferArg(keyData, "keyData");
        }
        const alg = normalize(algorithm, "importKey");
        const mask = usageMask(keyUsages);
        return ops.cryptoImportKey(alg, f, data, !!extractable, mask);
      });
    }
    exportKey(format, key) {
      const n = arguments.length;
      return attempt(() => {
        argc(n, 2, "exportKey");
        const f = formatArg(format);
        const r = ops.cryptoExportKey(keyArg(key, "key"), f);
        return typeof r === "string" ? JSONParse(r) : r;
      });
    }
    sign(algorithm, key, data) {
      const n = arguments.length;
      return attempt(() => {
        argc(n, 3, "sign");
        const alg = normalize(algorithm, "sign");
        return ops.cryptoSign(alg, keyArg(key, "key"), bufferArg(data, "data"));
      });
    }
    verify(algorithm, key, signature, data) {
      const n = arguments.length;
      return attempt(() => {
        argc(n, 4, "verify");
        const alg = normalize(algorithm, "verify");
        return ops.cryptoVerify(alg, keyArg(key, "key"), bufferArg(signature, "signature"), bufferArg(data, "data"));
      });
    }
    encrypt(algorithm, key, data) {
      const n = arguments.length;
      return attempt(() => {
        argc(n, 3, "encrypt");
        const alg = normalize(algorithm, "encrypt");
        return ops.cryptoEncrypt(alg, keyArg(key, "key"), bufferArg(data, "data"));
      });
    }
    decrypt(algorithm, key, data) {
      const n = arguments.length;
      return attempt(() => {
        argc(n, 3, "decrypt");
        const alg = normalize(algorithm, "decrypt");
        return ops.cryptoDecrypt(alg, keyArg(key, "key"), bufferArg(data, "data"));
      });
    }
    deriveBits(algorithm, baseKey, length = null) {
      const n = arguments.length;
      return attempt(() => {
        argc(n, 2, "deriveBits");
        const alg = normalize(algorithm, "deriveBits");
        const len = length === null || length === undefined ? null : +length >>> 0;
        return ops.cryptoDeriveBits(alg, keyArg(baseKey, "baseKey"), len);
      });
    }
    deriveKey(algorithm, baseKey, derivedKeyType, extractable, keyUsages) {
      const n = arguments.length;
      return attempt(() => {
        argc(n, 5, "deriveKey");
        const alg = normalize(algorithm, "deriveBits");
        const importAlg = normalize(derivedKeyType, "importKey");
        const lengthAlg = normalize(derivedKeyType, "getKeyLength");
        const mask = usageMask(keyUsages);
        keyArg(baseKey, "baseKey");
        const length = keyLength(lengthAlg);
        return ops.cryptoDeriveKey(alg, baseKey, importAlg, length, !!extractable, mask);
      });
    }
    wrapKey(format, key, wrappingKey, wrapAlgorithm) {
      const n = arguments.length;
      return attempt(() => {
        argc(n, 4, "wrapKey");
        const f = formatArg(format);
        const alg = normalizeEither(wrapAlgorithm, "wrapKey", "encrypt");
        return ops.cryptoWrapKey(f, keyArg(key, "key"), keyArg(wrappingKey, "wrappingKey"), alg);
      });
    }
    unwrapKey(format, wrappedKey, unwrappingKey, unwrapAlgorithm, unwrappedKeyAlgorithm, extractable, keyUsages) {
      const n = arguments.length;
      return attempt(() => {
        argc(n, 7, "unwrapKey");
        const f = formatArg(format);
        bufferArg(wrappedKey, "wrappedKey");
        const alg = normalizeEither(unwrapAlgorithm, "unwrapKey", "decrypt");
        const importAlg = normalize(unwrappedKeyAlgorithm, "importKey");
        const mask = usageMask(keyUsages);
        keyArg(unwrappingKey, "unwrappingKey");
        return ops.cryptoUnwrapKey(f, wrappedKey, unwrappingKey, alg, importAlg, !!extractable, mask);
      });
    }
    // Workers' extension: compares in time that depends only on the length.
    timingSafeEqual(a, b) {
      if (arguments.length < 2) throw new TypeErr("timingSafeEqual: 2 arguments required");
      bufferArg(a, "a");
      bufferArg(b, "b");
      const la = ArrayBufferIsView(a) ? a.byteLength : a.byteLength;
      const lb = ArrayBufferIsView(b) ? b.byteLength : b.byteLength;
      if (la !== lb) throw new TypeErr("timingSafeEqual: the two inputs must have the same byte length");
      return ops.cryptoTimingSafeEqual(a, b);
    }
  }
  const subtle = new SubtleCrypto(kInternal);

  // ------------------------------------------------------------ DigestStream
  // Workers' writable digest: write bytes (or strings, as UTF-8), close, and
  // `digest` resolves to the ArrayBuffer.
  class DigestStream extends WritableStreamCtor {
    #digest;
    constructor(algorithm) {
      const alg = normalize(algorithm, "digest");
      const holder = {};
      ops.cryptoDigestStart(holder, alg.name);
      let resolve, reject;
      const digest = new PromiseCtor((res, rej) => {
        resolve = res;
        reject = rej;
      });
      super({
        write(chunk) {
          ops.cryptoDigestUpdate(holder, typeof chunk === "string" ? ops.utf8Encode(chunk) : chunk);
        },
        close() {
          resolve(ops.cryptoDigestEnd(holder));
        },
        abort(reason) {
          reject(reason);
        },
      });
      // An aborted stream whose digest nobody reads is not an unhandled rejection.
      PromisePrototypeThen(digest, undefined, () => {});
      this.#digest = digest;
    }
    get digest() {
      return this.#digest;
    }
  }

  // ------------------------------------------------------------------ Crypto
  const INTEGER_ARRAYS = new Set([
    "Int8Array",
    "Uint8Array",
    "Uint8ClampedArray",
    "Int16Array",
    "Uint16Array",
    "Int32Array",
    "Uint32Array",
    "BigInt64Array",
    "BigUint64Array",
  ]);
  class Crypto {
    constructor(token = undefined) {
      if (token !== kInternal) throw new TypeErr("Illegal constructor");
    }
    get subtle() {
      return subtle;
    }
    get DigestStream() {
      return DigestStream;
    }
    getRandomValues(array) {
      if (arguments.length < 1) throw new TypeErr("getRandomValues: 1 argument required");
      if (!ArrayBufferIsView(array)) throw new TypeErr("getRandomValues: the argument is not an ArrayBufferView");
      const tag = TypedArrayTag(array);
      if (!INTEGER_ARRAYS.has(tag)) {
        throw domError(`getRandomValues: ${tag ?? "DataView"} is not an integer array type`, "TypeMismatchError");
      }
      const n = TypedArrayByteLength(array);
      if (n > 65536) {
        throw domError(`getRandomValues: ${n} bytes requested, at most 65536 allowed`, "QuotaExceededError");
      }
      ops.randomFill(array);
      return array;
    }
    randomUUID() {
      const b = new Uint8ArrayCtor(16);
      ops.randomFill(b);
      b[6] = (b[6] & 0x0f) | 0x40;
      b[8] = (b[8] & 0x3f) | 0x80;
      let h = "";
      for (let i = 0; i < 16; i++) {
        h += (b[i] < 16 ? "0" : "") + b[i].toString(16);
        if (i === 3 || i === 5 || i === 7 || i === 9) h += "-";
      }
      return h;
    }
  }

  for (const [C, name] of [
    [Crypto, "Crypto"],
    [SubtleCrypto, "SubtleCrypto"],
    [CryptoKey, "CryptoKey"],
    [DigestStream, "DigestStream"],
  ]) {
    Object.defineProperty(C.prototype, Symbol.toStringTag, { value: name, configurable: true });
  }
  rw.define("Crypto", Crypto);
  rw.define("SubtleCrypto", SubtleCrypto);
  rw.define("CryptoKey", CryptoKey);
  rw.define("crypto", new Crypto(kInternal));
});

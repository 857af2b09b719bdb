// WebCrypto (crypto.subtle, crypto.DigestStream, getRandomValues,
// timingSafeEqual): published vectors for every algorithm, every key
// format, and the errors the spec names.
import { test, assert, assertEquals, assertThrows, assertRejects, run } from "./harness.js";

const subtle = crypto.subtle;
const enc = (s) => new TextEncoder().encode(s);
const hex = (s) => Uint8Array.from(s.match(/../g) ?? [], (h) => parseInt(h, 16));
const toHex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, "0")).join("");
const b64u = (b) => btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let i = 0;
  for (const p of parts) {
    out.set(p, i);
    i += p.length;
  }
  return out;
};

// A rejection with a DOMException of this name (and message part).
async function rejectsWith(fn, name, includes = "") {
  const e = await assertRejects(fn, DOMException, includes);
  assertEquals(e.name, name, `DOMException name (${e.message})`);
  return e;
}

test("interfaces: Crypto, SubtleCrypto, CryptoKey are real and not constructible", async () => {
  assert(crypto instanceof Crypto);
  assert(crypto.subtle instanceof SubtleCrypto);
  assertEquals(Object.prototype.toString.call(crypto.subtle), "[object SubtleCrypto]");
  assertThrows(() => new CryptoKey(), TypeError, "Illegal constructor");
  assertThrows(() => new SubtleCrypto(), TypeError, "Illegal constructor");
  assertThrows(() => new Crypto(), TypeError, "Illegal constructor");
  const key = await subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, true, ["sign"]);
  assert(key instanceof CryptoKey);
  assertEquals(Object.prototype.toString.call(key), "[object CryptoKey]");
  assertEquals(Object.keys(key), [], "no own properties: the material is not in JS");
  assertEquals(Object.getOwnPropertySymbols(key), []);
  assert(key.algorithm === key.algorithm && key.usages === key.usages, "cached (SameObject)");
  // A forged object is no key.
  await assertRejects(() => subtle.sign("HMAC", Object.create(CryptoKey.prototype), new Uint8Array(1)), TypeError, "CryptoKey");
  // Methods reject, never throw.
  const p = subtle.digest();
  assert(p instanceof Promise);
  await assertRejects(() => p, TypeError, "2 arguments required");
});

test("getRandomValues: integer arrays only (TypeMismatchError), at most 65,536 bytes (QuotaExceededError)", () => {
  const a = crypto.getRandomValues(new Uint8Array(64));
  assert(a.some((x) => x !== 0));
  assertEquals(crypto.getRandomValues(new BigUint64Array(2)).length, 2);
  assertEquals(crypto.getRandomValues(new Uint8Array(65536)).length, 65536);
  for (const bad of [new Float32Array(4), new Float64Array(4), new DataView(new ArrayBuffer(4))]) {
    const e = assertThrows(() => crypto.getRandomValues(bad), DOMException);
    assertEquals(e.name, "TypeMismatchError");
  }
  const e = assertThrows(() => crypto.getRandomValues(new Uint32Array(16385)), DOMException, "65540");
  assertEquals(e.name, "QuotaExceededError");
  assertThrows(() => crypto.getRandomValues([1, 2]), TypeError);
  assert(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(crypto.randomUUID()));
});

// FIPS 180-2 examples; MD5 from RFC 1321.
test("digest: SHA-1/256/384/512 and MD5 vectors, any case, any BufferSource", async () => {
  const abc = enc("abc");
  assertEquals(toHex(await subtle.digest("SHA-1", abc)), "a9993e364706816aba3e25717850c26c9cd0d89d");
  assertEquals(toHex(await subtle.digest("sha-256", abc)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assertEquals(
    toHex(await subtle.digest({ name: "SHA-384" }, abc)),
    "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
  );
  assertEquals(
    toHex(await subtle.digest("SHA-512", abc.buffer)),
    "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
  );
  assertEquals(toHex(await subtle.digest("SHA-256", new Uint8Array(0))), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assertEquals(toHex(await subtle.digest("MD5", abc)), "900150983cd24fb0d6963f7d28e17f72");
  // A view into a larger buffer digests only its bytes.
  const big = enc("xxabcxx");
  assertEquals(toHex(await subtle.digest("SHA-1", big.subarray(2, 5))), "a9993e364706816aba3e25717850c26c9cd0d89d");
  assertEquals(toHex(await subtle.digest("SHA-1", new DataView(big.buffer, 2, 3))), "a9993e364706816aba3e25717850c26c9cd0d89d");
  const d = await subtle.digest("SHA-256", abc);
  assert(d instanceof ArrayBuffer);
  await rejectsWith(() => subtle.digest("SHA-3", abc), "NotSupportedError", "SHA-3");
  await rejectsWith(() => subtle.digest("HMAC", abc), "NotSupportedError");
  await assertRejects(() => subtle.digest("SHA-256", "abc"), TypeError);
  await assertRejects(() => subtle.digest({}, abc), TypeError, "name");
});

test("DigestStream: chunks in, digest out; unknown algorithm throws NotSupportedError", async () => {
  const s = new crypto.DigestStream("SHA-256");
  assert(s instanceof WritableStream);
  const w = s.getWriter();
  await w.write(enc("ab"));
  await w.write(enc("c").buffer);
  await w.close();
  assertEquals(toHex(await s.digest), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const m = new crypto.DigestStream("MD5");
  const mw = m.getWriter();
  await mw.write("abc");
  await mw.close();
  assertEquals(toHex(await m.digest), "900150983cd24fb0d6963f7d28e17f72");
  const e = assertThrows(() => new crypto.DigestStream("SHA-3"), DOMException);
  assertEquals(e.name, "NotSupportedError");
});

// RFC 4231 test case 2 (and 6: a key longer than the block).
test("HMAC: RFC 4231 vectors, verify, JWK round trip", async () => {
  const key = await subtle.importKey("raw", enc("Jefe"), { name: "HMAC", hash: "SHA-256" }, true, ["verify", "sign"]);
  assertEquals(key.type, "secret");
  assertEquals(key.extractable, true);
  assertEquals(key.algorithm, { name: "HMAC", hash: { name: "SHA-256" }, length: 32 });
  assertEquals(key.usages, ["sign", "verify"], "usages in the spec's order");
  const data = enc("what do ya want for nothing?");
  const mac = await subtle.sign("HMAC", key, data);
  assertEquals(toHex(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  assert(await subtle.verify("HMAC", key, mac, data));
  const bad = new Uint8Array(mac).slice();
  bad[0] ^= 1;
  assertEquals(await subtle.verify("HMAC", key, bad, data), false);
  assertEquals(await subtle.verify("HMAC", key, new Uint8Array(31), data), false);
  const k512 = await subtle.importKey("raw", new Uint8Array(131).fill(0xaa), { name: "HMAC", hash: "SHA-512" }, false, ["sign"]);
  assertEquals(
    toHex(await subtle.sign("HMAC", k512, enc("Test Using Larger Than Block-Size Key - Hash Key First"))),
    "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598",
  );
  const jwk = await subtle.exportKey("jwk", key);
  assertEquals(jwk, { kty: "oct", k: b64u(enc("Jefe")), alg: "HS256", key_ops: ["sign", "verify"], ext: true });
  const again = await subtle.importKey("jwk", jwk, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  assertEquals(toHex(await subtle.sign("HMAC", again, data)), toHex(mac));
  assertEquals(toHex(await subtle.exportKey("raw", key)), toHex(enc("Jefe")));
  const gen = await subtle.generateKey({ name: "HMAC", hash: "SHA-384" }, false, ["sign"]);
  assertEquals(gen.algorithm, { name: "HMAC", hash: { name: "SHA-384" }, length: 1024 });
});

test("errors: usages, extractability, algorithm mismatch, bad parameters", async () => {
  const hmac = { name: "HMAC", hash: "SHA-256" };
  await rejectsWith(() => subtle.generateKey(hmac, true, ["encrypt"]), "SyntaxError", "encrypt");
  await rejectsWith(() => subtle.generateKey(hmac, true, []), "SyntaxError");
  await assertRejects(() => subtle.generateKey(hmac, true, ["sing"]), TypeError, "KeyUsage");
  await assertRejects(() => subtle.generateKey({ name: "HMAC" }, true, ["sign"]), TypeError, "hash");
  await rejectsWith(() => subtle.generateKey({ name: "HMAC", hash: "MD5" }, true, ["sign"]), "NotSupportedError");
  await rejectsWith(() => subtle.generateKey({ name: "AES-GCM", length: 100 }, true, ["encrypt"]), "OperationError");
  await assertRejects(() => subtle.generateKey({ name: "AES-GCM", length: 1e6 }, true, ["encrypt"]), TypeError, "range");
  await rejectsWith(() => subtle.generateKey({ name: "FOO" }, true, ["sign"]), "NotSupportedError");
  await assertRejects(() => subtle.importKey("der", new Uint8Array(16), "AES-GCM", true, ["encrypt"]), TypeError, "KeyFormat");
  const secret = await subtle.generateKey(hmac, false, ["sign"]);
  await rejectsWith(() => subtle.exportKey("raw", secret), "InvalidAccessError", "extractable");
  await rejectsWith(() => subtle.exportKey("jwk", secret), "InvalidAccessError");
  await rejectsWith(() => subtle.verify("HMAC", secret, new Uint8Array(32), new Uint8Array(1)), "InvalidAccessError", "verify");
  const aes = await subtle.generateKey({ name: "AES-GCM", length: 128 }, true, ["encrypt"]);
  await rejectsWith(() => subtle.sign("HMAC", aes, new Uint8Array(1)), "InvalidAccessError", "AES-GCM");
  await rejectsWith(() => subtle.encrypt({ name: "AES-CBC", iv: new Uint8Array(16) }, aes, new Uint8Array(1)), "InvalidAccessError");
  await rejectsWith(() => subtle.exportKey("spki", aes), "NotSupportedError");
  await rejectsWith(() => subtle.importKey("raw", new Uint8Array(13), "AES-GCM", true, ["encrypt"]), "DataError", "128, 192 or 256");
  await rejectsWith(() => subtle.importKey("raw", new Uint8Array(16), "AES-GCM", true, ["sign"]), "SyntaxError");
  await rejectsWith(() => subtle.importKey("spki", new Uint8Array(16), "AES-GCM", true, ["encrypt"]), "NotSupportedError");
  await assertRejects(() => subtle.importKey("jwk", new Uint8Array(16), "AES-GCM", true, ["encrypt"]), TypeError, "JWK");
  await assertRejects(() => subtle.importKey("raw", { k: "x" }, "AES-GCM", true, ["encrypt"]), TypeError);
  await rejectsWith(() => subtle.importKey("raw", new Uint8Array(0), hmac, true, ["sign"]), "DataError");
  await rejectsWith(() => subtle.importKey("raw", new Uint8Array(4), { ...hmac, length: 20 }, true, ["sign"]), "DataError");
});

test("JWK import checks: kty, alg, use, key_ops, ext", async () => {
  const k = b64u(new Uint8Array(16));
  const aes = { name: "AES-GCM" };
  await rejectsWith(() => subtle.importKey("jwk", { kty: "RSA", k }, aes, true, ["encrypt"]), "DataError", "kty");
  await rejectsWith(() => subtle.importKey("jwk", { kty: "oct" }, aes, true, ["encrypt"]), "DataError", "\"k\"");
  await rejectsWith(() => subtle.importKey("jwk", { kty: "oct", k, alg: "A256GCM" }, aes, true, ["encrypt"]), "DataError", "alg");
  await rejectsWith(() => subtle.importKey("jwk", { kty: "oct", k, use: "sig" }, aes, true, ["encrypt"]), "DataError", "use");
  await rejectsWith(() => subtle.importKey("jwk", { kty: "oct", k, key_ops: ["decrypt"] }, aes, true, ["encrypt"]), "DataError", "key_ops");
  await rejectsWith(() => subtle.importKey("jwk", { kty: "oct", k, ext: false }, aes, true, ["encrypt"]), "DataError", "ext");
  await rejectsWith(() => subtle.importKey("jwk", { kty: "oct", k: "!!" }, aes, true, ["encrypt"]), "DataError", "base64url");
  const ok = await subtle.importKey("jwk", { kty: "oct", k, alg: "A128GCM", use: "enc", key_ops: ["encrypt", "decrypt"], ext: false }, aes, false, ["encrypt"]);
  assertEquals(ok.algorithm, { name: "AES-GCM", length: 128 });
});

// The GCM specification's test cases 3 and 4 (AES-128).
test("AES-GCM: published vectors, tag lengths, additional data, tampering", async () => {
  const key = await subtle.importKey("raw", hex("feffe9928665731c6d6a8f9467308308"), "AES-GCM", true, ["encrypt", "decrypt"]);
  const iv = hex("cafebabefacedbaddecaf888");
  const p3 = hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255");
  const c3 = "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985";
  assertEquals(toHex(await subtle.encrypt({ name: "AES-GCM", iv }, key, p3)), c3 + "4d5c2af327cd64a62cf35abd2ba6fab4");
  const aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
  const p4 = p3.subarray(0, 60);
  const c4 = c3.slice(0, 120);
  const t4 = "5bc94fbc3221a5db94fae95ae7121a47";
  const sealed = await subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad }, key, p4);
  assertEquals(toHex(sealed), c4 + t4);
  assertEquals(toHex(await subtle.decrypt({ name: "AES-GCM", iv, additionalData: aad }, key, sealed)), toHex(p4));
  // Truncated tags are the full tag's leading bytes.
  const short = await subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad, tagLength: 96 }, key, p4);
  assertEquals(toHex(short), c4 + t4.slice(0, 24));
  assertEquals(toHex(await subtle.decrypt({ name: "AES-GCM", iv, additionalData: aad, tagLength: 96 }, key, short)), toHex(p4));
  const t32 = await subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad, tagLength: 32 }, key, p4);
  assertEquals(toHex(t32), c4 + t4.slice(0, 8));
  assertEquals(toHex(await subtle.decrypt({ name: "AES-GCM", iv, additionalData: aad, tagLength: 32 }, key, t32)), toHex(p4));
  const tampered = new Uint8Array(sealed).slice();
  tampered[3] ^= 1;
  await rejectsWith(() => subtle.decrypt({ name: "AES-GCM", iv, additionalData: aad }, key, tampered), "OperationError");
  await rejectsWith(() => subtle.decrypt({ name: "AES-GCM", iv }, key, sealed), "OperationError", "");
  const badShort = new Uint8Array(t32).slice();
  badShort[badShort.length - 1] ^= 1;
  await rejectsWith(() => subtle.decrypt({ name: "AES-GCM", iv, additionalData: aad, tagLength: 32 }, key, badShort), "OperationError");
  await rejectsWith(() => subtle.encrypt({ name: "AES-GCM", iv, tagLength: 100 }, key, p4), "OperationError", "tagLength");
  await rejectsWith(() => subtle.decrypt({ name: "AES-GCM", iv }, key, new Uint8Array(8)), "OperationError");
  await rejectsWith(() => subtle.encrypt({ name: "AES-GCM", iv: new Uint8Array(13) }, key, p4), "NotSupportedError");
  await assertRejects(() => subtle.encrypt({ name: "AES-GCM" }, key, p4), TypeError, "iv");
  // 16-byte IVs and AES-192 go through RustCrypto's AES-GCM: round trips.
  const iv16 = crypto.getRandomValues(new Uint8Array(16));
  const c16 = await subtle.encrypt({ name: "AES-GCM", iv: iv16 }, key, p4);
  assertEquals(toHex(await subtle.decrypt({ name: "AES-GCM", iv: iv16 }, key, c16)), toHex(p4));
  const k192 = await subtle.generateKey({ name: "AES-GCM", length: 192 }, true, ["encrypt", "decrypt"]);
  const c192 = await subtle.encrypt({ name: "AES-GCM", iv }, k192, p4);
  assertEquals(toHex(await subtle.decrypt({ name: "AES-GCM", iv }, k192, c192)), toHex(p4));
});

// NIST SP 800-38A F.2.1 (CBC) and F.5.1 (CTR), AES-128.
test("AES-CBC and AES-CTR: SP 800-38A vectors, padding and counter errors", async () => {
  const raw = hex("2b7e151628aed2a6abf7158809cf4f3c");
  const cbc = await subtle.importKey("raw", raw, "AES-CBC", false, ["encrypt", "decrypt"]);
  const iv = hex("000102030405060708090a0b0c0d0e0f");
  const p = hex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51");
  const c = new Uint8Array(await subtle.encrypt({ name: "AES-CBC", iv }, cbc, p));
  assertEquals(c.length, 48, "two blocks and a padding block");
  assertEquals(toHex(c.subarray(0, 32)), "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2");
  assertEquals(toHex(await subtle.decrypt({ name: "AES-CBC", iv }, cbc, c)), toHex(p));
  await rejectsWith(() => subtle.decrypt({ name: "AES-CBC", iv }, cbc, c.subarray(0, 32)), "OperationError", "padded");
  await rejectsWith(() => subtle.encrypt({ name: "AES-CBC", iv: iv.subarray(0, 8) }, cbc, p), "OperationError", "16 bytes");
  const ctr = await subtle.importKey("raw", raw, "AES-CTR", false, ["encrypt", "decrypt"]);
  const counter = hex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
  const out = await subtle.encrypt({ name: "AES-CTR", counter, length: 128 }, ctr, p);
  assertEquals(toHex(out), "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff");
  assertEquals(toHex(await subtle.decrypt({ name: "AES-CTR", counter, length: 128 }, ctr, out)), toHex(p));
  // With a 64-bit counter the low half wraps: block 2 uses ...f0f1..f7 || 00..00.
  const wrapped = await subtle.encrypt({ name: "AES-CTR", counter: hex("f0f1f2f3f4f5f6f7ffffffffffffffff"), length: 64 }, ctr, p);
  const second = await subtle.encrypt({ name: "AES-CTR", counter: hex("f0f1f2f3f4f5f6f70000000000000000"), length: 128 }, ctr, p.subarray(16));
  assertEquals(toHex(new Uint8Array(wrapped).subarray(16)), toHex(second));
  await rejectsWith(() => subtle.encrypt({ name: "AES-CTR", counter, length: 1 }, ctr, new Uint8Array(48)), "OperationError", "too long");
  await rejectsWith(() => subtle.encrypt({ name: "AES-CTR", counter, length: 0 }, ctr, p), "OperationError");
  await rejectsWith(() => subtle.encrypt({ name: "AES-CTR", counter: iv.subarray(0, 8), length: 64 }, ctr, p), "OperationError");
});

// RFC 3394 section 4.1 (128-bit KEK, 128-bit key data).
test("AES-KW: RFC 3394 vector through wrapKey/unwrapKey; wrapping needs wrapKey and an extractable key", async () => {
  const kek = await subtle.importKey("raw", hex("000102030405060708090a0b0c0d0e0f"), "AES-KW", false, ["wrapKey", "unwrapKey"]);
  const data = await subtle.importKey("raw", hex("00112233445566778899aabbccddeeff"), "AES-GCM", true, ["encrypt"]);
  const wrapped = await subtle.wrapKey("raw", data, kek, "AES-KW");
  assertEquals(toHex(wrapped), "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5");
  const back = await subtle.unwrapKey("raw", wrapped, kek, "AES-KW", "AES-GCM", true, ["encrypt", "decrypt"]);
  assertEquals(toHex(await subtle.exportKey("raw", back)), "00112233445566778899aabbccddeeff");
  assertEquals(back.usages, ["encrypt", "decrypt"]);
  const bad = new Uint8Array(wrapped).slice();
  bad[0] ^= 1;
  await rejectsWith(() => subtle.unwrapKey("raw", bad, kek, "AES-KW", "AES-GCM", true, ["encrypt"]), "OperationError");
  const hidden = await subtle.generateKey({ name: "AES-GCM", length: 128 }, false, ["encrypt"]);
  await rejectsWith(() => subtle.wrapKey("raw", hidden, kek, "AES-KW"), "InvalidAccessError", "extractable");
  const noWrap = await subtle.importKey("raw", new Uint8Array(16), "AES-KW", false, ["unwrapKey"]);
  await rejectsWith(() => subtle.wrapKey("raw", data, noWrap, "AES-KW"), "InvalidAccessError", "wrapKey");
  await rejectsWith(() => subtle.encrypt("AES-KW", kek, new Uint8Array(16)), "NotSupportedError");
  // A JWK wrapped with AES-GCM (the encrypt fallback) and unwrapped again.
  const gcm = await subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["wrapKey", "unwrapKey"]);
  const hmac = await subtle.importKey("raw", enc("Jefe"), { name: "HMAC", hash: "SHA-256" }, true, ["sign"]);
  const iv = new Uint8Array(12);
  const w = await subtle.wrapKey("jwk", hmac, gcm, { name: "AES-GCM", iv });
  const h2 = await subtle.unwrapKey("jwk", w, gcm, { name: "AES-GCM", iv }, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  assertEquals(
    toHex(await subtle.sign("HMAC", h2, enc("what do ya want for nothing?"))),
    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
  );
});

// RFC 5869 test case 1; RFC 6070 (PBKDF2-HMAC-SHA1) and PBKDF2-HMAC-SHA256.
test("HKDF and PBKDF2: RFC 5869 and RFC 6070 vectors, deriveKey, errors", async () => {
  const ikm = await subtle.importKey("raw", new Uint8Array(22).fill(0x0b), "HKDF", false, ["deriveBits", "deriveKey"]);
  const hkdf = { name: "HKDF", hash: "SHA-256", salt: hex("000102030405060708090a0b0c"), info: hex("f0f1f2f3f4f5f6f7f8f9") };
  assertEquals(
    toHex(await subtle.deriveBits(hkdf, ikm, 336)),
    "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
  );
  await rejectsWith(() => subtle.deriveBits(hkdf, ikm, 20), "OperationError", "multiple of 8");
  await rejectsWith(() => subtle.deriveBits(hkdf, ikm, null), "OperationError");
  await rejectsWith(() => subtle.deriveBits(hkdf, ikm, 255 * 256 + 8), "OperationError");
  await rejectsWith(() => subtle.importKey("raw", new Uint8Array(4), "HKDF", true, ["deriveBits"]), "SyntaxError", "extractable");
  await rejectsWith(() => subtle.exportKey("raw", ikm), "NotSupportedError");
  const pw = await subtle.importKey("raw", enc("password"), "PBKDF2", false, ["deriveBits", "deriveKey"]);
  const salt = enc("salt");
  const sha1 = (c) => ({ name: "PBKDF2", hash: "SHA-1", salt, iterations: c });
  assertEquals(toHex(await subtle.deriveBits(sha1(1), pw, 160)), "0c60c80f961f0e71f3a9b524af6012062fe037a6");
  assertEquals(toHex(await subtle.deriveBits(sha1(2), pw, 160)), "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957");
  assertEquals(toHex(await subtle.deriveBits(sha1(4096), pw, 160)), "4b007901b765489abead49d926f721d065a429c1");
  const sha256 = (c) => ({ name: "PBKDF2", hash: "SHA-256", salt, iterations: c });
  assertEquals(toHex(await subtle.deriveBits(sha256(4096), pw, 256)), "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a");
  // 10,000 iterations run off the shard (from 4,000); the answer is the same.
  const off = subtle.deriveBits(sha256(10000), pw, 256);
  assertEquals(toHex(await off), "5ec02b91a4b59c6f59dd5fbe4ca649ece4fa8568cdb8ba36cf41426e8805522b");
  await rejectsWith(() => subtle.deriveBits(sha256(0), pw, 256), "OperationError", "iterations");
  await rejectsWith(() => subtle.deriveBits(sha256(1), pw, 12), "OperationError");
  // deriveKey: the derived bits become the new key (and need deriveKey usage).
  const aes = await subtle.deriveKey(sha256(4096), pw, { name: "AES-GCM", length: 256 }, true, ["encrypt"]);
  assertEquals(toHex(await subtle.exportKey("raw", aes)), "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a");
  const mac = await subtle.deriveKey(sha256(1), pw, { name: "HMAC", hash: "SHA-256", length: 128 }, true, ["sign"]);
  assertEquals(mac.algorithm, { name: "HMAC", hash: { name: "SHA-256" }, length: 128 });
  await rejectsWith(() => subtle.deriveKey(sha256(1), pw, { name: "AES-GCM", length: 100 }, true, ["encrypt"]), "OperationError");
  const bitsOnly = await subtle.importKey("raw", enc("password"), "PBKDF2", false, ["deriveBits"]);
  await rejectsWith(() => subtle.deriveKey(sha256(1), bitsOnly, { name: "AES-GCM", length: 128 }, true, ["encrypt"]), "InvalidAccessError", "deriveKey");
  await rejectsWith(() => subtle.deriveKey(sha256(1), pw, { name: "AES-GCM", length: 128 }, true, []), "SyntaxError");
});

// RFC 6979 A.2.5 (P-256, SHA-256, "sample") and A.2.6 (P-384, SHA-384).
const P256 = {
  d: "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721",
  x: "60fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6",
  y: "7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299",
  sig: "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8",
};
const P384 = {
  x: "ec3a4e415b4e19a4568618029f427fa5da9a8bc4ae92e02e06aae5286b300c64def8f0ea9055866064a254515480bc13",
  y: "8015d9b72d7d57244ea8ef9ac0c621896708a59367f9dfb9f54ca84b3f1c9db1288b231c3ae0d4fe7344fd2533264720",
  sig:
    "94edbb92a5ecb8aad4736e56c691916b3f88140666ce9fa73d64c4ea95ad133c81a648152e44acf96e36dd1e80fabe46" +
    "99ef4aeb15f178cea1fe40db2603138f130e740a19624526203b6351d0a3a94fa329c145786e679e7b82c71a38628ac8",
};

test("ECDSA: RFC 6979 signatures verify; sign/verify on every curve; formats round trip", async () => {
  const pub = await subtle.importKey(
    "jwk",
    { kty: "EC", crv: "P-256", x: b64u(hex(P256.x)), y: b64u(hex(P256.y)) },
    { name: "ECDSA", namedCurve: "P-256" },
    true,
    ["verify"],
  );
  assertEquals(pub.algorithm, { name: "ECDSA", namedCurve: "P-256" });
  assertEquals(pub.type, "public");
  assert(await subtle.verify({ name: "ECDSA", hash: "SHA-256" }, pub, hex(P256.sig), enc("sample")));
  assertEquals(await subtle.verify({ name: "ECDSA", hash: "SHA-256" }, pub, hex(P256.sig), enc("sampl")), false);
  assertEquals(await subtle.verify({ name: "ECDSA", hash: "SHA-256" }, pub, hex(P256.sig).subarray(1), enc("sample")), false);
  const pub384 = await subtle.importKey("raw", concat([4], hex(P384.x), hex(P384.y)), { name: "ECDSA", namedCurve: "P-384" }, true, ["verify"]);
  assert(await subtle.verify({ name: "ECDSA", hash: "SHA-384" }, pub384, hex(P384.sig), enc("sample")));
  const priv = await subtle.importKey(
    "jwk",
    { kty: "EC", crv: "P-256", x: b64u(hex(P256.x)), y: b64u(hex(P256.y)), d: b64u(hex(P256.d)) },
    { name: "ECDSA", namedCurve: "P-256" },
    true,
    ["sign"],
  );
  // P-256 with SHA-256 (ring) and with SHA-512 and SHA-1 (RustCrypto).
  for (const hash of ["SHA-256", "SHA-512", "SHA-1"]) {
    const s = await subtle.sign({ name: "ECDSA", hash }, priv, enc("message"));
    assertEquals(s.byteLength, 64);
    assert(await subtle.verify({ name: "ECDSA", hash }, pub, s, enc("message")), hash);
  }
  for (const [namedCurve, size] of [["P-256", 64], ["P-384", 96], ["P-521", 132]]) {
    const alg = { name: "ECDSA", namedCurve };
    const pair = await subtle.generateKey(alg, true, ["sign", "verify"]);
    assertEquals(pair.privateKey.usages, ["sign"]);
    assertEquals(pair.publicKey.usages, ["verify"]);
    assertEquals(pair.publicKey.extractable, true);
    const sig = await subtle.sign({ name: "ECDSA", hash: "SHA-384" }, pair.privateKey, enc("x"));
    assertEquals(sig.byteLength, size, namedCurve);
    assert(await subtle.verify({ name: "ECDSA", hash: "SHA-384" }, pair.publicKey, sig, enc("x")));
    const spki = await subtle.exportKey("spki", pair.publicKey);
    const pkcs8 = await subtle.exportKey("pkcs8", pair.privateKey);
    const raw = await subtle.exportKey("raw", pair.publicKey);
    assertEquals(raw.byteLength, 1 + size, "uncompressed point");
    const jwk = await subtle.exportKey("jwk", pair.privateKey);
    assertEquals([jwk.kty, jwk.crv, jwk.key_ops, jwk.ext], ["EC", namedCurve, ["sign"], true]);
    const pub2 = await subtle.importKey("spki", spki, alg, true, ["verify"]);
    const priv2 = await subtle.importKey("pkcs8", pkcs8, alg, true, ["sign"]);
    const priv3 = await subtle.importKey("jwk", jwk, alg, true, ["sign"]);
    assertEquals(toHex(await subtle.exportKey("raw", pub2)), toHex(raw));
    assertEquals(toHex(await subtle.exportKey("pkcs8", priv3)), toHex(pkcs8));
    assert(await subtle.verify({ name: "ECDSA", hash: "SHA-256" }, pub2, await subtle.sign({ name: "ECDSA", hash: "SHA-256" }, priv2, enc("y")), enc("y")));
  }
  const p384 = await subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, true, ["sign"]);
  const spki384 = await subtle.exportKey("spki", p384.publicKey);
  await rejectsWith(() => subtle.importKey("spki", spki384, { name: "ECDSA", namedCurve: "P-256" }, true, ["verify"]), "DataError");
  await rejectsWith(() => subtle.importKey("spki", spki384, { name: "ECDSA", namedCurve: "P-384" }, true, ["sign"]), "SyntaxError");
  await rejectsWith(() => subtle.importKey("raw", new Uint8Array(65), { name: "ECDSA", namedCurve: "P-256" }, true, ["verify"]), "DataError");
  await rejectsWith(() => subtle.generateKey({ name: "ECDSA", namedCurve: "P-192" }, true, ["sign"]), "NotSupportedError");
  await rejectsWith(() => subtle.exportKey("raw", p384.privateKey), "InvalidAccessError");
  await rejectsWith(() => subtle.exportKey("spki", p384.privateKey), "InvalidAccessError");
  await rejectsWith(
    () => subtle.importKey("jwk", { kty: "EC", crv: "P-256", x: b64u(hex(P256.x)), y: b64u(hex(P256.x)) }, { name: "ECDSA", namedCurve: "P-256" }, true, ["verify"]),
    "DataError",
  );
});

// RFC 8032 section 7.1, tests 1 and 2.
test("Ed25519: RFC 8032 vectors through pkcs8/spki/raw/jwk", async () => {
  const cases = [
    {
      seed: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
      pub: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
      msg: "",
      sig: "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    },
    {
      seed: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
      pub: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
      msg: "72",
      sig: "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    },
  ];
  for (const c of cases) {
    const pkcs8 = concat(hex("302e020100300506032b657004220420"), hex(c.seed));
    const priv = await subtle.importKey("pkcs8", pkcs8, "Ed25519", true, ["sign"]);
    assertEquals(priv.algorithm, { name: "Ed25519" });
    assertEquals(toHex(await subtle.sign("Ed25519", priv, hex(c.msg))), c.sig);
    const pub = await subtle.importKey("raw", hex(c.pub), { name: "ed25519" }, true, ["verify"]);
    assert(await subtle.verify("Ed25519", pub, hex(c.sig), hex(c.msg)));
    assertEquals(await subtle.verify("Ed25519", pub, hex(c.sig), enc("other")), false);
    assertEquals(toHex(await subtle.exportKey("spki", pub)), "302a300506032b6570032100" + c.pub);
    assertEquals(toHex(await subtle.exportKey("pkcs8", priv)), toHex(pkcs8));
    const jwk = await subtle.exportKey("jwk", priv);
    assertEquals(jwk, { kty: "OKP", crv: "Ed25519", alg: "Ed25519", x: b64u(hex(c.pub)), d: b64u(hex(c.seed)), key_ops: ["sign"], ext: true });
    const fromJwk = await subtle.importKey("jwk", { ...jwk, alg: "EdDSA" }, "Ed25519", false, ["sign"]);
    assertEquals(toHex(await subtle.sign("Ed25519", fromJwk, hex(c.msg))), c.sig);
    const spki = await subtle.importKey("spki", hex("302a300506032b6570032100" + c.pub), "Ed25519", true, ["verify"]);
    assert(await subtle.verify("Ed25519", spki, hex(c.sig), hex(c.msg)));
  }
  const pair = await subtle.generateKey("Ed25519", false, ["sign", "verify"]);
  const s = await subtle.sign("Ed25519", pair.privateKey, enc("hi"));
  assert(await subtle.verify("Ed25519", pair.publicKey, s, enc("hi")));
  await rejectsWith(() => subtle.importKey("raw", new Uint8Array(31), "Ed25519", true, ["verify"]), "DataError", "32 bytes");
  await rejectsWith(() => subtle.importKey("jwk", { kty: "OKP", crv: "X25519", x: b64u(new Uint8Array(32)) }, "Ed25519", true, ["verify"]), "DataError", "crv");
  await rejectsWith(() => subtle.importKey("spki", hex("302a300506032b656e032100" + cases[0].pub), "Ed25519", true, ["verify"]), "DataError");
});

// RFC 7748 section 6.1.
test("X25519 and ECDH: RFC 7748 shared secret, both directions, errors", async () => {
  const alicePriv = await subtle.importKey(
    "pkcs8",
    concat(hex("302e020100300506032b656e04220420"), hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")),
    "X25519",
    true,
    ["deriveBits"],
  );
  const bobPub = await subtle.importKey("raw", hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"), "X25519", true, []);
  const shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
  assertEquals(toHex(await subtle.deriveBits({ name: "X25519", public: bobPub }, alicePriv, 256)), shared);
  assertEquals(toHex(await subtle.deriveBits({ name: "X25519", public: bobPub }, alicePriv, null)), shared);
  assertEquals(toHex(await subtle.deriveBits({ name: "X25519", public: bobPub }, alicePriv, 12)), "4a50");
  const bobPriv = await subtle.importKey(
    "jwk",
    {
      kty: "OKP",
      crv: "X25519",
      x: b64u(hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")),
      d: b64u(hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")),
    },
    "X25519",
    false,
    ["deriveBits"],
  );
  const alicePub = await subtle.importKey("raw", hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"), "X25519", true, []);
  assertEquals(toHex(await subtle.deriveBits({ name: "X25519", public: alicePub }, bobPriv, 256)), shared);
  await rejectsWith(() => subtle.deriveBits({ name: "X25519", public: bobPub }, alicePriv, 264), "OperationError");
  const zero = await subtle.importKey("raw", new Uint8Array(32), "X25519", true, []);
  await rejectsWith(() => subtle.deriveBits({ name: "X25519", public: zero }, alicePriv, 256), "OperationError", "zeros");
  await rejectsWith(() => subtle.importKey("raw", new Uint8Array(32), "X25519", true, ["deriveBits"]), "SyntaxError");
  await rejectsWith(() => subtle.deriveBits({ name: "X25519", public: alicePriv }, alicePriv, 256), "InvalidAccessError");
  // ECDH on P-256 and P-384: both sides agree; deriveKey makes an AES key.
  for (const namedCurve of ["P-256", "P-384", "P-521"]) {
    const a = await subtle.generateKey({ name: "ECDH", namedCurve }, true, ["deriveBits", "deriveKey"]);
    const b = await subtle.generateKey({ name: "ECDH", namedCurve }, true, ["deriveBits"]);
    assertEquals(a.publicKey.usages, []);
    const ab = await subtle.deriveBits({ name: "ECDH", public: b.publicKey }, a.privateKey, null);
    const ba = await subtle.deriveBits({ name: "ECDH", public: a.publicKey }, b.privateKey, null);
    assertEquals(toHex(ab), toHex(ba));
    const aes = await subtle.deriveKey({ name: "ECDH", public: b.publicKey }, a.privateKey, { name: "AES-GCM", length: 128 }, true, ["encrypt"]);
    assertEquals(toHex(await subtle.exportKey("raw", aes)), toHex(new Uint8Array(ab).subarray(0, 16)));
  }
  const p256 = await subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"]);
  const p384 = await subtle.generateKey({ name: "ECDH", namedCurve: "P-384" }, true, ["deriveBits"]);
  await rejectsWith(() => subtle.deriveBits({ name: "ECDH", public: p384.publicKey }, p256.privateKey, 128), "InvalidAccessError", "curve");
  const ecdsa = await subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign"]);
  await rejectsWith(() => subtle.deriveBits({ name: "ECDH", public: ecdsa.publicKey }, p256.privateKey, 128), "InvalidAccessError");
  await assertRejects(() => subtle.deriveBits({ name: "ECDH", public: "nope" }, p256.privateKey, 128), TypeError, "CryptoKey");
});

test("RSA: PKCS1-v1_5, PSS and OAEP with generated keys, every format, errors", async () => {
  const e = new Uint8Array([1, 0, 1]);
  const rs = await subtle.generateKey({ name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: e, hash: "SHA-256" }, true, ["sign", "verify"]);
  assertEquals(rs.publicKey.algorithm, { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: e, hash: { name: "SHA-256" } });
  const data = enc("payload");
  const sig = await subtle.sign("RSASSA-PKCS1-v1_5", rs.privateKey, data);
  assertEquals(sig.byteLength, 256);
  assert(await subtle.verify("RSASSA-PKCS1-v1_5", rs.publicKey, sig, data));
  assertEquals(await subtle.verify("RSASSA-PKCS1-v1_5", rs.publicKey, sig, enc("other")), false);
  // PKCS #1 v1.5 signatures are deterministic: the same from a re-imported key.
  const jwk = await subtle.exportKey("jwk", rs.privateKey);
  assertEquals([jwk.kty, jwk.alg, jwk.e, jwk.key_ops], ["RSA", "RS256", "AQAB", ["sign"]]);
  const fromJwk = await subtle.importKey("jwk", jwk, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, true, ["sign"]);
  assertEquals(toHex(await subtle.sign("RSASSA-PKCS1-v1_5", fromJwk, data)), toHex(sig));
  const fromPkcs8 = await subtle.importKey("pkcs8", await subtle.exportKey("pkcs8", rs.privateKey), { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, true, ["sign"]);
  assertEquals(toHex(await subtle.sign("RSASSA-PKCS1-v1_5", fromPkcs8, data)), toHex(sig));
  const spki = await subtle.exportKey("spki", rs.publicKey);
  const pss = await subtle.importKey("spki", spki, { name: "RSA-PSS", hash: "SHA-256" }, true, ["verify"]);
  const pssPriv = await subtle.importKey("jwk", { ...jwk, alg: "PS256" }, { name: "RSA-PSS", hash: "SHA-256" }, true, ["sign"]);
  const psig = await subtle.sign({ name: "RSA-PSS", saltLength: 32 }, pssPriv, data);
  assert(await subtle.verify({ name: "RSA-PSS", saltLength: 32 }, pss, psig, data));
  assertEquals(await subtle.verify({ name: "RSA-PSS", saltLength: 32 }, pss, psig, enc("x")), false);
  await rejectsWith(() => subtle.sign({ name: "RSA-PSS", saltLength: 300 }, pssPriv, data), "OperationError");
  await rejectsWith(() => subtle.importKey("jwk", jwk, { name: "RSA-PSS", hash: "SHA-256" }, true, ["sign"]), "DataError", "alg");
  await rejectsWith(() => subtle.importKey("raw", spki, { name: "RSA-PSS", hash: "SHA-256" }, true, ["verify"]), "NotSupportedError");
  await rejectsWith(() => subtle.importKey("spki", spki, { name: "RSA-PSS", hash: "SHA-256" }, true, ["sign"]), "SyntaxError");
  await rejectsWith(() => subtle.importKey("pkcs8", spki, { name: "RSA-PSS", hash: "SHA-256" }, true, ["sign"]), "DataError");
  const oaep = await subtle.importKey("spki", spki, { name: "RSA-OAEP", hash: "SHA-256" }, true, ["encrypt", "wrapKey"]);
  const oaepPriv = await subtle.importKey("jwk", { ...jwk, alg: "RSA-OAEP-256", key_ops: undefined }, { name: "RSA-OAEP", hash: "SHA-256" }, false, ["decrypt", "unwrapKey"]);
  const label = enc("label");
  const ct = await subtle.encrypt({ name: "RSA-OAEP", label }, oaep, data);
  assertEquals(toHex(await subtle.decrypt({ name: "RSA-OAEP", label }, oaepPriv, ct)), toHex(data));
  await rejectsWith(() => subtle.decrypt({ name: "RSA-OAEP" }, oaepPriv, ct), "OperationError");
  await rejectsWith(() => subtle.encrypt({ name: "RSA-OAEP" }, oaep, new Uint8Array(200)), "OperationError");
  await rejectsWith(
    () => subtle.generateKey({ name: "RSA-OAEP", modulusLength: 2048, publicExponent: new Uint8Array([5]), hash: "SHA-256" }, true, ["encrypt"]),
    "SyntaxError",
  );
  await rejectsWith(
    () => subtle.generateKey({ name: "RSA-OAEP", modulusLength: 2048, publicExponent: new Uint8Array([5]), hash: "SHA-256" }, true, ["decrypt"]),
    "OperationError",
    "publicExponent",
  );
  await assertRejects(
    () => subtle.generateKey({ name: "RSA-OAEP", modulusLength: 2048, publicExponent: [1, 0, 1], hash: "SHA-256" }, true, ["decrypt"]),
    TypeError,
    "Uint8Array",
  );
  // An AES key wrapped with RSA-OAEP and unwrapped (off the shard).
  const aes = await subtle.generateKey({ name: "AES-GCM", length: 256 }, true, ["encrypt"]);
  const wrapped = await subtle.wrapKey("raw", aes, oaep, { name: "RSA-OAEP" });
  const back = await subtle.unwrapKey("raw", wrapped, oaepPriv, "RSA-OAEP", "AES-GCM", true, ["encrypt"]);
  assertEquals(toHex(await subtle.exportKey("raw", back)), toHex(await subtle.exportKey("raw", aes)));
});

test("structuredClone: a CryptoKey clones with its slots and its material", async () => {
  const key = await subtle.importKey("raw", enc("Jefe"), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const [copy] = structuredClone([key]);
  assert(copy instanceof CryptoKey && copy !== key);
  assertEquals([copy.type, copy.extractable, copy.algorithm, copy.usages], [key.type, key.extractable, key.algorithm, key.usages]);
  assertEquals(
    toHex(await subtle.sign("HMAC", copy, enc("what do ya want for nothing?"))),
    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
  );
  await rejectsWith(() => subtle.exportKey("raw", copy), "InvalidAccessError");
});

test("timingSafeEqual: equal, unequal, and different lengths (TypeError)", () => {
  assertEquals(subtle.timingSafeEqual(enc("abc"), enc("abc").buffer), true);
  assertEquals(subtle.timingSafeEqual(enc("abc"), enc("abd")), false);
  assertEquals(subtle.timingSafeEqual(new Uint8Array(0), new ArrayBuffer(0)), true);
  assertThrows(() => subtle.timingSafeEqual(enc("abc"), enc("ab")), TypeError, "same byte length");
  assertThrows(() => subtle.timingSafeEqual("abc", "abc"), TypeError);
});

export default { fetch: run };

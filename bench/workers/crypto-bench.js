// WebCrypto micro-benchmarks as a Workers script, run unchanged by
// ringworker and workerd, and through bench/peers/{deno,bun}-serve.js by
// Deno and Bun (bench/scripts/crypto.sh drives it):
//   GET /?op=NAME&n=N  awaits N operations of NAME in turn, answers N.
// Ops: hmac (HMAC-SHA-256 sign of 1 KiB), sha256 (SHA-256 of 1 MiB),
// es256_sign / es256_verify (ECDSA P-256 with SHA-256 over 1 KiB),
// aes_gcm (AES-128-GCM encryption of 64 KiB); and, for where ringworker
// moves work off the shard: rs256_sign (RSASSA-PKCS1-v1_5 2048-bit, SHA-256,
// 1 KiB), rs1024_sign (the same with a 1024-bit key), pbkdf2_3999 and
// pbkdf2_4000 (PBKDF2-SHA-256, 256 bits, that many iterations).
const KiB = new Uint8Array(1024).fill(7);
const MiB = new Uint8Array(1 << 20).fill(7);
const K64 = new Uint8Array(65536).fill(7);
const ES256 = { name: "ECDSA", hash: "SHA-256" };

let state = null;
async function setup() {
  const s = crypto.subtle;
  const hmac = await s.importKey("raw", new Uint8Array(32).fill(1), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const ec = await s.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
  const sig = await s.sign(ES256, ec.privateKey, KiB);
  const aes = await s.importKey("raw", new Uint8Array(16).fill(2), "AES-GCM", false, ["encrypt"]);
  return { hmac, ec, sig, aes, gcm: { name: "AES-GCM", iv: new Uint8Array(12) } };
}

let rsa = null;
async function rsaKey(bits) {
  rsa ??= {};
  rsa[bits] ??= await crypto.subtle.generateKey(
    { name: "RSASSA-PKCS1-v1_5", modulusLength: bits, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    false,
    ["sign"],
  );
  return rsa[bits].privateKey;
}
const pbkdf2 = (iterations) => async (st) => {
  st.pw ??= await crypto.subtle.importKey("raw", new TextEncoder().encode("password"), "PBKDF2", false, ["deriveBits"]);
  return crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt: new Uint8Array(16), iterations }, st.pw, 256);
};

const OPS = {
  hmac: (st) => crypto.subtle.sign("HMAC", st.hmac, KiB),
  sha256: () => crypto.subtle.digest("SHA-256", MiB),
  es256_sign: (st) => crypto.subtle.sign(ES256, st.ec.privateKey, KiB),
  es256_verify: (st) => crypto.subtle.verify(ES256, st.ec.publicKey, st.sig, KiB),
  aes_gcm: (st) => crypto.subtle.encrypt(st.gcm, st.aes, K64),
  rs256_sign: async () => crypto.subtle.sign("RSASSA-PKCS1-v1_5", await rsaKey(2048), KiB),
  rs1024_sign: async () => crypto.subtle.sign("RSASSA-PKCS1-v1_5", await rsaKey(1024), KiB),
  pbkdf2_3999: pbkdf2(3999),
  pbkdf2_4000: pbkdf2(4000),
};

export default {
  async fetch(request) {
    state ??= await setup();
    const url = new URL(request.url);
    const op = OPS[url.searchParams.get("op") ?? "hmac"];
    if (op === undefined) return new Response("unknown op", { status: 404 });
    const n = Number(url.searchParams.get("n") ?? 1);
    for (let i = 0; i < n; i++) await op(state);
    return new Response(String(n));
  },
};

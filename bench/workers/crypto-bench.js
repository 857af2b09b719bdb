// WebCrypto micro-benchmarks as a Workers script, run unchanged by
// ringworker and workerd, and through bench/peers/{deno,bun}-serve.js by
// Deno and Bun (bench/scripts/crypto.sh drives it):
//   GET /?op=NAME&n=N  awaits N operations of NAME in turn, answers N.
// Ops: hmac (HMAC-SHA-256 sign of 1 KiB), sha256 (SHA-256 of 1 MiB),
// es256_sign / es256_verify (ECDSA P-256 with SHA-256 over 1 KiB),
// aes_gcm (AES-128-GCM encryption of 64 KiB).
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

const OPS = {
  hmac: (st) => crypto.subtle.sign("HMAC", st.hmac, KiB),
  sha256: () => crypto.subtle.digest("SHA-256", MiB),
  es256_sign: (st) => crypto.subtle.sign(ES256, st.ec.privateKey, KiB),
  es256_verify: (st) => crypto.subtle.verify(ES256, st.ec.publicKey, st.sig, KiB),
  aes_gcm: (st) => crypto.subtle.encrypt(st.gcm, st.aes, K64),
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

// /slow derives PBKDF2 bits with many iterations (?iterations=N), which
// runs off the shard; /fast answers at once. tests/webcrypto.rs checks that
// /fast is served while /slow is still running.
export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/fast") return new Response("fast");
    const iterations = Number(url.searchParams.get("iterations") ?? 1000000);
    const key = await crypto.subtle.importKey("raw", new TextEncoder().encode("password"), "PBKDF2", false, ["deriveBits"]);
    const t0 = Date.now();
    const bits = await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt: new Uint8Array(16), iterations }, key, 256);
    return new Response(`${new Uint8Array(bits).length} bytes in ${Date.now() - t0} ms`);
  },
};

// A CryptoKey handed to an actor by RPC (tests/webcrypto.rs): on two
// shards some calls cross to another shard, where the key arrives as a
// structured-clone host object and must still sign; it is also stored in
// the actor's storage and read back.
import { DurableObject } from "cloudflare:workers";

const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, "0")).join("");

export class Signer extends DurableObject {
  async sign(key, data) {
    await this.ctx.storage.put("key", key);
    const stored = await this.ctx.storage.get("key");
    let exported = null;
    try {
      await crypto.subtle.exportKey("raw", key);
    } catch (e) {
      exported = e.name;
    }
    return {
      isKey: key instanceof CryptoKey && stored instanceof CryptoKey,
      slots: [key.type, key.extractable, key.algorithm, key.usages],
      mac: hex(await crypto.subtle.sign("HMAC", key, data)),
      storedMac: hex(await crypto.subtle.sign("HMAC", stored, data)),
      exported,
    };
  }
}

export default {
  async fetch(request, env) {
    const name = new URL(request.url).searchParams.get("name") ?? "a";
    const key = await crypto.subtle.importKey("raw", new TextEncoder().encode("Jefe"), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    const out = await env.SIGNER.getByName(name).sign(key, new TextEncoder().encode("what do ya want for nothing?"));
    return Response.json(out);
  },
};

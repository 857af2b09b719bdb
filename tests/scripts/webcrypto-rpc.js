// A small RPC over crypto.subtle for tests/scripts/webcrypto_interop.py:
// POST {calls: [{method, args, save?}]}; buffers travel as {"$b64": ...},
// keys made by an earlier call as {"$key": name} (a pair saves name.public
// and name.private). Each call answers {ok, value} or {ok: false, error}.
const b64d = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
function b64e(buf) {
  const b = new Uint8Array(buf);
  let s = "";
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

export default {
  async fetch(request) {
    const { calls } = await request.json();
    const keys = {};
    const revive = (v) => {
      if (Array.isArray(v)) return v.map(revive);
      if (v && typeof v === "object") {
        if ("$b64" in v) return b64d(v.$b64);
        if ("$key" in v) {
          if (!(v.$key in keys)) throw new Error(`no key ${v.$key}`);
          return keys[v.$key];
        }
        const o = {};
        for (const [k, x] of Object.entries(v)) o[k] = revive(x);
        return o;
      }
      return v;
    };
    const encode = (v) => (v instanceof ArrayBuffer ? { $b64: b64e(v) } : v);
    const results = [];
    for (const call of calls) {
      try {
        const out = await crypto.subtle[call.method](...revive(call.args));
        if (call.save) {
          if (out instanceof CryptoKey) keys[call.save] = out;
          else {
            keys[`${call.save}.public`] = out.publicKey;
            keys[`${call.save}.private`] = out.privateKey;
          }
          results.push({ ok: true });
        } else {
          results.push({ ok: true, value: encode(out) });
        }
      } catch (e) {
        results.push({ ok: false, error: e.name, message: e.message });
      }
    }
    return Response.json(results);
  },
};

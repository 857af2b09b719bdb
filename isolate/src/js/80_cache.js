// The Cache API as in Workers: `caches.default` and `caches.open(name)`,
// each with put/match/delete. Storage is native (cache/ in Rust): a per-
// process cache shared by every shard, partitioned by key between them.
(function cacheApi(ops, rw) {
  "use strict";

  const TypeErr = TypeError;
  const Req = Request;
  const Resp = Response;

  function toRequest(request, what) {
    if (request instanceof Req) return request;
    if (typeof request === "string" || request instanceof URL) return new Req(`${request}`);
    throw new TypeErr(`${what}: expected a Request or a URL`);
  }

  // The request's URL as the key: absolute, without its fragment.
  function keyUrl(request) {
    const u = new URL(request.url);
    u.hash = "";
    return u.href;
  }

  function flatHeaders(headers) {
    const flat = [];
    for (const [n, v] of headers) flat.push(n, v);
    return flat;
  }

  function varyNames(response) {
    const v = response.headers.get("vary");
    if (v === null) return [];
    return v
      .split(",")
      .map((s) => s.trim().toLowerCase())
      .filter((s) => s !== "");
  }

  const kName = Symbol("cacheName");

  class Cache {
    constructor(key) {
      if (key !== kName) throw new TypeErr("Illegal constructor: use caches.default or caches.open(name)");
      this[kName] = "";
    }

    // Stores `response` for `request` if its headers allow (Cache-Control,
    // Expires, Set-Cookie): resolves once stored (or skipped).
    async put(request, response) {
      request = toRequest(request, "Cache.put");
      if (!(response instanceof Resp)) throw new TypeErr("Cache.put: expected a Response");
      if (request.method !== "GET") throw new TypeErr("Cannot cache response to non-GET request.");
      if (response.status === 206) {
        throw new TypeErr("Cannot cache response to a range request (206 Partial Content).");
      }
      if (response.webSocket !== null) throw new TypeErr("Cannot cache a WebSocket response.");
      const vary = varyNames(response);
      if (vary.includes("*")) throw new TypeErr("Cannot cache response with 'Vary: *' header.");
      if (response.bodyUsed) throw new TypeErr("Cache.put: the response body has already been used");
      const body = new Uint8Array(await response.arrayBuffer());
      const varyValues = [];
      for (const name of vary) varyValues.push(name, request.headers.get(name));
      await ops.cachePut(this[kName], keyUrl(request), response.status, flatHeaders(response.headers), body, varyValues);
      return undefined;
    }

    // The stored response for `request`, or undefined. Only GET requests
    // match unless { ignoreMethod: true }.
    async match(request, options = undefined) {
      request = toRequest(request, "Cache.match");
      const ignoreMethod = options !== undefined && options !== null && !!options.ignoreMethod;
      if (request.method !== "GET" && !ignoreMethod) return undefined;
      const found = await ops.cacheMatch(this[kName], keyUrl(request), flatHeaders(request.headers));
      if (found === undefined) return undefined;
      const [status, flat, body] = found;
      const headers = new Headers();
      for (let i = 0; i < flat.length; i += 2) headers.append(flat[i], flat[i + 1]);
      const nullBody = status === 204 || status === 304;
      return new Resp(nullBody ? null : body, { status, headers });
    }

    // Removes the entry for `request`; resolves whether there was one.
    async delete(request, options = undefined) {
      request = toRequest(request, "Cache.delete");
      const ignoreMethod = options !== undefined && options !== null && !!options.ignoreMethod;
      if (request.method !== "GET" && !ignoreMethod) return false;
      return ops.cacheDelete(this[kName], keyUrl(request));
    }

    get [Symbol.toStringTag]() {
      return "Cache";
    }
  }

  function newCache(name) {
    const c = new Cache(kName);
    c[kName] = name;
    return c;
  }

  const defaultCache = newCache("default");
  const named = new Map();

  class CacheStorage {
    constructor(key) {
      if (key !== kName) throw new TypeErr("Illegal constructor: use the global caches");
    }
    get default() {
      return defaultCache;
    }
    // Named caches are apart from each other and from the default one.
    async open(name) {
      // ("default" names another cache than caches.default, as in Workers.)
      const key = `named:${name}`;
      let c = named.get(key);
      if (c === undefined) {
        c = newCache(key);
        named.set(key, c);
      }
      return c;
    }
    get [Symbol.toStringTag]() {
      return "CacheStorage";
    }
  }

  rw.define("Cache", Cache);
  rw.define("CacheStorage", CacheStorage);
  rw.define("caches", new CacheStorage(kName));
});

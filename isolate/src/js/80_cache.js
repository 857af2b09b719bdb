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
  function keyUrl(url) {
    const u = new URL(url);
    if (u.hash !== "") u.hash = "";
    return u.href;
  }

  // (The header list as is: names are lower-case already.)
  function flatHeaders(headers) {
    const list = headers[rw.kList];
    const flat = [];
    for (let i = 0; i < list.length; i++) flat.push(list[i][0], list[i][1]);
    return flat;
  }

  const NO_HEADERS = [];

  // A match or delete given a URL needs no Request: GET, no headers.
  function lookup(request, what, options) {
    if (typeof request === "string" || request instanceof URL) return [keyUrl(`${request}`), NO_HEADERS];
    request = toRequest(request, what);
    const ignoreMethod = options !== undefined && options !== null && !!options.ignoreMethod;
    if (request.method !== "GET" && !ignoreMethod) return null;
    return [keyUrl(request.url), flatHeaders(request.headers)];
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
      await ops.cachePut(this[kName], keyUrl(request.url), response.status, flatHeaders(response.headers), body, varyValues);
      return undefined;
    }

    // The stored response for `request`, or undefined. Only GET requests
    // match unless { ignoreMethod: true }.
    async match(request, options = undefined) {
      const key = lookup(request, "Cache.match", options);
      if (key === null) return undefined;
      const found = await ops.cacheMatch(this[kName], key[0], key[1]);
      if (found === undefined) return undefined;
      const [status, flat, body] = found;
      const nullBody = status === 204 || status === 304;
      const r = new Resp(nullBody ? null : body, { status });
      // (Stored names are valid and lower-case: no need to check them again.)
      const list = r.headers[rw.kList];
      list.length = 0;
      for (let i = 0; i < flat.length; i += 2) list.push([flat[i], flat[i + 1]]);
      return r;
    }

    // Removes the entry for `request`; resolves whether there was one.
    async delete(request, options = undefined) {
      const key = lookup(request, "Cache.delete", options);
      if (key === null) return false;
      return ops.cacheDelete(this[kName], key[0]);
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

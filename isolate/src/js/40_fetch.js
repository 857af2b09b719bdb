// 40_fetch: the global fetch() — outbound HTTP/1.1 from the shard.
//
// One call is one or more hops (redirects are followed here, in JS, as the
// Fetch spec describes them); each hop is ops.fetchStart, which the shard's
// HTTP client runs on the same io_uring as everything else. A response body
// is a native stream read chunk by chunk as the script asks (backpressure
// reaches the upstream socket); returned unread as a response body, it is
// forwarded natively and never passes through JS. A request body that is
// itself a native stream (the incoming request's body) is forwarded the same
// way; other streams are pulled by the runtime as the upstream takes them.
(function fetchApi(ops, rw) {
  "use strict";

  const TypeErr = TypeError;
  const { kBody, kList, kGuard, kStatus, kUrl, kRedirected, kUsed, kNativeBody, kNativeMake } = rw;
  const REDIRECTS = [301, 302, 303, 307, 308];
  const MAX_REDIRECTS = 20;
  const HOP_BY_HOP = ["connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "te", "trailer"];

  // Body kinds for ops.fetchStart.
  const BODY_NONE = 0;
  const BODY_BYTES = 1;
  const BODY_NATIVE = 2;
  const BODY_STREAM = 3;

  function abortReason(signal) {
    const r = rw.abortReason(signal);
    return r === undefined ? new rw.DOMException("The operation was aborted", "AbortError") : r;
  }

  // What ops.fetchStart takes for a body: [kind, value, replayable].
  function bodyForHop(body) {
    if (body === null || body === undefined) return [BODY_NONE, null, true];
    if (rw.isStream(body)) {
      if (rw.isLocked(body) || rw.isDisturbed(body)) {
        throw new TypeErr("fetch: the request body stream is locked or has been read");
      }
      const native = rw.takeNativeBody(body);
      if (native !== null) return [BODY_NATIVE, native, false];
      const whole = rw.takeFullBody(body);
      if (whole !== undefined) return [BODY_BYTES, whole, true];
      return [BODY_STREAM, rw.streamReader(body), false];
    }
    return [BODY_BYTES, body, true];
  }

  // Fields of the hop to the upstream are the client's to set: the URL's
  // host, the body's framing, keep-alive. A forwarded incoming request
  // carries its own, which must not leak into the next hop.
  const CLIENT_SET = ["host", "content-length", ...HOP_BY_HOP];
  rw.isClientSetHeader = (lowerName) => CLIENT_SET.includes(lowerName);
  function flatHeaders(headers) {
    const flat = [];
    for (const [n, v] of headers[kList]) if (!CLIENT_SET.includes(n)) flat.push(n, v);
    return flat;
  }

  function makeResponse(parts, url, redirected, signal) {
    // parts: [status, statusText, [name, value, ...], bodyId | null, length]
    const [status, statusText, flat, bodyId] = parts;
    const resp = new Response(null, { status: 200, statusText });
    resp[kStatus] = status;
    const list = resp.headers[kList];
    for (let i = 0; i < flat.length; i += 2) {
      const name = flat[i].toLowerCase();
      if (!HOP_BY_HOP.includes(name)) list.push([name, flat[i + 1]]);
    }
    resp.headers[kGuard] = "immutable";
    resp[kUrl] = url;
    resp[kRedirected] = redirected;
    if (bodyId !== null) {
      // The body stays native until the script looks at it (returned as
      // is, it never becomes a stream). Let go of unread, it is dropped at
      // the next GC (the stream, once made, keeps `resp` alive).
      resp[kNativeBody] = bodyId;
      ops.bodyWatchGc(resp, bodyId);
      let removeAbort = null;
      // (Through a local binding: a function literal assigned straight to
      // a property is allocated in V8's old space.)
      const make = (id) => {
        const keep = resp;
        return rw.socketBody(id, () => {
          if (removeAbort !== null) removeAbort();
          return keep;
        });
      };
      resp[kNativeMake] = make;
      if (signal !== null) {
        // Aborting after the head arrived errors the body and closes the
        // upstream connection.
        removeAbort = rw.addAbortAlgorithm(signal, () => {
          ops.bodyCancel(bodyId);
          const body = resp[kBody];
          if (body !== null) rw.failStream(body, abortReason(signal));
          else resp[kNativeBody] = null;
        });
      }
    }
    return resp;
  }

  // One hop: resolves with the response parts, rejects with a TypeError.
  function hop(method, url, headers, body, signal) {
    const [kind, value] = body;
    const [id, promise] = ops.fetchStart(method, url, flatHeaders(headers), kind, value);
    if (signal === null) return promise;
    return new Promise((resolve, reject) => {
      let settled = false;
      const remove = rw.addAbortAlgorithm(signal, () => {
        if (settled) return;
        settled = true;
        ops.fetchAbort(id);
        reject(abortReason(signal));
      });
      promise.then(
        (parts) => {
          if (typeof remove === "function") remove();
          if (settled) {
            // Aborted meanwhile: the body is not wanted.
            if (parts[3] !== null) ops.bodyCancel(parts[3]);
            return;
          }
          settled = true;
          resolve(parts);
        },
        (e) => {
          if (typeof remove === "function") remove();
          if (settled) return;
          settled = true;
          reject(e);
        },
      );
    });
  }

  async function fetch(input, init = undefined) {
    const request = new Request(input, init === undefined || init === null ? {} : init);
    let url;
    try {
      url = new URL(request.url);
    } catch {
      throw new TypeErr(`fetch: invalid URL "${request.url}"`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new TypeErr(`fetch: unsupported URL scheme "${url.protocol}" (only http: and https:)`);
    }
    const signal = request[rw.kSignal];
    if (signal !== null && rw.isAborted(signal)) throw abortReason(signal);
    const upgrade = request.headers.get("upgrade");
    if (upgrade !== null && upgrade.toLowerCase() === "websocket") {
      return rw.fetchWebSocket(url, request);
    }
    const mode = request.redirect;
    if (mode !== "follow" && mode !== "manual" && mode !== "error") {
      throw new TypeErr(`fetch: invalid redirect mode "${mode}"`);
    }
    let method = request.method;
    let headers = request.headers;
    if (request[kUsed]) throw new TypeErr("fetch: the request body has already been used");
    const native = rw.takeNativeOf(request);
    let body = native !== null ? [BODY_NATIVE, native, false] : bodyForHop(request[kBody]);
    request[kUsed] = body[0] !== BODY_NONE;
    let redirects = 0;
    for (;;) {
      if (signal !== null && rw.isAborted(signal)) throw abortReason(signal);
      const parts = await hop(method, url.href, headers, body, signal);
      const status = parts[0];
      if (!REDIRECTS.includes(status) || mode === "manual") {
        return makeResponse(parts, withoutFragment(url), redirects > 0, signal);
      }
      const location = findHeader(parts[2], "location");
      if (location === null) return makeResponse(parts, withoutFragment(url), redirects > 0, signal);
      if (parts[3] !== null) ops.bodyCancel(parts[3]);
      if (mode === "error") {
        throw new TypeErr(`fetch failed: redirect (${status}) to ${location} with redirect: "error"`);
      }
      if (++redirects > MAX_REDIRECTS) {
        throw new TypeErr(`fetch failed: more than ${MAX_REDIRECTS} redirects`);
      }
      let next;
      try {
        next = new URL(location, url.href);
      } catch {
        throw new TypeErr(`fetch failed: invalid redirect location "${location}"`);
      }
      if (next.protocol !== "http:" && next.protocol !== "https:") {
        throw new TypeErr(`fetch failed: redirect to unsupported scheme "${next.protocol}"`);
      }
      if (status === 303 ? method !== "HEAD" : (status === 301 || status === 302) && method === "POST") {
        // The Fetch spec: these become GETs without a body.
        method = "GET";
        body = [BODY_NONE, null, true];
        headers = new Headers(headers);
        for (const h of ["content-length", "content-type", "content-encoding", "content-language", "content-location"]) {
          headers.delete(h);
        }
      } else if (!body[2]) {
        throw new TypeErr(`fetch failed: cannot follow a ${status} redirect with a streamed request body`);
      }
      if (next.origin !== url.origin && headers.has("authorization")) {
        headers = new Headers(headers);
        headers.delete("authorization");
      }
      url = next;
    }
  }

  function withoutFragment(url) {
    const href = url.href;
    const i = href.indexOf("#");
    return i < 0 ? href : href.slice(0, i);
  }

  function findHeader(flat, lower) {
    for (let i = 0; i < flat.length; i += 2) if (flat[i].toLowerCase() === lower) return flat[i + 1];
    return null;
  }

  rw.define("fetch", fetch);
});

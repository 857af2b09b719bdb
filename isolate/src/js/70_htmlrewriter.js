// HTMLRewriter, Cloudflare's streaming HTML rewriting API, on lol_html
// (htmlrewriter/ in Rust). transform(response) returns a Response whose body
// is the rewritten document, parsed only as fast as the body is read.
//
// The parser runs in Rust on a coroutine. Feeding it (ops.htmlWrite / End)
// answers either 0 (the chunk is consumed) or the id of a handler to call
// now with the current token; the handler may return a promise, and the
// parser stays suspended until it settles (ops.htmlResume). A token is valid
// only during its handler call (its generation), as in Workers.
(function htmlRewriter(ops, rw) {
  "use strict";

  const TypeErr = TypeError;
  const ReflectApply = Reflect.apply;
  const PromiseThen = Promise.prototype.then;
  const ReadableStreamCtor = rw.ReadableStream;
  const getReader = rw.ReadableStream.prototype.getReader;
  const Resp = Response;
  const HeadersCtor = Headers;

  // htmlGet: what to read (htmlrewriter/mod.rs `what`).
  const TAG_NAME = 0, NAMESPACE = 1, REMOVED = 2, ATTRIBUTES = 3, TEXT = 4, LAST_IN_TEXT_NODE = 5,
    NAME = 6, PUBLIC_ID = 7, SYSTEM_ID = 8, SELF_CLOSING = 9, CAN_HAVE_CONTENT = 10;
  // htmlInsert: where.
  const BEFORE = 0, AFTER = 1, PREPEND = 2, APPEND = 3, REPLACE = 4, INNER = 5;

  const kState = Symbol("rewriterState");
  // Most input parsed per pull (see transform).
  const SLICE = 16 * 1024;
  const kGen = Symbol("generation");

  function isHtml(options) {
    return options !== undefined && options !== null && !!options.html;
  }

  function contentString(content, what) {
    if (typeof content === "string") return content;
    if (content !== null && typeof content === "object" && (content instanceof Resp || rw.isReadableStream(content))) {
      throw new TypeErr(`${what}: content from a ReadableStream or Response is not supported; pass a string`);
    }
    return `${content}`;
  }

  // Every token keeps its transform's state and the handler call it was
  // made for; the op checks both.
  class Token {
    constructor(state) {
      this[kState] = state;
      this[kGen] = state.gen;
    }
  }
  function get(t, what) {
    return ops.htmlGet(t[kState].id, t[kGen], what);
  }
  function insert(t, where, content, options, what) {
    ops.htmlInsert(t[kState].id, t[kGen], where, contentString(content, what), isHtml(options));
    return t;
  }
  function remove(t, keep) {
    ops.htmlRemove(t[kState].id, t[kGen], keep);
    return t;
  }

  class Element extends Token {
    get tagName() {
      return get(this, TAG_NAME);
    }
    set tagName(name) {
      ops.htmlSet(this[kState].id, this[kGen], TAG_NAME, `${name}`);
    }
    get namespaceURI() {
      return get(this, NAMESPACE);
    }
    get removed() {
      return get(this, REMOVED);
    }
    get selfClosing() {
      return get(this, SELF_CLOSING);
    }
    get canHaveContent() {
      return get(this, CAN_HAVE_CONTENT);
    }
    // An iterator of [name, value] pairs (a snapshot of the attributes now).
    get attributes() {
      const flat = get(this, ATTRIBUTES);
      const pairs = [];
      for (let i = 0; i < flat.length; i += 2) pairs.push([flat[i], flat[i + 1]]);
      return pairs[Symbol.iterator]();
    }
    getAttribute(name) {
      return ops.htmlAttr(this[kState].id, this[kGen], 0, `${name}`);
    }
    hasAttribute(name) {
      return ops.htmlAttr(this[kState].id, this[kGen], 1, `${name}`);
    }
    setAttribute(name, value) {
      ops.htmlAttr(this[kState].id, this[kGen], 2, `${name}`, `${value}`);
      return this;
    }
    removeAttribute(name) {
      ops.htmlAttr(this[kState].id, this[kGen], 3, `${name}`);
      return this;
    }
    before(content, options) {
      return insert(this, BEFORE, content, options, "Element.before");
    }
    after(content, options) {
      return insert(this, AFTER, content, options, "Element.after");
    }
    prepend(content, options) {
      return insert(this, PREPEND, content, options, "Element.prepend");
    }
    append(content, options) {
      return insert(this, APPEND, content, options, "Element.append");
    }
    replace(content, options) {
      return insert(this, REPLACE, content, options, "Element.replace");
    }
    setInnerContent(content, options) {
      return insert(this, INNER, content, options, "Element.setInnerContent");
    }
    remove() {
      return remove(this, false);
    }
    removeAndKeepContent() {
      return remove(this, true);
    }
    onEndTag(handler) {
      if (typeof handler !== "function") throw new TypeErr("Element.onEndTag: the handler must be a function");
      const state = this[kState];
      const id = register(state, handler, undefined, EndTag);
      ops.htmlOnEndTag(state.id, this[kGen], id);
    }
    get [Symbol.toStringTag]() {
      return "Element";
    }
  }

  class EndTag extends Token {
    get name() {
      return get(this, NAME);
    }
    set name(v) {
      ops.htmlSet(this[kState].id, this[kGen], NAME, `${v}`);
    }
    get removed() {
      return get(this, REMOVED);
    }
    before(content, options) {
      return insert(this, BEFORE, content, options, "EndTag.before");
    }
    after(content, options) {
      return insert(this, AFTER, content, options, "EndTag.after");
    }
    remove() {
      return remove(this, false);
    }
    get [Symbol.toStringTag]() {
      return "EndTag";
    }
  }

  class Text extends Token {
    get text() {
      return get(this, TEXT);
    }
    get lastInTextNode() {
      return get(this, LAST_IN_TEXT_NODE);
    }
    get removed() {
      return get(this, REMOVED);
    }
    before(content, options) {
      return insert(this, BEFORE, content, options, "Text.before");
    }
    after(content, options) {
      return insert(this, AFTER, content, options, "Text.after");
    }
    replace(content, options) {
      return insert(this, REPLACE, content, options, "Text.replace");
    }
    remove() {
      return remove(this, false);
    }
    get [Symbol.toStringTag]() {
      return "Text";
    }
  }

  class Comment extends Token {
    get text() {
      return get(this, TEXT);
    }
    set text(v) {
      ops.htmlSet(this[kState].id, this[kGen], TEXT, `${v}`);
    }
    get removed() {
      return get(this, REMOVED);
    }
    before(content, options) {
      return insert(this, BEFORE, content, options, "Comment.before");
    }
    after(content, options) {
      return insert(this, AFTER, content, options, "Comment.after");
    }
    replace(content, options) {
      return insert(this, REPLACE, content, options, "Comment.replace");
    }
    remove() {
      return remove(this, false);
    }
    get [Symbol.toStringTag]() {
      return "Comment";
    }
  }

  class Doctype extends Token {
    get name() {
      return get(this, NAME);
    }
    get publicId() {
      return get(this, PUBLIC_ID);
    }
    get systemId() {
      return get(this, SYSTEM_ID);
    }
    get [Symbol.toStringTag]() {
      return "Doctype";
    }
  }

  class DocumentEnd extends Token {
    append(content, options) {
      return insert(this, APPEND, content, options, "DocumentEnd.append");
    }
    get [Symbol.toStringTag]() {
      return "DocumentEnd";
    }
  }

  // A handler in the transform's table: its id is its index.
  function register(state, fn, self, Kind) {
    state.table.push({ fn, self, Kind });
    return state.table.length - 1;
  }

  function handlerOf(handlers, name, what) {
    const f = handlers[name];
    if (f === undefined || f === null) return undefined;
    if (typeof f !== "function") throw new TypeErr(`${what}: the ${name} handler must be a function`);
    return f;
  }

  // Sends what the parser produced so far downstream.
  function flush(state, controller) {
    const out = ops.htmlTake(state.id);
    if (out !== undefined) controller.enqueue(out);
    return out !== undefined;
  }

  // Runs the handlers the parser asks for, from step `r`, until it has
  // consumed its input (0). Synchronous while the handlers are; a handler
  // that returns a promise makes it return a promise (the parser waits).
  function drive(state, controller, r) {
    while (r !== 0) {
      if (r < 0) throw state.failure;
      const h = state.table[r];
      state.gen++;
      const token = new h.Kind(state);
      let result;
      try {
        result = ReflectApply(h.fn, h.self, [token]);
      } catch (e) {
        state.failure = e;
        r = ops.htmlResume(state.id, false);
        continue;
      }
      if (result !== null && typeof result === "object" && typeof result.then === "function") {
        // What came before the handler goes out now.
        flush(state, controller);
        return ReflectApply(PromiseThen, Promise.resolve(result), [
          () => drive(state, controller, ops.htmlResume(state.id, true)),
          (e) => {
            state.failure = e;
            return drive(state, controller, ops.htmlResume(state.id, false));
          },
        ]);
      }
      r = ops.htmlResume(state.id, true);
    }
    return undefined;
  }

  function charsetOf(headers) {
    const ct = headers.get("content-type");
    if (ct === null) return "utf-8";
    const m = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(ct);
    return m === null ? "utf-8" : m[1];
  }

  // The source body as something to read chunks from.
  function sourceOf(response) {
    const body = response.body;
    if (rw.isReadableStream(body)) return ReflectApply(getReader, body, []);
    // (A body held whole: one chunk.)
    response[rw.kUsed] = true;
    let bytes;
    if (typeof body === "string") bytes = ops.utf8Encode(body);
    else if (body instanceof ArrayBuffer) bytes = new Uint8Array(body);
    else bytes = new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
    let given = false;
    return {
      read() {
        if (given) return Promise.resolve({ done: true, value: undefined });
        given = true;
        return Promise.resolve({ done: false, value: bytes });
      },
      cancel() {
        return Promise.resolve();
      },
    };
  }

  const kEntries = Symbol("entries");

  class HTMLRewriter {
    constructor() {
      this[kEntries] = [];
    }
    on(selector, handlers) {
      selector = `${selector}`;
      if (handlers === null || typeof handlers !== "object") {
        throw new TypeErr("HTMLRewriter.on: handlers must be an object with element, comments or text methods");
      }
      ops.htmlSelector(selector);
      this[kEntries].push({ selector, handlers });
      return this;
    }
    onDocument(handlers) {
      if (handlers === null || typeof handlers !== "object") {
        throw new TypeErr("HTMLRewriter.onDocument: handlers must be an object with doctype, comments, text or end methods");
      }
      this[kEntries].push({ selector: null, handlers });
      return this;
    }
    transform(response) {
      if (!(response instanceof Resp)) throw new TypeErr("HTMLRewriter.transform: expected a Response");
      if (response.type === "error") throw new TypeErr("HTMLRewriter cannot transform an error response");
      if (response.bodyUsed) throw new TypeErr("HTMLRewriter.transform: the response body has already been used");
      const state = { id: 0, gen: 0, table: [null], failure: undefined };
      const elementSpec = [];
      const documentSpec = [];
      for (const { selector, handlers } of this[kEntries]) {
        const id = (name, Kind, what) => {
          const f = handlerOf(handlers, name, what);
          return f === undefined ? 0 : register(state, f, handlers, Kind);
        };
        if (selector !== null) {
          elementSpec.push(selector, id("element", Element, "on"), id("comments", Comment, "on"), id("text", Text, "on"));
        } else {
          documentSpec.push(
            id("doctype", Doctype, "onDocument"),
            id("comments", Comment, "onDocument"),
            id("text", Text, "onDocument"),
            id("end", DocumentEnd, "onDocument"),
          );
        }
      }
      const headers = new HeadersCtor(response.headers);
      // The rewritten body has another length.
      headers.delete("content-length");
      const init = { status: response.status, statusText: response.statusText, headers };
      if (response.body === null) return new Resp(null, init);
      state.id = ops.htmlNew(elementSpec, documentSpec, charsetOf(response.headers), state);
      const source = sourceOf(response);
      let over = false;
      // Input read but not yet parsed.
      let rest = null;
      const finish = () => {
        if (!over) {
          over = true;
          ops.htmlFree(state.id);
        }
      };
      const fail = (e) => {
        finish();
        source.cancel(e).catch(() => {});
        throw e;
      };
      const body = new ReadableStreamCtor(
        {
          async pull(controller) {
            try {
              for (;;) {
                if (rest === null) {
                  const { done, value } = await source.read();
                  if (done) {
                    await drive(state, controller, ops.htmlEnd(state.id));
                    flush(state, controller);
                    finish();
                    controller.close();
                    return;
                  }
                  if (value instanceof ArrayBuffer) rest = new Uint8Array(value);
                  else if (ArrayBuffer.isView(value)) rest = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
                  else {
                    throw new TypeErr(
                      "This TransformStream is being used as a byte stream, but received an object of non-ArrayBuffer/ArrayBufferView type on its writable side.",
                    );
                  }
                }
                // At most SLICE bytes per pull: a large chunk is parsed
                // over several pulls, so the output streams and no one
                // entry into the script parses a whole document.
                const piece = rest.length > SLICE ? rest.subarray(0, SLICE) : rest;
                rest = rest.length > SLICE ? rest.subarray(SLICE) : null;
                await drive(state, controller, ops.htmlWrite(state.id, piece));
                // Nothing out yet (the parser is buffering a tag): read on.
                if (flush(state, controller)) return;
              }
            } catch (e) {
              fail(e);
            }
          },
          cancel(reason) {
            finish();
            return source.cancel(reason);
          },
        },
        { highWaterMark: 0 },
      );
      return new Resp(body, init);
    }
    get [Symbol.toStringTag]() {
      return "HTMLRewriter";
    }
  }

  rw.define("HTMLRewriter", HTMLRewriter);
});

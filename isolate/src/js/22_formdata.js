// 22_formdata.js: FormData, and the body methods that read or write forms:
// request/response.formData() (multipart/form-data, parsed natively as the
// body streams in — see formdata.rs — and application/x-www-form-urlencoded)
// and the multipart serialization of a FormData body.
// See the header of 00_bootstrap.js for the file convention.
//
// Internals this file puts on `rw`:
//   rw.isFormData(v) -> bool
//   rw.serializeFormData(fd) -> { body: Uint8Array, type: "multipart/form-data; boundary=..." }
(function (ops, rw) {
  "use strict";

  const uncurryThis = (f) => Function.prototype.call.bind(f);
  const ReflectApply = Reflect.apply;
  const ObjectDefineProperty = Object.defineProperty;
  const ObjectGetPrototypeOf = Object.getPrototypeOf;
  const ObjectSetPrototypeOf = Object.setPrototypeOf;
  const ArrayPrototypePush = uncurryThis(Array.prototype.push);
  const ArrayPrototypeSplice = uncurryThis(Array.prototype.splice);
  const ArrayPrototypeFilter = uncurryThis(Array.prototype.filter);
  const StringPrototypeToWellFormed = uncurryThis(String.prototype.toWellFormed);
  const StringPrototypeToLowerCase = uncurryThis(String.prototype.toLowerCase);
  const StringPrototypeTrim = uncurryThis(String.prototype.trim);
  const StringPrototypeIndexOf = uncurryThis(String.prototype.indexOf);
  const StringPrototypeSlice = uncurryThis(String.prototype.slice);
  const StringPrototypeCharCodeAt = uncurryThis(String.prototype.charCodeAt);
  const RegExpPrototypeSymbolReplace = uncurryThis(RegExp.prototype[Symbol.replace]);
  const TypedArrayPrototype = ObjectGetPrototypeOf(Uint8Array.prototype);
  const TypedArrayPrototypeSet = uncurryThis(TypedArrayPrototype.set);
  const TypedArrayGetLength = uncurryThis(Object.getOwnPropertyDescriptor(TypedArrayPrototype, "length").get);
  const SymbolIterator = Symbol.iterator;
  const SymbolToStringTag = Symbol.toStringTag;
  const IteratorPrototype = ObjectGetPrototypeOf(ObjectGetPrototypeOf([][SymbolIterator]()));
  const PromiseReject = Promise.reject.bind(Promise);
  const TypeErr = TypeError;
  const U8 = Uint8Array;
  const ReadableStreamGetReader = uncurryThis(rw.ReadableStream.prototype.getReader);
  const ReaderRead = uncurryThis(globalThis.ReadableStreamDefaultReader.prototype.read);
  const ReaderCancel = uncurryThis(globalThis.ReadableStreamDefaultReader.prototype.cancel);
  const { File, isBlob } = rw;
  const utf8Encode = ops.utf8Encode;

  const toUSVString = (v) => StringPrototypeToWellFormed(`${v}`);

  function requireArgs(count, required, what) {
    if (count < required) {
      throw new TypeErr(`${what}: ${required} argument${required === 1 ? "" : "s"} required, but only ${count} present`);
    }
  }

  // ----------------------------------------------------------------- FormData
  // An entry is [name, value], value a USVString or a File.
  let entriesOf; // (fd) -> the live entry list
  let formCheck; // (fd, what): throws unless a FormData

  // "Create an entry": a Blob becomes a File (named "blob" unless a name is
  // given); a File keeps its bytes, renamed if a name is given.
  function makeEntry(name, value, filename, haveFilename) {
    name = toUSVString(name);
    if (!isBlob(value)) return [name, toUSVString(value)];
    const isFile = value instanceof File;
    if (isFile && !haveFilename) return [name, value];
    const fname = haveFilename ? toUSVString(filename) : isFile ? value.name : "blob";
    const options = { type: value.type };
    if (isFile) options.lastModified = value.lastModified;
    return [name, rw.newFile(rw.blobBytes(value), fname, options)];
  }

  function entryArgs(args, what) {
    requireArgs(args.length, 2, what);
    if (args.length > 2 && !isBlob(args[1])) {
      throw new TypeErr(`${what}: parameter 2 is not of type 'Blob' (a file name is given)`);
    }
    return makeEntry(args[0], args[1], args[2], args.length > 2 && args[2] !== undefined);
  }

  class FormData {
    #entries = [];
    constructor(form = undefined, submitter = undefined) {
      if (form !== undefined) {
        throw new TypeErr("FormData constructor: there are no HTML forms here; call it without arguments");
      }
      void submitter;
    }
    static {
      entriesOf = (fd) => fd.#entries;
      formCheck = (fd, what) => {
        if (typeof fd !== "object" || fd === null || !(#entries in fd)) {
          throw new TypeErr(`Illegal invocation: FormData.${what}`);
        }
      };
    }
    append(name, value, filename = undefined) {
      formCheck(this, "append");
      ArrayPrototypePush(this.#entries, entryArgs(arguments, "FormData.append"));
    }
    delete(name) {
      formCheck(this, "delete");
      requireArgs(arguments.length, 1, "FormData.delete");
      name = toUSVString(name);
      this.#entries = ArrayPrototypeFilter(this.#entries, (e) => e[0] !== name);
    }
    get(name) {
      formCheck(this, "get");
      requireArgs(arguments.length, 1, "FormData.get");
      name = toUSVString(name);
      const list = this.#entries;
      for (let i = 0; i < list.length; i++) if (list[i][0] === name) return list[i][1];
      return null;
    }
    getAll(name) {
      formCheck(this, "getAll");
      requireArgs(arguments.length, 1, "FormData.getAll");
      name = toUSVString(name);
      const out = [];
      const list = this.#entries;
      for (let i = 0; i < list.length; i++) if (list[i][0] === name) ArrayPrototypePush(out, list[i][1]);
      return out;
    }
    has(name) {
      formCheck(this, "has");
      requireArgs(arguments.length, 1, "FormData.has");
      name = toUSVString(name);
      const list = this.#entries;
      for (let i = 0; i < list.length; i++) if (list[i][0] === name) return true;
      return false;
    }
    set(name, value, filename = undefined) {
      formCheck(this, "set");
      const entry = entryArgs(arguments, "FormData.set");
      const list = this.#entries;
      let found = false;
      for (let i = 0; i < list.length; i++) {
        if (list[i][0] !== entry[0]) continue;
        if (!found) {
          list[i] = entry;
          found = true;
        } else {
          ArrayPrototypeSplice(list, i--, 1);
        }
      }
      if (!found) ArrayPrototypePush(list, entry);
    }
    forEach(callback, thisArg = undefined) {
      formCheck(this, "forEach");
      if (typeof callback !== "function") throw new TypeErr("FormData.forEach: the callback must be a function");
      for (let i = 0; i < this.#entries.length; i++) {
        const e = this.#entries[i];
        ReflectApply(callback, thisArg, [e[1], e[0], this]);
      }
    }
    entries() {
      formCheck(this, "entries");
      return new FormDataIterator(this, 2);
    }
    keys() {
      formCheck(this, "keys");
      return new FormDataIterator(this, 0);
    }
    values() {
      formCheck(this, "values");
      return new FormDataIterator(this, 1);
    }
    static isFormData(v) {
      return typeof v === "object" && v !== null && #entries in v;
    }
  }
  const isFormData = FormData.isFormData;
  delete FormData.isFormData;
  for (const key of ["append", "delete", "get", "getAll", "has", "set", "forEach", "entries", "keys", "values"]) {
    ObjectDefineProperty(FormData.prototype, key, { enumerable: true });
  }
  ObjectDefineProperty(FormData.prototype, SymbolIterator, {
    value: FormData.prototype.entries,
    writable: true,
    enumerable: false,
    configurable: true,
  });
  ObjectDefineProperty(FormData.prototype, SymbolToStringTag, { value: "FormData", configurable: true });

  // A WebIDL pair iterator over the live entry list.
  class FormDataIterator {
    #form;
    #kind;
    #index = 0;
    constructor(form, kind) {
      this.#form = form;
      this.#kind = kind;
    }
    next() {
      if (typeof this !== "object" || this === null || !(#form in this)) {
        throw new TypeErr("Illegal invocation: FormData Iterator.next");
      }
      const list = entriesOf(this.#form);
      if (this.#index >= list.length) return { value: undefined, done: true };
      const e = list[this.#index++];
      return { value: this.#kind === 2 ? [e[0], e[1]] : e[this.#kind], done: false };
    }
  }
  ObjectSetPrototypeOf(FormDataIterator.prototype, IteratorPrototype);
  delete FormDataIterator.prototype.constructor;
  ObjectDefineProperty(FormDataIterator.prototype, "next", { enumerable: true });
  ObjectDefineProperty(FormDataIterator.prototype, SymbolToStringTag, {
    value: "FormData Iterator",
    configurable: true,
  });

  // ---------------------------------------------- multipart/form-data output
  // (HTML's "multipart/form-data encoding algorithm": names and file names
  // escape LF, CR and '"' as %0A, %0D, %22; string values get CRLF line
  // breaks.)
  const escapeName = (s) => RegExpPrototypeSymbolReplace(/[\n\r"]/g, s, (c) => (c === "\n" ? "%0A" : c === "\r" ? "%0D" : "%22"));
  const crlf = (s) => RegExpPrototypeSymbolReplace(/\r\n|\r(?!\n)|\n/g, s, "\r\n");

  function randomBoundary() {
    const b = new U8(16);
    ops.randomFill(b);
    let hex = "";
    for (let i = 0; i < b.length; i++) hex += (b[i] < 16 ? "0" : "") + b[i].toString(16);
    return `----RingworkerFormBoundary${hex}`;
  }

  function serializeFormData(fd) {
    const boundary = randomBoundary();
    const pieces = [];
    let total = 0;
    const add = (bytes) => {
      ArrayPrototypePush(pieces, bytes);
      total += TypedArrayGetLength(bytes);
    };
    const list = entriesOf(fd);
    for (let i = 0; i < list.length; i++) {
      const [name, value] = list[i];
      let head = `--${boundary}\r\nContent-Disposition: form-data; name="${escapeName(name)}"`;
      if (typeof value === "string") {
        add(utf8Encode(`${head}\r\n\r\n${crlf(value)}\r\n`));
      } else {
        head += `; filename="${escapeName(value.name)}"\r\nContent-Type: ${value.type || "application/octet-stream"}\r\n\r\n`;
        add(utf8Encode(head));
        add(rw.blobBytes(value));
        add(utf8Encode("\r\n"));
      }
    }
    add(utf8Encode(`--${boundary}--\r\n`));
    const out = new U8(total);
    let at = 0;
    for (let i = 0; i < pieces.length; i++) {
      TypedArrayPrototypeSet(out, pieces[i], at);
      at += TypedArrayGetLength(pieces[i]);
    }
    return { body: out, type: `multipart/form-data; boundary=${boundary}` };
  }

  // ------------------------------------------------------------ formData()
  // The Content-Type's essence (lowercased) and its boundary parameter.
  function parseContentType(value) {
    if (value === null) return { essence: "", boundary: null };
    let i = StringPrototypeIndexOf(value, ";");
    const essence = StringPrototypeToLowerCase(StringPrototypeTrim(i < 0 ? value : StringPrototypeSlice(value, 0, i)));
    let boundary = null;
    while (i >= 0 && i < value.length) {
      i++; // past the ';'
      const eq = StringPrototypeIndexOf(value, "=", i);
      const semi = StringPrototypeIndexOf(value, ";", i);
      if (eq < 0 || (semi >= 0 && semi < eq)) {
        i = semi;
        continue;
      }
      const key = StringPrototypeToLowerCase(StringPrototypeTrim(StringPrototypeSlice(value, i, eq)));
      let j = eq + 1;
      while (value[j] === " " || value[j] === "\t") j++;
      let v = "";
      if (value[j] === '"') {
        // A quoted string: backslash escapes, may hold ';'.
        let k = j + 1;
        while (k < value.length && value[k] !== '"') {
          if (value[k] === "\\" && k + 1 < value.length) k++;
          v += value[k++];
        }
        i = StringPrototypeIndexOf(value, ";", k);
      } else {
        i = StringPrototypeIndexOf(value, ";", j);
        v = StringPrototypeTrim(i < 0 ? StringPrototypeSlice(value, j) : StringPrototypeSlice(value, j, i));
      }
      if (key === "boundary" && boundary === null) boundary = v;
    }
    return { essence, boundary };
  }

  function appendParts(fd, flat) {
    const list = entriesOf(fd);
    for (let i = 0; i < flat.length; i += 2) {
      const v = flat[i + 1];
      ArrayPrototypePush(list, [flat[i], typeof v === "string" ? v : rw.newFile(v[2], v[0], { type: v[1] })]);
    }
  }

  // Parses a multipart body as it arrives: a whole body at once, a stream
  // chunk by chunk (a failure cancels the stream, so the rest of a socket
  // body is not read).
  async function parseMultipart(body, boundary) {
    // The parser lives while `parser` is reachable (it is used to the end).
    const parser = { id: 0 };
    parser.id = ops.multipartOpen(parser, boundary);
    const fd = new FormData();
    if (!rw.isReadableStream(body)) {
      if (body !== null) {
        appendParts(fd, ops.multipartFeed(parser.id, typeof body === "string" ? utf8Encode(body) : body));
      }
      appendParts(fd, ops.multipartFeed(parser.id, null));
      return fd;
    }
    const reader = ReadableStreamGetReader(body);
    for (;;) {
      const { done, value } = await ReaderRead(reader);
      let parts;
      try {
        if (!done && !(value instanceof U8)) {
          throw new TypeErr("formData: the body stream gave a chunk that is not a Uint8Array");
        }
        parts = ops.multipartFeed(parser.id, done ? null : value);
      } catch (e) {
        if (!done) ReaderCancel(reader, e).catch(() => {});
        throw e;
      }
      appendParts(fd, parts);
      if (done) return fd;
    }
  }

  function formData() {
    const type = parseContentType(this.headers.get("content-type"));
    if (type.essence === "multipart/form-data") {
      if (type.boundary === null) {
        return PromiseReject(new TypeErr("formData: the multipart/form-data Content-Type has no boundary"));
      }
      let body;
      try {
        body = rw.bodyForReading(this);
      } catch (e) {
        return PromiseReject(e);
      }
      return parseMultipart(body, type.boundary);
    }
    if (type.essence === "application/x-www-form-urlencoded") {
      return rw.consumeBody(this, true).then((b) => {
        const fd = new FormData();
        const params = rw.makeSearchParams(rw.bodyToText(b));
        const list = entriesOf(fd);
        for (const [k, v] of params) ArrayPrototypePush(list, [k, v]);
        return fd;
      });
    }
    return PromiseReject(
      new TypeErr(
        `formData: cannot parse a body of type ${JSON.stringify(this.headers.get("content-type") ?? "")} as a form ` +
          "(expected multipart/form-data or application/x-www-form-urlencoded)",
      ),
    );
  }

  for (const cls of [globalThis.Request, globalThis.Response]) {
    ObjectDefineProperty(cls.prototype, "formData", { value: formData, writable: true, configurable: true });
  }

  rw.isFormData = isFormData;
  rw.serializeFormData = serializeFormData;
  rw.FormData = FormData;
  rw.define("FormData", FormData);
});

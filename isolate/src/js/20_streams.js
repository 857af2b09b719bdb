// 20_streams.js: the WHATWG Streams Standard (https://streams.spec.whatwg.org/).
// See the header of 00_bootstrap.js for the file convention.
//
// Globals installed (via rw.define): ReadableStream, ReadableStreamDefaultReader,
// ReadableStreamBYOBReader, ReadableStreamBYOBRequest, ReadableStreamDefaultController,
// ReadableByteStreamController, WritableStream, WritableStreamDefaultWriter,
// WritableStreamDefaultController, TransformStream, TransformStreamDefaultController,
// ByteLengthQueuingStrategy, CountQueuingStrategy, TextEncoderStream, TextDecoderStream.
//
// The abstract operations follow the spec's algorithms and their ordering
// (including byte streams, BYOB readers with `min`, tee of byte streams,
// ReadableStream.from, async iteration and pipeTo with an AbortSignal).
// Every public object keeps its state in an internal record held in a private
// field, so brand checks are exact and user code cannot reach the state.
//
// ------------------------------------------------- internals for the runtime
// Stable API on `rw` (never visible to user code):
//
//   rw.ReadableStream, rw.WritableStream, rw.TransformStream
//       The constructors as installed (captured before user code runs).
//   rw.isReadableStream(v) -> boolean
//   rw.isDisturbed(stream) -> boolean   (false for a non-stream)
//   rw.isLocked(stream) -> boolean      (false for a non-stream)
//   rw.newNativeReadable(source, highWaterMark = 1, options = undefined)
//       -> { stream, enqueue(chunk) -> boolean, close() -> boolean,
//            error(e) -> boolean, desiredSize() -> number | null }
//       `source` is { pull(handle) -> Promise|void, cancel(reason) -> Promise|void }
//       (both optional); `pull` receives the returned handle and is called only
//       while desiredSize() > 0 (or a read is pending) and no earlier pull is
//       still pending — that is the backpressure signal for the producer.
//       A throw or rejection from pull errors the stream. `cancel` is called
//       once when the consumer cancels. highWaterMark counts chunks; with
//       options = { type: "bytes" } the stream is a byte stream (BYOB readers
//       work), chunks must be non-empty ArrayBufferViews (their buffers are
//       transferred) and highWaterMark counts bytes. enqueue/close/error never
//       throw for a stream that is already closed/errored: they return false
//       (enqueue also returns false, after erroring the stream, for a bad chunk).
//   rw.readAll(stream) -> Promise<Uint8Array>
//       Reads the whole stream (Uint8Array / ArrayBuffer / any view / string
//       chunks; strings are UTF-8 encoded) into one new Uint8Array. Rejects
//       with TypeError when the stream is locked, or for any other chunk type
//       (the stream is then cancelled with that TypeError).
//   rw.streamReader(stream) -> { read() -> Promise<{done, value}>,
//                                cancel(reason) -> Promise<undefined>,
//                                releaseLock() }
//       Locks the stream (throws TypeError when locked). `value` is always a
//       Uint8Array (same chunk conversions and TypeError as readAll; a view
//       on the chunk's own memory, not a copy, except for strings). Result
//       objects have a null prototype so a patched Object.prototype.then
//       cannot intercept them.
//   rw.setControllerSignal(controllerOrStream, signal)
//       Sets the AbortSignal user code sees as `controller.signal` on a
//       ReadableStreamDefaultController / ReadableByteStreamController
//       (undefined until set). Passing a ReadableStream targets its controller.
//       Not standard, so it is an own property of that controller only; the
//       prototypes stay exactly as specified.
//   rw.failStream(stream, reason, message = <derived from reason>)
//       Errors a readable stream from the outside with `reason` (if it is still
//       readable). Afterwards the source's controller.enqueue() throws
//       new TypeError(message) and controller.close() is a silent no-op (for a
//       TransformStream's readable side, TransformStreamDefaultController
//       .enqueue() throws it too and the writable side is errored with that
//       TypeError, so a writer blocked on backpressure is released).
//
// Test hook: `rw.streamsInternals` is a frozen object with isReadableStream,
// isDisturbed, isLocked, newNativeReadable, readAll, streamReader,
// setControllerSignal and failStream. Only a runtime built with
// `WorkerOptions::expose_internals` (the JS API tests) publishes it as
// globalThis[Symbol.for("ringworker.internal.streams")]; scripts never see it.
(function (ops, rw) {
  "use strict";

  // ------------------------------------------------------ captured builtins
  const TypeErr = TypeError;
  const RangeErr = RangeError;
  const ObjectCreate = Object.create;
  const ObjectDefineProperty = Object.defineProperty;
  const ObjectGetOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
  const ObjectGetOwnPropertyNames = Object.getOwnPropertyNames;
  const ObjectGetPrototypeOf = Object.getPrototypeOf;
  const ObjectSetPrototypeOf = Object.setPrototypeOf;
  const ObjectFreeze = Object.freeze;
  const ReflectApply = Reflect.apply;
  const NumberIsNaN = Number.isNaN;
  const MathMin = Math.min;
  const MathTrunc = Math.trunc;
  const StringCtor = String;
  const NumberCtor = Number;
  const SymbolIterator = Symbol.iterator;
  const SymbolAsyncIterator = Symbol.asyncIterator;
  const SymbolToStringTag = Symbol.toStringTag;
  const PromiseCtor = Promise;
  const PromisePrototypeThen = Promise.prototype.then;
  const PromiseResolveFn = Promise.resolve;
  const PromiseRejectFn = Promise.reject;
  const ArrayBufferCtor = ArrayBuffer;
  const ArrayBufferIsView = ArrayBuffer.isView;
  const getter = (proto, name) => {
    const d = ObjectGetOwnPropertyDescriptor(proto, name);
    return d && d.get;
  };
  const ArrayBufferPrototypeGetByteLength = getter(ArrayBuffer.prototype, "byteLength");
  const ArrayBufferPrototypeGetDetached = getter(ArrayBuffer.prototype, "detached");
  const ArrayBufferPrototypeTransfer = ArrayBuffer.prototype.transfer;
  const SharedArrayBufferPrototypeGetByteLength =
    typeof SharedArrayBuffer === "function" ? getter(SharedArrayBuffer.prototype, "byteLength") : undefined;
  const TypedArrayPrototype = ObjectGetPrototypeOf(Uint8Array.prototype);
  const TypedArrayPrototypeGetBuffer = getter(TypedArrayPrototype, "buffer");
  const TypedArrayPrototypeGetByteOffset = getter(TypedArrayPrototype, "byteOffset");
  const TypedArrayPrototypeGetByteLength = getter(TypedArrayPrototype, "byteLength");
  const TypedArrayPrototypeGetLength = getter(TypedArrayPrototype, "length");
  const TypedArrayPrototypeGetToStringTag = getter(TypedArrayPrototype, SymbolToStringTag);
  const TypedArrayPrototypeSet = TypedArrayPrototype.set;
  const DataViewCtor = DataView;
  const DataViewPrototypeGetBuffer = getter(DataView.prototype, "buffer");
  const DataViewPrototypeGetByteOffset = getter(DataView.prototype, "byteOffset");
  const DataViewPrototypeGetByteLength = getter(DataView.prototype, "byteLength");
  const Uint8ArrayCtor = Uint8Array;
  const AsyncIteratorPrototype = ObjectGetPrototypeOf(
    ObjectGetPrototypeOf(async function* () {}).prototype,
  );
  const structuredCloneAtLoad = globalThis.structuredClone;
  // Web APIs from earlier files (10_events, 05_web); looked up again lazily
  // when they were not there yet at load time.
  const AbortControllerAtLoad = globalThis.AbortController;
  const AbortSignalAtLoad = globalThis.AbortSignal;
  const EventTargetAtLoad = globalThis.EventTarget;
  const TextDecoderAtLoad = globalThis.TextDecoder;
  // AbortSignal internals from 10_events.js, when present: brand check, abort
  // algorithms that run before "abort" listeners, and internal signals.
  const rwIsAbortSignal = typeof rw.isAbortSignal === "function" ? rw.isAbortSignal : undefined;
  const rwIsAborted = typeof rw.isAborted === "function" ? rw.isAborted : undefined;
  const rwAbortReason = typeof rw.abortReason === "function" ? rw.abortReason : undefined;
  const rwAddAbortAlgorithm = typeof rw.addAbortAlgorithm === "function" ? rw.addAbortAlgorithm : undefined;
  const rwNewAbortSignal = typeof rw.newAbortSignal === "function" ? rw.newAbortSignal : undefined;
  const rwAbortSignal = typeof rw.abortSignal === "function" ? rw.abortSignal : undefined;

  // [[TypedArrayName]] -> element size and constructor.
  const TYPED_ARRAYS = ObjectCreate(null);
  for (const [name, size] of [
    ["Int8Array", 1],
    ["Uint8Array", 1],
    ["Uint8ClampedArray", 1],
    ["Int16Array", 2],
    ["Uint16Array", 2],
    ["Float16Array", 2],
    ["Int32Array", 4],
    ["Uint32Array", 4],
    ["Float32Array", 4],
    ["Float64Array", 8],
    ["BigInt64Array", 8],
    ["BigUint64Array", 8],
  ]) {
    if (typeof globalThis[name] === "function") {
      TYPED_ARRAYS[name] = ObjectFreeze({ size, ctor: globalThis[name] });
    }
  }

  const call = (fn, thisArg, ...args) => ReflectApply(fn, thisArg, args);
  const noop = () => {};

  // ------------------------------------------------------------ promises
  const promiseResolve = (v) => ReflectApply(PromiseResolveFn, PromiseCtor, [v]);
  const promiseReject = (e) => ReflectApply(PromiseRejectFn, PromiseCtor, [e]);
  const resolvedUndefined = () => promiseResolve(undefined);
  const then = (p, onFulfilled, onRejected) =>
    ReflectApply(PromisePrototypeThen, p, [onFulfilled, onRejected]);
  function setHandled(p) {
    ReflectApply(PromisePrototypeThen, p, [undefined, noop]);
  }
  // "Upon fulfillment/rejection": reactions whose own result is never observed.
  function upon(p, onFulfilled, onRejected) {
    setHandled(then(p, onFulfilled, onRejected));
  }
  const uponFulfillment = (p, f) => upon(p, f, undefined);
  const uponRejection = (p, r) => upon(p, undefined, r);
  const microtaskPromise = promiseResolve(undefined);
  const queueMicrotaskInternal = (fn) => {
    then(microtaskPromise, fn);
  };

  // A promise with its resolving functions and a record of its state, for the
  // spec's "if promise is pending" checks.
  class Deferred {
    constructor() {
      this.state = "pending";
      this.promise = new PromiseCtor((resolve, reject) => {
        this._resolve = resolve;
        this._reject = reject;
      });
    }
    resolve(v) {
      if (this.state !== "pending") return;
      this.state = "fulfilled";
      this._resolve(v);
    }
    reject(e) {
      if (this.state !== "pending") return;
      this.state = "rejected";
      this._reject(e);
    }
  }
  const resolvedDeferred = (v) => {
    const d = new Deferred();
    d.resolve(v);
    return d;
  };
  const rejectedDeferred = (e) => {
    const d = new Deferred();
    d.reject(e);
    setHandled(d.promise);
    return d;
  };

  // WebIDL "wait for all" (without going through a patchable Promise.all);
  // the values are not needed here.
  function waitForAll(promises) {
    const d = new Deferred();
    let remaining = promises.length;
    if (remaining === 0) {
      d.resolve(undefined);
      return d.promise;
    }
    for (let i = 0; i < promises.length; i++) {
      upon(
        promises[i],
        () => {
          if (--remaining === 0) d.resolve(undefined);
        },
        (e) => d.reject(e),
      );
    }
    return d.promise;
  }

  // WebIDL: invoke a callback whose return type is a promise.
  function invokePromise(fn, thisArg, args) {
    try {
      return promiseResolve(ReflectApply(fn, thisArg, args));
    } catch (e) {
      return promiseReject(e);
    }
  }

  // ------------------------------------------------------------------ lists
  // A FIFO that does not go through (patchable) Array.prototype methods.
  class List {
    constructor() {
      this.a = [];
      this.h = 0;
    }
    get size() {
      return this.a.length - this.h;
    }
    push(v) {
      const a = this.a;
      a[a.length] = v;
    }
    peek() {
      return this.a[this.h];
    }
    shift() {
      const a = this.a;
      const v = a[this.h];
      a[this.h++] = undefined;
      if (this.h === a.length) {
        this.a = [];
        this.h = 0;
      } else if (this.h > 1024 && this.h * 2 > a.length) {
        const b = [];
        for (let i = this.h; i < a.length; i++) b[b.length] = a[i];
        this.a = b;
        this.h = 0;
      }
      return v;
    }
    toArray() {
      const out = [];
      for (let i = this.h; i < this.a.length; i++) out[out.length] = this.a[i];
      return out;
    }
  }

  // ---------------------------------------------------------------- errors
  const illegal = (what) => new TypeErr(`Illegal invocation: this is not a ${what}`);

  // ------------------------------------------------------- buffers and views
  function isDetached(buffer) {
    if (ArrayBufferPrototypeGetDetached !== undefined) {
      return call(ArrayBufferPrototypeGetDetached, buffer);
    }
    if (call(ArrayBufferPrototypeGetByteLength, buffer) !== 0) return false;
    try {
      new Uint8ArrayCtor(buffer);
      return false;
    } catch {
      return true;
    }
  }
  function isArrayBuffer(v) {
    if (typeof v !== "object" || v === null) return false;
    try {
      call(ArrayBufferPrototypeGetByteLength, v);
      return true;
    } catch {
      return false;
    }
  }
  function isSharedArrayBuffer(v) {
    if (SharedArrayBufferPrototypeGetByteLength === undefined) return false;
    try {
      call(SharedArrayBufferPrototypeGetByteLength, v);
      return true;
    } catch {
      return false;
    }
  }
  function bufferByteLength(buffer) {
    if (isSharedArrayBuffer(buffer)) return call(SharedArrayBufferPrototypeGetByteLength, buffer);
    return call(ArrayBufferPrototypeGetByteLength, buffer);
  }
  const typedArrayName = (view) => call(TypedArrayPrototypeGetToStringTag, view);
  const isView = (v) => ArrayBufferIsView(v);
  function viewBuffer(view) {
    return typedArrayName(view) !== undefined
      ? call(TypedArrayPrototypeGetBuffer, view)
      : call(DataViewPrototypeGetBuffer, view);
  }
  function viewByteOffset(view) {
    if (typedArrayName(view) !== undefined) return call(TypedArrayPrototypeGetByteOffset, view);
    try {
      return call(DataViewPrototypeGetByteOffset, view);
    } catch {
      return 0; // a DataView on a detached buffer
    }
  }
  function viewByteLength(view) {
    if (typedArrayName(view) !== undefined) return call(TypedArrayPrototypeGetByteLength, view);
    try {
      return call(DataViewPrototypeGetByteLength, view);
    } catch {
      return 0; // a DataView on a detached buffer
    }
  }
  // ArrayBufferView IDL conversion (no shared buffers).
  function requireView(v, context) {
    if (!isView(v)) throw new TypeErr(`${context}: argument must be an ArrayBufferView`);
    if (isSharedArrayBuffer(viewBuffer(v))) {
      throw new TypeErr(`${context}: views on a SharedArrayBuffer are not allowed`);
    }
    return v;
  }
  function transferArrayBuffer(buffer) {
    if (isSharedArrayBuffer(buffer)) throw new TypeErr("Cannot transfer a SharedArrayBuffer");
    if (ArrayBufferPrototypeTransfer !== undefined) {
      return call(ArrayBufferPrototypeTransfer, buffer);
    }
    const sc = structuredCloneAtLoad || globalThis.structuredClone;
    if (typeof sc === "function") return sc(buffer, { transfer: [buffer] });
    return cloneArrayBuffer(buffer, 0, call(ArrayBufferPrototypeGetByteLength, buffer));
  }
  function cloneArrayBuffer(buffer, offset, length) {
    const out = new ArrayBufferCtor(length);
    call(TypedArrayPrototypeSet, new Uint8ArrayCtor(out), new Uint8ArrayCtor(buffer, offset, length));
    return out;
  }
  function copyBytes(dest, destOffset, src, srcOffset, n) {
    call(TypedArrayPrototypeSet, new Uint8ArrayCtor(dest, destOffset, n), new Uint8ArrayCtor(src, srcOffset, n));
  }
  function cloneAsUint8Array(view) {
    const len = viewByteLength(view);
    return new Uint8ArrayCtor(cloneArrayBuffer(viewBuffer(view), viewByteOffset(view), len));
  }

  // --------------------------------------------------------- IDL conversion
  function toDictionary(v, context) {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "object" && typeof v !== "function") {
      throw new TypeErr(`${context} must be an object`);
    }
    return v;
  }
  function getMember(dict, name) {
    return dict === undefined ? undefined : dict[name];
  }
  function toCallback(v, context) {
    if (v === undefined) return undefined;
    if (typeof v !== "function") throw new TypeErr(`${context} must be a function`);
    return v;
  }
  function toUnrestrictedDouble(v) {
    return NumberCtor(v);
  }
  // [EnforceRange] unsigned long long
  function toEnforcedUint64(v, context) {
    let x = NumberCtor(v);
    if (NumberIsNaN(x) || x === Infinity || x === -Infinity) {
      throw new TypeErr(`${context} must be a finite number`);
    }
    x = MathTrunc(x);
    if (x < 0 || x > 9007199254740991) throw new TypeErr(`${context} is out of range`);
    return x === 0 ? 0 : x;
  }
  function toBoolean(v) {
    return !!v;
  }

  // QueuingStrategy dictionary -> { highWaterMark, size }
  function toQueuingStrategy(v, context) {
    const dict = toDictionary(v, context);
    let highWaterMark = getMember(dict, "highWaterMark");
    if (highWaterMark !== undefined) highWaterMark = toUnrestrictedDouble(highWaterMark);
    const size = toCallback(getMember(dict, "size"), `${context}.size`);
    return { highWaterMark, size };
  }
  function extractHighWaterMark(strategy, defaultHWM) {
    if (strategy.highWaterMark === undefined) return defaultHWM;
    const hwm = strategy.highWaterMark;
    if (NumberIsNaN(hwm) || hwm < 0) {
      throw new RangeErr("highWaterMark must be a non-negative number (not NaN)");
    }
    return hwm;
  }
  function extractSizeAlgorithm(strategy) {
    const size = strategy.size;
    if (size === undefined) return () => 1;
    return (chunk) => toUnrestrictedDouble(ReflectApply(size, undefined, [chunk]));
  }

  // -------------------------------------------------------- queue-with-sizes
  function isNonNegativeNumber(v) {
    return typeof v === "number" && !NumberIsNaN(v) && v >= 0;
  }
  function dequeueValue(container) {
    const pair = container.queue.shift();
    container.queueTotalSize -= pair.size;
    if (container.queueTotalSize < 0) container.queueTotalSize = 0;
    return pair.value;
  }
  function enqueueValueWithSize(container, value, size) {
    if (!isNonNegativeNumber(size)) {
      throw new RangeErr("The size of a chunk must be a non-negative, non-NaN number");
    }
    if (size === Infinity) throw new RangeErr("The size of a chunk must be finite");
    container.queue.push({ value, size });
    container.queueTotalSize += size;
  }
  function peekQueueValue(container) {
    return container.queue.peek().value;
  }
  function resetQueue(container) {
    container.queue = new List();
    container.queueTotalSize = 0;
  }

  // WebIDL-style class setup: enumerable members, a @@toStringTag, and a
  // constructor `name`.
  function webidlClass(cls, name) {
    const proto = cls.prototype;
    for (const key of ObjectGetOwnPropertyNames(proto)) {
      if (key === "constructor") continue;
      const d = ObjectGetOwnPropertyDescriptor(proto, key);
      d.enumerable = true;
      ObjectDefineProperty(proto, key, d);
    }
    ObjectDefineProperty(proto, SymbolToStringTag, {
      value: name,
      writable: false,
      enumerable: false,
      configurable: true,
    });
  }

  // Token for constructors that user code may not call.
  const kInternal = Symbol("internal");

  // =====================================================================
  //                            ReadableStream
  // =====================================================================
  let rsRec; // (value) -> stream record | undefined
  let drRec; // default reader
  let brRec; // BYOB reader
  let rsdcRec; // ReadableStreamDefaultController
  let rbscRec; // ReadableByteStreamController
  let byobReqRec; // ReadableStreamBYOBRequest

  const isObject = (v) => (typeof v === "object" && v !== null) || typeof v === "function";

  class ReadableStream {
    #r;
    constructor(underlyingSource = undefined, strategy = undefined) {
      if (underlyingSource === kInternal) {
        this.#r = newReadableStreamRecord(this);
        return;
      }
      if (underlyingSource !== undefined && !isObject(underlyingSource)) {
        throw new TypeErr("ReadableStream: the underlying source must be an object");
      }
      const strat = toQueuingStrategy(strategy, "ReadableStream: strategy");
      if (underlyingSource === undefined) underlyingSource = null;
      const source = underlyingSourceDict(underlyingSource);
      const s = (this.#r = newReadableStreamRecord(this));
      if (source.type === "bytes") {
        if (strat.size !== undefined) {
          throw new RangeErr("ReadableStream: a byte stream's strategy cannot have a size function");
        }
        const hwm = extractHighWaterMark(strat, 0);
        setUpReadableByteStreamControllerFromUnderlyingSource(s, underlyingSource, source, hwm);
      } else {
        const sizeAlgorithm = extractSizeAlgorithm(strat);
        const hwm = extractHighWaterMark(strat, 1);
        setUpReadableStreamDefaultControllerFromUnderlyingSource(
          s,
          underlyingSource,
          source,
          hwm,
          sizeAlgorithm,
        );
      }
    }

    static {
      rsRec = (o) => (isObject(o) && #r in o ? o.#r : undefined);
    }

    static from(asyncIterable) {
      return readableStreamFromIterable(asyncIterable).obj;
    }

    get locked() {
      const s = rsRec(this);
      if (s === undefined) throw illegal("ReadableStream");
      return isReadableStreamLocked(s);
    }

    cancel(reason = undefined) {
      const s = rsRec(this);
      if (s === undefined) return promiseReject(illegal("ReadableStream"));
      if (isReadableStreamLocked(s)) {
        return promiseReject(new TypeErr("Cannot cancel a ReadableStream that is locked to a reader"));
      }
      return readableStreamCancel(s, reason);
    }

    getReader(options = undefined) {
      const s = rsRec(this);
      if (s === undefined) throw illegal("ReadableStream");
      const dict = toDictionary(options, "ReadableStream.getReader: options");
      let mode = getMember(dict, "mode");
      if (mode !== undefined) {
        mode = `${mode}`;
        if (mode !== "byob") {
          throw new TypeErr(`ReadableStream.getReader: "${mode}" is not a valid reader mode (only "byob")`);
        }
        return acquireReadableStreamBYOBReader(s).obj;
      }
      return acquireReadableStreamDefaultReader(s).obj;
    }

    pipeThrough(transform, options = undefined) {
      const s = rsRec(this);
      if (s === undefined) throw illegal("ReadableStream");
      const pair = toDictionary(transform, "ReadableStream.pipeThrough: the transform argument");
      const readable = getMember(pair, "readable");
      if (readable === undefined) {
        throw new TypeErr("ReadableStream.pipeThrough: transform.readable is required");
      }
      if (rsRec(readable) === undefined) {
        throw new TypeErr("ReadableStream.pipeThrough: transform.readable must be a ReadableStream");
      }
      const writable = getMember(pair, "writable");
      if (writable === undefined) {
        throw new TypeErr("ReadableStream.pipeThrough: transform.writable is required");
      }
      const w = wsRec(writable);
      if (w === undefined) {
        throw new TypeErr("ReadableStream.pipeThrough: transform.writable must be a WritableStream");
      }
      const opts = toStreamPipeOptions(options, "ReadableStream.pipeThrough");
      if (isReadableStreamLocked(s)) {
        throw new TypeErr("ReadableStream.pipeThrough: this stream is locked to a reader");
      }
      if (isWritableStreamLocked(w)) {
        throw new TypeErr("ReadableStream.pipeThrough: transform.writable is locked to a writer");
      }
      const p = readableStreamPipeTo(
        s,
        w,
        opts.preventClose,
        opts.preventAbort,
        opts.preventCancel,
        opts.signal,
      );
      setHandled(p);
      return readable;
    }

    pipeTo(destination, options = undefined) {
      const s = rsRec(this);
      if (s === undefined) return promiseReject(illegal("ReadableStream"));
      const w = wsRec(destination);
      if (w === undefined) {
        return promiseReject(new TypeErr("ReadableStream.pipeTo: destination must be a WritableStream"));
      }
      let opts;
      try {
        opts = toStreamPipeOptions(options, "ReadableStream.pipeTo");
      } catch (e) {
        return promiseReject(e);
      }
      if (isReadableStreamLocked(s)) {
        return promiseReject(new TypeErr("ReadableStream.pipeTo: this stream is locked to a reader"));
      }
      if (isWritableStreamLocked(w)) {
        return promiseReject(new TypeErr("ReadableStream.pipeTo: the destination is locked to a writer"));
      }
      return readableStreamPipeTo(s, w, opts.preventClose, opts.preventAbort, opts.preventCancel, opts.signal);
    }

    tee() {
      const s = rsRec(this);
      if (s === undefined) throw illegal("ReadableStream");
      const branches = readableStreamTee(s, false);
      return [branches[0].obj, branches[1].obj];
    }

    values(options = undefined) {
      const s = rsRec(this);
      if (s === undefined) throw illegal("ReadableStream");
      const dict = toDictionary(options, "ReadableStream.values: options");
      const preventCancel = toBoolean(getMember(dict, "preventCancel"));
      const reader = acquireReadableStreamDefaultReader(s);
      return new ReadableStreamAsyncIterator(kInternal, reader, preventCancel);
    }
  }
  webidlClass(ReadableStream, "ReadableStream");
  ObjectDefineProperty(ReadableStream.prototype, SymbolAsyncIterator, {
    value: ReadableStream.prototype.values,
    writable: true,
    enumerable: false,
    configurable: true,
  });

  function newReadableStreamRecord(obj) {
    return {
      obj,
      state: "readable",
      reader: undefined,
      storedError: undefined,
      disturbed: false,
      controller: undefined,
      // The TransformStream whose readable side this is (for rw.failStream).
      transform: undefined,
    };
  }

  // UnderlyingSource dictionary (members read in lexicographic order).
  function underlyingSourceDict(source) {
    const d = toDictionary(source, "ReadableStream: the underlying source");
    let autoAllocateChunkSize = getMember(d, "autoAllocateChunkSize");
    if (autoAllocateChunkSize !== undefined) {
      autoAllocateChunkSize = toEnforcedUint64(autoAllocateChunkSize, "autoAllocateChunkSize");
    }
    const cancel = toCallback(getMember(d, "cancel"), "ReadableStream: underlying source cancel");
    const pull = toCallback(getMember(d, "pull"), "ReadableStream: underlying source pull");
    const start = toCallback(getMember(d, "start"), "ReadableStream: underlying source start");
    let type = getMember(d, "type");
    if (type !== undefined) {
      type = `${type}`;
      if (type !== "bytes") {
        throw new TypeErr(`ReadableStream: "${type}" is not a valid underlying source type (only "bytes")`);
      }
    }
    return { autoAllocateChunkSize, cancel, pull, start, type };
  }

  function toStreamPipeOptions(options, context) {
    const d = toDictionary(options, `${context}: options`);
    const preventAbort = toBoolean(getMember(d, "preventAbort"));
    const preventCancel = toBoolean(getMember(d, "preventCancel"));
    const preventClose = toBoolean(getMember(d, "preventClose"));
    const signal = getMember(d, "signal");
    if (signal !== undefined && !isAbortSignal(signal)) {
      throw new TypeErr(`${context}: options.signal must be an AbortSignal`);
    }
    return { preventAbort, preventCancel, preventClose, signal };
  }

  function isAbortSignal(v) {
    if (!isObject(v)) return false;
    if (rwIsAbortSignal !== undefined) return rwIsAbortSignal(v);
    const AS = AbortSignalAtLoad || globalThis.AbortSignal;
    if (typeof AS !== "function") return "aborted" in v && typeof v.addEventListener === "function";
    if (!(v instanceof AS)) return false;
    // A brand check where the `aborted` getter does one.
    const abortedGetter = getter(AS.prototype, "aborted");
    if (abortedGetter === undefined) return true;
    try {
      call(abortedGetter, v);
      return true;
    } catch {
      return false;
    }
  }
  // "Add an abort algorithm to signal"; returns a function that removes it.
  function addAbortAlgorithm(signal, fn) {
    if (rwAddAbortAlgorithm !== undefined) return rwAddAbortAlgorithm(signal, fn);
    const ET = EventTargetAtLoad || globalThis.EventTarget;
    const add = (ET && ET.prototype.addEventListener) || signal.addEventListener;
    const remove = (ET && ET.prototype.removeEventListener) || signal.removeEventListener;
    call(add, signal, "abort", fn);
    return () => call(remove, signal, "abort", fn);
  }
  const signalAborted = (signal) => (rwIsAborted !== undefined ? rwIsAborted(signal) : signal.aborted);
  const signalReason = (signal) => (rwAbortReason !== undefined ? rwAbortReason(signal) : signal.reason);

  // ------------------------------------------- ReadableStream abstract ops
  function createReadableStream(startAlgorithm, pullAlgorithm, cancelAlgorithm, highWaterMark = 1, sizeAlgorithm) {
    if (sizeAlgorithm === undefined) sizeAlgorithm = () => 1;
    const s = rsRec(new ReadableStream(kInternal));
    const c = newDefaultControllerRecord();
    setUpReadableStreamDefaultController(s, c, startAlgorithm, pullAlgorithm, cancelAlgorithm, highWaterMark, sizeAlgorithm);
    return s;
  }

  function createReadableByteStream(startAlgorithm, pullAlgorithm, cancelAlgorithm) {
    const s = rsRec(new ReadableStream(kInternal));
    const c = newByteControllerRecord();
    setUpReadableByteStreamController(s, c, startAlgorithm, pullAlgorithm, cancelAlgorithm, 0, undefined);
    return s;
  }

  const isReadableStreamLocked = (s) => s.reader !== undefined;

  function readableStreamCancel(s, reason) {
    s.disturbed = true;
    if (s.state === "closed") return resolvedUndefined();
    if (s.state === "errored") return promiseReject(s.storedError);
    readableStreamClose(s);
    const reader = s.reader;
    if (reader !== undefined && reader.kind === "byob") {
      const requests = reader.readIntoRequests;
      reader.readIntoRequests = new List();
      while (requests.size > 0) requests.shift().closeSteps(undefined);
    }
    const sourceCancelPromise = s.controller.cancelSteps(reason);
    return then(sourceCancelPromise, noop);
  }

  function readableStreamClose(s) {
    s.state = "closed";
    const reader = s.reader;
    if (reader === undefined) return;
    reader.closed.resolve(undefined);
    if (reader.kind === "default") {
      const requests = reader.readRequests;
      reader.readRequests = new List();
      while (requests.size > 0) requests.shift().closeSteps();
    }
  }

  function readableStreamError(s, e) {
    s.state = "errored";
    s.storedError = e;
    const reader = s.reader;
    if (reader === undefined) return;
    reader.closed.reject(e);
    setHandled(reader.closed.promise);
    if (reader.kind === "default") {
      readableStreamDefaultReaderErrorReadRequests(reader, e);
    } else {
      readableStreamBYOBReaderErrorReadIntoRequests(reader, e);
    }
  }

  function readableStreamAddReadRequest(s, readRequest) {
    s.reader.readRequests.push(readRequest);
  }
  function readableStreamAddReadIntoRequest(s, readIntoRequest) {
    s.reader.readIntoRequests.push(readIntoRequest);
  }
  function readableStreamFulfillReadRequest(s, chunk, done) {
    const readRequest = s.reader.readRequests.shift();
    if (done) readRequest.closeSteps();
    else readRequest.chunkSteps(chunk);
  }
  function readableStreamFulfillReadIntoRequest(s, chunk, done) {
    const readIntoRequest = s.reader.readIntoRequests.shift();
    if (done) readIntoRequest.closeSteps(chunk);
    else readIntoRequest.chunkSteps(chunk);
  }
  const readableStreamGetNumReadRequests = (s) => s.reader.readRequests.size;
  const readableStreamGetNumReadIntoRequests = (s) => s.reader.readIntoRequests.size;
  const readableStreamHasDefaultReader = (s) => s.reader !== undefined && s.reader.kind === "default";
  const readableStreamHasBYOBReader = (s) => s.reader !== undefined && s.reader.kind === "byob";

  // ------------------------------------------------------------- readers
  function readerGenericInitialize(reader, s) {
    reader.stream = s;
    s.reader = reader;
    if (s.state === "readable") {
      reader.closed = new Deferred();
    } else if (s.state === "closed") {
      reader.closed = resolvedDeferred(undefined);
    } else {
      reader.closed = rejectedDeferred(s.storedError);
    }
  }

  function readerGenericCancel(reader, reason) {
    return readableStreamCancel(reader.stream, reason);
  }

  function readerGenericRelease(reader) {
    const s = reader.stream;
    const e = new TypeErr("The reader's lock was released");
    if (s.state === "readable") {
      reader.closed.reject(e);
    } else {
      reader.closed = rejectedDeferred(e);
    }
    setHandled(reader.closed.promise);
    s.controller.releaseSteps();
    s.reader = undefined;
    reader.stream = undefined;
  }

  function readableStreamDefaultReaderErrorReadRequests(reader, e) {
    const requests = reader.readRequests;
    reader.readRequests = new List();
    while (requests.size > 0) requests.shift().errorSteps(e);
  }
  function readableStreamBYOBReaderErrorReadIntoRequests(reader, e) {
    const requests = reader.readIntoRequests;
    reader.readIntoRequests = new List();
    while (requests.size > 0) requests.shift().errorSteps(e);
  }

  function readableStreamDefaultReaderRead(reader, readRequest) {
    const s = reader.stream;
    s.disturbed = true;
    if (s.state === "closed") readRequest.closeSteps();
    else if (s.state === "errored") readRequest.errorSteps(s.storedError);
    else s.controller.pullSteps(readRequest);
  }

  function readableStreamDefaultReaderRelease(reader) {
    readerGenericRelease(reader);
    readableStreamDefaultReaderErrorReadRequests(reader, new TypeErr("The reader's lock was released"));
  }
  function readableStreamBYOBReaderRelease(reader) {
    readerGenericRelease(reader);
    readableStreamBYOBReaderErrorReadIntoRequests(reader, new TypeErr("The reader's lock was released"));
  }

  function readableStreamBYOBReaderRead(reader, view, min, readIntoRequest) {
    const s = reader.stream;
    s.disturbed = true;
    if (s.state === "errored") readIntoRequest.errorSteps(s.storedError);
    else readableByteStreamControllerPullInto(s.controller, view, min, readIntoRequest);
  }

  function acquireReadableStreamDefaultReader(s) {
    return drRec(new ReadableStreamDefaultReader(s.obj));
  }
  function acquireReadableStreamBYOBReader(s) {
    return brRec(new ReadableStreamBYOBReader(s.obj));
  }

  // A read request backed by a promise, as reader.read() uses.
  function promiseReadRequest() {
    let resolve, reject;
    const promise = new PromiseCtor((a, b) => {
      resolve = a;
      reject = b;
    });
    return {
      promise,
      chunkSteps: (chunk) => resolve({ value: chunk, done: false }),
      closeSteps: (chunk) => resolve({ value: chunk, done: true }),
      errorSteps: (e) => reject(e),
    };
  }

  class ReadableStreamDefaultReader {
    #r;
    constructor(stream) {
      const s = rsRec(stream);
      if (s === undefined) {
        throw new TypeErr("ReadableStreamDefaultReader: the argument must be a ReadableStream");
      }
      if (isReadableStreamLocked(s)) {
        throw new TypeErr("ReadableStreamDefaultReader: the stream is already locked to a reader");
      }
      const reader = (this.#r = {
        obj: this,
        kind: "default",
        stream: undefined,
        closed: undefined,
        readRequests: new List(),
      });
      readerGenericInitialize(reader, s);
    }

    static {
      drRec = (o) => (isObject(o) && #r in o ? o.#r : undefined);
    }

    get closed() {
      const r = drRec(this);
      if (r === undefined) return promiseReject(illegal("ReadableStreamDefaultReader"));
      return r.closed.promise;
    }

    cancel(reason = undefined) {
      const r = drRec(this);
      if (r === undefined) return promiseReject(illegal("ReadableStreamDefaultReader"));
      if (r.stream === undefined) {
        return promiseReject(new TypeErr("Cannot cancel a stream using a released reader"));
      }
      return readerGenericCancel(r, reason);
    }

    read() {
      const r = drRec(this);
      if (r === undefined) return promiseReject(illegal("ReadableStreamDefaultReader"));
      if (r.stream === undefined) {
        return promiseReject(new TypeErr("Cannot read from a released reader"));
      }
      const req = promiseReadRequest();
      readableStreamDefaultReaderRead(r, req);
      return req.promise;
    }

    releaseLock() {
      const r = drRec(this);
      if (r === undefined) throw illegal("ReadableStreamDefaultReader");
      if (r.stream === undefined) return;
      readableStreamDefaultReaderRelease(r);
    }
  }
  webidlClass(ReadableStreamDefaultReader, "ReadableStreamDefaultReader");

  class ReadableStreamBYOBReader {
    #r;
    constructor(stream) {
      const s = rsRec(stream);
      if (s === undefined) {
        throw new TypeErr("ReadableStreamBYOBReader: the argument must be a ReadableStream");
      }
      if (isReadableStreamLocked(s)) {
        throw new TypeErr("ReadableStreamBYOBReader: the stream is already locked to a reader");
      }
      if (s.controller.kind !== "bytes") {
        throw new TypeErr(
          "ReadableStreamBYOBReader: the stream is not a byte stream (construct it with type: \"bytes\")",
        );
      }
      const reader = (this.#r = {
        obj: this,
        kind: "byob",
        stream: undefined,
        closed: undefined,
        readIntoRequests: new List(),
      });
      readerGenericInitialize(reader, s);
    }

    static {
      brRec = (o) => (isObject(o) && #r in o ? o.#r : undefined);
    }

    get closed() {
      const r = brRec(this);
      if (r === undefined) return promiseReject(illegal("ReadableStreamBYOBReader"));
      return r.closed.promise;
    }

    cancel(reason = undefined) {
      const r = brRec(this);
      if (r === undefined) return promiseReject(illegal("ReadableStreamBYOBReader"));
      if (r.stream === undefined) {
        return promiseReject(new TypeErr("Cannot cancel a stream using a released reader"));
      }
      return readerGenericCancel(r, reason);
    }

    read(view, options = undefined) {
      const r = brRec(this);
      if (r === undefined) return promiseReject(illegal("ReadableStreamBYOBReader"));
      let min;
      try {
        requireView(view, "ReadableStreamBYOBReader.read");
        const dict = toDictionary(options, "ReadableStreamBYOBReader.read: options");
        const m = getMember(dict, "min");
        min = m === undefined ? 1 : toEnforcedUint64(m, "ReadableStreamBYOBReader.read: options.min");
      } catch (e) {
        return promiseReject(e);
      }
      if (viewByteLength(view) === 0) {
        return promiseReject(new TypeErr("ReadableStreamBYOBReader.read: the view must have a non-zero byteLength"));
      }
      const buffer = viewBuffer(view);
      if (bufferByteLength(buffer) === 0) {
        return promiseReject(
          new TypeErr("ReadableStreamBYOBReader.read: the view's buffer is detached or has zero byteLength"),
        );
      }
      if (min === 0) {
        return promiseReject(new TypeErr("ReadableStreamBYOBReader.read: options.min must be greater than 0"));
      }
      if (typedArrayName(view) !== undefined) {
        if (min > call(TypedArrayPrototypeGetLength, view)) {
          return promiseReject(
            new RangeErr("ReadableStreamBYOBReader.read: options.min must not exceed the view's length"),
          );
        }
      } else if (min > viewByteLength(view)) {
        return promiseReject(
          new RangeErr("ReadableStreamBYOBReader.read: options.min must not exceed the view's byteLength"),
        );
      }
      if (r.stream === undefined) {
        return promiseReject(new TypeErr("Cannot read from a released reader"));
      }
      const req = promiseReadRequest();
      readableStreamBYOBReaderRead(r, view, min, req);
      return req.promise;
    }

    releaseLock() {
      const r = brRec(this);
      if (r === undefined) throw illegal("ReadableStreamBYOBReader");
      if (r.stream === undefined) return;
      readableStreamBYOBReaderRelease(r);
    }
  }
  webidlClass(ReadableStreamBYOBReader, "ReadableStreamBYOBReader");

  // ------------------------------------------ ReadableStreamDefaultController
  class ReadableStreamDefaultController {
    #r;
    constructor() {
      if (arguments[0] !== kInternal) throw new TypeErr("Illegal constructor");
      this.#r = arguments[1];
    }

    static {
      rsdcRec = (o) => (isObject(o) && #r in o ? o.#r : undefined);
    }

    get desiredSize() {
      const c = rsdcRec(this);
      if (c === undefined) throw illegal("ReadableStreamDefaultController");
      return readableStreamControllerGetDesiredSize(c);
    }

    close() {
      const c = rsdcRec(this);
      if (c === undefined) throw illegal("ReadableStreamDefaultController");
      if (c.failMessage !== undefined) return;
      if (!readableStreamDefaultControllerCanCloseOrEnqueue(c)) {
        throw new TypeErr(
          `Cannot close a ReadableStream that is ${c.closeRequested ? "already closing" : c.stream.state}`,
        );
      }
      readableStreamDefaultControllerClose(c);
    }

    enqueue(chunk = undefined) {
      const c = rsdcRec(this);
      if (c === undefined) throw illegal("ReadableStreamDefaultController");
      if (c.failMessage !== undefined) throw new TypeErr(c.failMessage);
      if (!readableStreamDefaultControllerCanCloseOrEnqueue(c)) {
        throw new TypeErr(
          `Cannot enqueue a chunk into a ReadableStream that is ${
            c.closeRequested ? "closing" : c.stream.state
          }`,
        );
      }
      readableStreamDefaultControllerEnqueue(c, chunk);
    }

    error(e = undefined) {
      const c = rsdcRec(this);
      if (c === undefined) throw illegal("ReadableStreamDefaultController");
      readableStreamDefaultControllerError(c, e);
    }
  }
  webidlClass(ReadableStreamDefaultController, "ReadableStreamDefaultController");

  function newDefaultControllerRecord() {
    const c = {
      obj: undefined,
      kind: "default",
      stream: undefined,
      queue: new List(),
      queueTotalSize: 0,
      started: false,
      closeRequested: false,
      pullAgain: false,
      pulling: false,
      strategySizeAlgorithm: undefined,
      strategyHWM: 0,
      pullAlgorithm: undefined,
      cancelAlgorithm: undefined,
      signal: undefined,
      failMessage: undefined,
      cancelSteps: undefined,
      pullSteps: undefined,
      releaseSteps: undefined,
    };
    // (Each closure goes through a local binding: V8 allocates a function
    // literal assigned straight to a property in old space, as a likely
    // long-lived method, and a dead old-space closure keeps this request's
    // young objects alive through every scavenge until a full GC.)
    const cancelSteps = (reason) => {
      resetQueue(c);
      const result = c.cancelAlgorithm(reason);
      readableStreamDefaultControllerClearAlgorithms(c);
      return result;
    };
    const pullSteps = (readRequest) => {
      const s = c.stream;
      if (c.queue.size > 0) {
        const chunk = dequeueValue(c);
        if (c.closeRequested && c.queue.size === 0) {
          readableStreamDefaultControllerClearAlgorithms(c);
          readableStreamClose(s);
        } else {
          readableStreamDefaultControllerCallPullIfNeeded(c);
        }
        readRequest.chunkSteps(chunk);
      } else {
        readableStreamAddReadRequest(s, readRequest);
        readableStreamDefaultControllerCallPullIfNeeded(c);
      }
    };
    c.cancelSteps = cancelSteps;
    c.pullSteps = pullSteps;
    c.releaseSteps = noop;
    c.obj = new ReadableStreamDefaultController(kInternal, c);
    return c;
  }

  // Calls the source's pull() when the controller wants data, once at a
  // time: a request while one is running is remembered and served after it.
  function readableStreamControllerCallPullIfNeeded(c, shouldCallPull, controllerError) {
    if (!shouldCallPull(c)) return;
    if (c.pulling) {
      c.pullAgain = true;
      return;
    }
    c.pulling = true;
    upon(
      c.pullAlgorithm(),
      () => {
        c.pulling = false;
        if (c.pullAgain) {
          c.pullAgain = false;
          readableStreamControllerCallPullIfNeeded(c, shouldCallPull, controllerError);
        }
      },
      (e) => {
        controllerError(c, e);
      },
    );
  }

  function readableStreamDefaultControllerCallPullIfNeeded(c) {
    readableStreamControllerCallPullIfNeeded(c, readableStreamDefaultControllerShouldCallPull, readableStreamDefaultControllerError);
  }

  function readableStreamDefaultControllerShouldCallPull(c) {
    const s = c.stream;
    if (!readableStreamDefaultControllerCanCloseOrEnqueue(c)) return false;
    if (!c.started) return false;
    if (isReadableStreamLocked(s) && readableStreamGetNumReadRequests(s) > 0) return true;
    return readableStreamControllerGetDesiredSize(c) > 0;
  }

  function readableStreamDefaultControllerClearAlgorithms(c) {
    c.pullAlgorithm = undefined;
    c.cancelAlgorithm = undefined;
    c.strategySizeAlgorithm = undefined;
  }

  function readableStreamDefaultControllerClose(c) {
    if (!readableStreamDefaultControllerCanCloseOrEnqueue(c)) return;
    const s = c.stream;
    c.closeRequested = true;
    if (c.queue.size === 0) {
      readableStreamDefaultControllerClearAlgorithms(c);
      readableStreamClose(s);
    }
  }

  function readableStreamDefaultControllerEnqueue(c, chunk) {
    if (!readableStreamDefaultControllerCanCloseOrEnqueue(c)) return;
    const s = c.stream;
    if (isReadableStreamLocked(s) && readableStreamGetNumReadRequests(s) > 0) {
      readableStreamFulfillReadRequest(s, chunk, false);
    } else {
      let chunkSize;
      try {
        chunkSize = c.strategySizeAlgorithm(chunk);
      } catch (e) {
        readableStreamDefaultControllerError(c, e);
        throw e;
      }
      try {
        enqueueValueWithSize(c, chunk, chunkSize);
      } catch (e) {
        readableStreamDefaultControllerError(c, e);
        throw e;
      }
    }
    readableStreamDefaultControllerCallPullIfNeeded(c);
  }

  function readableStreamDefaultControllerError(c, e) {
    const s = c.stream;
    if (s.state !== "readable") return;
    resetQueue(c);
    readableStreamDefaultControllerClearAlgorithms(c);
    readableStreamError(s, e);
  }

  // (The same for default and byte controllers.)
  function readableStreamControllerGetDesiredSize(c) {
    const state = c.stream.state;
    if (state === "errored") return null;
    if (state === "closed") return 0;
    return c.strategyHWM - c.queueTotalSize;
  }

  function readableStreamDefaultControllerHasBackpressure(c) {
    return !readableStreamDefaultControllerShouldCallPull(c);
  }

  function readableStreamDefaultControllerCanCloseOrEnqueue(c) {
    return !c.closeRequested && c.stream.state === "readable";
  }

  function setUpReadableStreamDefaultController(
    s,
    c,
    startAlgorithm,
    pullAlgorithm,
    cancelAlgorithm,
    highWaterMark,
    sizeAlgorithm,
  ) {
    c.stream = s;
    resetQueue(c);
    c.started = false;
    c.closeRequested = false;
    c.pullAgain = false;
    c.pulling = false;
    c.strategySizeAlgorithm = sizeAlgorithm;
    c.strategyHWM = highWaterMark;
    c.pullAlgorithm = pullAlgorithm;
    c.cancelAlgorithm = cancelAlgorithm;
    s.controller = c;
    // Every default controller has its `signal` from the start (sources read
    // it in start()); the runtime aborts it if this stream is a response body
    // whose client goes away.
    if (typeof rw.newAbortSignal === "function") setControllerSignal(c.obj, rw.newAbortSignal());
    const startResult = startAlgorithm();
    upon(
      promiseResolve(startResult),
      () => {
        c.started = true;
        readableStreamDefaultControllerCallPullIfNeeded(c);
      },
      (r) => {
        readableStreamDefaultControllerError(c, r);
      },
    );
  }

  // The start, pull and cancel algorithms of an underlying source (the
  // defaults where it has none).
  function sourceAlgorithms(source, dict, controller) {
    const { start, pull, cancel } = dict;
    return [
      start === undefined ? () => undefined : () => ReflectApply(start, source, [controller]),
      pull === undefined ? resolvedUndefined : () => invokePromise(pull, source, [controller]),
      cancel === undefined ? resolvedUndefined : (reason) => invokePromise(cancel, source, [reason]),
    ];
  }

  function setUpReadableStreamDefaultControllerFromUnderlyingSource(s, source, dict, highWaterMark, sizeAlgorithm) {
    const c = newDefaultControllerRecord();
    const controller = c.obj;
    const [startAlgorithm, pullAlgorithm, cancelAlgorithm] = sourceAlgorithms(source, dict, controller);
    setUpReadableStreamDefaultController(s, c, startAlgorithm, pullAlgorithm, cancelAlgorithm, highWaterMark, sizeAlgorithm);
  }

  // ------------------------------------------- ReadableByteStreamController
  class ReadableByteStreamController {
    #r;
    constructor() {
      if (arguments[0] !== kInternal) throw new TypeErr("Illegal constructor");
      this.#r = arguments[1];
    }

    static {
      rbscRec = (o) => (isObject(o) && #r in o ? o.#r : undefined);
    }

    get byobRequest() {
      const c = rbscRec(this);
      if (c === undefined) throw illegal("ReadableByteStreamController");
      const req = readableByteStreamControllerGetBYOBRequest(c);
      return req === null ? null : req.obj;
    }

    get desiredSize() {
      const c = rbscRec(this);
      if (c === undefined) throw illegal("ReadableByteStreamController");
      return readableStreamControllerGetDesiredSize(c);
    }

    close() {
      const c = rbscRec(this);
      if (c === undefined) throw illegal("ReadableByteStreamController");
      if (c.failMessage !== undefined) return;
      if (c.closeRequested) throw new TypeErr("Cannot close a ReadableStream that is already closing");
      if (c.stream.state !== "readable") {
        throw new TypeErr(`Cannot close a ReadableStream that is ${c.stream.state}`);
      }
      readableByteStreamControllerClose(c);
    }

    enqueue(chunk) {
      const c = rbscRec(this);
      if (c === undefined) throw illegal("ReadableByteStreamController");
      if (c.failMessage !== undefined) throw new TypeErr(c.failMessage);
      requireView(chunk, "ReadableByteStreamController.enqueue");
      if (viewByteLength(chunk) === 0) {
        throw new TypeErr("ReadableByteStreamController.enqueue: the chunk must have a non-zero byteLength");
      }
      if (bufferByteLength(viewBuffer(chunk)) === 0) {
        throw new TypeErr("ReadableByteStreamController.enqueue: the chunk's buffer is detached or empty");
      }
      if (c.closeRequested) throw new TypeErr("Cannot enqueue a chunk into a ReadableStream that is closing");
      if (c.stream.state !== "readable") {
        throw new TypeErr(`Cannot enqueue a chunk into a ReadableStream that is ${c.stream.state}`);
      }
      readableByteStreamControllerEnqueue(c, chunk);
    }

    error(e = undefined) {
      const c = rbscRec(this);
      if (c === undefined) throw illegal("ReadableByteStreamController");
      readableByteStreamControllerError(c, e);
    }
  }
  webidlClass(ReadableByteStreamController, "ReadableByteStreamController");

  class ReadableStreamBYOBRequest {
    #r;
    constructor() {
      if (arguments[0] !== kInternal) throw new TypeErr("Illegal constructor");
      this.#r = arguments[1];
    }

    static {
      byobReqRec = (o) => (isObject(o) && #r in o ? o.#r : undefined);
    }

    get view() {
      const r = byobReqRec(this);
      if (r === undefined) throw illegal("ReadableStreamBYOBRequest");
      return r.view;
    }

    respond(bytesWritten) {
      const r = byobReqRec(this);
      if (r === undefined) throw illegal("ReadableStreamBYOBRequest");
      bytesWritten = toEnforcedUint64(bytesWritten, "ReadableStreamBYOBRequest.respond: bytesWritten");
      if (r.controller === undefined) {
        throw new TypeErr("This BYOB request has been invalidated");
      }
      if (isDetached(viewBuffer(r.view))) {
        throw new TypeErr("The BYOB request's buffer has been detached and so cannot be used as a response");
      }
      readableByteStreamControllerRespond(r.controller, bytesWritten);
    }

    respondWithNewView(view) {
      const r = byobReqRec(this);
      if (r === undefined) throw illegal("ReadableStreamBYOBRequest");
      requireView(view, "ReadableStreamBYOBRequest.respondWithNewView");
      if (r.controller === undefined) {
        throw new TypeErr("This BYOB request has been invalidated");
      }
      if (isDetached(viewBuffer(view))) {
        throw new TypeErr("The given view's buffer has been detached and so cannot be used as a response");
      }
      readableByteStreamControllerRespondWithNewView(r.controller, view);
    }
  }
  webidlClass(ReadableStreamBYOBRequest, "ReadableStreamBYOBRequest");

  function newByteControllerRecord() {
    const c = {
      obj: undefined,
      kind: "bytes",
      stream: undefined,
      byobRequest: null,
      pendingPullIntos: new List(),
      queue: new List(),
      queueTotalSize: 0,
      started: false,
      closeRequested: false,
      pullAgain: false,
      pulling: false,
      strategyHWM: 0,
      autoAllocateChunkSize: undefined,
      pullAlgorithm: undefined,
      cancelAlgorithm: undefined,
      signal: undefined,
      failMessage: undefined,
      cancelSteps: undefined,
      pullSteps: undefined,
      releaseSteps: undefined,
    };
    // (Closures through local bindings: see newDefaultControllerRecord.)
    const cancelSteps = (reason) => {
      readableByteStreamControllerClearPendingPullIntos(c);
      resetQueue(c);
      const result = c.cancelAlgorithm(reason);
      readableByteStreamControllerClearAlgorithms(c);
      return result;
    };
    const pullSteps = (readRequest) => {
      const s = c.stream;
      if (c.queueTotalSize > 0) {
        readableByteStreamControllerFillReadRequestFromQueue(c, readRequest);
        return;
      }
      const autoAllocateChunkSize = c.autoAllocateChunkSize;
      if (autoAllocateChunkSize !== undefined) {
        let buffer;
        try {
          buffer = new ArrayBufferCtor(autoAllocateChunkSize);
        } catch (e) {
          readRequest.errorSteps(e);
          return;
        }
        c.pendingPullIntos.push({
          buffer,
          bufferByteLength: autoAllocateChunkSize,
          byteOffset: 0,
          byteLength: autoAllocateChunkSize,
          bytesFilled: 0,
          minimumFill: 1,
          elementSize: 1,
          viewConstructor: Uint8ArrayCtor,
          readerType: "default",
        });
      }
      readableStreamAddReadRequest(s, readRequest);
      readableByteStreamControllerCallPullIfNeeded(c);
    };
    const releaseSteps = () => {
      if (c.pendingPullIntos.size > 0) {
        const first = c.pendingPullIntos.peek();
        first.readerType = "none";
        c.pendingPullIntos = new List();
        c.pendingPullIntos.push(first);
      }
    };
    c.cancelSteps = cancelSteps;
    c.pullSteps = pullSteps;
    c.releaseSteps = releaseSteps;
    c.obj = new ReadableByteStreamController(kInternal, c);
    return c;
  }

  function readableByteStreamControllerCallPullIfNeeded(c) {
    readableStreamControllerCallPullIfNeeded(c, readableByteStreamControllerShouldCallPull, readableByteStreamControllerError);
  }

  function readableByteStreamControllerShouldCallPull(c) {
    const s = c.stream;
    if (s.state !== "readable") return false;
    if (c.closeRequested) return false;
    if (!c.started) return false;
    if (readableStreamHasDefaultReader(s) && readableStreamGetNumReadRequests(s) > 0) return true;
    if (readableStreamHasBYOBReader(s) && readableStreamGetNumReadIntoRequests(s) > 0) return true;
    return readableStreamControllerGetDesiredSize(c) > 0;
  }

  function readableByteStreamControllerClearAlgorithms(c) {
    c.pullAlgorithm = undefined;
    c.cancelAlgorithm = undefined;
  }

  function readableByteStreamControllerClearPendingPullIntos(c) {
    readableByteStreamControllerInvalidateBYOBRequest(c);
    c.pendingPullIntos = new List();
  }

  function readableByteStreamControllerClose(c) {
    const s = c.stream;
    if (c.closeRequested || s.state !== "readable") return;
    if (c.queueTotalSize > 0) {
      c.closeRequested = true;
      return;
    }
    if (c.pendingPullIntos.size > 0) {
      const first = c.pendingPullIntos.peek();
      if (first.bytesFilled % first.elementSize !== 0) {
        const e = new TypeErr("Insufficient bytes to fill elements in the given buffer");
        readableByteStreamControllerError(c, e);
        throw e;
      }
    }
    readableByteStreamControllerClearAlgorithms(c);
    readableStreamClose(s);
  }

  function readableByteStreamControllerCommitPullIntoDescriptor(s, d) {
    let done = false;
    if (s.state === "closed") done = true;
    const filledView = readableByteStreamControllerConvertPullIntoDescriptor(d);
    if (d.readerType === "default") {
      readableStreamFulfillReadRequest(s, filledView, done);
    } else {
      readableStreamFulfillReadIntoRequest(s, filledView, done);
    }
  }

  function readableByteStreamControllerConvertPullIntoDescriptor(d) {
    const buffer = transferArrayBuffer(d.buffer);
    return new d.viewConstructor(buffer, d.byteOffset, d.bytesFilled / d.elementSize);
  }

  function readableByteStreamControllerEnqueue(c, chunk) {
    const s = c.stream;
    if (c.closeRequested || s.state !== "readable") return;
    const buffer = viewBuffer(chunk);
    const byteOffset = viewByteOffset(chunk);
    const byteLength = viewByteLength(chunk);
    if (isDetached(buffer)) throw new TypeErr("The chunk's buffer is detached");
    const transferredBuffer = transferArrayBuffer(buffer);
    if (c.pendingPullIntos.size > 0) {
      const first = c.pendingPullIntos.peek();
      if (isDetached(first.buffer)) {
        throw new TypeErr(
          "The BYOB request's buffer has been detached and so cannot be filled with an enqueued chunk",
        );
      }
      readableByteStreamControllerInvalidateBYOBRequest(c);
      first.buffer = transferArrayBuffer(first.buffer);
      if (first.readerType === "none") {
        readableByteStreamControllerEnqueueDetachedPullIntoToQueue(c, first);
      }
    }
    if (readableStreamHasDefaultReader(s)) {
      readableByteStreamControllerProcessReadRequestsUsingQueue(c);
      if (readableStreamGetNumReadRequests(s) === 0) {
        readableByteStreamControllerEnqueueChunkToQueue(c, transferredBuffer, byteOffset, byteLength);
      } else {
        if (c.pendingPullIntos.size > 0) readableByteStreamControllerShiftPendingPullInto(c);
        const transferredView = new Uint8ArrayCtor(transferredBuffer, byteOffset, byteLength);
        readableStreamFulfillReadRequest(s, transferredView, false);
      }
    } else if (readableStreamHasBYOBReader(s)) {
      readableByteStreamControllerEnqueueChunkToQueue(c, transferredBuffer, byteOffset, byteLength);
      const filled = readableByteStreamControllerProcessPullIntoDescriptorsUsingQueue(c);
      for (let i = 0; i < filled.length; i++) {
        readableByteStreamControllerCommitPullIntoDescriptor(s, filled[i]);
      }
    } else {
      readableByteStreamControllerEnqueueChunkToQueue(c, transferredBuffer, byteOffset, byteLength);
    }
    readableByteStreamControllerCallPullIfNeeded(c);
  }

  function readableByteStreamControllerEnqueueChunkToQueue(c, buffer, byteOffset, byteLength) {
    c.queue.push({ buffer, byteOffset, byteLength });
    c.queueTotalSize += byteLength;
  }

  function readableByteStreamControllerEnqueueClonedChunkToQueue(c, buffer, byteOffset, byteLength) {
    let clone;
    try {
      clone = cloneArrayBuffer(buffer, byteOffset, byteLength);
    } catch (e) {
      readableByteStreamControllerError(c, e);
      throw e;
    }
    readableByteStreamControllerEnqueueChunkToQueue(c, clone, 0, byteLength);
  }

  function readableByteStreamControllerEnqueueDetachedPullIntoToQueue(c, d) {
    if (d.bytesFilled > 0) {
      readableByteStreamControllerEnqueueClonedChunkToQueue(c, d.buffer, d.byteOffset, d.bytesFilled);
    }
    readableByteStreamControllerShiftPendingPullInto(c);
  }

  function readableByteStreamControllerError(c, e) {
    const s = c.stream;
    if (s.state !== "readable") return;
    readableByteStreamControllerClearPendingPullIntos(c);
    resetQueue(c);
    readableByteStreamControllerClearAlgorithms(c);
    readableStreamError(s, e);
  }

  function readableByteStreamControllerFillHeadPullIntoDescriptor(c, size, d) {
    d.bytesFilled += size;
  }

  function readableByteStreamControllerFillPullIntoDescriptorFromQueue(c, d) {
    const maxBytesToCopy = MathMin(c.queueTotalSize, d.byteLength - d.bytesFilled);
    const maxBytesFilled = d.bytesFilled + maxBytesToCopy;
    let totalBytesToCopyRemaining = maxBytesToCopy;
    let ready = false;
    const remainderBytes = maxBytesFilled % d.elementSize;
    const maxAlignedBytes = maxBytesFilled - remainderBytes;
    if (maxAlignedBytes >= d.minimumFill) {
      totalBytesToCopyRemaining = maxAlignedBytes - d.bytesFilled;
      ready = true;
    }
    const queue = c.queue;
    while (totalBytesToCopyRemaining > 0) {
      const head = queue.peek();
      const bytesToCopy = MathMin(totalBytesToCopyRemaining, head.byteLength);
      const destStart = d.byteOffset + d.bytesFilled;
      copyBytes(d.buffer, destStart, head.buffer, head.byteOffset, bytesToCopy);
      if (head.byteLength === bytesToCopy) {
        queue.shift();
      } else {
        head.byteOffset += bytesToCopy;
        head.byteLength -= bytesToCopy;
      }
      c.queueTotalSize -= bytesToCopy;
      readableByteStreamControllerFillHeadPullIntoDescriptor(c, bytesToCopy, d);
      totalBytesToCopyRemaining -= bytesToCopy;
    }
    return ready;
  }

  function readableByteStreamControllerFillReadRequestFromQueue(c, readRequest) {
    const entry = c.queue.shift();
    c.queueTotalSize -= entry.byteLength;
    readableByteStreamControllerHandleQueueDrain(c);
    const view = new Uint8ArrayCtor(entry.buffer, entry.byteOffset, entry.byteLength);
    readRequest.chunkSteps(view);
  }

  function readableByteStreamControllerGetBYOBRequest(c) {
    if (c.byobRequest === null && c.pendingPullIntos.size > 0) {
      const first = c.pendingPullIntos.peek();
      const view = new Uint8ArrayCtor(
        first.buffer,
        first.byteOffset + first.bytesFilled,
        first.byteLength - first.bytesFilled,
      );
      const req = { obj: undefined, controller: c, view };
      req.obj = new ReadableStreamBYOBRequest(kInternal, req);
      c.byobRequest = req;
    }
    return c.byobRequest;
  }

  function readableByteStreamControllerHandleQueueDrain(c) {
    if (c.queueTotalSize === 0 && c.closeRequested) {
      readableByteStreamControllerClearAlgorithms(c);
      readableStreamClose(c.stream);
    } else {
      readableByteStreamControllerCallPullIfNeeded(c);
    }
  }

  function readableByteStreamControllerInvalidateBYOBRequest(c) {
    if (c.byobRequest === null) return;
    c.byobRequest.controller = undefined;
    c.byobRequest.view = null;
    c.byobRequest = null;
  }

  function readableByteStreamControllerProcessPullIntoDescriptorsUsingQueue(c) {
    const filled = [];
    while (c.pendingPullIntos.size > 0) {
      if (c.queueTotalSize === 0) break;
      const d = c.pendingPullIntos.peek();
      if (readableByteStreamControllerFillPullIntoDescriptorFromQueue(c, d)) {
        readableByteStreamControllerShiftPendingPullInto(c);
        filled[filled.length] = d;
      }
    }
    return filled;
  }

  function readableByteStreamControllerProcessReadRequestsUsingQueue(c) {
    const reader = c.stream.reader;
    while (reader.readRequests.size > 0) {
      if (c.queueTotalSize === 0) return;
      const readRequest = reader.readRequests.shift();
      readableByteStreamControllerFillReadRequestFromQueue(c, readRequest);
    }
  }

  function readableByteStreamControllerPullInto(c, view, min, readIntoRequest) {
    const s = c.stream;
    let elementSize = 1;
    let ctor = DataViewCtor;
    const name = typedArrayName(view);
    if (name !== undefined) {
      elementSize = TYPED_ARRAYS[name].size;
      ctor = TYPED_ARRAYS[name].ctor;
    }
    const minimumFill = min * elementSize;
    const byteOffset = viewByteOffset(view);
    const byteLength = viewByteLength(view);
    let buffer;
    try {
      buffer = transferArrayBuffer(viewBuffer(view));
    } catch (e) {
      readIntoRequest.errorSteps(e);
      return;
    }
    const d = {
      buffer,
      bufferByteLength: call(ArrayBufferPrototypeGetByteLength, buffer),
      byteOffset,
      byteLength,
      bytesFilled: 0,
      minimumFill,
      elementSize,
      viewConstructor: ctor,
      readerType: "byob",
    };
    if (c.pendingPullIntos.size > 0) {
      c.pendingPullIntos.push(d);
      readableStreamAddReadIntoRequest(s, readIntoRequest);
      return;
    }
    if (s.state === "closed") {
      const emptyView = new ctor(d.buffer, d.byteOffset, 0);
      readIntoRequest.closeSteps(emptyView);
      return;
    }
    if (c.queueTotalSize > 0) {
      if (readableByteStreamControllerFillPullIntoDescriptorFromQueue(c, d)) {
        const filledView = readableByteStreamControllerConvertPullIntoDescriptor(d);
        readableByteStreamControllerHandleQueueDrain(c);
        readIntoRequest.chunkSteps(filledView);
        return;
      }
      if (c.closeRequested) {
        const e = new TypeErr("Insufficient bytes to fill elements in the given buffer");
        readableByteStreamControllerError(c, e);
        readIntoRequest.errorSteps(e);
        return;
      }
    }
    c.pendingPullIntos.push(d);
    readableStreamAddReadIntoRequest(s, readIntoRequest);
    readableByteStreamControllerCallPullIfNeeded(c);
  }

  function readableByteStreamControllerRespond(c, bytesWritten) {
    const first = c.pendingPullIntos.peek();
    const state = c.stream.state;
    if (state === "closed") {
      if (bytesWritten !== 0) {
        throw new TypeErr("bytesWritten must be 0 when calling respond() on a closed stream");
      }
    } else {
      if (bytesWritten === 0) {
        throw new TypeErr("bytesWritten must be greater than 0 when calling respond() on a readable stream");
      }
      if (first.bytesFilled + bytesWritten > first.byteLength) {
        throw new RangeErr("bytesWritten out of range");
      }
    }
    first.buffer = transferArrayBuffer(first.buffer);
    readableByteStreamControllerRespondInternal(c, bytesWritten);
  }

  function readableByteStreamControllerRespondInClosedState(c, first) {
    if (first.readerType === "none") readableByteStreamControllerShiftPendingPullInto(c);
    const s = c.stream;
    if (readableStreamHasBYOBReader(s)) {
      const filled = [];
      while (filled.length < readableStreamGetNumReadIntoRequests(s)) {
        filled[filled.length] = readableByteStreamControllerShiftPendingPullInto(c);
      }
      for (let i = 0; i < filled.length; i++) {
        readableByteStreamControllerCommitPullIntoDescriptor(s, filled[i]);
      }
    }
  }

  function readableByteStreamControllerRespondInReadableState(c, bytesWritten, d) {
    readableByteStreamControllerFillHeadPullIntoDescriptor(c, bytesWritten, d);
    if (d.readerType === "none") {
      readableByteStreamControllerEnqueueDetachedPullIntoToQueue(c, d);
      const filled = readableByteStreamControllerProcessPullIntoDescriptorsUsingQueue(c);
      for (let i = 0; i < filled.length; i++) {
        readableByteStreamControllerCommitPullIntoDescriptor(c.stream, filled[i]);
      }
      return;
    }
    if (d.bytesFilled < d.minimumFill) return;
    readableByteStreamControllerShiftPendingPullInto(c);
    const remainderSize = d.bytesFilled % d.elementSize;
    if (remainderSize > 0) {
      const end = d.byteOffset + d.bytesFilled;
      readableByteStreamControllerEnqueueClonedChunkToQueue(c, d.buffer, end - remainderSize, remainderSize);
    }
    d.bytesFilled -= remainderSize;
    const filled = readableByteStreamControllerProcessPullIntoDescriptorsUsingQueue(c);
    readableByteStreamControllerCommitPullIntoDescriptor(c.stream, d);
    for (let i = 0; i < filled.length; i++) {
      readableByteStreamControllerCommitPullIntoDescriptor(c.stream, filled[i]);
    }
  }

  function readableByteStreamControllerRespondInternal(c, bytesWritten) {
    const first = c.pendingPullIntos.peek();
    readableByteStreamControllerInvalidateBYOBRequest(c);
    if (c.stream.state === "closed") {
      readableByteStreamControllerRespondInClosedState(c, first);
    } else {
      readableByteStreamControllerRespondInReadableState(c, bytesWritten, first);
    }
    readableByteStreamControllerCallPullIfNeeded(c);
  }

  function readableByteStreamControllerRespondWithNewView(c, view) {
    const first = c.pendingPullIntos.peek();
    const state = c.stream.state;
    const byteLength = viewByteLength(view);
    if (state === "closed") {
      if (byteLength !== 0) {
        throw new TypeErr("The view's length must be 0 when calling respondWithNewView() on a closed stream");
      }
    } else if (byteLength === 0) {
      throw new TypeErr(
        "The view's length must be greater than 0 when calling respondWithNewView() on a readable stream",
      );
    }
    if (first.byteOffset + first.bytesFilled !== viewByteOffset(view)) {
      throw new RangeErr("The region specified by view does not match byobRequest");
    }
    const buffer = viewBuffer(view);
    if (first.bufferByteLength !== bufferByteLength(buffer)) {
      throw new RangeErr("The buffer of view has different capacity than byobRequest");
    }
    if (first.bytesFilled + byteLength > first.byteLength) {
      throw new RangeErr("The region specified by view is larger than byobRequest");
    }
    first.buffer = transferArrayBuffer(buffer);
    readableByteStreamControllerRespondInternal(c, byteLength);
  }

  function readableByteStreamControllerShiftPendingPullInto(c) {
    return c.pendingPullIntos.shift();
  }

  function setUpReadableByteStreamController(
    s,
    c,
    startAlgorithm,
    pullAlgorithm,
    cancelAlgorithm,
    highWaterMark,
    autoAllocateChunkSize,
  ) {
    c.stream = s;
    c.pullAgain = false;
    c.pulling = false;
    c.byobRequest = null;
    resetQueue(c);
    c.closeRequested = false;
    c.started = false;
    c.strategyHWM = highWaterMark;
    c.pullAlgorithm = pullAlgorithm;
    c.cancelAlgorithm = cancelAlgorithm;
    c.autoAllocateChunkSize = autoAllocateChunkSize;
    c.pendingPullIntos = new List();
    s.controller = c;
    const startResult = startAlgorithm();
    upon(
      promiseResolve(startResult),
      () => {
        c.started = true;
        readableByteStreamControllerCallPullIfNeeded(c);
      },
      (r) => {
        readableByteStreamControllerError(c, r);
      },
    );
  }

  function setUpReadableByteStreamControllerFromUnderlyingSource(s, source, dict, highWaterMark) {
    const c = newByteControllerRecord();
    const controller = c.obj;
    const [startAlgorithm, pullAlgorithm, cancelAlgorithm] = sourceAlgorithms(source, dict, controller);
    const autoAllocateChunkSize = dict.autoAllocateChunkSize;
    if (autoAllocateChunkSize === 0) {
      throw new TypeErr("ReadableStream: autoAllocateChunkSize must be greater than 0");
    }
    setUpReadableByteStreamController(
      s,
      c,
      startAlgorithm,
      pullAlgorithm,
      cancelAlgorithm,
      highWaterMark,
      autoAllocateChunkSize,
    );
  }

  // ----------------------------------------------------------------- tee
  function readableStreamTee(s, cloneForBranch2) {
    if (s.controller.kind === "bytes") return readableByteStreamTee(s);
    return readableStreamDefaultTee(s, cloneForBranch2);
  }

  function readableStreamDefaultTee(s, cloneForBranch2) {
    const reader = acquireReadableStreamDefaultReader(s);
    let reading = false;
    let readAgain = false;
    let canceled1 = false;
    let canceled2 = false;
    let reason1;
    let reason2;
    let branch1;
    let branch2;
    const cancelPromise = new Deferred();

    function pullAlgorithm() {
      if (reading) {
        readAgain = true;
        return resolvedUndefined();
      }
      reading = true;
      readableStreamDefaultReaderRead(reader, {
        chunkSteps(chunk) {
          queueMicrotaskInternal(() => {
            readAgain = false;
            const chunk1 = chunk;
            let chunk2 = chunk;
            if (!canceled2 && cloneForBranch2) {
              const sc = structuredCloneAtLoad || globalThis.structuredClone;
              try {
                chunk2 = sc(chunk2);
              } catch (e) {
                readableStreamDefaultControllerError(branch1.controller, e);
                readableStreamDefaultControllerError(branch2.controller, e);
                cancelPromise.resolve(readableStreamCancel(s, e));
                return;
              }
            }
            if (!canceled1) readableStreamDefaultControllerEnqueue(branch1.controller, chunk1);
            if (!canceled2) readableStreamDefaultControllerEnqueue(branch2.controller, chunk2);
            reading = false;
            if (readAgain) pullAlgorithm();
          });
        },
        closeSteps() {
          reading = false;
          if (!canceled1) readableStreamDefaultControllerClose(branch1.controller);
          if (!canceled2) readableStreamDefaultControllerClose(branch2.controller);
          if (!canceled1 || !canceled2) cancelPromise.resolve(undefined);
        },
        errorSteps() {
          reading = false;
        },
      });
      return resolvedUndefined();
    }

    function cancel1Algorithm(reason) {
      canceled1 = true;
      reason1 = reason;
      if (canceled2) {
        cancelPromise.resolve(readableStreamCancel(s, [reason1, reason2]));
      }
      return cancelPromise.promise;
    }
    function cancel2Algorithm(reason) {
      canceled2 = true;
      reason2 = reason;
      if (canceled1) {
        cancelPromise.resolve(readableStreamCancel(s, [reason1, reason2]));
      }
      return cancelPromise.promise;
    }
    const startAlgorithm = () => undefined;
    branch1 = createReadableStream(startAlgorithm, pullAlgorithm, cancel1Algorithm);
    branch2 = createReadableStream(startAlgorithm, pullAlgorithm, cancel2Algorithm);
    uponRejection(reader.closed.promise, (r) => {
      readableStreamDefaultControllerError(branch1.controller, r);
      readableStreamDefaultControllerError(branch2.controller, r);
      if (!canceled1 || !canceled2) cancelPromise.resolve(undefined);
    });
    return [branch1, branch2];
  }

  function readableByteStreamTee(s) {
    let reader = acquireReadableStreamDefaultReader(s);
    let reading = false;
    let readAgainForBranch1 = false;
    let readAgainForBranch2 = false;
    let canceled1 = false;
    let canceled2 = false;
    let reason1;
    let reason2;
    let branch1;
    let branch2;
    const cancelPromise = new Deferred();

    function forwardReaderError(thisReader) {
      uponRejection(thisReader.closed.promise, (r) => {
        if (thisReader !== reader) return;
        readableByteStreamControllerError(branch1.controller, r);
        readableByteStreamControllerError(branch2.controller, r);
        if (!canceled1 || !canceled2) cancelPromise.resolve(undefined);
      });
    }

    function pullWithDefaultReader() {
      if (reader.kind === "byob") {
        readableStreamBYOBReaderRelease(reader);
        reader = acquireReadableStreamDefaultReader(s);
        forwardReaderError(reader);
      }
      readableStreamDefaultReaderRead(reader, {
        chunkSteps(chunk) {
          queueMicrotaskInternal(() => {
            readAgainForBranch1 = false;
            readAgainForBranch2 = false;
            const chunk1 = chunk;
            let chunk2 = chunk;
            if (!canceled1 && !canceled2) {
              try {
                chunk2 = cloneAsUint8Array(chunk);
              } catch (e) {
                readableByteStreamControllerError(branch1.controller, e);
                readableByteStreamControllerError(branch2.controller, e);
                cancelPromise.resolve(readableStreamCancel(s, e));
                return;
              }
            }
            if (!canceled1) readableByteStreamControllerEnqueue(branch1.controller, chunk1);
            if (!canceled2) readableByteStreamControllerEnqueue(branch2.controller, chunk2);
            reading = false;
            if (readAgainForBranch1) pull1Algorithm();
            else if (readAgainForBranch2) pull2Algorithm();
          });
        },
        closeSteps() {
          reading = false;
          if (!canceled1) readableByteStreamControllerClose(branch1.controller);
          if (!canceled2) readableByteStreamControllerClose(branch2.controller);
          if (branch1.controller.pendingPullIntos.size > 0) {
            readableByteStreamControllerRespond(branch1.controller, 0);
          }
          if (branch2.controller.pendingPullIntos.size > 0) {
            readableByteStreamControllerRespond(branch2.controller, 0);
          }
          if (!canceled1 || !canceled2) cancelPromise.resolve(undefined);
        },
        errorSteps() {
          reading = false;
        },
      });
    }

    function pullWithBYOBReader(view, forBranch2) {
      if (reader.kind === "default") {
        readableStreamDefaultReaderRelease(reader);
        reader = acquireReadableStreamBYOBReader(s);
        forwardReaderError(reader);
      }
      const byobBranch = forBranch2 ? branch2 : branch1;
      const otherBranch = forBranch2 ? branch1 : branch2;
      readableStreamBYOBReaderRead(reader, view, 1, {
        chunkSteps(chunk) {
          queueMicrotaskInternal(() => {
            readAgainForBranch1 = false;
            readAgainForBranch2 = false;
            const byobCanceled = forBranch2 ? canceled2 : canceled1;
            const otherCanceled = forBranch2 ? canceled1 : canceled2;
            if (!otherCanceled) {
              let clonedChunk;
              try {
                clonedChunk = cloneAsUint8Array(chunk);
              } catch (e) {
                readableByteStreamControllerError(byobBranch.controller, e);
                readableByteStreamControllerError(otherBranch.controller, e);
                cancelPromise.resolve(readableStreamCancel(s, e));
                return;
              }
              if (!byobCanceled) readableByteStreamControllerRespondWithNewView(byobBranch.controller, chunk);
              readableByteStreamControllerEnqueue(otherBranch.controller, clonedChunk);
            } else if (!byobCanceled) {
              readableByteStreamControllerRespondWithNewView(byobBranch.controller, chunk);
            }
            reading = false;
            if (readAgainForBranch1) pull1Algorithm();
            else if (readAgainForBranch2) pull2Algorithm();
          });
        },
        closeSteps(chunk) {
          reading = false;
          const byobCanceled = forBranch2 ? canceled2 : canceled1;
          const otherCanceled = forBranch2 ? canceled1 : canceled2;
          if (!byobCanceled) readableByteStreamControllerClose(byobBranch.controller);
          if (!otherCanceled) readableByteStreamControllerClose(otherBranch.controller);
          if (chunk !== undefined) {
            if (!byobCanceled) readableByteStreamControllerRespondWithNewView(byobBranch.controller, chunk);
            if (!otherCanceled && otherBranch.controller.pendingPullIntos.size > 0) {
              readableByteStreamControllerRespond(otherBranch.controller, 0);
            }
          }
          if (!byobCanceled || !otherCanceled) cancelPromise.resolve(undefined);
        },
        errorSteps() {
          reading = false;
        },
      });
    }

    function pull1Algorithm() {
      if (reading) {
        readAgainForBranch1 = true;
        return resolvedUndefined();
      }
      reading = true;
      const byobRequest = readableByteStreamControllerGetBYOBRequest(branch1.controller);
      if (byobRequest === null) pullWithDefaultReader();
      else pullWithBYOBReader(byobRequest.view, false);
      return resolvedUndefined();
    }
    function pull2Algorithm() {
      if (reading) {
        readAgainForBranch2 = true;
        return resolvedUndefined();
      }
      reading = true;
      const byobRequest = readableByteStreamControllerGetBYOBRequest(branch2.controller);
      if (byobRequest === null) pullWithDefaultReader();
      else pullWithBYOBReader(byobRequest.view, true);
      return resolvedUndefined();
    }
    function cancel1Algorithm(reason) {
      canceled1 = true;
      reason1 = reason;
      if (canceled2) cancelPromise.resolve(readableStreamCancel(s, [reason1, reason2]));
      return cancelPromise.promise;
    }
    function cancel2Algorithm(reason) {
      canceled2 = true;
      reason2 = reason;
      if (canceled1) cancelPromise.resolve(readableStreamCancel(s, [reason1, reason2]));
      return cancelPromise.promise;
    }
    const startAlgorithm = () => undefined;
    branch1 = createReadableByteStream(startAlgorithm, pull1Algorithm, cancel1Algorithm);
    branch2 = createReadableByteStream(startAlgorithm, pull2Algorithm, cancel2Algorithm);
    forwardReaderError(reader);
    return [branch1, branch2];
  }

  // -------------------------------------------------------------- pipeTo
  function readableStreamPipeTo(source, dest, preventClose, preventAbort, preventCancel, signal) {
    const reader = acquireReadableStreamDefaultReader(source);
    const writer = acquireWritableStreamDefaultWriter(dest);
    source.disturbed = true;
    let shuttingDown = false;
    let currentWrite = resolvedUndefined();
    const result = new Deferred();
    let abortAlgorithm;
    let removeAbortAlgorithm;

    function finalize(isError, error) {
      writableStreamDefaultWriterRelease(writer);
      readableStreamDefaultReaderRelease(reader);
      if (removeAbortAlgorithm !== undefined) removeAbortAlgorithm();
      if (isError) result.reject(error);
      else result.resolve(undefined);
    }

    function waitForWritesToFinish() {
      // Another write may have started while we waited on this one.
      const oldCurrentWrite = currentWrite;
      return then(currentWrite, () =>
        oldCurrentWrite !== currentWrite ? waitForWritesToFinish() : undefined,
      );
    }

    function shutdownWithAnAction(action, originalIsError, originalError) {
      if (shuttingDown) return;
      shuttingDown = true;
      const doTheRest = () => {
        upon(
          action(),
          () => finalize(originalIsError, originalError),
          (newError) => finalize(true, newError),
        );
      };
      if (dest.state === "writable" && !writableStreamCloseQueuedOrInFlight(dest)) {
        uponFulfillment(waitForWritesToFinish(), doTheRest);
      } else {
        doTheRest();
      }
    }

    function shutdown(isError, error) {
      if (shuttingDown) return;
      shuttingDown = true;
      if (dest.state === "writable" && !writableStreamCloseQueuedOrInFlight(dest)) {
        uponFulfillment(waitForWritesToFinish(), () => finalize(isError, error));
      } else {
        finalize(isError, error);
      }
    }

    if (signal !== undefined) {
      abortAlgorithm = () => {
        const error = signalReason(signal);
        const actions = [];
        if (!preventAbort) {
          const abortDest = () =>
            dest.state === "writable" ? writableStreamAbort(dest, error) : resolvedUndefined();
          actions[actions.length] = abortDest;
        }
        if (!preventCancel) {
          const cancelSource = () =>
            source.state === "readable" ? readableStreamCancel(source, error) : resolvedUndefined();
          actions[actions.length] = cancelSource;
        }
        shutdownWithAnAction(
          () => {
            const promises = [];
            for (let i = 0; i < actions.length; i++) promises[i] = actions[i]();
            return waitForAll(promises);
          },
          true,
          error,
        );
      };
      if (signalAborted(signal)) {
        abortAlgorithm();
        return result.promise;
      }
      removeAbortAlgorithm = addAbortAlgorithm(signal, abortAlgorithm);
    }

    function pipeStep() {
      if (shuttingDown) return promiseResolve(true);
      return then(writer.ready.promise, () => {
        return new PromiseCtor((resolveRead, rejectRead) => {
          readableStreamDefaultReaderRead(reader, {
            chunkSteps(chunk) {
              // The write happens a microtask later, so that a source's
              // enqueue() never runs the sink's write() synchronously
              // (whatwg/streams#1243; checked by WPT).
              queueMicrotaskInternal(() => {
                if (writer.stream !== undefined) {
                  currentWrite = then(writableStreamDefaultWriterWrite(writer, chunk), undefined, noop);
                }
                resolveRead(false);
              });
            },
            closeSteps: () => resolveRead(true),
            errorSteps: rejectRead,
          });
        });
      });
    }

    function pipeLoop() {
      return new PromiseCtor((resolveLoop, rejectLoop) => {
        function next(done) {
          if (done) resolveLoop();
          else then(pipeStep(), next, rejectLoop);
        }
        next(false);
      });
    }

    // Errors must be propagated forward.
    const onSourceErrored = (storedError) => {
      if (!preventAbort) {
        shutdownWithAnAction(() => writableStreamAbort(dest, storedError), true, storedError);
      } else {
        shutdown(true, storedError);
      }
    };
    if (source.state === "errored") onSourceErrored(source.storedError);
    else uponRejection(reader.closed.promise, onSourceErrored);

    // Errors must be propagated backward.
    const onDestErrored = (storedError) => {
      if (!preventCancel) {
        shutdownWithAnAction(() => readableStreamCancel(source, storedError), true, storedError);
      } else {
        shutdown(true, storedError);
      }
    };
    if (dest.state === "errored") onDestErrored(dest.storedError);
    else uponRejection(writer.closed.promise, onDestErrored);

    // Closing must be propagated forward.
    const onSourceClosed = () => {
      if (!preventClose) {
        shutdownWithAnAction(() => writableStreamDefaultWriterCloseWithErrorPropagation(writer));
      } else {
        shutdown();
      }
    };
    if (source.state === "closed") onSourceClosed();
    else uponFulfillment(reader.closed.promise, onSourceClosed);

    // Closing must be propagated backward.
    if (writableStreamCloseQueuedOrInFlight(dest) || dest.state === "closed") {
      const destClosed = new TypeErr("The destination writable stream closed before all data could be piped to it");
      if (!preventCancel) {
        shutdownWithAnAction(() => readableStreamCancel(source, destClosed), true, destClosed);
      } else {
        shutdown(true, destClosed);
      }
    }

    setHandled(pipeLoop());
    return result.promise;
  }

  // ------------------------------------------------------ async iteration
  const kEndOfIteration = ObjectFreeze({});
  class ReadableStreamAsyncIterator {
    #r;
    constructor() {
      if (arguments[0] !== kInternal) throw new TypeErr("Illegal constructor");
      this.#r = {
        reader: arguments[1],
        preventCancel: arguments[2],
        ongoing: undefined,
        finished: false,
      };
    }

    next() {
      const it = isObject(this) && #r in this ? this.#r : undefined;
      if (it === undefined) return promiseReject(illegal("ReadableStream async iterator"));
      const nextSteps = () => {
        if (it.finished) return promiseResolve({ value: undefined, done: true });
        // Get the next iteration result.
        const reader = it.reader;
        let resolve, reject;
        const nextPromise = new PromiseCtor((a, b) => {
          resolve = a;
          reject = b;
        });
        readableStreamDefaultReaderRead(reader, {
          chunkSteps: (chunk) => resolve(chunk),
          closeSteps: () => {
            readableStreamDefaultReaderRelease(reader);
            resolve(kEndOfIteration);
          },
          errorSteps: (e) => {
            readableStreamDefaultReaderRelease(reader);
            reject(e);
          },
        });
        return then(
          nextPromise,
          (next) => {
            it.ongoing = undefined;
            if (next === kEndOfIteration) {
              it.finished = true;
              return { value: undefined, done: true };
            }
            return { value: next, done: false };
          },
          (reason) => {
            it.ongoing = undefined;
            it.finished = true;
            throw reason;
          },
        );
      };
      it.ongoing = it.ongoing !== undefined ? then(it.ongoing, nextSteps, nextSteps) : nextSteps();
      return it.ongoing;
    }

    return(value) {
      const it = isObject(this) && #r in this ? this.#r : undefined;
      if (it === undefined) return promiseReject(illegal("ReadableStream async iterator"));
      const returnSteps = () => {
        if (it.finished) return promiseResolve({ value, done: true });
        it.finished = true;
        const reader = it.reader;
        if (!it.preventCancel) {
          const result = readerGenericCancel(reader, value);
          readableStreamDefaultReaderRelease(reader);
          return result;
        }
        readableStreamDefaultReaderRelease(reader);
        return resolvedUndefined();
      };
      it.ongoing = it.ongoing !== undefined ? then(it.ongoing, returnSteps, returnSteps) : returnSteps();
      return then(it.ongoing, () => ({ value, done: true }));
    }
  }
  const ReadableStreamAsyncIteratorPrototype = ReadableStreamAsyncIterator.prototype;
  ObjectSetPrototypeOf(ReadableStreamAsyncIteratorPrototype, AsyncIteratorPrototype);
  delete ReadableStreamAsyncIteratorPrototype.constructor;
  webidlClass(ReadableStreamAsyncIterator, "ReadableStream AsyncIterator");

  // ------------------------------------------------------- ReadableStream.from
  function getMethod(obj, key) {
    const fn = obj[key];
    if (fn === undefined || fn === null) return undefined;
    if (typeof fn !== "function") throw new TypeErr(`${StringCtor(key)} is not a function`);
    return fn;
  }

  function getIteratorFromMethod(obj, method) {
    const iterator = ReflectApply(method, obj, []);
    if (!isObject(iterator)) throw new TypeErr("The iterator method must return an object");
    return { iterator, nextMethod: iterator.next, done: false };
  }

  // CreateAsyncFromSyncIterator (ECMA-262), for iterables without @@asyncIterator.
  function createAsyncFromSyncIterator(syncRecord) {
    function closeSync() {
      // IteratorClose with a throw completion: errors from return() are ignored.
      try {
        const ret = syncRecord.iterator.return;
        if (ret !== undefined && ret !== null) ReflectApply(ret, syncRecord.iterator, []);
      } catch {}
    }
    function continuation(result, closeOnRejection) {
      const done = !!result.done;
      const value = result.value;
      let valueWrapper;
      try {
        valueWrapper = promiseResolve(value);
      } catch (e) {
        if (!done && closeOnRejection) closeSync();
        throw e;
      }
      return then(
        valueWrapper,
        (v) => ({ value: v, done }),
        (e) => {
          if (!done && closeOnRejection) closeSync();
          throw e;
        },
      );
    }
    const iterator = {
      next(value) {
        try {
          const result =
            arguments.length > 0
              ? ReflectApply(syncRecord.nextMethod, syncRecord.iterator, [value])
              : ReflectApply(syncRecord.nextMethod, syncRecord.iterator, []);
          if (!isObject(result)) throw new TypeErr("The iterator's next() must return an object");
          return continuation(result, true);
        } catch (e) {
          return promiseReject(e);
        }
      },
      return(value) {
        try {
          const ret = getMethod(syncRecord.iterator, "return");
          if (ret === undefined) return promiseResolve({ value, done: true });
          const result =
            arguments.length > 0
              ? ReflectApply(ret, syncRecord.iterator, [value])
              : ReflectApply(ret, syncRecord.iterator, []);
          if (!isObject(result)) throw new TypeErr("The iterator's return() must return an object");
          return continuation(result, false);
        } catch (e) {
          return promiseReject(e);
        }
      },
    };
    return { iterator, nextMethod: iterator.next, done: false };
  }

  function getAsyncIterator(obj) {
    const method = getMethod(obj, SymbolAsyncIterator);
    if (method === undefined) {
      const syncMethod = getMethod(obj, SymbolIterator);
      if (syncMethod === undefined) {
        throw new TypeErr("ReadableStream.from: the argument is neither async iterable nor iterable");
      }
      return createAsyncFromSyncIterator(getIteratorFromMethod(obj, syncMethod));
    }
    return getIteratorFromMethod(obj, method);
  }

  function readableStreamFromIterable(asyncIterable) {
    if (asyncIterable === undefined || asyncIterable === null) {
      throw new TypeErr("ReadableStream.from: the argument is neither async iterable nor iterable");
    }
    const iteratorRecord = getAsyncIterator(asyncIterable);
    let stream;
    const startAlgorithm = () => undefined;
    function pullAlgorithm() {
      let nextResult;
      try {
        nextResult = ReflectApply(iteratorRecord.nextMethod, iteratorRecord.iterator, []);
        if (!isObject(nextResult)) throw new TypeErr("The iterator's next() must return an object");
      } catch (e) {
        return promiseReject(e);
      }
      const nextPromise = promiseResolve(nextResult);
      return then(nextPromise, (iterResult) => {
        if (!isObject(iterResult)) {
          throw new TypeErr("The promise returned by the iterator's next() must fulfill with an object");
        }
        if (iterResult.done) {
          readableStreamDefaultControllerClose(stream.controller);
        } else {
          readableStreamDefaultControllerEnqueue(stream.controller, iterResult.value);
        }
      });
    }
    function cancelAlgorithm(reason) {
      const iterator = iteratorRecord.iterator;
      let returnResult;
      try {
        const returnMethod = getMethod(iterator, "return");
        if (returnMethod === undefined) return resolvedUndefined();
        returnResult = ReflectApply(returnMethod, iterator, [reason]);
      } catch (e) {
        return promiseReject(e);
      }
      return then(promiseResolve(returnResult), (iterResult) => {
        if (!isObject(iterResult)) {
          throw new TypeErr("The promise returned by the iterator's return() must fulfill with an object");
        }
        return undefined;
      });
    }
    stream = createReadableStream(startAlgorithm, pullAlgorithm, cancelAlgorithm, 0);
    return stream;
  }

  // =====================================================================
  //                             WritableStream
  // =====================================================================
  let wsRec;
  let wsdwRec;
  let wsdcRec;
  const kCloseSentinel = ObjectFreeze({});

  class WritableStream {
    #r;
    constructor(underlyingSink = undefined, strategy = undefined) {
      if (underlyingSink === kInternal) {
        this.#r = newWritableStreamRecord(this);
        return;
      }
      if (underlyingSink !== undefined && !isObject(underlyingSink)) {
        throw new TypeErr("WritableStream: the underlying sink must be an object");
      }
      const strat = toQueuingStrategy(strategy, "WritableStream: strategy");
      if (underlyingSink === undefined) underlyingSink = null;
      const sink = underlyingSinkDict(underlyingSink);
      const s = (this.#r = newWritableStreamRecord(this));
      if (sink.type !== undefined) throw new RangeErr("WritableStream: an underlying sink cannot have a type");
      const sizeAlgorithm = extractSizeAlgorithm(strat);
      const hwm = extractHighWaterMark(strat, 1);
      setUpWritableStreamDefaultControllerFromUnderlyingSink(s, underlyingSink, sink, hwm, sizeAlgorithm);
    }

    static {
      wsRec = (o) => (isObject(o) && #r in o ? o.#r : undefined);
    }

    get locked() {
      const s = wsRec(this);
      if (s === undefined) throw illegal("WritableStream");
      return isWritableStreamLocked(s);
    }

    abort(reason = undefined) {
      const s = wsRec(this);
      if (s === undefined) return promiseReject(illegal("WritableStream"));
      if (isWritableStreamLocked(s)) {
        return promiseReject(new TypeErr("Cannot abort a WritableStream that is locked to a writer"));
      }
      return writableStreamAbort(s, reason);
    }

    close() {
      const s = wsRec(this);
      if (s === undefined) return promiseReject(illegal("WritableStream"));
      if (isWritableStreamLocked(s)) {
        return promiseReject(new TypeErr("Cannot close a WritableStream that is locked to a writer"));
      }
      if (writableStreamCloseQueuedOrInFlight(s)) {
        return promiseReject(new TypeErr("Cannot close a WritableStream that is already closing"));
      }
      return writableStreamClose(s);
    }

    getWriter() {
      const s = wsRec(this);
      if (s === undefined) throw illegal("WritableStream");
      return acquireWritableStreamDefaultWriter(s).obj;
    }
  }
  webidlClass(WritableStream, "WritableStream");

  function newWritableStreamRecord(obj) {
    return {
      obj,
      state: "writable",
      storedError: undefined,
      writer: undefined,
      controller: undefined,
      inFlightWriteRequest: undefined,
      closeRequest: undefined,
      inFlightCloseRequest: undefined,
      pendingAbortRequest: undefined,
      writeRequests: new List(),
      backpressure: false,
    };
  }

  // UnderlyingSink dictionary (members read in lexicographic order).
  function underlyingSinkDict(sink) {
    const d = toDictionary(sink, "WritableStream: the underlying sink");
    const abort = toCallback(getMember(d, "abort"), "WritableStream: underlying sink abort");
    const close = toCallback(getMember(d, "close"), "WritableStream: underlying sink close");
    const start = toCallback(getMember(d, "start"), "WritableStream: underlying sink start");
    const type = getMember(d, "type");
    const write = toCallback(getMember(d, "write"), "WritableStream: underlying sink write");
    return { abort, close, start, type, write };
  }

  function acquireWritableStreamDefaultWriter(s) {
    return wsdwRec(new WritableStreamDefaultWriter(s.obj));
  }

  function createWritableStream(
    startAlgorithm,
    writeAlgorithm,
    closeAlgorithm,
    abortAlgorithm,
    highWaterMark = 1,
    sizeAlgorithm = () => 1,
  ) {
    const s = wsRec(new WritableStream(kInternal));
    const c = newWritableControllerRecord();
    setUpWritableStreamDefaultController(
      s,
      c,
      startAlgorithm,
      writeAlgorithm,
      closeAlgorithm,
      abortAlgorithm,
      highWaterMark,
      sizeAlgorithm,
    );
    return s;
  }

  const isWritableStreamLocked = (s) => s.writer !== undefined;

  function writableStreamAbort(s, reason) {
    if (s.state === "closed" || s.state === "errored") return resolvedUndefined();
    signalAbort(s.controller, reason);
    const state = s.state;
    if (state === "closed" || state === "errored") return resolvedUndefined();
    if (s.pendingAbortRequest !== undefined) return s.pendingAbortRequest.deferred.promise;
    let wasAlreadyErroring = false;
    if (state === "erroring") {
      wasAlreadyErroring = true;
      reason = undefined;
    }
    const deferred = new Deferred();
    s.pendingAbortRequest = { deferred, reason, wasAlreadyErroring };
    if (!wasAlreadyErroring) writableStreamStartErroring(s, reason);
    return deferred.promise;
  }

  function writableStreamClose(s) {
    const state = s.state;
    if (state === "closed" || state === "errored") {
      return promiseReject(new TypeErr(`Cannot close a WritableStream that is ${state}`));
    }
    const deferred = new Deferred();
    s.closeRequest = deferred;
    const writer = s.writer;
    if (writer !== undefined && s.backpressure && state === "writable") {
      writer.ready.resolve(undefined);
    }
    writableStreamDefaultControllerClose(s.controller);
    return deferred.promise;
  }

  function writableStreamAddWriteRequest(s) {
    const deferred = new Deferred();
    s.writeRequests.push(deferred);
    return deferred.promise;
  }

  function writableStreamDealWithRejection(s, error) {
    if (s.state === "writable") {
      writableStreamStartErroring(s, error);
      return;
    }
    writableStreamFinishErroring(s);
  }

  function writableStreamFinishErroring(s) {
    s.state = "errored";
    s.controller.errorSteps();
    const storedError = s.storedError;
    const requests = s.writeRequests;
    s.writeRequests = new List();
    while (requests.size > 0) requests.shift().reject(storedError);
    if (s.pendingAbortRequest === undefined) {
      writableStreamRejectCloseAndClosedPromiseIfNeeded(s);
      return;
    }
    const abortRequest = s.pendingAbortRequest;
    s.pendingAbortRequest = undefined;
    if (abortRequest.wasAlreadyErroring) {
      abortRequest.deferred.reject(storedError);
      writableStreamRejectCloseAndClosedPromiseIfNeeded(s);
      return;
    }
    const promise = s.controller.abortSteps(abortRequest.reason);
    upon(
      promise,
      () => {
        abortRequest.deferred.resolve(undefined);
        writableStreamRejectCloseAndClosedPromiseIfNeeded(s);
      },
      (reason) => {
        abortRequest.deferred.reject(reason);
        writableStreamRejectCloseAndClosedPromiseIfNeeded(s);
      },
    );
  }

  function writableStreamFinishInFlightClose(s) {
    s.inFlightCloseRequest.resolve(undefined);
    s.inFlightCloseRequest = undefined;
    if (s.state === "erroring") {
      s.storedError = undefined;
      if (s.pendingAbortRequest !== undefined) {
        s.pendingAbortRequest.deferred.resolve(undefined);
        s.pendingAbortRequest = undefined;
      }
    }
    s.state = "closed";
    const writer = s.writer;
    if (writer !== undefined) writer.closed.resolve(undefined);
  }

  function writableStreamFinishInFlightCloseWithError(s, error) {
    s.inFlightCloseRequest.reject(error);
    s.inFlightCloseRequest = undefined;
    if (s.pendingAbortRequest !== undefined) {
      s.pendingAbortRequest.deferred.reject(error);
      s.pendingAbortRequest = undefined;
    }
    writableStreamDealWithRejection(s, error);
  }

  function writableStreamFinishInFlightWrite(s) {
    s.inFlightWriteRequest.resolve(undefined);
    s.inFlightWriteRequest = undefined;
  }

  function writableStreamFinishInFlightWriteWithError(s, error) {
    s.inFlightWriteRequest.reject(error);
    s.inFlightWriteRequest = undefined;
    writableStreamDealWithRejection(s, error);
  }

  function writableStreamCloseQueuedOrInFlight(s) {
    return s.closeRequest !== undefined || s.inFlightCloseRequest !== undefined;
  }

  function writableStreamHasOperationMarkedInFlight(s) {
    return s.inFlightWriteRequest !== undefined || s.inFlightCloseRequest !== undefined;
  }

  function writableStreamMarkCloseRequestInFlight(s) {
    s.inFlightCloseRequest = s.closeRequest;
    s.closeRequest = undefined;
  }

  function writableStreamMarkFirstWriteRequestInFlight(s) {
    s.inFlightWriteRequest = s.writeRequests.shift();
  }

  function writableStreamRejectCloseAndClosedPromiseIfNeeded(s) {
    if (s.closeRequest !== undefined) {
      s.closeRequest.reject(s.storedError);
      s.closeRequest = undefined;
    }
    const writer = s.writer;
    if (writer !== undefined) {
      writer.closed.reject(s.storedError);
      setHandled(writer.closed.promise);
    }
  }

  function writableStreamStartErroring(s, reason) {
    const c = s.controller;
    s.state = "erroring";
    s.storedError = reason;
    const writer = s.writer;
    if (writer !== undefined) writableStreamDefaultWriterEnsureReadyPromiseRejected(writer, reason);
    if (!writableStreamHasOperationMarkedInFlight(s) && c.started) {
      writableStreamFinishErroring(s);
    }
  }

  function writableStreamUpdateBackpressure(s, backpressure) {
    const writer = s.writer;
    if (writer !== undefined && backpressure !== s.backpressure) {
      if (backpressure) writer.ready = new Deferred();
      else writer.ready.resolve(undefined);
    }
    s.backpressure = backpressure;
  }

  // ------------------------------------------------ WritableStreamDefaultWriter
  class WritableStreamDefaultWriter {
    #r;
    constructor(stream) {
      const s = wsRec(stream);
      if (s === undefined) {
        throw new TypeErr("WritableStreamDefaultWriter: the argument must be a WritableStream");
      }
      if (isWritableStreamLocked(s)) {
        throw new TypeErr("WritableStreamDefaultWriter: the stream is already locked to a writer");
      }
      const w = (this.#r = { obj: this, stream: s, ready: undefined, closed: undefined });
      s.writer = w;
      const state = s.state;
      if (state === "writable") {
        if (!writableStreamCloseQueuedOrInFlight(s) && s.backpressure) w.ready = new Deferred();
        else w.ready = resolvedDeferred(undefined);
        w.closed = new Deferred();
      } else if (state === "erroring") {
        w.ready = rejectedDeferred(s.storedError);
        w.closed = new Deferred();
      } else if (state === "closed") {
        w.ready = resolvedDeferred(undefined);
        w.closed = resolvedDeferred(undefined);
      } else {
        w.ready = rejectedDeferred(s.storedError);
        w.closed = rejectedDeferred(s.storedError);
      }
    }

    static {
      wsdwRec = (o) => (isObject(o) && #r in o ? o.#r : undefined);
    }

    get closed() {
      const w = wsdwRec(this);
      if (w === undefined) return promiseReject(illegal("WritableStreamDefaultWriter"));
      return w.closed.promise;
    }

    get desiredSize() {
      const w = wsdwRec(this);
      if (w === undefined) throw illegal("WritableStreamDefaultWriter");
      if (w.stream === undefined) throw new TypeErr("The writer's lock was released");
      return writableStreamDefaultWriterGetDesiredSize(w);
    }

    get ready() {
      const w = wsdwRec(this);
      if (w === undefined) return promiseReject(illegal("WritableStreamDefaultWriter"));
      return w.ready.promise;
    }

    abort(reason = undefined) {
      const w = wsdwRec(this);
      if (w === undefined) return promiseReject(illegal("WritableStreamDefaultWriter"));
      if (w.stream === undefined) {
        return promiseReject(new TypeErr("Cannot abort a stream using a released writer"));
      }
      return writableStreamAbort(w.stream, reason);
    }

    close() {
      const w = wsdwRec(this);
      if (w === undefined) return promiseReject(illegal("WritableStreamDefaultWriter"));
      const s = w.stream;
      if (s === undefined) {
        return promiseReject(new TypeErr("Cannot close a stream using a released writer"));
      }
      if (writableStreamCloseQueuedOrInFlight(s)) {
        return promiseReject(new TypeErr("Cannot close a WritableStream that is already closing"));
      }
      return writableStreamClose(s);
    }

    releaseLock() {
      const w = wsdwRec(this);
      if (w === undefined) throw illegal("WritableStreamDefaultWriter");
      if (w.stream === undefined) return;
      writableStreamDefaultWriterRelease(w);
    }

    write(chunk = undefined) {
      const w = wsdwRec(this);
      if (w === undefined) return promiseReject(illegal("WritableStreamDefaultWriter"));
      if (w.stream === undefined) {
        return promiseReject(new TypeErr("Cannot write to a stream using a released writer"));
      }
      return writableStreamDefaultWriterWrite(w, chunk);
    }
  }
  webidlClass(WritableStreamDefaultWriter, "WritableStreamDefaultWriter");

  function writableStreamDefaultWriterCloseWithErrorPropagation(w) {
    const s = w.stream;
    const state = s.state;
    if (writableStreamCloseQueuedOrInFlight(s) || state === "closed") return resolvedUndefined();
    if (state === "errored") return promiseReject(s.storedError);
    return writableStreamClose(s);
  }

  function writableStreamDefaultWriterEnsureClosedPromiseRejected(w, error) {
    if (w.closed.state === "pending") w.closed.reject(error);
    else w.closed = rejectedDeferred(error);
    setHandled(w.closed.promise);
  }

  function writableStreamDefaultWriterEnsureReadyPromiseRejected(w, error) {
    if (w.ready.state === "pending") w.ready.reject(error);
    else w.ready = rejectedDeferred(error);
    setHandled(w.ready.promise);
  }

  function writableStreamDefaultWriterGetDesiredSize(w) {
    const s = w.stream;
    const state = s.state;
    if (state === "errored" || state === "erroring") return null;
    if (state === "closed") return 0;
    return writableStreamDefaultControllerGetDesiredSize(s.controller);
  }

  function writableStreamDefaultWriterRelease(w) {
    const s = w.stream;
    const releasedError = new TypeErr("The writer's lock was released");
    writableStreamDefaultWriterEnsureReadyPromiseRejected(w, releasedError);
    writableStreamDefaultWriterEnsureClosedPromiseRejected(w, releasedError);
    s.writer = undefined;
    w.stream = undefined;
  }

  function writableStreamDefaultWriterWrite(w, chunk) {
    const s = w.stream;
    const c = s.controller;
    const chunkSize = writableStreamDefaultControllerGetChunkSize(c, chunk);
    if (s !== w.stream) {
      return promiseReject(new TypeErr("The writer's lock was released while computing the chunk size"));
    }
    const state = s.state;
    if (state === "errored") return promiseReject(s.storedError);
    if (writableStreamCloseQueuedOrInFlight(s) || state === "closed") {
      return promiseReject(new TypeErr("Cannot write to a WritableStream that is closing or closed"));
    }
    if (state === "erroring") return promiseReject(s.storedError);
    const promise = writableStreamAddWriteRequest(s);
    writableStreamDefaultControllerWrite(c, chunk, chunkSize);
    return promise;
  }

  // -------------------------------------------- WritableStreamDefaultController
  class WritableStreamDefaultController {
    #r;
    constructor() {
      if (arguments[0] !== kInternal) throw new TypeErr("Illegal constructor");
      this.#r = arguments[1];
    }

    static {
      wsdcRec = (o) => (isObject(o) && #r in o ? o.#r : undefined);
    }

    get signal() {
      const c = wsdcRec(this);
      if (c === undefined) throw illegal("WritableStreamDefaultController");
      return c.abortController === undefined ? undefined : c.abortController.signal;
    }

    error(e = undefined) {
      const c = wsdcRec(this);
      if (c === undefined) throw illegal("WritableStreamDefaultController");
      if (c.stream.state !== "writable") return;
      writableStreamDefaultControllerError(c, e);
    }
  }
  webidlClass(WritableStreamDefaultController, "WritableStreamDefaultController");

  // The controller's [[abortController]]: { signal, abort(reason) }.
  function newAbortController() {
    if (rwNewAbortSignal !== undefined && rwAbortSignal !== undefined) {
      const signal = rwNewAbortSignal();
      return { signal, abort: (reason) => rwAbortSignal(signal, reason) };
    }
    const AC = AbortControllerAtLoad || globalThis.AbortController;
    if (typeof AC !== "function") return undefined;
    const ac = new AC();
    const abort = AC.prototype.abort;
    return { signal: ac.signal, abort: (reason) => call(abort, ac, reason) };
  }

  function signalAbort(c, reason) {
    if (c.abortController !== undefined) c.abortController.abort(reason);
  }

  function newWritableControllerRecord() {
    const c = {
      obj: undefined,
      stream: undefined,
      queue: new List(),
      queueTotalSize: 0,
      abortController: undefined,
      started: false,
      strategySizeAlgorithm: undefined,
      strategyHWM: 0,
      writeAlgorithm: undefined,
      closeAlgorithm: undefined,
      abortAlgorithm: undefined,
      abortSteps: undefined,
      errorSteps: undefined,
    };
    // (Closures through local bindings: see newDefaultControllerRecord.)
    const abortSteps = (reason) => {
      const result = c.abortAlgorithm(reason);
      writableStreamDefaultControllerClearAlgorithms(c);
      return result;
    };
    const errorSteps = () => resetQueue(c);
    c.abortSteps = abortSteps;
    c.errorSteps = errorSteps;
    c.obj = new WritableStreamDefaultController(kInternal, c);
    return c;
  }

  function setUpWritableStreamDefaultController(
    s,
    c,
    startAlgorithm,
    writeAlgorithm,
    closeAlgorithm,
    abortAlgorithm,
    highWaterMark,
    sizeAlgorithm,
  ) {
    c.stream = s;
    s.controller = c;
    resetQueue(c);
    c.abortController = newAbortController();
    c.started = false;
    c.strategySizeAlgorithm = sizeAlgorithm;
    c.strategyHWM = highWaterMark;
    c.writeAlgorithm = writeAlgorithm;
    c.closeAlgorithm = closeAlgorithm;
    c.abortAlgorithm = abortAlgorithm;
    const backpressure = writableStreamDefaultControllerGetBackpressure(c);
    writableStreamUpdateBackpressure(s, backpressure);
    const startResult = startAlgorithm();
    upon(
      promiseResolve(startResult),
      () => {
        c.started = true;
        writableStreamDefaultControllerAdvanceQueueIfNeeded(c);
      },
      (r) => {
        c.started = true;
        writableStreamDealWithRejection(s, r);
      },
    );
  }

  function setUpWritableStreamDefaultControllerFromUnderlyingSink(s, sink, dict, highWaterMark, sizeAlgorithm) {
    const c = newWritableControllerRecord();
    const controller = c.obj;
    let startAlgorithm = () => undefined;
    let writeAlgorithm = resolvedUndefined;
    let closeAlgorithm = resolvedUndefined;
    let abortAlgorithm = resolvedUndefined;
    if (dict.start !== undefined) {
      const start = dict.start;
      startAlgorithm = () => ReflectApply(start, sink, [controller]);
    }
    if (dict.write !== undefined) {
      const write = dict.write;
      writeAlgorithm = (chunk) => invokePromise(write, sink, [chunk, controller]);
    }
    if (dict.close !== undefined) {
      const close = dict.close;
      closeAlgorithm = () => invokePromise(close, sink, []);
    }
    if (dict.abort !== undefined) {
      const abort = dict.abort;
      abortAlgorithm = (reason) => invokePromise(abort, sink, [reason]);
    }
    setUpWritableStreamDefaultController(
      s,
      c,
      startAlgorithm,
      writeAlgorithm,
      closeAlgorithm,
      abortAlgorithm,
      highWaterMark,
      sizeAlgorithm,
    );
  }

  function writableStreamDefaultControllerAdvanceQueueIfNeeded(c) {
    const s = c.stream;
    if (!c.started) return;
    if (s.inFlightWriteRequest !== undefined) return;
    const state = s.state;
    if (state === "erroring") {
      writableStreamFinishErroring(s);
      return;
    }
    if (c.queue.size === 0) return;
    const value = peekQueueValue(c);
    if (value === kCloseSentinel) writableStreamDefaultControllerProcessClose(c);
    else writableStreamDefaultControllerProcessWrite(c, value);
  }

  function writableStreamDefaultControllerClearAlgorithms(c) {
    c.writeAlgorithm = undefined;
    c.closeAlgorithm = undefined;
    c.abortAlgorithm = undefined;
    c.strategySizeAlgorithm = undefined;
  }

  function writableStreamDefaultControllerClose(c) {
    enqueueValueWithSize(c, kCloseSentinel, 0);
    writableStreamDefaultControllerAdvanceQueueIfNeeded(c);
  }

  function writableStreamDefaultControllerError(c, error) {
    const s = c.stream;
    writableStreamDefaultControllerClearAlgorithms(c);
    writableStreamStartErroring(s, error);
  }

  function writableStreamDefaultControllerErrorIfNeeded(c, error) {
    if (c.stream.state === "writable") writableStreamDefaultControllerError(c, error);
  }

  function writableStreamDefaultControllerGetBackpressure(c) {
    return writableStreamDefaultControllerGetDesiredSize(c) <= 0;
  }

  function writableStreamDefaultControllerGetChunkSize(c, chunk) {
    if (c.strategySizeAlgorithm === undefined) return 1;
    try {
      return c.strategySizeAlgorithm(chunk);
    } catch (e) {
      writableStreamDefaultControllerErrorIfNeeded(c, e);
      return 1;
    }
  }

  function writableStreamDefaultControllerGetDesiredSize(c) {
    return c.strategyHWM - c.queueTotalSize;
  }

  function writableStreamDefaultControllerProcessClose(c) {
    const s = c.stream;
    writableStreamMarkCloseRequestInFlight(s);
    dequeueValue(c);
    const sinkClosePromise = c.closeAlgorithm();
    writableStreamDefaultControllerClearAlgorithms(c);
    upon(
      sinkClosePromise,
      () => writableStreamFinishInFlightClose(s),
      (reason) => writableStreamFinishInFlightCloseWithError(s, reason),
    );
  }

  function writableStreamDefaultControllerProcessWrite(c, chunk) {
    const s = c.stream;
    writableStreamMarkFirstWriteRequestInFlight(s);
    const sinkWritePromise = c.writeAlgorithm(chunk);
    upon(
      sinkWritePromise,
      () => {
        writableStreamFinishInFlightWrite(s);
        const state = s.state;
        dequeueValue(c);
        if (!writableStreamCloseQueuedOrInFlight(s) && state === "writable") {
          const backpressure = writableStreamDefaultControllerGetBackpressure(c);
          writableStreamUpdateBackpressure(s, backpressure);
        }
        writableStreamDefaultControllerAdvanceQueueIfNeeded(c);
      },
      (reason) => {
        if (s.state === "writable") writableStreamDefaultControllerClearAlgorithms(c);
        writableStreamFinishInFlightWriteWithError(s, reason);
      },
    );
  }

  function writableStreamDefaultControllerWrite(c, chunk, chunkSize) {
    try {
      enqueueValueWithSize(c, chunk, chunkSize);
    } catch (e) {
      writableStreamDefaultControllerErrorIfNeeded(c, e);
      return;
    }
    const s = c.stream;
    if (!writableStreamCloseQueuedOrInFlight(s) && s.state === "writable") {
      const backpressure = writableStreamDefaultControllerGetBackpressure(c);
      writableStreamUpdateBackpressure(s, backpressure);
    }
    writableStreamDefaultControllerAdvanceQueueIfNeeded(c);
  }

  // =====================================================================
  //                             TransformStream
  // =====================================================================
  let tsRec;
  let tsdcRec;

  class TransformStream {
    #r;
    constructor(transformer = undefined, writableStrategy = undefined, readableStrategy = undefined) {
      if (transformer !== undefined && !isObject(transformer)) {
        throw new TypeErr("TransformStream: the transformer must be an object");
      }
      const wStrat = toQueuingStrategy(writableStrategy, "TransformStream: writableStrategy");
      const rStrat = toQueuingStrategy(readableStrategy, "TransformStream: readableStrategy");
      if (transformer === undefined) transformer = null;
      const dict = transformerDict(transformer);
      if (dict.readableType !== undefined) {
        throw new RangeErr("TransformStream: a transformer cannot have a readableType");
      }
      if (dict.writableType !== undefined) {
        throw new RangeErr("TransformStream: a transformer cannot have a writableType");
      }
      const readableHighWaterMark = extractHighWaterMark(rStrat, 0);
      const readableSizeAlgorithm = extractSizeAlgorithm(rStrat);
      const writableHighWaterMark = extractHighWaterMark(wStrat, 1);
      const writableSizeAlgorithm = extractSizeAlgorithm(wStrat);
      const startPromise = new Deferred();
      const t = (this.#r = {
        obj: this,
        backpressure: undefined,
        backpressureChangePromise: undefined,
        controller: undefined,
        readable: undefined,
        writable: undefined,
      });
      initializeTransformStream(
        t,
        startPromise.promise,
        writableHighWaterMark,
        writableSizeAlgorithm,
        readableHighWaterMark,
        readableSizeAlgorithm,
      );
      setUpTransformStreamDefaultControllerFromTransformer(t, transformer, dict);
      if (dict.start !== undefined) {
        startPromise.resolve(ReflectApply(dict.start, transformer, [t.controller.obj]));
      } else {
        startPromise.resolve(undefined);
      }
    }

    static {
      tsRec = (o) => (isObject(o) && #r in o ? o.#r : undefined);
    }

    get readable() {
      const t = tsRec(this);
      if (t === undefined) throw illegal("TransformStream");
      return t.readable.obj;
    }

    get writable() {
      const t = tsRec(this);
      if (t === undefined) throw illegal("TransformStream");
      return t.writable.obj;
    }
  }
  webidlClass(TransformStream, "TransformStream");

  // Transformer dictionary (members read in lexicographic order).
  function transformerDict(transformer) {
    const d = toDictionary(transformer, "TransformStream: the transformer");
    const cancel = toCallback(getMember(d, "cancel"), "TransformStream: transformer cancel");
    const flush = toCallback(getMember(d, "flush"), "TransformStream: transformer flush");
    const readableType = getMember(d, "readableType");
    const start = toCallback(getMember(d, "start"), "TransformStream: transformer start");
    const transform = toCallback(getMember(d, "transform"), "TransformStream: transformer transform");
    const writableType = getMember(d, "writableType");
    return { cancel, flush, readableType, start, transform, writableType };
  }

  function initializeTransformStream(
    t,
    startPromise,
    writableHighWaterMark,
    writableSizeAlgorithm,
    readableHighWaterMark,
    readableSizeAlgorithm,
  ) {
    const startAlgorithm = () => startPromise;
    t.writable = createWritableStream(
      startAlgorithm,
      (chunk) => transformStreamDefaultSinkWriteAlgorithm(t, chunk),
      () => transformStreamDefaultSinkCloseAlgorithm(t),
      (reason) => transformStreamDefaultSinkAbortAlgorithm(t, reason),
      writableHighWaterMark,
      writableSizeAlgorithm,
    );
    t.readable = createReadableStream(
      startAlgorithm,
      () => transformStreamDefaultSourcePullAlgorithm(t),
      (reason) => transformStreamDefaultSourceCancelAlgorithm(t, reason),
      readableHighWaterMark,
      readableSizeAlgorithm,
    );
    t.readable.transform = t;
    t.backpressure = undefined;
    t.backpressureChangePromise = undefined;
    transformStreamSetBackpressure(t, true);
    t.controller = undefined;
  }

  function transformStreamError(t, e) {
    readableStreamDefaultControllerError(t.readable.controller, e);
    transformStreamErrorWritableAndUnblockWrite(t, e);
  }

  function transformStreamErrorWritableAndUnblockWrite(t, e) {
    transformStreamDefaultControllerClearAlgorithms(t.controller);
    writableStreamDefaultControllerErrorIfNeeded(t.writable.controller, e);
    transformStreamUnblockWrite(t);
  }

  function transformStreamUnblockWrite(t) {
    if (t.backpressure) transformStreamSetBackpressure(t, false);
  }

  function transformStreamSetBackpressure(t, backpressure) {
    if (t.backpressureChangePromise !== undefined) t.backpressureChangePromise.resolve(undefined);
    t.backpressureChangePromise = new Deferred();
    t.backpressure = backpressure;
  }

  class TransformStreamDefaultController {
    #r;
    constructor() {
      if (arguments[0] !== kInternal) throw new TypeErr("Illegal constructor");
      this.#r = arguments[1];
    }

    static {
      tsdcRec = (o) => (isObject(o) && #r in o ? o.#r : undefined);
    }

    get desiredSize() {
      const c = tsdcRec(this);
      if (c === undefined) throw illegal("TransformStreamDefaultController");
      return readableStreamControllerGetDesiredSize(c.stream.readable.controller);
    }

    enqueue(chunk = undefined) {
      const c = tsdcRec(this);
      if (c === undefined) throw illegal("TransformStreamDefaultController");
      transformStreamDefaultControllerEnqueue(c, chunk);
    }

    error(reason = undefined) {
      const c = tsdcRec(this);
      if (c === undefined) throw illegal("TransformStreamDefaultController");
      transformStreamError(c.stream, reason);
    }

    terminate() {
      const c = tsdcRec(this);
      if (c === undefined) throw illegal("TransformStreamDefaultController");
      transformStreamDefaultControllerTerminate(c);
    }
  }
  webidlClass(TransformStreamDefaultController, "TransformStreamDefaultController");

  function setUpTransformStreamDefaultController(t, c, transformAlgorithm, flushAlgorithm, cancelAlgorithm) {
    c.stream = t;
    t.controller = c;
    c.transformAlgorithm = transformAlgorithm;
    c.flushAlgorithm = flushAlgorithm;
    c.cancelAlgorithm = cancelAlgorithm;
  }

  function setUpTransformStreamDefaultControllerFromTransformer(t, transformer, dict) {
    const c = {
      obj: undefined,
      stream: undefined,
      finishPromise: undefined,
      transformAlgorithm: undefined,
      flushAlgorithm: undefined,
      cancelAlgorithm: undefined,
    };
    c.obj = new TransformStreamDefaultController(kInternal, c);
    const controller = c.obj;
    let transformAlgorithm = (chunk) => {
      try {
        transformStreamDefaultControllerEnqueue(c, chunk);
      } catch (e) {
        return promiseReject(e);
      }
      return resolvedUndefined();
    };
    let flushAlgorithm = resolvedUndefined;
    let cancelAlgorithm = resolvedUndefined;
    if (dict.transform !== undefined) {
      const transform = dict.transform;
      transformAlgorithm = (chunk) => invokePromise(transform, transformer, [chunk, controller]);
    }
    if (dict.flush !== undefined) {
      const flush = dict.flush;
      flushAlgorithm = () => invokePromise(flush, transformer, [controller]);
    }
    if (dict.cancel !== undefined) {
      const cancel = dict.cancel;
      cancelAlgorithm = (reason) => invokePromise(cancel, transformer, [reason]);
    }
    setUpTransformStreamDefaultController(t, c, transformAlgorithm, flushAlgorithm, cancelAlgorithm);
  }

  function transformStreamDefaultControllerClearAlgorithms(c) {
    c.transformAlgorithm = undefined;
    c.flushAlgorithm = undefined;
    c.cancelAlgorithm = undefined;
  }

  function transformStreamDefaultControllerEnqueue(c, chunk) {
    const t = c.stream;
    const readableController = t.readable.controller;
    if (readableController.failMessage !== undefined) throw new TypeErr(readableController.failMessage);
    if (!readableStreamDefaultControllerCanCloseOrEnqueue(readableController)) {
      throw new TypeErr("Cannot enqueue a chunk: the readable side is closing, closed or errored");
    }
    try {
      readableStreamDefaultControllerEnqueue(readableController, chunk);
    } catch (e) {
      transformStreamErrorWritableAndUnblockWrite(t, e);
      throw t.readable.storedError;
    }
    const backpressure = readableStreamDefaultControllerHasBackpressure(readableController);
    if (backpressure !== t.backpressure) transformStreamSetBackpressure(t, true);
  }

  function transformStreamDefaultControllerPerformTransform(c, chunk) {
    const transformPromise = c.transformAlgorithm(chunk);
    return then(transformPromise, undefined, (r) => {
      transformStreamError(c.stream, r);
      throw r;
    });
  }

  function transformStreamDefaultControllerTerminate(c) {
    const t = c.stream;
    readableStreamDefaultControllerClose(t.readable.controller);
    const error = new TypeErr("The TransformStream has been terminated");
    transformStreamErrorWritableAndUnblockWrite(t, error);
  }

  function transformStreamDefaultSinkWriteAlgorithm(t, chunk) {
    const c = t.controller;
    if (t.backpressure) {
      const backpressureChangePromise = t.backpressureChangePromise.promise;
      return then(backpressureChangePromise, () => {
        const writable = t.writable;
        if (writable.state === "erroring") throw writable.storedError;
        return transformStreamDefaultControllerPerformTransform(c, chunk);
      });
    }
    return transformStreamDefaultControllerPerformTransform(c, chunk);
  }

  function transformStreamDefaultSinkAbortAlgorithm(t, reason) {
    const c = t.controller;
    if (c.finishPromise !== undefined) return c.finishPromise.promise;
    const readable = t.readable;
    c.finishPromise = new Deferred();
    const cancelPromise = c.cancelAlgorithm(reason);
    transformStreamDefaultControllerClearAlgorithms(c);
    upon(
      cancelPromise,
      () => {
        if (readable.state === "errored") {
          c.finishPromise.reject(readable.storedError);
        } else {
          readableStreamDefaultControllerError(readable.controller, reason);
          c.finishPromise.resolve(undefined);
        }
      },
      (r) => {
        readableStreamDefaultControllerError(readable.controller, r);
        c.finishPromise.reject(r);
      },
    );
    return c.finishPromise.promise;
  }

  function transformStreamDefaultSinkCloseAlgorithm(t) {
    const c = t.controller;
    if (c.finishPromise !== undefined) return c.finishPromise.promise;
    const readable = t.readable;
    c.finishPromise = new Deferred();
    const flushPromise = c.flushAlgorithm();
    transformStreamDefaultControllerClearAlgorithms(c);
    upon(
      flushPromise,
      () => {
        if (readable.state === "errored") {
          c.finishPromise.reject(readable.storedError);
        } else {
          readableStreamDefaultControllerClose(readable.controller);
          c.finishPromise.resolve(undefined);
        }
      },
      (r) => {
        readableStreamDefaultControllerError(readable.controller, r);
        c.finishPromise.reject(r);
      },
    );
    return c.finishPromise.promise;
  }

  function transformStreamDefaultSourceCancelAlgorithm(t, reason) {
    const c = t.controller;
    if (c.finishPromise !== undefined) return c.finishPromise.promise;
    const writable = t.writable;
    c.finishPromise = new Deferred();
    const cancelPromise = c.cancelAlgorithm(reason);
    transformStreamDefaultControllerClearAlgorithms(c);
    upon(
      cancelPromise,
      () => {
        if (writable.state === "errored") {
          c.finishPromise.reject(writable.storedError);
        } else {
          writableStreamDefaultControllerErrorIfNeeded(writable.controller, reason);
          transformStreamUnblockWrite(t);
          c.finishPromise.resolve(undefined);
        }
      },
      (r) => {
        writableStreamDefaultControllerErrorIfNeeded(writable.controller, r);
        transformStreamUnblockWrite(t);
        c.finishPromise.reject(r);
      },
    );
    return c.finishPromise.promise;
  }

  function transformStreamDefaultSourcePullAlgorithm(t) {
    transformStreamSetBackpressure(t, false);
    return t.backpressureChangePromise.promise;
  }

  // =====================================================================
  //                           Queuing strategies
  // =====================================================================
  const byteLengthSizeFunction = {
    size(chunk) {
      return chunk.byteLength;
    },
  }.size;
  const countSizeFunction = {
    size() {
      return 1;
    },
  }.size;

  function strategyInitHighWaterMark(init, context) {
    const dict = toDictionary(init, `${context}: init`);
    const hwm = getMember(dict, "highWaterMark");
    if (hwm === undefined) throw new TypeErr(`${context}: init.highWaterMark is required`);
    return toUnrestrictedDouble(hwm);
  }

  class ByteLengthQueuingStrategy {
    #hwm;
    constructor(init) {
      this.#hwm = strategyInitHighWaterMark(init, "ByteLengthQueuingStrategy");
    }
    get highWaterMark() {
      if (!(isObject(this) && #hwm in this)) throw illegal("ByteLengthQueuingStrategy");
      return this.#hwm;
    }
    get size() {
      if (!(isObject(this) && #hwm in this)) throw illegal("ByteLengthQueuingStrategy");
      return byteLengthSizeFunction;
    }
  }
  webidlClass(ByteLengthQueuingStrategy, "ByteLengthQueuingStrategy");

  class CountQueuingStrategy {
    #hwm;
    constructor(init) {
      this.#hwm = strategyInitHighWaterMark(init, "CountQueuingStrategy");
    }
    get highWaterMark() {
      if (!(isObject(this) && #hwm in this)) throw illegal("CountQueuingStrategy");
      return this.#hwm;
    }
    get size() {
      if (!(isObject(this) && #hwm in this)) throw illegal("CountQueuingStrategy");
      return countSizeFunction;
    }
  }
  webidlClass(CountQueuingStrategy, "CountQueuingStrategy");

  // =====================================================================
  //                  TextEncoderStream / TextDecoderStream
  // =====================================================================
  const StringPrototypeCharCodeAt = String.prototype.charCodeAt;
  const StringPrototypeSlice = String.prototype.slice;
  const utf8Encode = ops.utf8Encode;

  // Enqueues through the internal algorithm, whatever user code did to the
  // controller's prototype.
  function transformEnqueue(controller, chunk) {
    transformStreamDefaultControllerEnqueue(tsdcRec(controller), chunk);
  }

  class TextEncoderStream {
    #t;
    constructor() {
      let pendingHighSurrogate = null;
      const transformer = {
        __proto__: null,
        transform(chunk, controller) {
          let str = `${chunk}`;
          if (pendingHighSurrogate !== null) {
            str = pendingHighSurrogate + str;
            pendingHighSurrogate = null;
          }
          const n = str.length;
          if (n > 0) {
            const last = call(StringPrototypeCharCodeAt, str, n - 1);
            if (last >= 0xd800 && last <= 0xdbff) {
              pendingHighSurrogate = call(StringPrototypeSlice, str, n - 1);
              str = call(StringPrototypeSlice, str, 0, n - 1);
            }
          }
          if (str.length > 0) transformEnqueue(controller, utf8Encode(str));
        },
        flush(controller) {
          if (pendingHighSurrogate !== null) {
            transformEnqueue(controller, new Uint8ArrayCtor([0xef, 0xbf, 0xbd]));
          }
        },
      };
      this.#t = tsRec(new TransformStream(transformer));
    }
    get encoding() {
      if (!(isObject(this) && #t in this)) throw illegal("TextEncoderStream");
      return "utf-8";
    }
    get readable() {
      if (!(isObject(this) && #t in this)) throw illegal("TextEncoderStream");
      return this.#t.readable.obj;
    }
    get writable() {
      if (!(isObject(this) && #t in this)) throw illegal("TextEncoderStream");
      return this.#t.writable.obj;
    }
  }
  webidlClass(TextEncoderStream, "TextEncoderStream");

  const kStreamOption = ObjectFreeze({ __proto__: null, stream: true });

  class TextDecoderStream {
    #t;
    #decoder;
    constructor(label = undefined, options = undefined) {
      const TD = TextDecoderAtLoad || globalThis.TextDecoder;
      if (typeof TD !== "function") {
        throw new TypeErr("TextDecoderStream is not available: TextDecoder is not defined");
      }
      const decoder = new TD(label === undefined ? "utf-8" : label, options);
      const decode = TD.prototype.decode;
      const transformer = {
        __proto__: null,
        transform(chunk, controller) {
          if (!isArrayBuffer(chunk) && !isView(chunk)) {
            throw new TypeErr("TextDecoderStream: chunks must be an ArrayBuffer or an ArrayBufferView");
          }
          const out = call(decode, decoder, chunk, kStreamOption);
          if (out !== "") transformEnqueue(controller, out);
        },
        flush(controller) {
          const out = call(decode, decoder);
          if (out !== "") transformEnqueue(controller, out);
        },
      };
      this.#decoder = decoder;
      this.#t = tsRec(new TransformStream(transformer));
    }
    get encoding() {
      if (!(isObject(this) && #t in this)) throw illegal("TextDecoderStream");
      return this.#decoder.encoding;
    }
    get fatal() {
      if (!(isObject(this) && #t in this)) throw illegal("TextDecoderStream");
      return this.#decoder.fatal;
    }
    get ignoreBOM() {
      if (!(isObject(this) && #t in this)) throw illegal("TextDecoderStream");
      return this.#decoder.ignoreBOM;
    }
    get readable() {
      if (!(isObject(this) && #t in this)) throw illegal("TextDecoderStream");
      return this.#t.readable.obj;
    }
    get writable() {
      if (!(isObject(this) && #t in this)) throw illegal("TextDecoderStream");
      return this.#t.writable.obj;
    }
  }
  webidlClass(TextDecoderStream, "TextDecoderStream");

  // =====================================================================
  //                        Internals for the runtime
  // =====================================================================
  function describe(v) {
    if (v === null) return "null";
    if (typeof v !== "object") return typeof v;
    const tag = typedArrayName(v);
    if (tag !== undefined) return tag;
    try {
      const ctor = v.constructor;
      return typeof ctor === "function" && ctor.name ? ctor.name : "object";
    } catch {
      return "object";
    }
  }

  // A body chunk as bytes (a view on the chunk's memory, not a copy).
  function chunkToBytes(chunk) {
    if (typeof chunk === "string") return utf8Encode(chunk);
    if (isView(chunk)) {
      const buffer = viewBuffer(chunk);
      if (!isSharedArrayBuffer(buffer) && isDetached(buffer)) {
        throw new TypeErr("ReadableStream chunk's buffer is detached");
      }
      if (typedArrayName(chunk) === "Uint8Array") return chunk;
      return new Uint8ArrayCtor(buffer, viewByteOffset(chunk), viewByteLength(chunk));
    }
    if (isArrayBuffer(chunk)) {
      if (isDetached(chunk)) throw new TypeErr("ReadableStream chunk is a detached ArrayBuffer");
      return new Uint8ArrayCtor(chunk);
    }
    throw new TypeErr(
      `ReadableStream body chunks must be Uint8Array, ArrayBuffer, ArrayBufferView or string, got ${describe(chunk)}`,
    );
  }

  function readAll(stream) {
    const s = rsRec(stream);
    if (s === undefined) return promiseReject(new TypeErr("readAll: not a ReadableStream"));
    if (isReadableStreamLocked(s)) {
      return promiseReject(new TypeErr("The ReadableStream is locked to a reader"));
    }
    const reader = acquireReadableStreamDefaultReader(s);
    const result = new Deferred();
    const chunks = [];
    let total = 0;
    let inRead = false;
    let gotChunk = false;
    let finished = false;
    const readRequest = {
      chunkSteps(chunk) {
        let bytes;
        try {
          bytes = chunkToBytes(chunk);
        } catch (e) {
          finished = true;
          setHandled(readerGenericCancel(reader, e));
          result.reject(e);
          return;
        }
        chunks[chunks.length] = bytes;
        total += call(TypedArrayPrototypeGetByteLength, bytes);
        if (inRead) gotChunk = true;
        else queueMicrotaskInternal(pump);
      },
      closeSteps() {
        finished = true;
        const out = new Uint8ArrayCtor(total);
        let offset = 0;
        for (let i = 0; i < chunks.length; i++) {
          call(TypedArrayPrototypeSet, out, chunks[i], offset);
          offset += call(TypedArrayPrototypeGetByteLength, chunks[i]);
        }
        result.resolve(out);
      },
      errorSteps(e) {
        finished = true;
        result.reject(e);
      },
    };
    // Chunks already queued are taken synchronously; otherwise the next read
    // is issued a microtask after the chunk arrives (no re-entrancy into the
    // source's enqueue()).
    function pump() {
      do {
        gotChunk = false;
        inRead = true;
        readableStreamDefaultReaderRead(reader, readRequest);
        inRead = false;
      } while (gotChunk && !finished);
    }
    pump();
    return result.promise;
  }

  // What rw.streamReader returns: how the runtime reads a body stream. A
  // class, not a frozen null-prototype literal per call: freezing a
  // dictionary-mode object makes V8 copy its map into old space every time,
  // which is garbage only a full GC frees.
  //
  // The runtime reads in batches: pump(n, bytes) starts a batch of up to n
  // reads or `bytes` bytes, and take() hands over what it produced. Each
  // read is issued as the one before it is answered (in a microtask), so at
  // most one read is outstanding: a source that enqueues synchronously fills
  // the whole batch within one microtask checkpoint (its pull runs as the
  // previous pull's promise settles), and one that does not sees demand for
  // one chunk at a time. The runtime starts the next batch after the socket
  // took this one: the only demand the source sees.
  class StreamReaderHandle {
    #reader;
    // Results in order: Uint8Array chunks, then null (the end) or a
    // ReadError (the stream failed) last.
    #out = [];
    // Whether #out holds the end last.
    #ended = false;
    // Whether a read is issued and not yet answered.
    #outstanding = false;
    // What is left of the batch: reads, bytes.
    #reads = 0;
    #bytes = 0;
    // Resolved when a result arrives while the runtime waits (whenReady).
    #bell = undefined;
    #request;
    #next;
    constructor(reader) {
      this.#reader = reader;
      // One request object serves every read, and one function issues the
      // next. (They go through local bindings: see newDefaultControllerRecord.)
      const chunkSteps = (chunk) => {
        this.#outstanding = false;
        let bytes;
        try {
          bytes = chunkToBytes(chunk);
        } catch (e) {
          // (The error first: cancelling answers with the end.)
          this.#put(new ReadError(e));
          setHandled(readerGenericCancel(reader, e));
          return;
        }
        this.#put(bytes);
        this.#bytes -= viewByteLength(bytes);
        if (this.#reads > 0 && this.#bytes > 0) queueMicrotaskInternal(this.#next);
      };
      const closeSteps = () => {
        this.#outstanding = false;
        this.#put(null);
      };
      const errorSteps = (e) => {
        this.#outstanding = false;
        this.#put(new ReadError(e));
      };
      const next = () => this.#read();
      this.#request = { chunkSteps, closeSteps, errorSteps };
      this.#next = next;
    }
    #put(result) {
      // Once ended, nothing more.
      if (this.#ended) return;
      if (result === null || result instanceof ReadError) this.#ended = true;
      this.#out.push(result);
      const bell = this.#bell;
      if (bell !== undefined) {
        this.#bell = undefined;
        bell.resolve(undefined);
      }
    }
    #read() {
      if (this.#outstanding || this.#ended || this.#reads <= 0) return;
      const reader = this.#reader;
      if (reader.stream === undefined) {
        this.#put(new ReadError(new TypeErr("Cannot read from a released reader")));
        return;
      }
      this.#reads--;
      this.#outstanding = true;
      readableStreamDefaultReaderRead(reader, this.#request);
    }
    // Starts a batch of up to n reads or `bytes` bytes, unless a read is
    // still outstanding.
    pump(n, bytes) {
      if (this.#outstanding || this.#ended) return;
      this.#reads = n;
      this.#bytes = bytes;
      this.#read();
    }
    // The results so far (chunks, then null or a ReadError), or undefined.
    take() {
      const out = this.#out;
      if (out.length === 0) return undefined;
      // The end stays for any later take.
      this.#out = this.#ended ? [out[out.length - 1]] : [];
      return out;
    }
    // A promise that settles when take() has something.
    whenReady() {
      if (this.#out.length > 0) return resolvedUndefined();
      if (this.#bell === undefined) this.#bell = new Deferred();
      return this.#bell.promise;
    }
    cancel(reason) {
      const reader = this.#reader;
      if (reader.stream === undefined) return resolvedUndefined();
      return readerGenericCancel(reader, reason);
    }
    releaseLock() {
      const reader = this.#reader;
      if (reader.stream !== undefined) readableStreamDefaultReaderRelease(reader);
    }
  }
  ObjectSetPrototypeOf(StreamReaderHandle.prototype, null);
  ObjectFreeze(StreamReaderHandle.prototype);

  // A failed read in StreamReaderHandle's results.
  class ReadError {
    constructor(error) {
      this.error = error;
    }
  }
  ObjectSetPrototypeOf(ReadError.prototype, null);

  function streamReader(stream) {
    const s = rsRec(stream);
    if (s === undefined) throw new TypeErr("streamReader: not a ReadableStream");
    return new StreamReaderHandle(acquireReadableStreamDefaultReader(s));
  }

  // What rw.newNativeReadable returns (a class for the same reason as
  // StreamReaderHandle).
  class NativeReadableHandle {
    #s;
    #bytes;
    constructor(s, bytes) {
      this.#s = s;
      this.#bytes = bytes;
      this.stream = s.obj;
    }
    #canCloseOrEnqueue() {
      const s = this.#s;
      const c = s.controller;
      return c.failMessage === undefined && !c.closeRequested && s.state === "readable";
    }
    enqueue(chunk) {
      if (!this.#canCloseOrEnqueue()) return false;
      const c = this.#s.controller;
      if (!this.#bytes) {
        readableStreamDefaultControllerEnqueue(c, chunk);
        return true;
      }
      try {
        requireView(chunk, "enqueue");
        if (viewByteLength(chunk) === 0) return true;
        readableByteStreamControllerEnqueue(c, chunk);
        return true;
      } catch (e) {
        readableByteStreamControllerError(c, e);
        return false;
      }
    }
    close() {
      if (!this.#canCloseOrEnqueue()) return false;
      const c = this.#s.controller;
      if (!this.#bytes) {
        readableStreamDefaultControllerClose(c);
        return true;
      }
      try {
        readableByteStreamControllerClose(c);
        return true;
      } catch {
        return false;
      }
    }
    error(e) {
      const s = this.#s;
      if (s.state !== "readable") return false;
      if (this.#bytes) readableByteStreamControllerError(s.controller, e);
      else readableStreamDefaultControllerError(s.controller, e);
      return true;
    }
    desiredSize() {
      return readableStreamControllerGetDesiredSize(this.#s.controller);
    }
  }
  ObjectSetPrototypeOf(NativeReadableHandle.prototype, null);
  ObjectFreeze(NativeReadableHandle.prototype);

  function newNativeReadable(source, highWaterMark = 1, options = undefined) {
    const hwm = NumberCtor(highWaterMark);
    if (NumberIsNaN(hwm) || hwm < 0) throw new RangeErr("newNativeReadable: invalid highWaterMark");
    const bytes = isObject(options) && options.type === "bytes";
    const pullFn = isObject(source) ? source.pull : undefined;
    const cancelFn = isObject(source) ? source.cancel : undefined;
    let handle;
    const startAlgorithm = () => undefined;
    const pullAlgorithm = () =>
      typeof pullFn === "function" ? invokePromise(pullFn, source, [handle]) : resolvedUndefined();
    const cancelAlgorithm = (reason) =>
      typeof cancelFn === "function" ? invokePromise(cancelFn, source, [reason]) : resolvedUndefined();
    let s;
    if (bytes) {
      s = rsRec(new ReadableStream(kInternal));
      setUpReadableByteStreamController(
        s,
        newByteControllerRecord(),
        startAlgorithm,
        pullAlgorithm,
        cancelAlgorithm,
        hwm,
        undefined,
      );
    } else {
      s = createReadableStream(startAlgorithm, pullAlgorithm, cancelAlgorithm, hwm, () => 1);
    }
    handle = new NativeReadableHandle(s, bytes);
    return handle;
  }

  function setControllerSignal(target, signal) {
    let c = rsdcRec(target) || rbscRec(target);
    if (c === undefined) {
      const s = rsRec(target);
      if (s !== undefined) c = s.controller;
    }
    if (c === undefined) {
      throw new TypeErr("setControllerSignal: expected a ReadableStream or its controller");
    }
    c.signal = signal;
    // Not in the standard, so it is an own property of this controller only
    // (the prototypes stay exactly as specified; unset reads as undefined).
    ObjectDefineProperty(c.obj, "signal", {
      value: signal,
      writable: false,
      enumerable: false,
      configurable: true,
    });
  }

  // The signal a stream's controller carries (undefined if none).
  function controllerSignal(stream) {
    const st = rsRec(stream);
    return st !== undefined && st.controller !== undefined ? st.controller.signal : undefined;
  }
  rw.controllerSignal = controllerSignal;

  // Makes the source's controller.enqueue() throw TypeError(message) and
  // close() a no-op from now on, without erroring the stream (so a later
  // cancel still reaches the source's cancel(reason)).
  function markStreamFailed(stream, message) {
    const st = rsRec(stream);
    if (st === undefined || st.controller === undefined) return;
    st.controller.failMessage = `${message}`;
  }
  rw.markStreamFailed = markStreamFailed;

  function failStream(stream, reason, message = undefined) {
    const s = rsRec(stream);
    if (s === undefined) throw new TypeErr("failStream: not a ReadableStream");
    if (message === undefined) {
      try {
        message = reason instanceof Error ? reason.message : `${reason}`;
      } catch {
        message = "The stream was errored";
      }
    }
    message = `${message}`;
    const c = s.controller;
    c.failMessage = message;
    if (s.transform !== undefined) {
      // A TransformStream's readable side: its writable side fails too, so a
      // writer does not wait forever on backpressure.
      const t = s.transform;
      readableStreamDefaultControllerError(c, reason);
      transformStreamErrorWritableAndUnblockWrite(t, new TypeErr(message));
      return;
    }
    if (s.state !== "readable") return;
    if (c.kind === "bytes") readableByteStreamControllerError(c, reason);
    else readableStreamDefaultControllerError(c, reason);
  }

  rw.ReadableStream = ReadableStream;
  rw.WritableStream = WritableStream;
  rw.TransformStream = TransformStream;
  rw.isReadableStream = (v) => rsRec(v) !== undefined;
  rw.isDisturbed = (v) => {
    const s = rsRec(v);
    return s !== undefined && s.disturbed;
  };
  rw.isLocked = (v) => {
    const s = rsRec(v);
    return s !== undefined && isReadableStreamLocked(s);
  };
  rw.newNativeReadable = newNativeReadable;
  rw.readAll = readAll;
  rw.streamReader = streamReader;
  rw.setControllerSignal = setControllerSignal;
  rw.failStream = failStream;

  // For isolate/tests/js/streams.test.js, which cannot reach `rw` (see the
  // note at the top of this file).
  rw.streamsInternals = ObjectFreeze({
    __proto__: null,
    isReadableStream: rw.isReadableStream,
    isDisturbed: rw.isDisturbed,
    isLocked: rw.isLocked,
    newNativeReadable,
    readAll,
    streamReader,
    setControllerSignal,
    failStream,
  });

  // --------------------------------------------------------- install globals
  const define = rw.define;
  define("ReadableStream", ReadableStream);
  define("ReadableStreamDefaultReader", ReadableStreamDefaultReader);
  define("ReadableStreamBYOBReader", ReadableStreamBYOBReader);
  define("ReadableStreamBYOBRequest", ReadableStreamBYOBRequest);
  define("ReadableStreamDefaultController", ReadableStreamDefaultController);
  define("ReadableByteStreamController", ReadableByteStreamController);
  define("WritableStream", WritableStream);
  define("WritableStreamDefaultWriter", WritableStreamDefaultWriter);
  define("WritableStreamDefaultController", WritableStreamDefaultController);
  define("TransformStream", TransformStream);
  define("TransformStreamDefaultController", TransformStreamDefaultController);
  define("ByteLengthQueuingStrategy", ByteLengthQueuingStrategy);
  define("CountQueuingStrategy", CountQueuingStrategy);
  define("TextEncoderStream", TextEncoderStream);
  define("TextDecoderStream", TextDecoderStream);
})

// 10_events: DOMException, Event/EventTarget/CustomEvent, AbortController/
// AbortSignal, queueMicrotask/reportError, atob/btoa, URLSearchParams, Blob/File.
// See the header of 00_bootstrap.js for the file convention.
//
// Internals this file puts on `rw` for the other files and the runtime:
//   rw.DOMException, rw.Event, rw.EventTarget
//   rw.reportException(error)              report like an uncaught error (console.error)
//   rw.defineEventHandler(proto, type)     adds an `on<type>` event handler attribute
//   rw.dispatchTrusted(target, event)      dispatches with isTrusted = true -> !canceled
//   rw.isAbortSignal(v) -> bool
//   rw.newAbortSignal() -> AbortSignal     fresh, not aborted, no controller
//   rw.abortSignal(signal, reason)         signal abort (reason undefined -> AbortError)
//   rw.isAborted(signal) -> bool, rw.abortReason(signal)   (immune to user patching)
//   rw.addAbortAlgorithm(signal, fn) -> remove()   runs fn() on abort, before the
//                                          event; a no-op if already aborted
//   rw.URLSearchParams
//   rw.makeSearchParams(query, onUpdate)   params parsed from `query` (no '?' is stripped);
//                                          each mutation calls onUpdate(serialized)
//   rw.resetSearchParams(params, query)    re-parse from `query` (null -> empty), no onUpdate
//   rw.Blob, rw.File, rw.isBlob(v), rw.blobBytes(blob) -> Uint8Array (shared, do not mutate)
//   rw.newBlob(bytes: Uint8Array, type = "") -> Blob (takes the bytes without copying)
//   rw.newFile(bytes, name, { type, lastModified }) -> File (likewise)
(function (ops, rw) {
  "use strict";

  // ------------------------------------------------------ captured builtins
  const uncurryThis = (f) => Function.prototype.call.bind(f);
  const FunctionPrototypeCall = uncurryThis(Function.prototype.call);
  const ReflectApply = Reflect.apply;
  const ReflectOwnKeys = Reflect.ownKeys;
  const ObjectDefineProperty = Object.defineProperty;
  const ObjectGetOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
  const ObjectGetPrototypeOf = Object.getPrototypeOf;
  const ObjectSetPrototypeOf = Object.setPrototypeOf;
  const ObjectFreeze = Object.freeze;
  const ArrayPrototypePush = uncurryThis(Array.prototype.push);
  const ArrayPrototypeSlice = uncurryThis(Array.prototype.slice);
  const ArrayPrototypeSplice = uncurryThis(Array.prototype.splice);
  const ArrayPrototypeIndexOf = uncurryThis(Array.prototype.indexOf);
  const ArrayPrototypeSort = uncurryThis(Array.prototype.sort);
  const ArrayPrototypeFilter = uncurryThis(Array.prototype.filter);
  const ArrayIteratorPrototype = ObjectGetPrototypeOf([][Symbol.iterator]());
  const IteratorPrototype = ObjectGetPrototypeOf(ArrayIteratorPrototype);
  const StringFromCharCode = String.fromCharCode;
  const StringPrototypeCharCodeAt = uncurryThis(String.prototype.charCodeAt);
  const StringPrototypeIndexOf = uncurryThis(String.prototype.indexOf);
  const StringPrototypeSlice = uncurryThis(String.prototype.slice);
  const StringPrototypeSplit = uncurryThis(String.prototype.split);
  const StringPrototypeToLowerCase = uncurryThis(String.prototype.toLowerCase);
  const StringPrototypeToWellFormed = String.prototype.toWellFormed
    ? uncurryThis(String.prototype.toWellFormed)
    : null;
  const RegExpPrototypeTest = uncurryThis(RegExp.prototype.test);
  const RegExpPrototypeSymbolReplace = uncurryThis(RegExp.prototype[Symbol.replace]);
  const SymbolIterator = Symbol.iterator;
  const SymbolToStringTag = Symbol.toStringTag;
  const MathFloor = Math.floor;
  const MathMin = Math.min;
  const MathMax = Math.max;
  const MathTrunc = Math.trunc;
  const NumberIsNaN = Number.isNaN;
  const NumberIsFinite = Number.isFinite;
  const DateNow = Date.now;
  const PromiseResolve = Promise.resolve.bind(Promise);
  const PromiseReject = Promise.reject.bind(Promise);
  const PromisePrototypeThen = uncurryThis(Promise.prototype.then);
  const WeakRefCtor = typeof WeakRef === "function" ? WeakRef : null;
  const WeakRefPrototypeDeref = WeakRefCtor ? uncurryThis(WeakRef.prototype.deref) : null;
  const SetCtor = Set;
  const SetPrototypeAdd = uncurryThis(Set.prototype.add);
  const SetPrototypeDelete = uncurryThis(Set.prototype.delete);
  const SetPrototypeHas = uncurryThis(Set.prototype.has);
  const SetPrototypeValues = uncurryThis(Set.prototype.values);
  const MapCtor = Map;
  const MapPrototypeGet = uncurryThis(Map.prototype.get);
  const MapPrototypeSet = uncurryThis(Map.prototype.set);
  const MapPrototypeDelete = uncurryThis(Map.prototype.delete);
  const ErrorCaptureStackTrace = Error.captureStackTrace;
  const ErrorPrototype = Error.prototype;
  const TypeErr = TypeError;
  const U8 = Uint8Array;
  const ArrayBufferIsView = ArrayBuffer.isView;
  const ArrayBufferByteLength = uncurryThis(
    ObjectGetOwnPropertyDescriptor(ArrayBuffer.prototype, "byteLength").get,
  );
  const TypedArrayPrototype = ObjectGetPrototypeOf(Uint8Array.prototype);
  const TypedArrayGetTag = uncurryThis(
    ObjectGetOwnPropertyDescriptor(TypedArrayPrototype, SymbolToStringTag).get,
  );
  const TypedArrayGetBuffer = uncurryThis(
    ObjectGetOwnPropertyDescriptor(TypedArrayPrototype, "buffer").get,
  );
  const TypedArrayGetByteOffset = uncurryThis(
    ObjectGetOwnPropertyDescriptor(TypedArrayPrototype, "byteOffset").get,
  );
  const TypedArrayGetByteLength = uncurryThis(
    ObjectGetOwnPropertyDescriptor(TypedArrayPrototype, "byteLength").get,
  );
  const TypedArrayGetLength = uncurryThis(
    ObjectGetOwnPropertyDescriptor(TypedArrayPrototype, "length").get,
  );
  const TypedArrayPrototypeSet = uncurryThis(TypedArrayPrototype.set);
  const TypedArrayPrototypeSubarray = uncurryThis(TypedArrayPrototype.subarray);
  const DataViewGetBuffer = uncurryThis(
    ObjectGetOwnPropertyDescriptor(DataView.prototype, "buffer").get,
  );
  const DataViewGetByteOffset = uncurryThis(
    ObjectGetOwnPropertyDescriptor(DataView.prototype, "byteOffset").get,
  );
  const DataViewGetByteLength = uncurryThis(
    ObjectGetOwnPropertyDescriptor(DataView.prototype, "byteLength").get,
  );
  const encodeURIComponentFn = encodeURIComponent;
  const decodeURIComponentFn = decodeURIComponent;
  const setTimeoutFn = globalThis.setTimeout;
  const utf8Encode = ops.utf8Encode;
  const utf8Decode = ops.utf8Decode;
  const originalConsoleError =
    globalThis.console && typeof globalThis.console.error === "function"
      ? globalThis.console.error
      : (...args) => ops.log(3, args.join(" "));
  const perf = globalThis.performance;
  const perfNow = perf && typeof perf.now === "function" ? perf.now.bind(perf) : null;
  const timeOrigin = DateNow();
  const now = () => (perfNow !== null ? perfNow() : DateNow() - timeOrigin);

  const define = rw.define;

  // ------------------------------------------------------------- helpers
  function requireArgs(count, required, what) {
    if (count < required) {
      throw new TypeErr(
        `${what}: ${required} argument${required === 1 ? "" : "s"} required, but only ${count} present`,
      );
    }
  }

  // WebIDL DOMString / USVString conversions.
  const toDOMString = (v) => `${v}`;
  function toUSVString(v) {
    const s = `${v}`;
    if (StringPrototypeToWellFormed !== null) return StringPrototypeToWellFormed(s);
    return RegExpPrototypeSymbolReplace(
      /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(^|[^\uD800-\uDBFF])[\uDC00-\uDFFF]/g,
      s,
      (m, pre) => (pre === undefined ? "\uFFFD" : `${pre}\uFFFD`),
    );
  }

  // WebIDL dictionary: undefined/null -> empty, other non-objects -> TypeError.
  function toDictionary(v, what) {
    if (v === undefined || v === null) return null;
    if (typeof v !== "object" && typeof v !== "function") {
      throw new TypeErr(`${what}: the options argument must be an object`);
    }
    return v;
  }

  function isObject(v) {
    return (typeof v === "object" && v !== null) || typeof v === "function";
  }

  // Makes a class look like a WebIDL interface: operations and attributes
  // enumerable, @@toStringTag a plain data property.
  function finishInterface(cls, tag) {
    for (const target of [cls.prototype, cls]) {
      for (const key of ReflectOwnKeys(target)) {
        if (typeof key !== "string") continue;
        if (key === "constructor" || key === "prototype" || key === "length" || key === "name") {
          continue;
        }
        const d = ObjectGetOwnPropertyDescriptor(target, key);
        if (d.configurable && !d.enumerable) {
          d.enumerable = true;
          ObjectDefineProperty(target, key, d);
        }
      }
    }
    ObjectDefineProperty(cls.prototype, SymbolToStringTag, {
      value: tag,
      writable: false,
      enumerable: false,
      configurable: true,
    });
  }

  function defineConstants(cls, table) {
    for (const key of ReflectOwnKeys(table)) {
      const d = { value: table[key], writable: false, enumerable: true, configurable: false };
      ObjectDefineProperty(cls, key, d);
      ObjectDefineProperty(cls.prototype, key, d);
    }
  }

  function illegal(what) {
    return new TypeErr(`Illegal invocation: ${what}`);
  }

  // "Report the exception": like an uncaught error, logged with console.error
  // (the current one if usable, so log capture sees it; else the original).
  function reportException(error) {
    // An ErrorEvent at the global scope first (35_globals.js); a listener
    // that cancels it keeps it out of the log.
    if (typeof rw.onUncaught === "function" && rw.onUncaught(error)) return;
    try {
      const c = globalThis.console;
      const f = c !== null && c !== undefined ? c.error : undefined;
      if (typeof f === "function") {
        ReflectApply(f, c, ["Uncaught", error]);
        return;
      }
    } catch {
      // fall through to the original console.error
    }
    try {
      ReflectApply(originalConsoleError, undefined, ["Uncaught", error]);
    } catch {
      // nothing left to report with
    }
  }

  // ----------------------------------------------------------- DOMException
  const ERROR_CODES = {
    IndexSizeError: 1,
    HierarchyRequestError: 3,
    WrongDocumentError: 4,
    InvalidCharacterError: 5,
    NoModificationAllowedError: 7,
    NotFoundError: 8,
    NotSupportedError: 9,
    InUseAttributeError: 10,
    InvalidStateError: 11,
    SyntaxError: 12,
    InvalidModificationError: 13,
    NamespaceError: 14,
    InvalidAccessError: 15,
    TypeMismatchError: 17,
    SecurityError: 18,
    NetworkError: 19,
    AbortError: 20,
    URLMismatchError: 21,
    QuotaExceededError: 22,
    TimeoutError: 23,
    InvalidNodeTypeError: 24,
    DataCloneError: 25,
  };
  ObjectSetPrototypeOf(ERROR_CODES, null);

  // Set while the runtime makes an exception nobody needs a stack for.
  let withoutStack = false;

  class DOMException {
    #name;
    #message;
    constructor(message = undefined, options = undefined) {
      this.#message = message === undefined ? "" : toDOMString(message);
      let name = "Error";
      if (isObject(options)) {
        // new DOMException(message, { name, cause }), as Node and Deno accept.
        const n = options.name;
        if (n !== undefined) name = toDOMString(n);
        if ("cause" in options) {
          ObjectDefineProperty(this, "cause", {
            value: options.cause,
            writable: true,
            enumerable: false,
            configurable: true,
          });
        }
      } else if (options !== undefined) {
        name = toDOMString(options);
      }
      this.#name = name;
      if (ErrorCaptureStackTrace && !withoutStack) {
        ErrorCaptureStackTrace(this, new.target || DOMException);
      }
    }
    get name() {
      if (!(#name in this)) throw illegal("DOMException.name");
      return this.#name;
    }
    get message() {
      if (!(#name in this)) throw illegal("DOMException.message");
      return this.#message;
    }
    get code() {
      if (!(#name in this)) throw illegal("DOMException.code");
      return ERROR_CODES[this.#name] || 0;
    }
    static isDOMException(v) {
      return isObject(v) && #name in v;
    }
  }
  const isDOMException = DOMException.isDOMException;
  delete DOMException.isDOMException;
  ObjectSetPrototypeOf(DOMException.prototype, ErrorPrototype);
  finishInterface(DOMException, "DOMException");
  defineConstants(DOMException, {
    INDEX_SIZE_ERR: 1,
    DOMSTRING_SIZE_ERR: 2,
    HIERARCHY_REQUEST_ERR: 3,
    WRONG_DOCUMENT_ERR: 4,
    INVALID_CHARACTER_ERR: 5,
    NO_DATA_ALLOWED_ERR: 6,
    NO_MODIFICATION_ALLOWED_ERR: 7,
    NOT_FOUND_ERR: 8,
    NOT_SUPPORTED_ERR: 9,
    INUSE_ATTRIBUTE_ERR: 10,
    INVALID_STATE_ERR: 11,
    SYNTAX_ERR: 12,
    INVALID_MODIFICATION_ERR: 13,
    NAMESPACE_ERR: 14,
    INVALID_ACCESS_ERR: 15,
    VALIDATION_ERR: 16,
    TYPE_MISMATCH_ERR: 17,
    SECURITY_ERR: 18,
    NETWORK_ERR: 19,
    ABORT_ERR: 20,
    URL_MISMATCH_ERR: 21,
    QUOTA_EXCEEDED_ERR: 22,
    TIMEOUT_ERR: 23,
    INVALID_NODE_TYPE_ERR: 24,
    DATA_CLONE_ERR: 25,
  });

  // ------------------------------------------------------------------ Event
  const NONE = 0;
  const AT_TARGET = 2;
  let eventState; // (event) -> internal state, or undefined for non-events
  let evState; // (event, what) -> internal state, or throws
  let isTrustedGetter;

  class Event {
    #s;
    constructor(type, eventInitDict = undefined) {
      requireArgs(arguments.length, 1, "Event constructor");
      type = toDOMString(type);
      const init = toDictionary(eventInitDict, "Event constructor");
      // Dictionary members are read in WebIDL (alphabetical) order.
      const bubbles = init !== null && !!init.bubbles;
      const cancelable = init !== null && !!init.cancelable;
      const composed = init !== null && !!init.composed;
      this.#s = {
        type,
        bubbles,
        cancelable,
        composed,
        target: null,
        currentTarget: null,
        phase: NONE,
        path: null,
        stop: false,
        stopImmediate: false,
        canceled: false,
        inPassive: false,
        dispatching: false,
        initialized: true,
        trusted: false,
        timeStamp: now(),
      };
      // [LegacyUnforgeable]: an own, non-configurable accessor on each event.
      ObjectDefineProperty(this, "isTrusted", {
        get: isTrustedGetter,
        enumerable: true,
        configurable: false,
      });
    }
    static {
      eventState = (e) => (isObject(e) && #s in e ? e.#s : undefined);
      evState = (e, what) => {
        if (!isObject(e) || !(#s in e)) throw illegal(`Event.${what}`);
        return e.#s;
      };
      isTrustedGetter = {
        get isTrusted() {
          if (!isObject(this) || !(#s in this)) throw illegal("Event.isTrusted");
          return this.#s.trusted;
        },
      };
      isTrustedGetter = ObjectGetOwnPropertyDescriptor(isTrustedGetter, "isTrusted").get;
    }
    get type() {
      return evState(this, "type").type;
    }
    get target() {
      return evState(this, "target").target;
    }
    get srcElement() {
      return evState(this, "srcElement").target;
    }
    get currentTarget() {
      return evState(this, "currentTarget").currentTarget;
    }
    composedPath() {
      const s = evState(this, "composedPath");
      return s.path === null ? [] : ArrayPrototypeSlice(s.path);
    }
    get eventPhase() {
      return evState(this, "eventPhase").phase;
    }
    stopPropagation() {
      evState(this, "stopPropagation").stop = true;
    }
    get cancelBubble() {
      return evState(this, "cancelBubble").stop;
    }
    set cancelBubble(value) {
      const s = evState(this, "cancelBubble");
      if (value) s.stop = true;
    }
    stopImmediatePropagation() {
      const s = evState(this, "stopImmediatePropagation");
      s.stop = true;
      s.stopImmediate = true;
    }
    get bubbles() {
      return evState(this, "bubbles").bubbles;
    }
    get cancelable() {
      return evState(this, "cancelable").cancelable;
    }
    get returnValue() {
      return !evState(this, "returnValue").canceled;
    }
    set returnValue(value) {
      const s = evState(this, "returnValue");
      if (!value && s.cancelable && !s.inPassive) s.canceled = true;
    }
    preventDefault() {
      const s = evState(this, "preventDefault");
      if (s.cancelable && !s.inPassive) s.canceled = true;
    }
    get defaultPrevented() {
      return evState(this, "defaultPrevented").canceled;
    }
    get composed() {
      return evState(this, "composed").composed;
    }
    get timeStamp() {
      return evState(this, "timeStamp").timeStamp;
    }
    initEvent(type, bubbles = false, cancelable = false) {
      const s = evState(this, "initEvent");
      requireArgs(arguments.length, 1, "Event.initEvent");
      if (s.dispatching) return;
      s.initialized = true;
      s.stop = false;
      s.stopImmediate = false;
      s.canceled = false;
      s.trusted = false;
      s.target = null;
      s.type = toDOMString(type);
      s.bubbles = !!bubbles;
      s.cancelable = !!cancelable;
    }
  }
  finishInterface(Event, "Event");
  defineConstants(Event, { NONE: 0, CAPTURING_PHASE: 1, AT_TARGET: 2, BUBBLING_PHASE: 3 });

  class CustomEvent extends Event {
    #detail;
    constructor(type, eventInitDict = undefined) {
      requireArgs(arguments.length, 1, "CustomEvent constructor");
      super(type, eventInitDict);
      const init = toDictionary(eventInitDict, "CustomEvent constructor");
      const detail = init === null ? undefined : init.detail;
      this.#detail = detail === undefined ? null : detail;
    }
    get detail() {
      if (!isObject(this) || !(#detail in this)) throw illegal("CustomEvent.detail");
      return this.#detail;
    }
    initCustomEvent(type, bubbles = false, cancelable = false, detail = null) {
      if (!isObject(this) || !(#detail in this)) throw illegal("CustomEvent.initCustomEvent");
      requireArgs(arguments.length, 1, "CustomEvent.initCustomEvent");
      if (eventState(this).dispatching) return;
      this.initEvent(type, bubbles, cancelable);
      this.#detail = detail;
    }
  }
  finishInterface(CustomEvent, "CustomEvent");

  // ------------------------------------------------------------ EventTarget
  // (target) -> Map<type, record[]>; null for a target that never had a
  // listener (the map is made on the first: most targets never get one);
  // undefined for what is not an EventTarget.
  let listenersOf;
  let makeListeners; // (target) -> its listener map, made if need be
  let handlersOf; // (target) -> Map<type, handler> (created lazily)

  function flattenCapture(options) {
    if (typeof options === "boolean") return options;
    if (options === undefined || options === null) return false;
    if (!isObject(options)) return !!options;
    return !!options.capture;
  }

  function callbackOrNull(callback, what) {
    if (callback === undefined || callback === null) return null;
    if (!isObject(callback)) {
      throw new TypeErr(`${what}: the listener must be a function or an object with handleEvent`);
    }
    return callback;
  }

  function addListenerRecord(target, type, record) {
    const map = makeListeners(target);
    const list = MapPrototypeGet(map, type);
    if (list === undefined) {
      // (A literal, not [] and a push: that would reserve 17 slots.)
      MapPrototypeSet(map, type, [record]);
      if (type === "abort") onAbortListenerAdded(target);
      return record;
    }
    for (let i = 0; i < list.length; i++) {
      const l = list[i];
      if (l.callback === record.callback && l.capture === record.capture) return null;
    }
    ArrayPrototypePush(list, record);
    if (type === "abort") onAbortListenerAdded(target);
    return record;
  }

  function removeListenerRecord(target, type, record) {
    record.removed = true;
    if (record.unsubscribe !== null) {
      const un = record.unsubscribe;
      record.unsubscribe = null;
      un();
    }
    const map = listenersOf(target);
    if (map === null) return;
    const list = MapPrototypeGet(map, type);
    if (list === undefined) return;
    const i = ArrayPrototypeIndexOf(list, record);
    if (i === -1) return;
    ArrayPrototypeSplice(list, i, 1);
    if (list.length === 0) MapPrototypeDelete(map, type);
    if (type === "abort") onAbortListenerRemoved(target);
  }

  class EventTarget {
    #listeners = null;
    #handlers = null;
    constructor() {}
    static {
      listenersOf = (t) => (isObject(t) && #listeners in t ? t.#listeners : undefined);
      makeListeners = (t) => {
        if (t.#listeners === null) t.#listeners = new MapCtor();
        return t.#listeners;
      };
      handlersOf = (t) => {
        if (t.#handlers === null) t.#handlers = new MapCtor();
        return t.#handlers;
      };
    }
    addEventListener(type, callback, options = undefined) {
      if (!isObject(this) || !(#listeners in this)) throw illegal("EventTarget.addEventListener");
      requireArgs(arguments.length, 2, "EventTarget.addEventListener");
      type = toDOMString(type);
      callback = callbackOrNull(callback, "EventTarget.addEventListener");
      let capture = false;
      let once = false;
      let passive = false;
      let signal = null;
      if (typeof options === "boolean") {
        capture = options;
      } else if (isObject(options)) {
        capture = !!options.capture;
        once = !!options.once;
        passive = !!options.passive;
        const s = options.signal;
        if (s !== undefined) {
          if (!isAbortSignal(s)) {
            throw new TypeErr("EventTarget.addEventListener: options.signal is not an AbortSignal");
          }
          signal = s;
        }
      } else if (options !== undefined && options !== null) {
        capture = !!options;
      }
      if (signal !== null && signalState(signal).aborted) return;
      if (callback === null) return;
      const record = {
        callback,
        capture,
        once,
        passive,
        removed: false,
        unsubscribe: null,
      };
      if (addListenerRecord(this, type, record) === null) return;
      if (signal !== null) {
        const target = this;
        record.unsubscribe = addAbortAlgorithm(signal, () => {
          record.unsubscribe = null;
          removeListenerRecord(target, type, record);
        });
      }
    }
    removeEventListener(type, callback, options = undefined) {
      if (!isObject(this) || !(#listeners in this)) {
        throw illegal("EventTarget.removeEventListener");
      }
      requireArgs(arguments.length, 2, "EventTarget.removeEventListener");
      type = toDOMString(type);
      callback = callbackOrNull(callback, "EventTarget.removeEventListener");
      const capture = flattenCapture(options);
      if (callback === null) return;
      if (this.#listeners === null) return;
      const list = MapPrototypeGet(this.#listeners, type);
      if (list === undefined) return;
      for (let i = 0; i < list.length; i++) {
        const l = list[i];
        if (l.callback === callback && l.capture === capture) {
          removeListenerRecord(this, type, l);
          return;
        }
      }
    }
    dispatchEvent(event) {
      if (!isObject(this) || !(#listeners in this)) throw illegal("EventTarget.dispatchEvent");
      requireArgs(arguments.length, 1, "EventTarget.dispatchEvent");
      const s = eventState(event);
      if (s === undefined) {
        throw new TypeErr("EventTarget.dispatchEvent: the argument is not an Event");
      }
      if (s.dispatching || !s.initialized) {
        throw new DOMException(
          "EventTarget.dispatchEvent: the event is already being dispatched",
          "InvalidStateError",
        );
      }
      s.trusted = false;
      return dispatch(this, event, s);
    }
  }
  finishInterface(EventTarget, "EventTarget");

  // The DOM dispatch algorithm for a target without a parent: capture
  // listeners, then the others, all at AT_TARGET.
  function dispatch(target, event, s) {
    s.dispatching = true;
    s.target = target;
    s.currentTarget = target;
    s.path = [target];
    s.phase = AT_TARGET;
    try {
      invoke(target, event, s, true);
      invoke(target, event, s, false);
    } finally {
      s.phase = NONE;
      s.currentTarget = null;
      s.path = null;
      s.dispatching = false;
      s.stop = false;
      s.stopImmediate = false;
    }
    return !s.canceled;
  }

  function invoke(target, event, s, capturePhase) {
    if (s.stop) return;
    const map = listenersOf(target);
    if (map === null) return;
    const list = MapPrototypeGet(map, s.type);
    if (list === undefined) return;
    // Listeners added during the dispatch do not run; removed ones are
    // skipped. (One listener, the usual case, needs no copy of the list.)
    const snapshot = list.length === 1 ? list : ArrayPrototypeSlice(list);
    const n = snapshot.length;
    for (let i = 0; i < n; i++) {
      const l = snapshot[i];
      if (l.removed || l.capture !== capturePhase) continue;
      if (l.once) removeListenerRecord(target, s.type, l);
      if (l.passive) s.inPassive = true;
      try {
        const cb = l.callback;
        if (typeof cb === "function") {
          FunctionPrototypeCall(cb, target, event);
        } else {
          const handleEvent = cb.handleEvent;
          if (typeof handleEvent !== "function") {
            throw new TypeErr("the event listener's handleEvent is not a function");
          }
          FunctionPrototypeCall(handleEvent, cb, event);
        }
      } catch (e) {
        reportException(e);
      }
      s.inPassive = false;
      if (s.stopImmediate) return;
    }
  }

  // Internal: "fire an event" (isTrusted = true).
  function dispatchTrusted(target, event) {
    const s = eventState(event);
    if (s === undefined || listenersOf(target) === undefined) {
      throw new TypeErr("dispatchTrusted: expected an EventTarget and an Event");
    }
    s.trusted = true;
    return dispatch(target, event, s);
  }

  // An `on<type>` event handler IDL attribute (HTML "event handlers").
  function defineEventHandler(proto, type) {
    const name = `on${type}`;
    ObjectDefineProperty(proto, name, {
      get() {
        if (listenersOf(this) === undefined) throw illegal(name);
        const h = MapPrototypeGet(handlersOf(this), type);
        return h === undefined ? null : h.value;
      },
      set(value) {
        if (listenersOf(this) === undefined) throw illegal(name);
        const handlers = handlersOf(this);
        let h = MapPrototypeGet(handlers, type);
        if (!isObject(value)) value = null; // [LegacyTreatNonObjectAsNull]
        if (value === null) {
          if (h !== undefined) {
            MapPrototypeDelete(handlers, type);
            removeListenerRecord(this, type, h.record);
          }
          return;
        }
        if (h !== undefined) {
          h.value = value; // keeps its place among the listeners
          return;
        }
        h = { value, record: null };
        const listener = function (event) {
          const fn = h.value;
          if (typeof fn !== "function") return;
          const r = FunctionPrototypeCall(fn, this, event);
          if (r === false) event.preventDefault();
        };
        h.record = {
          callback: listener,
          capture: false,
          once: false,
          passive: false,
          removed: false,
          unsubscribe: null,
        };
        MapPrototypeSet(handlers, type, h);
        addListenerRecord(this, type, h.record);
      },
      enumerable: true,
      configurable: true,
    });
  }

  // -------------------------------------------------------------- AbortSignal
  const kInternal = ObjectFreeze({});
  let signalState; // (signal) -> state

  function defaultAbortReason() {
    return new DOMException("signal is aborted without reason", "AbortError");
  }

  function newSignalState() {
    return {
      aborted: false,
      reason: undefined,
      algorithms: null, // Set of functions
      dependent: false,
      sources: null, // array of source signals (strong)
      dependents: null, // Set of WeakRefs to dependent signals
      pinned: null, // Set of dependents kept alive (they have abort listeners)
      interest: 0, // abort listeners + abort algorithms on this signal
      pruneAt: 64,
    };
  }

  class AbortSignal extends EventTarget {
    #s;
    constructor(key = undefined) {
      if (key !== kInternal) throw new TypeErr("Illegal constructor");
      super();
      this.#s = newSignalState();
    }
    static {
      signalState = (s) => s.#s;
    }
    static abort(reason = undefined) {
      const signal = new AbortSignal(kInternal);
      const s = signal.#s;
      s.aborted = true;
      s.reason = reason === undefined ? defaultAbortReason() : reason;
      return signal;
    }
    static timeout(milliseconds) {
      requireArgs(arguments.length, 1, "AbortSignal.timeout");
      const ms = toEnforcedULongLong(milliseconds, "AbortSignal.timeout");
      const signal = new AbortSignal(kInternal);
      setTimeoutFn(() => {
        signalAbort(signal, new DOMException("signal timed out", "TimeoutError"));
      }, ms);
      return signal;
    }
    static any(signals) {
      requireArgs(arguments.length, 1, "AbortSignal.any");
      if (!isObject(signals) || typeof signals[SymbolIterator] !== "function") {
        throw new TypeErr("AbortSignal.any: the argument must be an iterable of AbortSignals");
      }
      const list = [];
      for (const s of signals) {
        if (!isAbortSignal(s)) {
          throw new TypeErr("AbortSignal.any: every item must be an AbortSignal");
        }
        ArrayPrototypePush(list, s);
      }
      return createDependentSignal(list);
    }
    get aborted() {
      if (!isAbortSignal(this)) throw illegal("AbortSignal.aborted");
      return this.#s.aborted;
    }
    get reason() {
      if (!isAbortSignal(this)) throw illegal("AbortSignal.reason");
      return this.#s.reason;
    }
    throwIfAborted() {
      if (!isAbortSignal(this)) throw illegal("AbortSignal.throwIfAborted");
      if (this.#s.aborted) throw this.#s.reason;
    }
    static isAbortSignal(v) {
      return isObject(v) && #s in v;
    }
  }
  const isAbortSignal = AbortSignal.isAbortSignal;
  delete AbortSignal.isAbortSignal;
  defineEventHandler(AbortSignal.prototype, "abort");
  finishInterface(AbortSignal, "AbortSignal");

  function toEnforcedULongLong(v, what) {
    const x = +v;
    if (!NumberIsFinite(x)) throw new TypeErr(`${what}: ${v} is not a finite number`);
    const t = MathTrunc(x);
    if (t < 0 || t > 9007199254740991) {
      throw new TypeErr(`${what}: ${v} is outside the range of an unsigned long long`);
    }
    return t === 0 ? 0 : t;
  }

  function addAbortAlgorithm(signal, algorithm) {
    const s = signalState(signal);
    if (s.aborted) return () => {};
    if (s.algorithms === null) s.algorithms = new SetCtor();
    // Wrapped so the same function may be added twice and removed once.
    const entry = () => algorithm();
    SetPrototypeAdd(s.algorithms, entry);
    addInterest(signal, s);
    return () => {
      if (s.algorithms !== null && SetPrototypeDelete(s.algorithms, entry)) {
        removeInterest(signal, s);
      }
    };
  }

  function onAbortListenerAdded(target) {
    if (isAbortSignal(target)) addInterest(target, signalState(target));
  }

  function onAbortListenerRemoved(target) {
    if (isAbortSignal(target)) removeInterest(target, signalState(target));
  }

  // A dependent signal (AbortSignal.any) is held weakly by its sources, except
  // while something would observe its abort (listeners, abort algorithms):
  // then its sources keep it alive, as the DOM standard's GC rule requires.
  function addInterest(signal, s) {
    if (++s.interest === 1) setPinned(signal, s, true);
  }

  function removeInterest(signal, s) {
    if (s.interest > 0 && --s.interest === 0) setPinned(signal, s, false);
  }

  function setPinned(signal, s, pinned) {
    if (!s.dependent || s.aborted || s.sources === null) return;
    for (let i = 0; i < s.sources.length; i++) {
      const src = signalState(s.sources[i]);
      if (pinned) {
        if (src.pinned === null) src.pinned = new SetCtor();
        SetPrototypeAdd(src.pinned, signal);
      } else if (src.pinned !== null) {
        SetPrototypeDelete(src.pinned, signal);
      }
    }
  }

  function addDependent(source, dependent) {
    const src = signalState(source);
    if (src.dependents === null) src.dependents = new SetCtor();
    const deps = src.dependents;
    if (WeakRefCtor === null) {
      SetPrototypeAdd(deps, { deref: () => dependent });
      return;
    }
    SetPrototypeAdd(deps, new WeakRefCtor(dependent));
    if (deps.size > src.pruneAt) {
      for (const ref of SetPrototypeValues(deps)) {
        const dep = WeakRefPrototypeDeref(ref);
        if (dep === undefined || signalState(dep).aborted) SetPrototypeDelete(deps, ref);
      }
      src.pruneAt = MathMax(64, deps.size * 2);
    }
  }

  function deref(ref) {
    return WeakRefCtor === null ? ref.deref() : WeakRefPrototypeDeref(ref);
  }

  function createDependentSignal(signals) {
    const result = new AbortSignal(kInternal);
    const r = signalState(result);
    for (let i = 0; i < signals.length; i++) {
      const s = signalState(signals[i]);
      if (s.aborted) {
        r.aborted = true;
        r.reason = s.reason;
        return result;
      }
    }
    r.dependent = true;
    r.sources = [];
    // (A fresh signal has no listeners yet, so nothing is pinned here.)
    const seen = new SetCtor();
    const link = (source) => {
      if (SetPrototypeHas(seen, source)) return;
      SetPrototypeAdd(seen, source);
      ArrayPrototypePush(r.sources, source);
      addDependent(source, result);
    };
    for (let i = 0; i < signals.length; i++) {
      const signal = signals[i];
      const s = signalState(signal);
      if (!s.dependent) {
        link(signal);
      } else if (s.sources !== null) {
        for (let j = 0; j < s.sources.length; j++) link(s.sources[j]);
      }
    }
    return result;
  }

  // The DOM "signal abort" algorithm.
  function signalAbort(signal, reason) {
    const s = signalState(signal);
    if (s.aborted) return;
    s.aborted = true;
    s.reason = reason === undefined ? defaultAbortReason() : reason;
    const toAbort = [];
    if (s.dependents !== null) {
      for (const ref of SetPrototypeValues(s.dependents)) {
        const dep = deref(ref);
        if (dep === undefined) continue;
        const d = signalState(dep);
        if (!d.aborted) {
          d.aborted = true;
          d.reason = s.reason;
          ArrayPrototypePush(toAbort, dep);
        }
      }
    }
    s.dependents = null;
    s.pinned = null;
    runAbortSteps(signal, s);
    for (let i = 0; i < toAbort.length; i++) {
      runAbortSteps(toAbort[i], signalState(toAbort[i]));
    }
  }

  function runAbortSteps(signal, s) {
    if (s.sources !== null) {
      // Aborted: the other sources no longer need to keep it alive.
      for (let i = 0; i < s.sources.length; i++) {
        const src = signalState(s.sources[i]);
        if (src.pinned !== null) SetPrototypeDelete(src.pinned, signal);
      }
      s.sources = null;
    }
    const algorithms = s.algorithms;
    s.algorithms = null;
    if (algorithms !== null) {
      for (const algorithm of SetPrototypeValues(algorithms)) {
        try {
          algorithm();
        } catch (e) {
          reportException(e);
        }
      }
    }
    dispatchTrusted(signal, new Event("abort"));
  }

  class AbortController {
    #signal;
    constructor() {
      this.#signal = new AbortSignal(kInternal);
    }
    get signal() {
      if (!isObject(this) || !(#signal in this)) throw illegal("AbortController.signal");
      return this.#signal;
    }
    abort(reason = undefined) {
      if (!isObject(this) || !(#signal in this)) throw illegal("AbortController.abort");
      signalAbort(this.#signal, reason);
    }
  }
  finishInterface(AbortController, "AbortController");

  // ------------------------------------------ queueMicrotask / reportError
  function queueMicrotask(callback) {
    requireArgs(arguments.length, 1, "queueMicrotask");
    if (typeof callback !== "function") {
      throw new TypeErr("queueMicrotask: the callback must be a function");
    }
    PromisePrototypeThen(PromiseResolve(), () => {
      try {
        callback();
      } catch (e) {
        reportException(e);
      }
    });
  }

  function reportError(e) {
    requireArgs(arguments.length, 1, "reportError");
    reportException(e);
  }

  // ------------------------------------------------------------ atob / btoa
  const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const B64_CODES = [];
  for (let i = 0; i < 64; i++) B64_CODES[i] = StringPrototypeCharCodeAt(B64, i);
  const B64_LOOKUP = new Int16Array(128).fill(-1);
  for (let i = 0; i < 64; i++) B64_LOOKUP[B64_CODES[i]] = i;
  const ASCII_WHITESPACE = /[\t\n\f\r ]/;
  const ASCII_WHITESPACE_G = /[\t\n\f\r ]+/g;

  // Builds a string from an array (or typed array) of UTF-16 code units.
  function codesToString(codes, length) {
    let out = "";
    for (let i = 0; i < length; i += 8192) {
      const end = MathMin(i + 8192, length);
      const chunk = ArrayBufferIsView(codes)
        ? TypedArrayPrototypeSubarray(codes, i, end)
        : ArrayPrototypeSlice(codes, i, end);
      out += ReflectApply(StringFromCharCode, null, chunk);
    }
    return out;
  }

  function btoa(data) {
    requireArgs(arguments.length, 1, "btoa");
    data = toDOMString(data);
    const n = data.length;
    for (let i = 0; i < n; i++) {
      if (StringPrototypeCharCodeAt(data, i) > 0xff) {
        throw new DOMException(
          "btoa: the string to be encoded contains characters outside of the Latin1 range",
          "InvalidCharacterError",
        );
      }
    }
    const out = new Uint16Array(MathFloor((n + 2) / 3) * 4);
    let o = 0;
    let i = 0;
    for (; i + 2 < n; i += 3) {
      const v =
        (StringPrototypeCharCodeAt(data, i) << 16) |
        (StringPrototypeCharCodeAt(data, i + 1) << 8) |
        StringPrototypeCharCodeAt(data, i + 2);
      out[o++] = B64_CODES[v >> 18];
      out[o++] = B64_CODES[(v >> 12) & 63];
      out[o++] = B64_CODES[(v >> 6) & 63];
      out[o++] = B64_CODES[v & 63];
    }
    if (n - i === 1) {
      const v = StringPrototypeCharCodeAt(data, i) << 16;
      out[o++] = B64_CODES[v >> 18];
      out[o++] = B64_CODES[(v >> 12) & 63];
      out[o++] = 61;
      out[o++] = 61;
    } else if (n - i === 2) {
      const v =
        (StringPrototypeCharCodeAt(data, i) << 16) | (StringPrototypeCharCodeAt(data, i + 1) << 8);
      out[o++] = B64_CODES[v >> 18];
      out[o++] = B64_CODES[(v >> 12) & 63];
      out[o++] = B64_CODES[(v >> 6) & 63];
      out[o++] = 61;
    }
    return codesToString(out, o);
  }

  function atobError() {
    return new DOMException(
      "atob: the string to be decoded is not correctly encoded",
      "InvalidCharacterError",
    );
  }

  // HTML's forgiving-base64 decode.
  function atob(data) {
    requireArgs(arguments.length, 1, "atob");
    data = toDOMString(data);
    if (RegExpPrototypeTest(ASCII_WHITESPACE, data)) {
      data = RegExpPrototypeSymbolReplace(ASCII_WHITESPACE_G, data, "");
    }
    let len = data.length;
    if (len % 4 === 0 && len > 0 && StringPrototypeCharCodeAt(data, len - 1) === 61) {
      len--;
      if (StringPrototypeCharCodeAt(data, len - 1) === 61) len--;
    }
    if (len % 4 === 1) throw atobError();
    const out = new Uint16Array(MathFloor((len * 3) / 4));
    let o = 0;
    let buffer = 0;
    let bits = 0;
    for (let i = 0; i < len; i++) {
      const c = StringPrototypeCharCodeAt(data, i);
      const v = c < 128 ? B64_LOOKUP[c] : -1;
      if (v === -1) throw atobError();
      buffer = (buffer << 6) | v;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out[o++] = (buffer >> bits) & 0xff;
        buffer &= (1 << bits) - 1;
      }
    }
    return codesToString(out, o);
  }

  // -------------------------------------------------------- URLSearchParams
  const FORM_SAFE = /^[A-Za-z0-9*\-._]*$/;
  const FORM_FIXUP = /[!'()~]|%20/g;
  const FORM_FIXUP_MAP = { "!": "%21", "'": "%27", "(": "%28", ")": "%29", "~": "%7E", "%20": "+" };
  const PLUS_G = /\+/g;
  const PLUS_OR_PERCENT = /[+%]/;

  // The application/x-www-form-urlencoded percent-encode set, space as '+'.
  function formEncode(s) {
    if (RegExpPrototypeTest(FORM_SAFE, s)) return s;
    return RegExpPrototypeSymbolReplace(FORM_FIXUP, encodeURIComponentFn(s), (m) => FORM_FIXUP_MAP[m]);
  }

  function serializeForm(list) {
    let out = "";
    for (let i = 0; i < list.length; i++) {
      if (i > 0) out += "&";
      out += `${formEncode(list[i][0])}=${formEncode(list[i][1])}`;
    }
    return out;
  }

  function hexValue(c) {
    if (c >= 0x30 && c <= 0x39) return c - 0x30;
    if (c >= 0x41 && c <= 0x46) return c - 0x37;
    if (c >= 0x61 && c <= 0x66) return c - 0x57;
    return -1;
  }

  // '+' -> ' ', then percent-decode to bytes and UTF-8 decode (U+FFFD on errors).
  function formDecode(s) {
    if (!RegExpPrototypeTest(PLUS_OR_PERCENT, s)) return s;
    s = RegExpPrototypeSymbolReplace(PLUS_G, s, " ");
    if (StringPrototypeIndexOf(s, "%") === -1) return s;
    try {
      return decodeURIComponentFn(s); // exact whenever it succeeds
    } catch {
      // lone '%' or bytes that are not UTF-8: decode by hand
    }
    const n = s.length;
    const bytes = new U8(n * 3);
    let o = 0;
    for (let i = 0; i < n; i++) {
      let c = StringPrototypeCharCodeAt(s, i);
      if (c === 0x25 && i + 2 < n) {
        const hi = hexValue(StringPrototypeCharCodeAt(s, i + 1));
        const lo = hexValue(StringPrototypeCharCodeAt(s, i + 2));
        if (hi !== -1 && lo !== -1) {
          bytes[o++] = (hi << 4) | lo;
          i += 2;
          continue;
        }
      }
      if (c < 0x80) {
        bytes[o++] = c;
      } else if (c < 0x800) {
        bytes[o++] = 0xc0 | (c >> 6);
        bytes[o++] = 0x80 | (c & 63);
      } else {
        if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
          const d = StringPrototypeCharCodeAt(s, i + 1);
          if (d >= 0xdc00 && d <= 0xdfff) {
            c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
            i++;
            bytes[o++] = 0xf0 | (c >> 18);
            bytes[o++] = 0x80 | ((c >> 12) & 63);
            bytes[o++] = 0x80 | ((c >> 6) & 63);
            bytes[o++] = 0x80 | (c & 63);
            continue;
          }
        }
        if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // not reachable for USVStrings
        bytes[o++] = 0xe0 | (c >> 12);
        bytes[o++] = 0x80 | ((c >> 6) & 63);
        bytes[o++] = 0x80 | (c & 63);
      }
    }
    return utf8Decode(TypedArrayPrototypeSubarray(bytes, 0, o));
  }

  function parseForm(input) {
    const out = [];
    if (input === "") return out;
    const sequences = StringPrototypeSplit(input, "&");
    for (let i = 0; i < sequences.length; i++) {
      const seq = sequences[i];
      if (seq === "") continue;
      const eq = StringPrototypeIndexOf(seq, "=");
      let name = seq;
      let value = "";
      if (eq !== -1) {
        name = StringPrototypeSlice(seq, 0, eq);
        value = StringPrototypeSlice(seq, eq + 1);
      }
      ArrayPrototypePush(out, [formDecode(name), formDecode(value)]);
    }
    return out;
  }

  let paramsList; // (params) -> list of [name, value]
  let paramsSetList; // (params, list)
  let paramsSetUpdate; // (params, onUpdate)
  let paramsCheck; // (params, what): throws unless a URLSearchParams
  let paramsUpdate; // (params): runs the update steps

  const searchParamsCompare = (a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

  class URLSearchParams {
    #list = [];
    #onUpdate = null;
    constructor(init = "") {
      if (isObject(init)) {
        const iter = init[SymbolIterator];
        if (iter !== undefined && iter !== null) {
          if (typeof iter !== "function") {
            throw new TypeErr("URLSearchParams constructor: init[Symbol.iterator] is not a function");
          }
          for (const pair of init) {
            if (!isObject(pair) || typeof pair[SymbolIterator] !== "function") {
              throw new TypeErr("URLSearchParams constructor: each pair must be an iterable [name, value]");
            }
            const items = [];
            for (const item of pair) ArrayPrototypePush(items, toUSVString(item));
            if (items.length !== 2) {
              throw new TypeErr(
                `URLSearchParams constructor: each pair must have exactly 2 items, got ${items.length}`,
              );
            }
            ArrayPrototypePush(this.#list, items);
          }
        } else {
          for (const key of ReflectOwnKeys(init)) {
            const d = ObjectGetOwnPropertyDescriptor(init, key);
            if (d === undefined || !d.enumerable) continue;
            const name = toUSVString(key);
            const value = toUSVString(init[key]);
            ArrayPrototypePush(this.#list, [name, value]);
          }
        }
      } else {
        let s = toUSVString(init);
        if (StringPrototypeCharCodeAt(s, 0) === 0x3f) s = StringPrototypeSlice(s, 1);
        this.#list = parseForm(s);
      }
    }
    static {
      paramsList = (p) => p.#list;
      paramsSetList = (p, list) => {
        p.#list = list;
      };
      paramsSetUpdate = (p, fn) => {
        p.#onUpdate = fn;
      };
      paramsCheck = (p, what) => {
        if (!isObject(p) || !(#list in p)) throw illegal(`URLSearchParams.${what}`);
      };
      paramsUpdate = (p) => {
        if (p.#onUpdate !== null) p.#onUpdate(serializeForm(p.#list));
      };
    }
    get size() {
      paramsCheck(this, "size");
      return this.#list.length;
    }
    append(name, value) {
      paramsCheck(this, "append");
      requireArgs(arguments.length, 2, "URLSearchParams.append");
      ArrayPrototypePush(this.#list, [toUSVString(name), toUSVString(value)]);
      paramsUpdate(this);
    }
    delete(name, value = undefined) {
      paramsCheck(this, "delete");
      requireArgs(arguments.length, 1, "URLSearchParams.delete");
      name = toUSVString(name);
      if (value === undefined) {
        this.#list = ArrayPrototypeFilter(this.#list, (p) => p[0] !== name);
      } else {
        value = toUSVString(value);
        this.#list = ArrayPrototypeFilter(this.#list, (p) => p[0] !== name || p[1] !== value);
      }
      paramsUpdate(this);
    }
    get(name) {
      paramsCheck(this, "get");
      requireArgs(arguments.length, 1, "URLSearchParams.get");
      name = toUSVString(name);
      const list = this.#list;
      for (let i = 0; i < list.length; i++) if (list[i][0] === name) return list[i][1];
      return null;
    }
    getAll(name) {
      paramsCheck(this, "getAll");
      requireArgs(arguments.length, 1, "URLSearchParams.getAll");
      name = toUSVString(name);
      const out = [];
      const list = this.#list;
      for (let i = 0; i < list.length; i++) if (list[i][0] === name) ArrayPrototypePush(out, list[i][1]);
      return out;
    }
    has(name, value = undefined) {
      paramsCheck(this, "has");
      requireArgs(arguments.length, 1, "URLSearchParams.has");
      name = toUSVString(name);
      if (value !== undefined) value = toUSVString(value);
      const list = this.#list;
      for (let i = 0; i < list.length; i++) {
        if (list[i][0] === name && (value === undefined || list[i][1] === value)) return true;
      }
      return false;
    }
    set(name, value) {
      paramsCheck(this, "set");
      requireArgs(arguments.length, 2, "URLSearchParams.set");
      name = toUSVString(name);
      value = toUSVString(value);
      const list = this.#list;
      let found = false;
      for (let i = 0; i < list.length; i++) {
        if (list[i][0] !== name) continue;
        if (!found) {
          list[i] = [name, value];
          found = true;
        } else {
          ArrayPrototypeSplice(list, i--, 1);
        }
      }
      if (!found) ArrayPrototypePush(list, [name, value]);
      paramsUpdate(this);
    }
    sort() {
      paramsCheck(this, "sort");
      // Array.prototype.sort is stable; `<` compares UTF-16 code units.
      ArrayPrototypeSort(this.#list, searchParamsCompare);
      paramsUpdate(this);
    }
    forEach(callback, thisArg = undefined) {
      paramsCheck(this, "forEach");
      requireArgs(arguments.length, 1, "URLSearchParams.forEach");
      if (typeof callback !== "function") {
        throw new TypeErr("URLSearchParams.forEach: the callback must be a function");
      }
      for (let i = 0; i < this.#list.length; i++) {
        const pair = this.#list[i];
        FunctionPrototypeCall(callback, thisArg, pair[1], pair[0], this);
      }
    }
    entries() {
      paramsCheck(this, "entries");
      return new SearchParamsIterator(this, 2);
    }
    keys() {
      paramsCheck(this, "keys");
      return new SearchParamsIterator(this, 0);
    }
    values() {
      paramsCheck(this, "values");
      return new SearchParamsIterator(this, 1);
    }
    toString() {
      paramsCheck(this, "toString");
      return serializeForm(this.#list);
    }
    static isURLSearchParams(v) {
      return isObject(v) && #list in v;
    }
  }
  const isURLSearchParams = URLSearchParams.isURLSearchParams;
  delete URLSearchParams.isURLSearchParams;
  finishInterface(URLSearchParams, "URLSearchParams");
  ObjectDefineProperty(URLSearchParams.prototype, SymbolIterator, {
    value: URLSearchParams.prototype.entries,
    writable: true,
    enumerable: false,
    configurable: true,
  });

  // A WebIDL pair iterator: reads the live list by index.
  class SearchParamsIterator {
    #params;
    #kind;
    #index = 0;
    constructor(params, kind) {
      this.#params = params;
      this.#kind = kind;
    }
    next() {
      if (!isObject(this) || !(#params in this)) throw illegal("URLSearchParams Iterator.next");
      const list = paramsList(this.#params);
      if (this.#index >= list.length) return { value: undefined, done: true };
      const pair = list[this.#index++];
      const kind = this.#kind;
      return { value: kind === 2 ? [pair[0], pair[1]] : pair[kind], done: false };
    }
  }
  ObjectSetPrototypeOf(SearchParamsIterator.prototype, IteratorPrototype);
  delete SearchParamsIterator.prototype.constructor;
  ObjectDefineProperty(SearchParamsIterator.prototype, "next", { enumerable: true });
  ObjectDefineProperty(SearchParamsIterator.prototype, SymbolToStringTag, {
    value: "URLSearchParams Iterator",
    writable: false,
    enumerable: false,
    configurable: true,
  });

  function makeSearchParams(query, onUpdate) {
    const p = new URLSearchParams();
    paramsSetList(p, parseForm(query === undefined || query === null ? "" : toUSVString(query)));
    if (typeof onUpdate === "function") paramsSetUpdate(p, onUpdate);
    return p;
  }

  function resetSearchParams(params, query) {
    if (!isURLSearchParams(params)) throw new TypeErr("resetSearchParams: not a URLSearchParams");
    paramsSetList(params, parseForm(query === undefined || query === null ? "" : toUSVString(query)));
  }

  // ------------------------------------------------------------ Blob / File
  const kInternalBlob = ObjectFreeze({});
  const CRLF_G = /\r\n?/g;
  let blobBytes; // (blob) -> Uint8Array
  let blobCheck; // (blob, what): throws unless a Blob

  function isArrayBuffer(v) {
    if (!isObject(v)) return false;
    try {
      ArrayBufferByteLength(v);
      return true;
    } catch {
      return false;
    }
  }

  // The bytes a view looks at (no copy).
  function viewBytes(v) {
    if (TypedArrayGetTag(v) !== undefined) {
      return new U8(TypedArrayGetBuffer(v), TypedArrayGetByteOffset(v), TypedArrayGetByteLength(v));
    }
    return new U8(DataViewGetBuffer(v), DataViewGetByteOffset(v), DataViewGetByteLength(v));
  }

  // BlobPart conversion (WebIDL union), done before the options are read.
  function convertBlobParts(parts, what) {
    const out = [];
    if (parts === undefined) return out;
    if (!isObject(parts) || typeof parts[SymbolIterator] !== "function") {
      throw new TypeErr(`${what}: blobParts must be an iterable (a sequence)`);
    }
    for (const part of parts) {
      if (isObject(part) && (isBlob(part) || isArrayBuffer(part) || ArrayBufferIsView(part))) {
        ArrayPrototypePush(out, part);
      } else {
        ArrayPrototypePush(out, toUSVString(part));
      }
    }
    return out;
  }

  // "Process blob parts": the parts' bytes, concatenated into a fresh buffer.
  function processBlobParts(parts, endings) {
    const chunks = [];
    let total = 0;
    let fresh = false;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      let bytes;
      if (typeof part === "string") {
        const s = endings === "native" ? RegExpPrototypeSymbolReplace(CRLF_G, part, "\n") : part;
        bytes = utf8Encode(s);
        fresh = true;
      } else if (isBlob(part)) {
        bytes = blobBytes(part);
        fresh = true; // immutable, safe to share
      } else if (ArrayBufferIsView(part)) {
        bytes = viewBytes(part);
        fresh = false;
      } else {
        bytes = new U8(part);
        fresh = false;
      }
      ArrayPrototypePush(chunks, bytes);
      total += TypedArrayGetLength(bytes);
    }
    if (chunks.length === 0) return new U8(0);
    if (chunks.length === 1 && fresh) return chunks[0];
    const out = new U8(total);
    let o = 0;
    for (let i = 0; i < chunks.length; i++) {
      TypedArrayPrototypeSet(out, chunks[i], o);
      o += TypedArrayGetLength(chunks[i]);
    }
    return out;
  }

  // A type is kept (lowercased) only if it is printable ASCII.
  function normalizeBlobType(t) {
    for (let i = 0; i < t.length; i++) {
      const c = StringPrototypeCharCodeAt(t, i);
      if (c < 0x20 || c > 0x7e) return "";
    }
    return StringPrototypeToLowerCase(t);
  }

  // Reads BlobPropertyBag members (endings, type) in WebIDL order.
  function readBlobOptions(options, what) {
    const dict = toDictionary(options, what);
    let endings = "transparent";
    let type = "";
    let rest = dict;
    if (dict !== null) {
      const e = dict.endings;
      if (e !== undefined) {
        endings = toDOMString(e);
        if (endings !== "transparent" && endings !== "native") {
          throw new TypeErr(`${what}: options.endings must be "transparent" or "native"`);
        }
      }
      const t = dict.type;
      if (t !== undefined) type = normalizeBlobType(toDOMString(t));
    }
    return { endings, type, rest };
  }

  // WebIDL [Clamp] long long: NaN -> 0, round half to even.
  function toClampedLongLong(v) {
    let x = +v;
    if (NumberIsNaN(x)) return 0;
    x = MathMin(MathMax(x, -9007199254740991), 9007199254740991);
    const f = MathFloor(x);
    const d = x - f;
    let r = f;
    if (d > 0.5 || (d === 0.5 && f % 2 !== 0)) r = f + 1;
    return r === 0 ? 0 : r;
  }

  class Blob {
    #bytes;
    #type;
    constructor(blobParts = undefined, options = undefined) {
      if (blobParts === kInternalBlob) {
        this.#bytes = options.bytes;
        this.#type = options.type;
        return;
      }
      const parts = convertBlobParts(blobParts, "Blob constructor");
      const { endings, type } = readBlobOptions(options, "Blob constructor");
      this.#bytes = processBlobParts(parts, endings);
      this.#type = type;
    }
    static {
      blobBytes = (b) => b.#bytes;
      blobCheck = (b, what) => {
        if (!isObject(b) || !(#bytes in b)) throw illegal(`Blob.${what}`);
      };
    }
    get size() {
      blobCheck(this, "size");
      return TypedArrayGetLength(this.#bytes);
    }
    get type() {
      blobCheck(this, "type");
      return this.#type;
    }
    slice(start = undefined, end = undefined, contentType = undefined) {
      blobCheck(this, "slice");
      const size = TypedArrayGetLength(this.#bytes);
      let from = 0;
      if (start !== undefined) {
        const s = toClampedLongLong(start);
        from = s < 0 ? MathMax(size + s, 0) : MathMin(s, size);
      }
      let to = size;
      if (end !== undefined) {
        const e = toClampedLongLong(end);
        to = e < 0 ? MathMax(size + e, 0) : MathMin(e, size);
      }
      const type = contentType === undefined ? "" : normalizeBlobType(toDOMString(contentType));
      const span = MathMax(to - from, 0);
      return new Blob(kInternalBlob, {
        bytes: TypedArrayPrototypeSubarray(this.#bytes, from, from + span),
        type,
      });
    }
    stream() {
      blobCheck(this, "stream");
      let RS = rw.ReadableStream;
      if (typeof RS !== "function") RS = globalThis.ReadableStream;
      if (typeof RS !== "function") throw new TypeErr("ReadableStream is not available");
      const bytes = this.#bytes;
      const size = TypedArrayGetLength(bytes);
      let offset = 0;
      const CHUNK = 65536;
      const pull = (controller) => {
        if (offset < size) {
          const end = MathMin(offset + CHUNK, size);
          // A fresh copy per chunk: byte streams transfer enqueued buffers.
          controller.enqueue(new U8(TypedArrayPrototypeSubarray(bytes, offset, end)));
          offset = end;
        }
        if (offset >= size) controller.close();
      };
      try {
        return new RS({ type: "bytes", pull });
      } catch {
        return new RS({ pull });
      }
    }
    text() {
      try {
        blobCheck(this, "text");
      } catch (e) {
        return PromiseReject(e);
      }
      let bytes = this.#bytes;
      // "UTF-8 decode" drops a leading BOM.
      if (
        TypedArrayGetLength(bytes) >= 3 &&
        bytes[0] === 0xef &&
        bytes[1] === 0xbb &&
        bytes[2] === 0xbf
      ) {
        bytes = TypedArrayPrototypeSubarray(bytes, 3);
      }
      return PromiseResolve(utf8Decode(bytes));
    }
    arrayBuffer() {
      try {
        blobCheck(this, "arrayBuffer");
      } catch (e) {
        return PromiseReject(e);
      }
      return PromiseResolve(TypedArrayGetBuffer(new U8(this.#bytes)));
    }
    bytes() {
      try {
        blobCheck(this, "bytes");
      } catch (e) {
        return PromiseReject(e);
      }
      return PromiseResolve(new U8(this.#bytes));
    }
    static isBlob(v) {
      return isObject(v) && #bytes in v;
    }
  }
  const isBlob = Blob.isBlob;
  delete Blob.isBlob;
  finishInterface(Blob, "Blob");

  class File extends Blob {
    #name;
    #lastModified;
    constructor(fileBits, fileName, options = undefined) {
      if (fileBits === kInternalBlob) {
        // newFile: bytes taken as they are.
        super(kInternalBlob, { bytes: fileName.bytes, type: fileName.type });
        this.#name = fileName.name;
        this.#lastModified = fileName.lastModified;
        return;
      }
      requireArgs(arguments.length, 2, "File constructor");
      const parts = convertBlobParts(fileBits, "File constructor");
      const name = toUSVString(fileName);
      const { endings, type, rest } = readBlobOptions(options, "File constructor");
      let lastModified;
      const lm = rest === null ? undefined : rest.lastModified;
      if (lm === undefined) {
        lastModified = DateNow();
      } else {
        const x = +lm;
        lastModified = NumberIsFinite(x) ? MathTrunc(x) : 0;
        if (lastModified === 0) lastModified = 0;
      }
      super(kInternalBlob, { bytes: processBlobParts(parts, endings), type });
      this.#name = name;
      this.#lastModified = lastModified;
    }
    get name() {
      if (!isObject(this) || !(#name in this)) throw illegal("File.name");
      return this.#name;
    }
    get lastModified() {
      if (!isObject(this) || !(#name in this)) throw illegal("File.lastModified");
      return this.#lastModified;
    }
  }
  finishInterface(File, "File");

  function newBlob(bytes, type = "") {
    return new Blob(kInternalBlob, { bytes, type: normalizeBlobType(`${type}`) });
  }

  // A File over `bytes` (taken without copying; they must not change).
  function newFile(bytes, name, options = undefined) {
    const o = options === undefined ? {} : options;
    return new File(kInternalBlob, {
      bytes,
      name: toUSVString(name),
      type: normalizeBlobType(o.type === undefined ? "" : `${o.type}`),
      lastModified: o.lastModified === undefined ? DateNow() : o.lastModified,
    });
  }

  // ------------------------------------------------------- install globals
  define("DOMException", DOMException);
  define("Event", Event);
  define("EventTarget", EventTarget);
  define("CustomEvent", CustomEvent);
  define("AbortController", AbortController);
  define("AbortSignal", AbortSignal);
  define("queueMicrotask", queueMicrotask);
  define("reportError", reportError);
  define("atob", atob);
  define("btoa", btoa);
  define("URLSearchParams", URLSearchParams);
  define("Blob", Blob);
  define("File", File);

  rw.DOMException = DOMException;
  rw.isDOMException = isDOMException;
  // A DOMException made by the runtime for an event outside any script
  // frame (a client leaving): the stack would only show runtime internals,
  // and capturing it was a third of the cost of telling a script its
  // client left.
  rw.newDOMExceptionWithoutStack = (message, name) => {
    withoutStack = true;
    try {
      return new DOMException(message, name);
    } finally {
      withoutStack = false;
    }
  };
  rw.Event = Event;
  rw.EventTarget = EventTarget;
  rw.reportException = reportException;
  rw.defineEventHandler = defineEventHandler;
  rw.dispatchTrusted = dispatchTrusted;
  rw.isAbortSignal = isAbortSignal;
  rw.newAbortSignal = () => new AbortSignal(kInternal);
  rw.abortSignal = (signal, reason) => {
    if (!isAbortSignal(signal)) throw new TypeErr("abortSignal: not an AbortSignal");
    signalAbort(signal, reason);
  };
  rw.isAborted = (signal) => signalState(signal).aborted;
  rw.abortReason = (signal) => signalState(signal).reason;
  rw.addAbortAlgorithm = (signal, algorithm) => {
    if (!isAbortSignal(signal)) throw new TypeErr("addAbortAlgorithm: not an AbortSignal");
    return addAbortAlgorithm(signal, algorithm);
  };
  rw.URLSearchParams = URLSearchParams;
  rw.isURLSearchParams = isURLSearchParams;
  rw.makeSearchParams = makeSearchParams;
  rw.resetSearchParams = resetSearchParams;
  rw.Blob = Blob;
  rw.File = File;
  rw.isBlob = isBlob;
  rw.blobBytes = (blob) => {
    if (!isBlob(blob)) throw new TypeErr("blobBytes: not a Blob");
    return blobBytes(blob);
  };
  rw.newBlob = newBlob;
  rw.newFile = newFile;
});

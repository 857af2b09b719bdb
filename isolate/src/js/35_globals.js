// 35_globals.js: the worker's global scope beyond fetch: `self`,
// `navigator`, the Performance interface (marks and measures), events on the
// global scope (`error` with ErrorEvent, `unhandledrejection` and
// `rejectionhandled` with PromiseRejectionEvent; `addEventListener`,
// `on<event>` attributes, `dispatchEvent`), MessageChannel/MessagePort, and
// WebAssembly.compileStreaming/instantiateStreaming.
// See the header of 00_bootstrap.js for the file convention.
//
// Internals this file puts on `rw` for the runtime and the other files:
//   rw.globalTarget                    the EventTarget behind the global scope's events
//   rw.onUncaught(error) -> bool       dispatches an ErrorEvent; true if a listener
//                                      cancelled it (then it is not logged)
//   rw.reportRejections(unhandled, handled) -> reasons to log
//       unhandled: [promise, reason, ...] rejected with no handler during the
//       last task; handled: [promise, ...] that got a handler after being
//       reported. Dispatches unhandledrejection / rejectionhandled.
//   rw.transferPort(port) -> port      a MessagePort moved by structuredClone/postMessage
//   rw.isMessagePort(v) -> bool
(function (ops, rw) {
  "use strict";

  const TypeErr = TypeError;
  const ReflectApply = Reflect.apply;
  const ObjectDefineProperty = Object.defineProperty;
  const ObjectFreeze = Object.freeze;
  const ArrayIsArray = Array.isArray;
  const ArrayPrototypePush = Function.prototype.call.bind(Array.prototype.push);
  const ArrayPrototypeShift = Function.prototype.call.bind(Array.prototype.shift);
  const ArrayPrototypeFilter = Function.prototype.call.bind(Array.prototype.filter);
  const WeakMapCtor = WeakMap;
  const WeakMapGet = Function.prototype.call.bind(WeakMap.prototype.get);
  const WeakMapSet = Function.prototype.call.bind(WeakMap.prototype.set);
  const WeakMapDelete = Function.prototype.call.bind(WeakMap.prototype.delete);
  const WeakMapHas = Function.prototype.call.bind(WeakMap.prototype.has);
  const { Event, EventTarget, DOMException } = rw;
  const EventTargetAdd = EventTarget.prototype.addEventListener;
  const EventTargetRemove = EventTarget.prototype.removeEventListener;
  const EventTargetDispatch = EventTarget.prototype.dispatchEvent;
  const MessageEventCtor = globalThis.MessageEvent;
  const ErrorEventCtor = globalThis.ErrorEvent;
  const setTimeoutFn = globalThis.setTimeout;
  const structuredCloneFn = globalThis.structuredClone;
  const define = rw.define;
  const kInternal = ObjectFreeze({});

  function illegalConstructor(name) {
    return new TypeErr(`Illegal constructor: ${name} cannot be constructed by scripts`);
  }

  function markInterface(cls, name, keys) {
    for (const key of keys) ObjectDefineProperty(cls.prototype, key, { enumerable: true });
    ObjectDefineProperty(cls.prototype, Symbol.toStringTag, { value: name, configurable: true });
  }

  // -------------------------------------------------------------------- self
  define("self", globalThis);

  // --------------------------------------------------------------- navigator
  // As in workerd, so libraries that detect the runtime by it (Hono's
  // getRuntimeKey) see a Workers runtime.
  class Navigator {
    constructor(token = undefined) {
      if (token !== kInternal) throw illegalConstructor("Navigator");
    }
    get userAgent() {
      return "Cloudflare-Workers";
    }
    get hardwareConcurrency() {
      return 1;
    }
    get language() {
      return "en";
    }
    get languages() {
      return ["en"];
    }
  }
  markInterface(Navigator, "Navigator", ["userAgent", "hardwareConcurrency", "language", "languages"]);
  define("Navigator", Navigator);
  define("navigator", new Navigator(kInternal));

  // ------------------------------------------------------------- performance
  // (User Timing Level 3: marks and measures in one bounded buffer.)
  const MAX_ENTRIES = 10000;
  let entries = [];

  class PerformanceEntry {
    #name;
    #type;
    #start;
    #duration;
    constructor(token = undefined, name = "", type = "", start = 0, duration = 0) {
      if (token !== kInternal) throw illegalConstructor("PerformanceEntry");
      this.#name = name;
      this.#type = type;
      this.#start = start;
      this.#duration = duration;
    }
    get name() {
      return this.#name;
    }
    get entryType() {
      return this.#type;
    }
    get startTime() {
      return this.#start;
    }
    get duration() {
      return this.#duration;
    }
    toJSON() {
      return { name: this.#name, entryType: this.#type, startTime: this.#start, duration: this.#duration };
    }
  }
  markInterface(PerformanceEntry, "PerformanceEntry", ["name", "entryType", "startTime", "duration", "toJSON"]);

  function cloneDetail(detail) {
    return detail === undefined || detail === null ? null : structuredCloneFn(detail);
  }

  class PerformanceMark extends PerformanceEntry {
    #detail;
    constructor(markName, markOptions = undefined) {
      if (arguments.length === 0) throw new TypeErr("PerformanceMark: 1 argument required");
      const name = `${markName}`;
      const o = markOptions === undefined || markOptions === null ? {} : markOptions;
      let start = ops.now();
      if (o.startTime !== undefined) {
        start = +o.startTime;
        if (!(start >= 0)) throw new TypeErr(`PerformanceMark: startTime ${o.startTime} is negative or not a number`);
      }
      super(kInternal, name, "mark", start, 0);
      this.#detail = cloneDetail(o.detail);
    }
    get detail() {
      return this.#detail;
    }
    toJSON() {
      return { ...super.toJSON(), detail: this.#detail };
    }
  }
  markInterface(PerformanceMark, "PerformanceMark", ["detail"]);

  let measureDetail = null;
  class PerformanceMeasure extends PerformanceEntry {
    #detail;
    constructor(token = undefined, name = "", start = 0, duration = 0) {
      if (token !== kInternal) throw illegalConstructor("PerformanceMeasure");
      super(kInternal, name, "measure", start, duration);
      this.#detail = measureDetail;
    }
    get detail() {
      return this.#detail;
    }
  }
  markInterface(PerformanceMeasure, "PerformanceMeasure", ["detail"]);

  function record(entry) {
    if (entries.length >= MAX_ENTRIES) ArrayPrototypeShift(entries);
    ArrayPrototypePush(entries, entry);
    return entry;
  }

  // A mark's time by name (the latest such mark), or a timestamp.
  function markTime(v, what) {
    if (typeof v === "number") {
      if (v < 0) throw new TypeErr(`performance.measure: ${what} ${v} is negative`);
      return v;
    }
    const name = `${v}`;
    for (let i = entries.length - 1; i >= 0; i--) {
      const e = entries[i];
      if (e.entryType === "mark" && e.name === name) return e.startTime;
    }
    throw new DOMException(`performance.measure: there is no mark named "${name}"`, "SyntaxError");
  }

  class Performance extends EventTarget {
    constructor(token = undefined) {
      if (token !== kInternal) throw illegalConstructor("Performance");
      super();
    }
    get timeOrigin() {
      return ops.timeOrigin();
    }
    now() {
      return ops.now();
    }
    toJSON() {
      return { timeOrigin: ops.timeOrigin() };
    }
    mark(markName, markOptions = undefined) {
      return record(new PerformanceMark(markName, markOptions));
    }
    measure(measureName, startOrMeasureOptions = undefined, endMark = undefined) {
      const name = `${measureName}`;
      let start = 0;
      let end;
      let detail = null;
      const opts = startOrMeasureOptions;
      if (opts !== null && typeof opts === "object") {
        if (endMark !== undefined) throw new TypeErr("performance.measure: options and an end mark cannot both be given");
        if (opts.start !== undefined && opts.end !== undefined && opts.duration !== undefined) {
          throw new TypeErr("performance.measure: give at most two of start, end and duration");
        }
        if (opts.end !== undefined) end = markTime(opts.end, "end");
        else if (opts.start !== undefined && opts.duration !== undefined) end = markTime(opts.start, "start") + +opts.duration;
        else end = ops.now();
        if (opts.start !== undefined) start = markTime(opts.start, "start");
        else if (opts.duration !== undefined && opts.end !== undefined) start = end - +opts.duration;
        detail = cloneDetail(opts.detail);
      } else {
        if (opts !== undefined) start = markTime(opts, "start");
        end = endMark !== undefined ? markTime(endMark, "end") : ops.now();
      }
      measureDetail = detail;
      try {
        return record(new PerformanceMeasure(kInternal, name, start, end - start));
      } finally {
        measureDetail = null;
      }
    }
    getEntries() {
      return [...entries];
    }
    getEntriesByType(type) {
      const t = `${type}`;
      return ArrayPrototypeFilter(entries, (e) => e.entryType === t);
    }
    getEntriesByName(name, type = undefined) {
      const n = `${name}`;
      return ArrayPrototypeFilter(entries, (e) => e.name === n && (type === undefined || e.entryType === `${type}`));
    }
    clearMarks(markName = undefined) {
      entries = ArrayPrototypeFilter(entries, (e) => e.entryType !== "mark" || (markName !== undefined && e.name !== `${markName}`));
    }
    clearMeasures(measureName = undefined) {
      entries = ArrayPrototypeFilter(
        entries,
        (e) => e.entryType !== "measure" || (measureName !== undefined && e.name !== `${measureName}`),
      );
    }
  }
  markInterface(Performance, "Performance", [
    "timeOrigin",
    "now",
    "toJSON",
    "mark",
    "measure",
    "getEntries",
    "getEntriesByType",
    "getEntriesByName",
    "clearMarks",
    "clearMeasures",
  ]);
  define("Performance", Performance);
  define("PerformanceEntry", PerformanceEntry);
  define("PerformanceMark", PerformanceMark);
  define("PerformanceMeasure", PerformanceMeasure);
  define("performance", new Performance(kInternal));

  // ----------------------------------------------------- PromiseRejectionEvent
  class PromiseRejectionEvent extends Event {
    #promise;
    #reason;
    constructor(type, eventInitDict) {
      if (arguments.length < 2) throw new TypeErr("PromiseRejectionEvent: 2 arguments required");
      const init = eventInitDict;
      if (init === null || typeof init !== "object" || init.promise === null || typeof init.promise !== "object") {
        throw new TypeErr("PromiseRejectionEvent: eventInitDict.promise must be a Promise (an object)");
      }
      super(type, init);
      this.#promise = init.promise;
      this.#reason = init.reason;
    }
    get promise() {
      return this.#promise;
    }
    get reason() {
      return this.#reason;
    }
  }
  markInterface(PromiseRejectionEvent, "PromiseRejectionEvent", ["promise", "reason"]);
  define("PromiseRejectionEvent", PromiseRejectionEvent);

  // ------------------------------------------------- the global scope's events
  // `fetch` (and `scheduled`) listeners are the runtime's own (00_bootstrap);
  // every other type goes to this target.
  const globalTarget = new EventTarget();
  const bootAdd = globalThis.addEventListener;
  const bootRemove = globalThis.removeEventListener;
  const isRuntimeEvent = (type) => type === "fetch" || type === "scheduled";

  define("addEventListener", function addEventListener(type, listener, options = undefined) {
    if (isRuntimeEvent(`${type}`)) return ReflectApply(bootAdd, globalThis, [type, listener, options]);
    return ReflectApply(EventTargetAdd, globalTarget, [type, listener, options]);
  });
  define("removeEventListener", function removeEventListener(type, listener, options = undefined) {
    if (isRuntimeEvent(`${type}`)) return ReflectApply(bootRemove, globalThis, [type, listener, options]);
    return ReflectApply(EventTargetRemove, globalTarget, [type, listener, options]);
  });
  define("dispatchEvent", function dispatchEvent(event) {
    return ReflectApply(EventTargetDispatch, globalTarget, [event]);
  });

  // on<event> attributes of the global scope, kept on globalTarget.
  const handlerAttrs = {};
  for (const type of ["unhandledrejection", "rejectionhandled"]) rw.defineEventHandler(handlerAttrs, type);
  for (const type of ["unhandledrejection", "rejectionhandled"]) {
    const d = Object.getOwnPropertyDescriptor(handlerAttrs, `on${type}`);
    ObjectDefineProperty(globalThis, `on${type}`, {
      get: () => ReflectApply(d.get, globalTarget, []),
      set: (v) => ReflectApply(d.set, globalTarget, [v]),
      enumerable: true,
      configurable: true,
    });
  }
  // `onerror` is called as (message, filename, lineno, colno, error); a
  // true result cancels the event (HTML's special error event handler).
  let onerrorValue = null;
  const onerrorListener = (event) => {
    const fn = onerrorValue;
    if (typeof fn !== "function") return;
    const r =
      event instanceof ErrorEventCtor
        ? ReflectApply(fn, globalThis, [event.message, event.filename, event.lineno, event.colno, event.error])
        : ReflectApply(fn, globalThis, [event]);
    if (r === true) event.preventDefault();
  };
  ObjectDefineProperty(globalThis, "onerror", {
    get: () => onerrorValue,
    set: (v) => {
      const fn = (typeof v === "object" && v !== null) || typeof v === "function" ? v : null;
      if (fn !== null && onerrorValue === null) ReflectApply(EventTargetAdd, globalTarget, ["error", onerrorListener]);
      if (fn === null && onerrorValue !== null) ReflectApply(EventTargetRemove, globalTarget, ["error", onerrorListener]);
      onerrorValue = fn;
    },
    enumerable: true,
    configurable: true,
  });

  // An uncaught error (from a listener, a timer, reportError()): an
  // ErrorEvent at the global scope; true if a listener cancelled it.
  let inUncaught = false;
  rw.onUncaught = (error) => {
    if (inUncaught) return false;
    inUncaught = true;
    try {
      const message = error instanceof Error ? error.message : `${error}`;
      const event = new ErrorEventCtor("error", { message, error, cancelable: true });
      return !rw.dispatchTrusted(globalTarget, event);
    } catch {
      return false;
    } finally {
      inUncaught = false;
    }
  };

  // Rejected promises the runtime reported as unhandled, with their reasons
  // (for a later rejectionhandled).
  const reported = new WeakMapCtor();
  rw.reportRejections = (unhandled, handled) => {
    const log = [];
    for (let i = 0; i < unhandled.length; i += 2) {
      const promise = unhandled[i];
      const reason = unhandled[i + 1];
      WeakMapSet(reported, promise, reason);
      let logIt = true;
      try {
        const event = new PromiseRejectionEvent("unhandledrejection", { promise, reason, cancelable: true });
        logIt = rw.dispatchTrusted(globalTarget, event);
      } catch {
        // (A listener's own failure is reported by dispatch.)
      }
      if (logIt) ArrayPrototypePush(log, reason);
    }
    for (let i = 0; i < handled.length; i++) {
      const promise = handled[i];
      if (!WeakMapHas(reported, promise)) continue;
      const reason = WeakMapGet(reported, promise);
      WeakMapDelete(reported, promise);
      try {
        rw.dispatchTrusted(globalTarget, new PromiseRejectionEvent("rejectionhandled", { promise, reason }));
      } catch {
        // as above
      }
    }
    return log;
  };
  rw.globalTarget = globalTarget;

  // ------------------------------------------------ MessageChannel/MessagePort
  let portState; // (port) -> its state, or undefined
  // A port's messages are delivered as tasks (a zero-delay timer), in order,
  // once it is started (start(), or setting onmessage).
  function deliver(port) {
    const s = portState(port);
    if (s.scheduled || !s.started || s.queue.length === 0) return;
    s.scheduled = true;
    setTimeoutFn(() => {
      s.scheduled = false;
      while (s.queue.length > 0 && s.started && !s.closed) {
        const data = ArrayPrototypeShift(s.queue);
        rw.dispatchTrusted(port, new MessageEventCtor("message", { data }));
      }
    }, 0);
  }

  function transferList(arg) {
    if (arg === undefined || arg === null) return [];
    if (ArrayIsArray(arg)) return arg;
    if (typeof arg === "object") {
      const t = arg.transfer;
      if (t === undefined || t === null) return [];
      if (typeof t[Symbol.iterator] !== "function") throw new TypeErr("postMessage: options.transfer must be a sequence");
      return [...t];
    }
    throw new TypeErr("postMessage: the second argument must be a sequence or an options object");
  }

  class MessagePort extends EventTarget {
    #s;
    constructor(token = undefined) {
      if (token !== kInternal) throw illegalConstructor("MessagePort");
      super();
      this.#s = { partner: null, queue: [], started: false, closed: false, scheduled: false };
    }
    static {
      portState = (p) => (typeof p === "object" && p !== null && #s in p ? p.#s : undefined);
    }
    postMessage(message, transferOrOptions = undefined) {
      if (!(#s in this)) throw new TypeErr("Illegal invocation: MessagePort.postMessage");
      if (arguments.length === 0) throw new TypeErr("MessagePort.postMessage: 1 argument required");
      const transfer = transferList(transferOrOptions);
      for (let i = 0; i < transfer.length; i++) {
        if (transfer[i] === this) {
          throw new DOMException("MessagePort.postMessage: a port cannot transfer itself", "DataCloneError");
        }
      }
      const data = structuredCloneFn(message, { transfer });
      const partner = this.#s.partner;
      if (partner === null || this.#s.closed) return;
      ArrayPrototypePush(portState(partner).queue, data);
      deliver(partner);
    }
    start() {
      if (!(#s in this)) throw new TypeErr("Illegal invocation: MessagePort.start");
      if (this.#s.started) return;
      this.#s.started = true;
      deliver(this);
    }
    close() {
      if (!(#s in this)) throw new TypeErr("Illegal invocation: MessagePort.close");
      const s = this.#s;
      s.closed = true;
      s.queue = [];
      if (s.partner !== null) {
        portState(s.partner).partner = null;
        s.partner = null;
      }
    }
  }
  const portHandlers = {};
  rw.defineEventHandler(portHandlers, "message");
  rw.defineEventHandler(portHandlers, "messageerror");
  const onmessage = Object.getOwnPropertyDescriptor(portHandlers, "onmessage");
  ObjectDefineProperty(MessagePort.prototype, "onmessage", {
    get() {
      return ReflectApply(onmessage.get, this, []);
    },
    set(v) {
      ReflectApply(onmessage.set, this, [v]);
      // Setting onmessage starts the port.
      if (portState(this) !== undefined) this.start();
    },
    enumerable: true,
    configurable: true,
  });
  ObjectDefineProperty(
    MessagePort.prototype,
    "onmessageerror",
    Object.getOwnPropertyDescriptor(portHandlers, "onmessageerror"),
  );
  markInterface(MessagePort, "MessagePort", ["postMessage", "start", "close"]);

  function entangle(a, b) {
    portState(a).partner = b;
    portState(b).partner = a;
  }

  class MessageChannel {
    #port1;
    #port2;
    constructor() {
      this.#port1 = new MessagePort(kInternal);
      this.#port2 = new MessagePort(kInternal);
      entangle(this.#port1, this.#port2);
    }
    get port1() {
      return this.#port1;
    }
    get port2() {
      return this.#port2;
    }
  }
  markInterface(MessageChannel, "MessageChannel", ["port1", "port2"]);
  define("MessageChannel", MessageChannel);
  define("MessagePort", MessagePort);

  // A port moved by a transfer: a new port takes its place in the channel
  // (with its queued messages); the old one is left closed.
  rw.isMessagePort = (v) => portState(v) !== undefined;
  rw.transferPort = (port) => {
    const s = portState(port);
    if (s.closed && s.partner === null && s.detached) {
      throw new DOMException("structuredClone: the MessagePort was already transferred", "DataCloneError");
    }
    const moved = new MessagePort(kInternal);
    const m = portState(moved);
    m.queue = s.queue;
    if (s.partner !== null) entangle(moved, s.partner);
    s.partner = null;
    s.queue = [];
    s.closed = true;
    s.detached = true;
    return moved;
  };

  // ------------------------------------------------- WebAssembly streaming
  // (WebAssembly is added to each context by V8, after the snapshot.)
  const ResponseCtor = globalThis.Response;
  async function wasmBytes(source, what) {
    const response = await source;
    if (!(response instanceof ResponseCtor)) {
      throw new TypeErr(`${what}: the argument must be a Response or a Promise of one`);
    }
    const type = response.headers.get("content-type");
    const essence = type === null ? "" : type.split(";")[0].trim().toLowerCase();
    if (essence !== "application/wasm") {
      throw new TypeErr(`${what}: the response's Content-Type must be application/wasm, not ${JSON.stringify(type ?? "")}`);
    }
    if (!response.ok) throw new TypeErr(`${what}: the response's status ${response.status} is not ok`);
    return response.arrayBuffer();
  }
  rw.onContext(() => {
    const WA = globalThis.WebAssembly;
    if (typeof WA !== "object" || WA === null) return;
    const waCompile = WA.compile;
    const waInstantiate = WA.instantiate;
    const streaming = {
      compileStreaming(source) {
        return wasmBytes(source, "WebAssembly.compileStreaming").then((bytes) => ReflectApply(waCompile, WA, [bytes]));
      },
      instantiateStreaming(source, importObject = undefined) {
        return wasmBytes(source, "WebAssembly.instantiateStreaming").then((bytes) =>
          ReflectApply(waInstantiate, WA, [bytes, importObject]),
        );
      },
    };
    for (const key of ["compileStreaming", "instantiateStreaming"]) {
      ObjectDefineProperty(WA, key, { value: streaming[key], writable: true, enumerable: false, configurable: true });
    }
  });
});

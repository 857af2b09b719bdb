// DOMException, Event/EventTarget/CustomEvent, AbortController/AbortSignal,
// queueMicrotask/reportError, atob/btoa, URLSearchParams, Blob/File.
import { test, assert, assertEquals, assertSame, assertThrows, assertThrowsWith, assertRejects, run } from "./harness.js";

const sleep = (ms) => new Promise((resolve) => setTimeout(() => resolve(), ms));

// Runs fn with console.error captured; returns the argument lists it saw.
async function captureErrors(fn) {
  const original = console.error;
  const seen = [];
  console.error = (...args) => seen.push(args);
  try {
    await fn();
  } finally {
    console.error = original;
  }
  return seen;
}

function assertDOMException(fn, name, code) {
  const e = assertThrows(fn, DOMException);
  assertEquals(e.name, name);
  if (code !== undefined) assertEquals(e.code, code);
  return e;
}

// ------------------------------------------------------------------ globals

test("globals: installed non-enumerable, writable, configurable", () => {
  const names = [
    "DOMException", "Event", "EventTarget", "CustomEvent", "AbortController", "AbortSignal",
    "queueMicrotask", "reportError", "atob", "btoa", "URLSearchParams", "Blob", "File",
  ];
  for (const name of names) {
    const d = Object.getOwnPropertyDescriptor(globalThis, name);
    assert(d !== undefined, `${name} is missing`);
    assertEquals([d.enumerable, d.writable, d.configurable], [false, true, true], name);
    assertEquals(typeof d.value, "function", name);
  }
  assert(!Object.keys(globalThis).includes("Blob"));
  assertEquals(typeof globalThis.rw, "undefined");
});

test("interfaces: @@toStringTag and enumerable prototype members", () => {
  assertEquals(Object.prototype.toString.call(new Event("x")), "[object Event]");
  assertEquals(Object.prototype.toString.call(new EventTarget()), "[object EventTarget]");
  assertEquals(Object.prototype.toString.call(new AbortController().signal), "[object AbortSignal]");
  assertEquals(Object.prototype.toString.call(new URLSearchParams()), "[object URLSearchParams]");
  assertEquals(Object.prototype.toString.call(new Blob()), "[object Blob]");
  assertEquals(Object.prototype.toString.call(new File([], "f")), "[object File]");
  assertEquals(Object.prototype.toString.call(new DOMException()), "[object DOMException]");
  assert(Object.keys(URLSearchParams.prototype).includes("append"));
  assert(Object.keys(Event.prototype).includes("preventDefault"));
  assert(!Object.keys(URLSearchParams.prototype).includes("constructor"));
  assertEquals(EventTarget.prototype.addEventListener.length, 2);
  assertEquals(File.length, 2);
  assertEquals(Event.length, 1);
});

// ------------------------------------------------------------- DOMException

test("DOMException: defaults, message and name", () => {
  const e = new DOMException();
  assertEquals(e.name, "Error");
  assertEquals(e.message, "");
  assertEquals(e.code, 0);
  const f = new DOMException("boom", "AbortError");
  assertEquals([f.name, f.message, f.code], ["AbortError", "boom", 20]);
  assertEquals(`${f}`, "AbortError: boom");
  assertEquals(new DOMException(undefined, undefined).name, "Error");
  assertEquals(new DOMException(42, "CustomName").message, "42");
  assertEquals(new DOMException("x", "CustomName").code, 0);
});

test("DOMException: legacy code table and constants", () => {
  const table = {
    IndexSizeError: 1, HierarchyRequestError: 3, WrongDocumentError: 4, InvalidCharacterError: 5,
    NoModificationAllowedError: 7, NotFoundError: 8, NotSupportedError: 9, InUseAttributeError: 10,
    InvalidStateError: 11, SyntaxError: 12, InvalidModificationError: 13, NamespaceError: 14,
    InvalidAccessError: 15, TypeMismatchError: 17, SecurityError: 18, NetworkError: 19, AbortError: 20,
    URLMismatchError: 21, QuotaExceededError: 22, TimeoutError: 23, InvalidNodeTypeError: 24,
    DataCloneError: 25, EncodingError: 0, NotReadableError: 0, OperationError: 0,
  };
  for (const [name, code] of Object.entries(table)) {
    assertEquals(new DOMException("", name).code, code, name);
  }
  assertEquals(DOMException.ABORT_ERR, 20);
  assertEquals(DOMException.TIMEOUT_ERR, 23);
  assertEquals(DOMException.DATA_CLONE_ERR, 25);
  assertEquals(new DOMException().INVALID_STATE_ERR, 11);
  const d = Object.getOwnPropertyDescriptor(DOMException, "ABORT_ERR");
  assertEquals([d.writable, d.configurable], [false, false]);
});

test("DOMException: is an Error with a stack; accessors check their receiver", () => {
  const e = new DOMException("it timed out", "TimeoutError");
  assert(e instanceof DOMException);
  assert(e instanceof Error);
  assertEquals(Object.getPrototypeOf(DOMException.prototype), Error.prototype);
  assertEquals(typeof e.stack, "string");
  assert(e.stack.includes("TimeoutError"), e.stack);
  assert(e.stack.includes("it timed out"), e.stack);
  assertEquals(Object.keys(e), []);
  const getter = Object.getOwnPropertyDescriptor(DOMException.prototype, "name").get;
  assertThrows(() => getter.call({}), TypeError);
  assertThrows(() => DOMException.prototype.code, TypeError);
  assertThrows(() => DOMException("x"), TypeError);
});

test("DOMException: options object with name and cause; subclassing", () => {
  const cause = new Error("root");
  const e = new DOMException("wrapped", { name: "DataCloneError", cause });
  assertEquals(e.name, "DataCloneError");
  assertEquals(e.code, 25);
  assertEquals(e.cause, cause);
  assert(!("cause" in new DOMException("x", "AbortError")));
  class MyError extends DOMException {}
  const m = new MyError("m", "NetworkError");
  assert(m instanceof DOMException);
  assertEquals(m.code, 19);
});

// -------------------------------------------------------------------- Event

test("Event: constructor defaults and init dictionary", () => {
  const e = new Event("ping");
  assertEquals(e.type, "ping");
  assertEquals([e.bubbles, e.cancelable, e.composed, e.defaultPrevented], [false, false, false, false]);
  assertEquals(e.target, null);
  assertEquals(e.currentTarget, null);
  assertEquals(e.srcElement, null);
  assertEquals(e.eventPhase, Event.NONE);
  assertEquals(e.isTrusted, false);
  assertEquals(e.returnValue, true);
  assertEquals(e.cancelBubble, false);
  assertEquals(e.composedPath(), []);
  assertEquals(typeof e.timeStamp, "number");
  assert(e.timeStamp >= 0);
  const f = new Event("x", { bubbles: 1, cancelable: "yes", composed: true });
  assertEquals([f.bubbles, f.cancelable, f.composed], [true, true, true]);
  assertEquals(new Event(undefined).type, "undefined");
  assertThrows(() => new Event(), TypeError, "1 argument required");
  assertThrows(() => new Event("x", 5), TypeError);
  assertThrows(() => new Event(Symbol("s")), TypeError);
  assertEquals(new Event("x", null).bubbles, false);
});

test("Event: timeStamp comes from the performance clock", () => {
  if (typeof performance === "undefined") {
    assert(new Event("x").timeStamp >= 0);
    return;
  }
  const before = performance.now();
  const e = new Event("x");
  const after = performance.now();
  assert(e.timeStamp >= before && e.timeStamp <= after, `${before} <= ${e.timeStamp} <= ${after}`);
});

test("Event: isTrusted is an unforgeable own property", () => {
  const e = new Event("x");
  const d = Object.getOwnPropertyDescriptor(e, "isTrusted");
  assert(d && typeof d.get === "function", "own accessor");
  assertEquals(d.configurable, false);
  assertEquals(d.get, Object.getOwnPropertyDescriptor(new Event("y"), "isTrusted").get);
  assertThrows(() => d.get.call({}), TypeError);
});

test("Event: preventDefault only for cancelable events; returnValue", () => {
  const a = new Event("a");
  a.preventDefault();
  assertEquals(a.defaultPrevented, false);
  const b = new Event("b", { cancelable: true });
  b.preventDefault();
  assertEquals(b.defaultPrevented, true);
  assertEquals(b.returnValue, false);
  const c = new Event("c", { cancelable: true });
  c.returnValue = false;
  assertEquals(c.defaultPrevented, true);
  c.returnValue = true; // cannot undo
  assertEquals(c.defaultPrevented, true);
});

test("Event: accessors throw on a foreign receiver", () => {
  const get = Object.getOwnPropertyDescriptor(Event.prototype, "type").get;
  assertThrows(() => get.call({}), TypeError, "Illegal invocation");
  assertThrows(() => Event.prototype.preventDefault.call(null), TypeError);
});

test("Event: initEvent reinitializes outside dispatch", () => {
  const e = new Event("a", { cancelable: true });
  e.preventDefault();
  e.initEvent("b", true, false);
  assertEquals([e.type, e.bubbles, e.cancelable, e.defaultPrevented], ["b", true, false, false]);
  assertThrows(() => e.initEvent(), TypeError);
});

test("CustomEvent: detail defaults to null and is an Event", () => {
  const e = new CustomEvent("c");
  assertEquals(e.detail, null);
  assert(e instanceof Event);
  const obj = { n: 1 };
  const f = new CustomEvent("c", { detail: obj, cancelable: true });
  assertEquals(f.detail, obj);
  assertEquals(f.cancelable, true);
  assertEquals(new CustomEvent("c", { detail: undefined }).detail, null);
  assertEquals(new CustomEvent("c", { detail: 0 }).detail, 0);
  f.initCustomEvent("d", false, false, "new");
  assertEquals([f.type, f.detail], ["d", "new"]);
  assertThrows(() => new CustomEvent(), TypeError);
  const t = new EventTarget();
  let seen;
  t.addEventListener("c", (ev) => (seen = ev.detail));
  t.dispatchEvent(new CustomEvent("c", { detail: [1, 2] }));
  assertEquals(seen, [1, 2]);
});

// -------------------------------------------------------------- EventTarget

test("EventTarget: dispatch sets target, currentTarget, eventPhase, composedPath", () => {
  const t = new EventTarget();
  const e = new Event("x");
  let inside;
  t.addEventListener("x", function (ev) {
    inside = {
      self: this === t,
      same: ev === e,
      target: ev.target === t,
      current: ev.currentTarget === t,
      phase: ev.eventPhase,
      path: ev.composedPath().length === 1 && ev.composedPath()[0] === t,
    };
  });
  assertEquals(t.dispatchEvent(e), true);
  assertEquals(inside, { self: true, same: true, target: true, current: true, phase: Event.AT_TARGET, path: true });
  assertEquals(e.target, t); // stays set after dispatch
  assertEquals(e.currentTarget, null);
  assertEquals(e.eventPhase, Event.NONE);
  assertEquals(e.composedPath(), []);
  assertEquals(e.isTrusted, false);
});

test("EventTarget: dispatchEvent returns !defaultPrevented", () => {
  const t = new EventTarget();
  t.addEventListener("x", (e) => e.preventDefault());
  assertEquals(t.dispatchEvent(new Event("x", { cancelable: true })), false);
  assertEquals(t.dispatchEvent(new Event("x")), true);
  assertEquals(t.dispatchEvent(new Event("unheard", { cancelable: true })), true);
});

test("EventTarget: listeners run in order; only matching types", () => {
  const t = new EventTarget();
  const order = [];
  t.addEventListener("a", () => order.push(1));
  t.addEventListener("b", () => order.push("b"));
  t.addEventListener("a", () => order.push(2));
  t.addEventListener("a", { handleEvent: () => order.push(3) });
  t.dispatchEvent(new Event("a"));
  assertEquals(order, [1, 2, 3]);
});

test("EventTarget: capture listeners run before non-capture ones at the target", () => {
  const t = new EventTarget();
  const order = [];
  t.addEventListener("x", () => order.push("bubble"));
  t.addEventListener("x", () => order.push("capture"), true);
  t.addEventListener("x", () => order.push("capture2"), { capture: true });
  t.dispatchEvent(new Event("x"));
  assertEquals(order, ["capture", "capture2", "bubble"]);
});

test("EventTarget: the same listener is added once per capture flag", () => {
  const t = new EventTarget();
  let n = 0;
  const f = () => n++;
  t.addEventListener("x", f);
  t.addEventListener("x", f);
  t.addEventListener("x", f, { once: true }); // same (type, callback, capture): ignored
  t.addEventListener("x", f, true);
  t.dispatchEvent(new Event("x"));
  assertEquals(n, 2);
  t.dispatchEvent(new Event("x"));
  assertEquals(n, 4, "the ignored once option did not apply");
});

test("EventTarget: removeEventListener matches the capture flag", () => {
  const t = new EventTarget();
  let n = 0;
  const f = () => n++;
  t.addEventListener("x", f, { capture: true });
  t.removeEventListener("x", f); // capture false: no match
  t.dispatchEvent(new Event("x"));
  assertEquals(n, 1);
  t.removeEventListener("x", f, { capture: true });
  t.dispatchEvent(new Event("x"));
  assertEquals(n, 1);
  t.addEventListener("x", f, true);
  t.removeEventListener("x", f, true);
  t.dispatchEvent(new Event("x"));
  assertEquals(n, 1);
  t.removeEventListener("x", () => {}); // unknown: no-op
  t.removeEventListener("x", null);
});

test("EventTarget: once listeners run a single time, even when re-dispatched inside", () => {
  const t = new EventTarget();
  let n = 0;
  t.addEventListener("x", () => {
    n++;
    t.dispatchEvent(new Event("x")); // nested dispatch: the once listener is already gone
  }, { once: true });
  t.dispatchEvent(new Event("x"));
  t.dispatchEvent(new Event("x"));
  assertEquals(n, 1);
});

test("EventTarget: a listener removed during dispatch does not run; one added does not run", () => {
  const t = new EventTarget();
  const order = [];
  const second = () => order.push("second");
  const added = () => order.push("added");
  t.addEventListener("x", () => {
    order.push("first");
    t.removeEventListener("x", second);
    t.addEventListener("x", added);
  });
  t.addEventListener("x", second);
  t.dispatchEvent(new Event("x"));
  assertEquals(order, ["first"]);
  t.dispatchEvent(new Event("x"));
  assertEquals(order, ["first", "first", "added"]);
});

test("EventTarget: removing and re-adding during dispatch does not run the listener twice", () => {
  const t = new EventTarget();
  let n = 0;
  const g = () => n++;
  t.addEventListener("x", () => {
    t.removeEventListener("x", g);
    t.addEventListener("x", g);
  });
  t.addEventListener("x", g);
  t.dispatchEvent(new Event("x"));
  assertEquals(n, 0);
});

test("EventTarget: stopImmediatePropagation stops later listeners; stopPropagation does not", () => {
  const t = new EventTarget();
  const order = [];
  t.addEventListener("a", (e) => { order.push(1); e.stopPropagation(); });
  t.addEventListener("a", () => order.push(2));
  t.dispatchEvent(new Event("a"));
  assertEquals(order, [1, 2]);
  t.addEventListener("b", (e) => { order.push(3); e.stopImmediatePropagation(); });
  t.addEventListener("b", () => order.push(4));
  const ev = new Event("b");
  t.dispatchEvent(ev);
  assertEquals(order, [1, 2, 3]);
  // The flags are cleared after dispatch: the event can be dispatched again.
  assertEquals(ev.cancelBubble, false);
  t.dispatchEvent(ev);
  assertEquals(order, [1, 2, 3, 3]);
});

test("EventTarget: stopPropagation in a capture listener skips the non-capture ones", () => {
  const t = new EventTarget();
  const order = [];
  t.addEventListener("x", () => order.push("bubble"));
  t.addEventListener("x", (e) => { order.push("capture"); e.cancelBubble = true; }, true);
  t.dispatchEvent(new Event("x"));
  assertEquals(order, ["capture"]);
});

test("EventTarget: a listener that throws is reported and the others still run", async () => {
  const t = new EventTarget();
  const order = [];
  const boom = new Error("listener failed");
  t.addEventListener("x", () => { throw boom; });
  t.addEventListener("x", () => order.push("after"));
  t.addEventListener("x", { handleEvent: 5 }); // not callable: a reported TypeError
  let result;
  const errors = await captureErrors(() => {
    result = t.dispatchEvent(new Event("x"));
  });
  assertEquals(result, true);
  assertEquals(order, ["after"]);
  assertEquals(errors.length, 2);
  assert(errors[0].includes(boom), "the thrown error is reported");
  assert(errors[1].some((a) => a instanceof TypeError), "handleEvent TypeError is reported");
});

test("EventTarget: handleEvent objects are called with this = the object, looked up each time", () => {
  const t = new EventTarget();
  const seen = [];
  const listener = {
    handleEvent(e) {
      seen.push(this === listener && e.type);
    },
  };
  t.addEventListener("x", listener);
  t.dispatchEvent(new Event("x"));
  listener.handleEvent = function () {
    seen.push("replaced");
  };
  t.dispatchEvent(new Event("x"));
  assertEquals(seen, ["x", "replaced"]);
});

test("EventTarget: passive listeners cannot preventDefault", () => {
  const t = new EventTarget();
  let inside;
  t.addEventListener("x", (e) => { e.preventDefault(); inside = e.defaultPrevented; }, { passive: true });
  const e = new Event("x", { cancelable: true });
  assertEquals(t.dispatchEvent(e), true);
  assertEquals(inside, false);
  t.addEventListener("x", (ev) => ev.preventDefault());
  assertEquals(t.dispatchEvent(new Event("x", { cancelable: true })), false);
});

test("EventTarget: the signal option removes the listener on abort", () => {
  const t = new EventTarget();
  const c = new AbortController();
  let n = 0;
  t.addEventListener("x", () => n++, { signal: c.signal });
  t.dispatchEvent(new Event("x"));
  c.abort();
  t.dispatchEvent(new Event("x"));
  assertEquals(n, 1);
  t.addEventListener("x", () => n++, { signal: c.signal }); // already aborted: not added
  t.dispatchEvent(new Event("x"));
  assertEquals(n, 1);
  t.addEventListener("x", () => n++, { signal: AbortSignal.abort() });
  t.dispatchEvent(new Event("x"));
  assertEquals(n, 1);
});

test("EventTarget: argument validation", () => {
  const t = new EventTarget();
  assertThrows(() => t.addEventListener("x"), TypeError, "2 arguments required");
  assertThrows(() => t.removeEventListener("x"), TypeError);
  assertThrows(() => t.addEventListener("x", "not a listener"), TypeError);
  assertThrows(() => t.addEventListener("x", () => {}, { signal: {} }), TypeError, "AbortSignal");
  assertThrows(() => t.addEventListener("x", () => {}, { signal: null }), TypeError);
  t.addEventListener("x", null); // null callback: no-op
  t.addEventListener("x", undefined);
  assertThrows(() => t.dispatchEvent({ type: "x" }), TypeError);
  assertThrows(() => t.dispatchEvent(), TypeError);
  assertThrows(() => EventTarget.prototype.addEventListener.call({}, "x", () => {}), TypeError);
});

test("EventTarget: dispatching an event that is being dispatched is an InvalidStateError", () => {
  const t = new EventTarget();
  const e = new Event("x");
  let error;
  t.addEventListener("x", () => {
    try {
      t.dispatchEvent(e);
    } catch (err) {
      error = err;
    }
  });
  t.dispatchEvent(e);
  assert(error instanceof DOMException, `${error}`);
  assertEquals(error.name, "InvalidStateError");
  assertEquals(error.code, 11);
});

test("EventTarget: subclasses work; listeners are per target", () => {
  class Emitter extends EventTarget {
    fire(type) {
      return this.dispatchEvent(new Event(type));
    }
  }
  const a = new Emitter();
  const b = new Emitter();
  let n = 0;
  a.addEventListener("x", (e) => {
    n++;
    assert(e.target === a);
  });
  b.fire("x");
  a.fire("x");
  assertEquals(n, 1);
  assert(a instanceof EventTarget);
});

test("EventTarget: preventDefault state is visible to later listeners", () => {
  const t = new EventTarget();
  let seen;
  t.addEventListener("x", (e) => e.preventDefault());
  t.addEventListener("x", (e) => (seen = e.defaultPrevented));
  t.dispatchEvent(new Event("x", { cancelable: true }));
  assertEquals(seen, true);
});

// ------------------------------------------------- AbortController / Signal

test("AbortSignal: not constructible; controller owns one signal", () => {
  assertThrows(() => new AbortSignal(), TypeError, "Illegal constructor");
  const c = new AbortController();
  assert(c.signal instanceof AbortSignal);
  assert(c.signal instanceof EventTarget);
  assertSame(c.signal, c.signal, "one signal per controller");
  assertEquals(c.signal.aborted, false);
  assertEquals(c.signal.reason, undefined);
  assertEquals(c.signal.onabort, null);
  c.signal.throwIfAborted(); // does not throw
});

test("AbortController.abort: default reason, event once, onabort, trusted", () => {
  const c = new AbortController();
  const events = [];
  c.signal.onabort = function (e) {
    events.push(["onabort", this === c.signal, e.type, e.isTrusted]);
  };
  c.signal.addEventListener("abort", (e) => events.push(["listener", e.target === c.signal, c.signal.aborted]));
  c.abort();
  c.abort("again"); // no effect
  assertEquals(events, [["onabort", true, "abort", true], ["listener", true, true]]);
  assert(c.signal.aborted);
  const r = c.signal.reason;
  assert(r instanceof DOMException);
  assertEquals(r.name, "AbortError");
  assertEquals(r.code, 20);
  assertSame(c.signal.reason, r, "the reason is stable");
  assertThrowsWith(() => c.signal.throwIfAborted(), r);
});

test("AbortController.abort: custom reasons, including falsy ones", () => {
  const c1 = new AbortController();
  const reason = new Error("stop");
  c1.abort(reason);
  assertSame(c1.signal.reason, reason);
  assertThrowsWith(() => c1.signal.throwIfAborted(), reason);
  const c2 = new AbortController();
  c2.abort(null);
  assertEquals(c2.signal.reason, null);
  const c3 = new AbortController();
  c3.abort(0);
  assertEquals(c3.signal.reason, 0);
  assertThrowsWith(() => c3.signal.throwIfAborted(), 0);
  const c4 = new AbortController();
  c4.abort(undefined);
  assertEquals(c4.signal.reason.name, "AbortError");
});

test("AbortSignal: onabort set to null or a non-object stops it; replacing keeps position", () => {
  const c = new AbortController();
  const order = [];
  c.signal.onabort = () => order.push("first handler");
  c.signal.addEventListener("abort", () => order.push("listener"));
  c.signal.onabort = () => order.push("second handler"); // keeps the first's place
  assertEquals(typeof c.signal.onabort, "function");
  c.abort();
  assertEquals(order, ["second handler", "listener"]);
  const d = new AbortController();
  let n = 0;
  d.signal.onabort = () => n++;
  d.signal.onabort = null;
  assertEquals(d.signal.onabort, null);
  d.signal.onabort = () => n++;
  d.signal.onabort = "not a function";
  assertEquals(d.signal.onabort, null);
  d.abort();
  assertEquals(n, 0);
});

test("AbortSignal: a throwing abort listener is reported and the rest still run", async () => {
  const c = new AbortController();
  let after = false;
  c.signal.addEventListener("abort", () => { throw new Error("abort listener"); });
  c.signal.addEventListener("abort", () => (after = true));
  const errors = await captureErrors(() => c.abort());
  assert(after);
  assertEquals(errors.length, 1);
  assert(`${errors[0][1]}`.includes("abort listener"));
});

test("AbortSignal.abort: already aborted", () => {
  const s = AbortSignal.abort();
  assert(s.aborted);
  assertEquals(s.reason.name, "AbortError");
  assertEquals(AbortSignal.abort("why").reason, "why");
  let fired = false;
  s.onabort = () => (fired = true);
  assertEquals(fired, false);
});

test("AbortSignal.timeout: aborts with a TimeoutError", async () => {
  const s = AbortSignal.timeout(5);
  assertEquals(s.aborted, false);
  const fired = new Promise((resolve) => s.addEventListener("abort", (e) => resolve(e)));
  const e = await fired;
  assertEquals(e.type, "abort");
  assert(s.aborted);
  assert(s.reason instanceof DOMException);
  assertEquals(s.reason.name, "TimeoutError");
  assertEquals(s.reason.code, 23);
  assertDOMException(() => s.throwIfAborted(), "TimeoutError", 23);
});

test("AbortSignal.timeout: 0 ms and argument validation", async () => {
  const s = AbortSignal.timeout(0);
  assertEquals(s.aborted, false, "never aborts synchronously");
  await sleep(5);
  assertEquals(s.reason.name, "TimeoutError");
  assertThrows(() => AbortSignal.timeout(), TypeError);
  assertThrows(() => AbortSignal.timeout(-1), TypeError);
  assertThrows(() => AbortSignal.timeout(NaN), TypeError);
  assertThrows(() => AbortSignal.timeout(Infinity), TypeError);
  const late = AbortSignal.timeout(60_000);
  assertEquals(late.aborted, false);
});

test("AbortSignal.any: follows the first source to abort", () => {
  const a = new AbortController();
  const b = new AbortController();
  const any = AbortSignal.any([a.signal, b.signal]);
  assert(any instanceof AbortSignal);
  assertEquals(any.aborted, false);
  const order = [];
  a.signal.addEventListener("abort", () => order.push(["source", any.aborted]));
  any.addEventListener("abort", () => order.push(["dependent"]));
  b.abort("b reason");
  assertEquals(any.aborted, true);
  assertEquals(any.reason, "b reason");
  a.abort("a reason");
  assertEquals(any.reason, "b reason");
  assertEquals(order, [["dependent"], ["source", true]]);
});

test("AbortSignal.any: the dependent is aborted before the source's listeners run", () => {
  const a = new AbortController();
  const any = AbortSignal.any([a.signal]);
  const order = [];
  a.signal.addEventListener("abort", () => order.push(["source", any.aborted, any.reason]));
  any.addEventListener("abort", () => order.push(["dependent"]));
  a.abort("r");
  assertEquals(order, [["source", true, "r"], ["dependent"]]);
});

test("AbortSignal.any: an already-aborted input gives an aborted result without an event", () => {
  const live = new AbortController();
  const dead = AbortSignal.abort("first");
  const dead2 = AbortSignal.abort("second");
  const s = AbortSignal.any([live.signal, dead, dead2]);
  assert(s.aborted);
  assertEquals(s.reason, "first");
  assertEquals(AbortSignal.any([]).aborted, false);
});

test("AbortSignal.any: nested any and timeouts", async () => {
  const c = new AbortController();
  const inner = AbortSignal.any([c.signal]);
  const outer = AbortSignal.any([inner, AbortSignal.timeout(1000)]);
  c.abort("deep");
  assertEquals(inner.reason, "deep");
  assertEquals(outer.reason, "deep");
  const t = AbortSignal.any([new AbortController().signal, AbortSignal.timeout(3)]);
  await new Promise((resolve) => t.addEventListener("abort", resolve));
  assertEquals(t.reason.name, "TimeoutError");
});

test("AbortSignal.any: validation", () => {
  assertThrows(() => AbortSignal.any(), TypeError);
  assertThrows(() => AbortSignal.any([{}]), TypeError);
  assertThrows(() => AbortSignal.any(new AbortController().signal), TypeError);
  const set = new Set([new AbortController().signal]);
  assertEquals(AbortSignal.any(set).aborted, false, "any iterable works");
});

test("AbortSignal: accessors and controller methods check their receiver", () => {
  const aborted = Object.getOwnPropertyDescriptor(AbortSignal.prototype, "aborted").get;
  assertThrows(() => aborted.call(new EventTarget()), TypeError);
  assertThrows(() => AbortController.prototype.abort.call({}), TypeError);
});

// ------------------------------------------------ queueMicrotask / reportError

test("queueMicrotask: runs after the current job, before timers, in order", async () => {
  const order = [];
  setTimeout(() => order.push("timeout"), 0);
  queueMicrotask(() => order.push("micro1"));
  Promise.resolve().then(() => order.push("promise"));
  queueMicrotask(() => order.push("micro2"));
  order.push("sync");
  await sleep(5);
  assertEquals(order, ["sync", "micro1", "promise", "micro2", "timeout"]);
});

test("queueMicrotask: rejects non-functions", () => {
  assertThrows(() => queueMicrotask(), TypeError);
  assertThrows(() => queueMicrotask("code"), TypeError, "function");
  assertThrows(() => queueMicrotask({}), TypeError);
});

test("queueMicrotask: a throwing callback is reported, later ones still run", async () => {
  let ran = false;
  const errors = await captureErrors(async () => {
    queueMicrotask(() => { throw new RangeError("micro boom"); });
    queueMicrotask(() => (ran = true));
    await sleep(1);
  });
  assert(ran);
  assertEquals(errors.length, 1);
  assert(errors[0].some((a) => a instanceof RangeError && a.message === "micro boom"));
});

test("reportError: reports through console.error", async () => {
  const err = new Error("reported");
  const errors = await captureErrors(() => reportError(err));
  assertEquals(errors.length, 1);
  assert(errors[0].includes(err));
  assertThrows(() => reportError(), TypeError);
});

// ---------------------------------------------------------------- atob/btoa

test("btoa: RFC 4648 vectors and padding", () => {
  const vectors = [["", ""], ["f", "Zg=="], ["fo", "Zm8="], ["foo", "Zm9v"], ["foob", "Zm9vYg=="],
    ["fooba", "Zm9vYmE="], ["foobar", "Zm9vYmFy"]];
  for (const [plain, enc] of vectors) assertEquals(btoa(plain), enc, plain);
  assertEquals(btoa("\xff\xfe\x00"), "//4A");
  assertEquals(btoa("\xfb\xff"), "+/8=");
  assertEquals(btoa(null), "bnVsbA==");
  assertEquals(btoa(12), "MTI=");
});

test("btoa: code points above U+00FF are an InvalidCharacterError", () => {
  const e = assertDOMException(() => btoa("€"), "InvalidCharacterError", 5);
  assert(e.message.length > 0);
  assertDOMException(() => btoa("ok\u0100"), "InvalidCharacterError");
  assertDOMException(() => btoa("\ud83d\ude00"), "InvalidCharacterError");
  assertThrows(() => btoa(), TypeError);
});

test("atob: decodes, with or without padding", () => {
  assertEquals(atob("Zm9vYmFy"), "foobar");
  assertEquals(atob("Zg=="), "f");
  assertEquals(atob("Zg"), "f");
  assertEquals(atob("Zm8="), "fo");
  assertEquals(atob("Zm8"), "fo");
  assertEquals(atob(""), "");
  assertEquals(atob("//4A"), "\xff\xfe\x00");
  assertEquals(atob("Zh=="), "f", "non-zero trailing bits are discarded");
  assertEquals(atob(null), "\x9e\xe9e", "null is the string 'null'");
});

test("atob: ASCII whitespace is ignored anywhere", () => {
  assertEquals(atob(" Zm9v\tYmFy\n"), "foobar");
  assertEquals(atob("Z g = =\r\n"), "f");
  assertEquals(atob("\fZm8\f="), "fo");
  assertDOMException(() => atob("Zm9v\vYmFy"), "InvalidCharacterError"); // VT is not ASCII whitespace
  assertDOMException(() => atob("Zm9v\u00a0"), "InvalidCharacterError");
});

test("atob: malformed input is an InvalidCharacterError", () => {
  const bad = ["Z", "Zg=", "Zg===", "Z===", "Zm9v=", "Zm9vY", "ab=c", "=Zg=", "Zm9v!", "Zm-_", "é", "Zg==Zg==", "===="];
  for (const s of bad) {
    const e = assertDOMException(() => atob(s), "InvalidCharacterError", 5);
    assert(e instanceof Error, s);
  }
  assertDOMException(() => atob(undefined), "InvalidCharacterError");
  assertThrows(() => atob(), TypeError);
});

test("atob/btoa: every byte round-trips", () => {
  let all = "";
  for (let i = 0; i < 256; i++) all += String.fromCharCode(i);
  assertEquals(atob(btoa(all)), all);
  const big = all.repeat(200); // crosses the chunked string building
  assertEquals(atob(btoa(big)), big);
  assertEquals(btoa(atob("AAECAwQFBgcICQ==")), "AAECAwQFBgcICQ==");
});

// ---------------------------------------------------------- URLSearchParams

test("URLSearchParams: parsing, leading '?', repeated names", () => {
  const p = new URLSearchParams("?a=b&a=c&d=");
  assertEquals(p.getAll("a"), ["b", "c"]);
  assertEquals(p.get("a"), "b");
  assertEquals(p.get("d"), "");
  assertEquals(p.get("missing"), null);
  assertEquals(p.size, 3);
  assertEquals([...new URLSearchParams("??a=1")], [["?a", "1"]], "only one '?' is stripped");
  assertEquals([...new URLSearchParams("a=b=c")], [["a", "b=c"]]);
  assertEquals([...new URLSearchParams("&&a&=x&&b")], [["a", ""], ["", "x"], ["b", ""]]);
  assertEquals([...new URLSearchParams("")], []);
  assertEquals([...new URLSearchParams("?")], []);
  assertEquals([...new URLSearchParams("=")], [["", ""]]);
  assertEquals([...new URLSearchParams()], []);
  assertEquals([...new URLSearchParams(undefined)], []);
});

test("URLSearchParams: '+' and percent-decoding", () => {
  assertEquals(new URLSearchParams("a+b=c+d").get("a b"), "c d");
  assertEquals(new URLSearchParams("q=%2B").get("q"), "+");
  assertEquals(new URLSearchParams("q=+").get("q"), " ");
  assertEquals(new URLSearchParams("q=%20").get("q"), " ");
  assertEquals(new URLSearchParams("q=%41%62").get("q"), "Ab");
  assertEquals(new URLSearchParams("q=%zz").get("q"), "%zz");
  assertEquals(new URLSearchParams("q=%").get("q"), "%");
  assertEquals(new URLSearchParams("q=%4").get("q"), "%4");
  assertEquals(new URLSearchParams("q=100%").get("q"), "100%");
  assertEquals(new URLSearchParams("q=%%41").get("q"), "%A");
  assertEquals(new URLSearchParams("q=%26&r=%3D").get("q"), "&");
  assertEquals(new URLSearchParams("q=%3D").get("q"), "=");
  assertEquals(new URLSearchParams("%61=1").get("a"), "1");
});

test("URLSearchParams: UTF-8 decoding, with U+FFFD for bad sequences", () => {
  assertEquals(new URLSearchParams("q=%E2%82%AC").get("q"), "€");
  assertEquals(new URLSearchParams("q=%F0%9F%98%80").get("q"), "😀");
  assertEquals(new URLSearchParams("q=%FF").get("q"), "\uFFFD");
  assertEquals(new URLSearchParams("q=%C0%80").get("q"), "\uFFFD\uFFFD", "overlong");
  assertEquals(new URLSearchParams("q=%E2%82").get("q"), "\uFFFD", "truncated: one U+FFFD");
  assertEquals(new URLSearchParams("q=%E2%82x").get("q"), "\uFFFDx");
  assertEquals(new URLSearchParams("q=%ED%A0%80").get("q"), "\uFFFD\uFFFD\uFFFD", "surrogate");
  assertEquals(new URLSearchParams("q=%E2%82%AC%zz").get("q"), "€%zz");
  assertEquals(new URLSearchParams("q=é%C3%A9").get("q"), "éé", "raw and encoded mix");
  assertEquals(new URLSearchParams("é=ü").get("é"), "ü");
  assertEquals(new URLSearchParams("q=%EF%BB%BFx").get("q"), "\uFEFFx", "the BOM stays");
  assertEquals(new URLSearchParams("q=\ud800").get("q"), "\uFFFD", "lone surrogates become U+FFFD");
});

test("URLSearchParams: serialization (urlencoded byte serializer)", () => {
  const p = new URLSearchParams();
  p.append("a b", "c+d");
  p.append("safe", "*-._AZaz09");
  p.append("unsafe", "~!'()&=%/?#[]@$,;:\"<>\\^`{|}");
  p.append("uni", "é€😀");
  p.append("lone", "\ud800x");
  p.append("", "");
  assertEquals(
    p.toString(),
    "a+b=c%2Bd&safe=*-._AZaz09" +
      "&unsafe=%7E%21%27%28%29%26%3D%25%2F%3F%23%5B%5D%40%24%2C%3B%3A%22%3C%3E%5C%5E%60%7B%7C%7D" +
      "&uni=%C3%A9%E2%82%AC%F0%9F%98%80&lone=%EF%BF%BDx&=",
  );
  assertEquals(`${new URLSearchParams("a=1&b=2")}`, "a=1&b=2");
  assertEquals(new URLSearchParams().toString(), "");
  assertEquals(new URLSearchParams("x=%0A%00\t").toString(), "x=%0A%00%09");
  assertEquals(new URLSearchParams("a=b&c").toString(), "a=b&c=");
});

test("URLSearchParams: parse/serialize round-trips", () => {
  const tricky = ["", " ", "+", "%", "&", "=", "a=b&c", "€", "😀", "\u0000", "%zz", "a+b"];
  for (const v of tricky) {
    const p = new URLSearchParams();
    p.set(v, v);
    const q = new URLSearchParams(p.toString());
    assertEquals(q.get(v), v, JSON.stringify(v));
  }
});

test("URLSearchParams: construct from pairs, records and another URLSearchParams", () => {
  assertEquals([...new URLSearchParams([["a", 1], ["a", "2"], ["b", null]])], [["a", "1"], ["a", "2"], ["b", "null"]]);
  assertEquals([...new URLSearchParams({ x: "1", y: 2, z: undefined })], [["x", "1"], ["y", "2"], ["z", "undefined"]]);
  const record = Object.create({ inherited: "no" });
  record.own = "yes";
  Object.defineProperty(record, "hidden", { value: "no", enumerable: false });
  assertEquals([...new URLSearchParams(record)], [["own", "yes"]]);
  const src = new URLSearchParams("a=1&b=2");
  const copy = new URLSearchParams(src);
  copy.append("c", "3");
  assertEquals(src.toString(), "a=1&b=2", "the copy is independent");
  assertEquals(copy.toString(), "a=1&b=2&c=3");
  assertEquals([...new URLSearchParams(new Map([["m", "1"]]))], [["m", "1"]]);
  assertEquals([...new URLSearchParams([new Set(["k", "v"])])], [["k", "v"]]);
  assertEquals([...new URLSearchParams([["a", "b"]].values())], [["a", "b"]]);
  assertEquals(new URLSearchParams({ "a b": "c d" }).toString(), "a+b=c+d");
  assertEquals(new URLSearchParams([["%41", "+"]]).get("%41"), "+", "pairs are not decoded");
});

test("URLSearchParams: constructor validation", () => {
  assertThrows(() => new URLSearchParams([["a"]]), TypeError, "exactly 2");
  assertThrows(() => new URLSearchParams([["a", "b", "c"]]), TypeError);
  assertThrows(() => new URLSearchParams(["ab"]), TypeError);
  assertThrows(() => new URLSearchParams([1]), TypeError);
  assertThrows(() => new URLSearchParams({ [Symbol.iterator]: 5 }), TypeError);
  assertThrows(() => new URLSearchParams({ [Symbol("k")]: "v" }), TypeError);
  assertThrows(() => URLSearchParams("a=b"), TypeError);
  assertEquals(new URLSearchParams(null).toString(), "null=");
  assertEquals(new URLSearchParams(42).get("42"), "");
});

test("URLSearchParams: append, set, delete, has (with values)", () => {
  const p = new URLSearchParams("a=1&b=2&a=3&c=4&a=5");
  p.set("a", "x");
  assertEquals(p.toString(), "a=x&b=2&c=4", "set keeps the first position and drops the rest");
  p.set("new", "n");
  assertEquals(p.toString(), "a=x&b=2&c=4&new=n");
  p.append("b", "2b");
  assert(p.has("b"));
  assert(p.has("b", "2b"));
  assert(!p.has("b", "nope"));
  assert(p.has("b", undefined), "undefined value means any");
  p.delete("b", "2");
  assertEquals(p.getAll("b"), ["2b"]);
  p.delete("b");
  assert(!p.has("b"));
  p.delete("zzz");
  assertEquals(p.size, 3);
  p.append(1, 2);
  assertEquals(p.get(1), "2");
  assertThrows(() => p.append("only"), TypeError, "2 arguments required");
  assertThrows(() => p.set("only"), TypeError);
  assertThrows(() => p.get(), TypeError);
  assertThrows(() => p.delete(), TypeError);
  assertThrows(() => p.has(), TypeError);
});

test("URLSearchParams: sort is stable and by UTF-16 code units", () => {
  const p = new URLSearchParams("z=1&a=2&z=0&a=1&B=x&b=y");
  p.sort();
  assertEquals(p.toString(), "B=x&a=2&a=1&b=y&z=1&z=0");
  const q = new URLSearchParams();
  q.append("\uFFFD", "replacement");
  q.append("😀", "emoji"); // U+D83D... sorts before U+FFFD in code units
  q.append("\uFB03", "ligature");
  q.append("é", "e-acute");
  q.sort();
  assertEquals([...q.keys()], ["é", "😀", "\uFB03", "\uFFFD"]);
  const r = new URLSearchParams();
  for (let i = 0; i < 30; i++) r.append(i % 2 ? "b" : "a", `${i}`);
  r.sort();
  assertEquals(r.getAll("a"), ["0", "2", "4", "6", "8", "10", "12", "14", "16", "18", "20", "22", "24", "26", "28"]);
  assertEquals(r.getAll("b")[0], "1");
});

test("URLSearchParams: iteration (entries, keys, values, forEach) is live", () => {
  const p = new URLSearchParams("a=1&b=2");
  assertEquals([...p.entries()], [["a", "1"], ["b", "2"]]);
  assertEquals([...p.keys()], ["a", "b"]);
  assertEquals([...p.values()], ["1", "2"]);
  assertEquals(p[Symbol.iterator], p.entries);
  const it = p.entries();
  assertEquals(Object.prototype.toString.call(it), "[object URLSearchParams Iterator]");
  assertEquals(it[Symbol.iterator](), it, "iterators are iterable");
  assertEquals(it.next(), { value: ["a", "1"], done: false });
  p.append("c", "3");
  assertEquals(it.next().value, ["b", "2"]);
  assertEquals(it.next().value, ["c", "3"], "sees appends");
  assertEquals(it.next(), { value: undefined, done: true });
  const seen = [];
  const ctx = {};
  p.forEach(function (value, name, params) {
    seen.push([value, name, params === p, this === ctx]);
    if (name === "a") p.delete("b");
  }, ctx);
  assertEquals(seen, [["1", "a", true, true], ["3", "c", true, true]]);
  assertThrows(() => p.forEach(), TypeError);
  assertThrows(() => p.forEach("nope"), TypeError);
});

test("URLSearchParams: methods check their receiver", () => {
  assertThrows(() => URLSearchParams.prototype.get.call({}, "a"), TypeError);
  assertThrows(() => URLSearchParams.prototype.toString.call({}), TypeError);
  const size = Object.getOwnPropertyDescriptor(URLSearchParams.prototype, "size").get;
  assertThrows(() => size.call({}), TypeError);
  const it = new URLSearchParams("a=1").keys();
  assertThrows(() => it.next.call({}), TypeError);
});

// -------------------------------------------------------------- Blob / File

test("Blob: empty blob", async () => {
  const b = new Blob();
  assertEquals(b.size, 0);
  assertEquals(b.type, "");
  assertEquals(await b.text(), "");
  assertEquals((await b.arrayBuffer()).byteLength, 0);
  assertEquals(new Blob([]).size, 0);
  assertEquals(new Blob([], {}).size, 0);
});

test("Blob: text of multi-part input (strings, buffers, views, blobs)", async () => {
  const inner = new Blob(["in", "ner"]);
  const bytes = new TextEncoderLike().encode("xyz");
  const b = new Blob([
    "a€",
    new Uint8Array([0x62, 0x63]).buffer,
    new Uint8Array([0, 0x64, 0x65, 0]).subarray(1, 3),
    new DataView(new Uint8Array([0x66, 0x67]).buffer, 1),
    new Uint16Array([0x6968]),
    inner,
    bytes,
    7,
  ]);
  assertEquals(await b.text(), "a€bcdeghiinnerxyz7");
  assertEquals(b.size, 4 + 2 + 2 + 1 + 2 + 5 + 3 + 1);
});

// Builds bytes without depending on TextEncoder (another file provides it).
function TextEncoderLike() {
  this.encode = (s) => new Uint8Array([...unescape(encodeURIComponent(s))].map((c) => c.charCodeAt(0)));
}

test("Blob: bytes are copied at construction", async () => {
  const src = new Uint8Array([1, 2, 3]);
  const b = new Blob([src, src.buffer]);
  src[0] = 99;
  assertEquals(await b.bytes(), new Uint8Array([1, 2, 3, 1, 2, 3]));
  const out = await b.bytes();
  out[1] = 42;
  assertEquals(await b.bytes(), new Uint8Array([1, 2, 3, 1, 2, 3]), "bytes() returns a copy");
  const ab = await b.arrayBuffer();
  assert(ab instanceof ArrayBuffer);
  new Uint8Array(ab)[0] = 7;
  assertEquals(new Uint8Array(await b.arrayBuffer())[0], 1, "arrayBuffer() returns a copy");
  const bytes = await b.bytes();
  assert(bytes instanceof Uint8Array);
});

test("Blob: strings are UTF-8 (lone surrogates become U+FFFD)", async () => {
  assertEquals(new Blob(["é"]).size, 2);
  assertEquals(new Blob(["😀"]).size, 4);
  const b = new Blob(["\ud800"]);
  assertEquals(b.size, 3);
  assertEquals(await b.bytes(), new Uint8Array([0xef, 0xbf, 0xbd]));
});

test("Blob: text() decodes UTF-8 with replacement and drops a BOM", async () => {
  assertEquals(await new Blob([new Uint8Array([0xef, 0xbb, 0xbf, 0x61])]).text(), "a");
  assertEquals(await new Blob([new Uint8Array([0x61, 0xff, 0x62])]).text(), "a\uFFFDb");
  assertEquals(await new Blob([new Uint8Array([0xe2, 0x82])]).text(), "\uFFFD");
  const bom = new Blob([new Uint8Array([0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf])]);
  assertEquals(await bom.text(), "\uFEFF", "only one BOM is dropped");
});

test("Blob: type is lowercased, or empty if not printable ASCII", () => {
  assertEquals(new Blob([], { type: "Text/PLAIN;Charset=UTF-8" }).type, "text/plain;charset=utf-8");
  assertEquals(new Blob([], { type: "caf\u00e9/x" }).type, "");
  assertEquals(new Blob([], { type: "a\u0019b" }).type, "");
  assertEquals(new Blob([], { type: "a\u007fb" }).type, "");
  assertEquals(new Blob([], { type: " odd type " }).type, " odd type ");
  assertEquals(new Blob([], { type: undefined }).type, "");
  assertEquals(new Blob([], { type: null }).type, "null");
});

test("Blob: endings", async () => {
  assertEquals(await new Blob(["a\r\nb\rc\n"]).text(), "a\r\nb\rc\n");
  assertEquals(await new Blob(["a\r\nb\rc\n"], { endings: "transparent" }).text(), "a\r\nb\rc\n");
  assertEquals(await new Blob(["a\r\nb\rc\n"], { endings: "native" }).text(), "a\nb\nc\n");
  const bytes = new Uint8Array([0x0d, 0x0a]);
  assertEquals((await new Blob([bytes], { endings: "native" }).bytes()).length, 2, "bytes are untouched");
  assertThrows(() => new Blob([], { endings: "unix" }), TypeError);
});

test("Blob: constructor validation", () => {
  assertThrows(() => new Blob("abc"), TypeError);
  assertThrows(() => new Blob(null), TypeError);
  assertThrows(() => new Blob(5), TypeError);
  assertThrows(() => new Blob({}), TypeError);
  assertThrows(() => new Blob([], 5), TypeError);
  assertThrows(() => Blob([]), TypeError);
  assertEquals(new Blob(new Set(["a", "b"])).size, 2, "any iterable");
  assertEquals(new Blob([], null).type, "");
});

test("Blob: slice with positive, negative and out-of-range indices", async () => {
  const b = new Blob(["0123456789"], { type: "text/plain" });
  const text = async (blob) => await blob.text();
  assertEquals(await text(b.slice()), "0123456789");
  assertEquals(b.slice().type, "", "the type is not inherited");
  assertEquals(await text(b.slice(2)), "23456789");
  assertEquals(await text(b.slice(2, 5)), "234");
  assertEquals(await text(b.slice(-3)), "789");
  assertEquals(await text(b.slice(-3, -1)), "78");
  assertEquals(await text(b.slice(1, -1)), "12345678");
  assertEquals(await text(b.slice(-100, 2)), "01");
  assertEquals(await text(b.slice(5, 2)), "");
  assertEquals(await text(b.slice(8, 100)), "89");
  assertEquals(await text(b.slice(100)), "");
  assertEquals(await text(b.slice(undefined, 3)), "012");
  assertEquals(await text(b.slice(NaN, "4")), "0123");
  assertEquals(await text(b.slice(0, -Infinity)), "");
  assertEquals(await text(b.slice(-Infinity, Infinity)), "0123456789");
  assertEquals(b.slice(-3).size, 3);
  assertEquals(b.slice(5, 2).size, 0);
});

test("Blob: slice rounds fractions half to even ([Clamp])", async () => {
  const b = new Blob(["0123456789"]);
  assertEquals(await b.slice(1.5).text(), "23456789");
  assertEquals(await b.slice(2.5).text(), "23456789");
  assertEquals(await b.slice(0.4, 2.6).text(), "012");
});

test("Blob: slice of a slice, content type, and multi-byte boundaries", async () => {
  const b = new Blob(["ab", new Uint8Array([1, 2, 3]), "cd"]);
  const s = b.slice(1, -1, "Application/Octet-Stream");
  assertEquals(s.type, "application/octet-stream");
  assertEquals(await s.bytes(), new Uint8Array([0x62, 1, 2, 3, 0x63]));
  const ss = s.slice(1, 4);
  assertEquals(await ss.bytes(), new Uint8Array([1, 2, 3]));
  assertEquals(await ss.slice(-1).bytes(), new Uint8Array([3]));
  assertEquals(b.slice(0, 1, "\u00e9").type, "");
  assertEquals(await new Blob(["é"]).slice(0, 1).text(), "\uFFFD", "a cut sequence decodes to U+FFFD");
  assert(!(b.slice() instanceof File));
  assert(b.slice() instanceof Blob);
});

test("Blob: methods check their receiver", async () => {
  const size = Object.getOwnPropertyDescriptor(Blob.prototype, "size").get;
  assertThrows(() => size.call({}), TypeError);
  assertThrows(() => Blob.prototype.slice.call({}), TypeError);
  await assertRejects(() => Blob.prototype.text.call({}), TypeError);
  await assertRejects(() => Blob.prototype.arrayBuffer.call({}), TypeError);
  await assertRejects(() => Blob.prototype.bytes.call(null), TypeError);
});

test("Blob: stream() yields the bytes (or a TypeError without ReadableStream)", async () => {
  const data = new Uint8Array(200_000);
  for (let i = 0; i < data.length; i++) data[i] = i % 251;
  const b = new Blob([data]);
  if (typeof ReadableStream !== "function") {
    assertThrows(() => b.stream(), TypeError, "ReadableStream is not available");
    return;
  }
  const stream = b.stream();
  assert(stream instanceof ReadableStream);
  const reader = stream.getReader();
  const chunks = [];
  let total = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    assert(value instanceof Uint8Array, "chunks are Uint8Arrays");
    chunks.push(value);
    total += value.length;
  }
  assertEquals(total, data.length);
  const all = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    all.set(c, o);
    o += c.length;
  }
  assertEquals(all, data);
  const empty = new Blob().stream().getReader();
  assertEquals((await empty.read()).done, true);
  if (typeof ReadableStreamBYOBReader === "function") {
    // A byte stream: BYOB readers fill the caller's buffer.
    const byob = new Blob(["abcdef"]).stream().getReader({ mode: "byob" });
    const first = await byob.read(new Uint8Array(4));
    assertEquals(first.value, new Uint8Array([0x61, 0x62, 0x63, 0x64]));
    const second = await byob.read(new Uint8Array(4));
    assertEquals(second.value, new Uint8Array([0x65, 0x66]));
    assertEquals((await byob.read(new Uint8Array(4))).done, true);
  }
});

test("File: name, lastModified, type, and Blob behaviour", async () => {
  const before = Date.now();
  const f = new File(["hello ", new Blob(["world"])], "greeting.txt", { type: "Text/Plain" });
  const after = Date.now();
  assert(f instanceof File);
  assert(f instanceof Blob);
  assertEquals(f.name, "greeting.txt");
  assertEquals(f.type, "text/plain");
  assertEquals(f.size, 11);
  assertEquals(await f.text(), "hello world");
  assert(f.lastModified >= before && f.lastModified <= after, `${f.lastModified}`);
  assertEquals(new File([], "x", { lastModified: 1234.9 }).lastModified, 1234);
  assertEquals(new File([], "x", { lastModified: 0 }).lastModified, 0);
  assertEquals(new File([], "a/b\ud800").name, "a/b\uFFFD");
  assertEquals(new File([], 5).name, "5");
  const sliced = f.slice(0, 5);
  assert(!(sliced instanceof File));
  assertEquals(await sliced.text(), "hello");
  assertEquals(await new Blob([f]).text(), "hello world", "a File is a BlobPart");
  assertThrows(() => new File(["x"]), TypeError, "2 arguments required");
  assertThrows(() => new File("x", "name"), TypeError);
  const name = Object.getOwnPropertyDescriptor(File.prototype, "name").get;
  assertThrows(() => name.call(new Blob()), TypeError);
  assertEquals(new File(["a\r\n"], "n", { endings: "native" }).size, 2);
});

export default { fetch: run };

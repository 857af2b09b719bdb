// The global scope beyond fetch: self, navigator, the Performance interface,
// global events (error, unhandledrejection, rejectionhandled),
// MessageChannel, structuredClone's transfer, setTimeout's extra arguments
// and WebAssembly's streaming entry points.
import { test, assert, assertEquals, assertThrows, assertRejects, run } from "./harness.js";

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

test("self and navigator", () => {
  assertEquals(self, globalThis);
  assertEquals(navigator.userAgent, "Cloudflare-Workers");
  assert(navigator instanceof Navigator);
  assertThrows(() => new Navigator(), TypeError, "Illegal constructor");
  assertEquals(typeof navigator.hardwareConcurrency, "number");
});

test("performance: an EventTarget with now, timeOrigin, marks and measures", async () => {
  assert(performance instanceof Performance);
  assert(performance instanceof EventTarget);
  assertThrows(() => new Performance(), TypeError);
  const t = performance.now();
  assert(t >= 0 && typeof performance.timeOrigin === "number");
  assertEquals(performance.toJSON(), { timeOrigin: performance.timeOrigin });
  performance.clearMarks();
  performance.clearMeasures();
  const a = performance.mark("a", { detail: { n: 1 } });
  assert(a instanceof PerformanceMark && a instanceof PerformanceEntry);
  assertEquals([a.name, a.entryType, a.duration, a.detail], ["a", "mark", 0, { n: 1 }]);
  await tick(2);
  performance.mark("b");
  const m = performance.measure("a-to-b", "a", "b");
  assert(m instanceof PerformanceMeasure);
  assertEquals([m.entryType, m.startTime], ["measure", a.startTime]);
  assert(m.duration > 0, `measure duration ${m.duration}`);
  const o = performance.measure("opts", { start: 10, duration: 5, detail: "d" });
  assertEquals([o.startTime, o.duration, o.detail], [10, 5, "d"]);
  assertEquals(performance.getEntriesByType("mark").map((e) => e.name), ["a", "b"]);
  assertEquals(performance.getEntriesByName("a-to-b").length, 1);
  assertThrows(() => performance.measure("x", "no-such-mark"), DOMException, "no mark");
  performance.clearMarks("a");
  assertEquals(performance.getEntriesByType("mark").map((e) => e.name), ["b"]);
  const user = new PerformanceMark("manual", { startTime: 3 });
  assertEquals(user.startTime, 3);
  assertThrows(() => new PerformanceMark("neg", { startTime: -1 }), TypeError);
});

test("global events: addEventListener('error') sees reportError; preventDefault silences it", async () => {
  const seen = [];
  const listener = (e) => {
    seen.push([e.constructor.name, e.message, e.error]);
    e.preventDefault();
  };
  addEventListener("error", listener);
  const boom = new Error("boom");
  reportError(boom);
  removeEventListener("error", listener);
  assertEquals(seen, [["ErrorEvent", "boom", boom]]);
  let args = null;
  onerror = (...a) => {
    args = a;
    return true;
  };
  reportError(new TypeError("via onerror"));
  onerror = null;
  assertEquals([args[0], args[4] instanceof TypeError], ["via onerror", true]);
  assertEquals(onerror, null);
});

test("global events: an uncaught error in a timer reaches the error listeners", async () => {
  const seen = [];
  const listener = (e) => {
    seen.push(e.error.message);
    e.preventDefault();
  };
  addEventListener("error", listener);
  setTimeout(() => {
    throw new Error("from a timer");
  }, 0);
  await tick(5);
  removeEventListener("error", listener);
  assertEquals(seen, ["from a timer"]);
});

test("global events: unhandledrejection and rejectionhandled", async () => {
  const events = [];
  const onUnhandled = (e) => {
    assert(e instanceof PromiseRejectionEvent);
    events.push(["unhandled", e.reason.message, e.promise === p]);
    e.preventDefault();
  };
  addEventListener("unhandledrejection", onUnhandled);
  onrejectionhandled = (e) => events.push(["handled", e.reason.message, e.promise === p]);
  const p = Promise.reject(new Error("nobody"));
  await tick(5);
  p.catch(() => {});
  await tick(5);
  removeEventListener("unhandledrejection", onUnhandled);
  onrejectionhandled = null;
  assertEquals(events, [
    ["unhandled", "nobody", true],
    ["handled", "nobody", true],
  ]);
  assertThrows(() => new PromiseRejectionEvent("x", {}), TypeError);
  const e = new PromiseRejectionEvent("unhandledrejection", { promise: p, reason: 1 });
  assertEquals([e.type, e.reason, e.promise], ["unhandledrejection", 1, p]);
});

test("global events: dispatchEvent on the global scope", () => {
  let got = null;
  const l = (e) => {
    got = e.type;
  };
  addEventListener("custom", l);
  assert(dispatchEvent(new Event("custom")));
  removeEventListener("custom", l);
  assertEquals(got, "custom");
});

test("MessageChannel: messages are cloned and delivered in order, as tasks", async () => {
  const { port1, port2 } = new MessageChannel();
  assert(port1 instanceof MessagePort && port1 instanceof EventTarget);
  const got = [];
  port2.onmessage = (e) => got.push(e.data);
  const obj = { n: 1, nested: [1, 2] };
  port1.postMessage(obj);
  port1.postMessage("second");
  obj.n = 2;
  assertEquals(got, [], "delivery is asynchronous");
  await tick(5);
  assertEquals(got, [{ n: 1, nested: [1, 2] }, "second"]);
  // addEventListener needs start(); messages wait until then.
  const later = [];
  port1.addEventListener("message", (e) => later.push(e.data));
  port2.postMessage("queued");
  await tick(5);
  assertEquals(later, []);
  port1.start();
  await tick(5);
  assertEquals(later, ["queued"]);
  port1.close();
  port2.postMessage("dropped");
  await tick(5);
  assertEquals(later, ["queued"]);
  assertThrows(() => port1.postMessage(() => 1), DOMException);
  assertThrows(() => new MessagePort(), TypeError);
});

test("MessageChannel: a port can be sent through another port", async () => {
  const outer = new MessageChannel();
  const inner = new MessageChannel();
  let received = null;
  outer.port2.onmessage = (e) => {
    received = e.data.port;
  };
  outer.port1.postMessage({ port: inner.port2 }, [inner.port2]);
  await tick(5);
  assert(received instanceof MessagePort && received !== inner.port2);
  const got = [];
  received.onmessage = (e) => got.push(e.data);
  inner.port1.postMessage("through the moved port");
  await tick(5);
  assertEquals(got, ["through the moved port"]);
  assertThrows(() => outer.port1.postMessage(null, [outer.port1]), DOMException);
});

test("structuredClone: transfer detaches ArrayBuffers and keeps views over them", () => {
  const buf = new Uint8Array([1, 2, 3, 4]).buffer;
  const view = new Uint8Array(buf, 1, 2);
  const out = structuredClone({ buf, view }, { transfer: [buf] });
  assertEquals(buf.byteLength, 0, "the original is detached");
  assertEquals(new Uint8Array(out.buf), new Uint8Array([1, 2, 3, 4]));
  assertEquals(out.view, new Uint8Array([2, 3]));
  assertEquals(out.view.buffer, out.buf, "the view is over the transferred buffer");
  assertThrows(() => structuredClone(buf, { transfer: [buf] }), DOMException, "detached");
  const again = new ArrayBuffer(1);
  assertThrows(() => structuredClone(1, { transfer: [again, again] }), DOMException);
  assertThrows(() => structuredClone(1, { transfer: [{}] }), DOMException);
  assertEquals(structuredClone(5, { transfer: [] }), 5);
});

test("setTimeout and setInterval pass extra arguments", async () => {
  const got = [];
  setTimeout((a, b) => got.push(["t", a, b]), 0, "x", 2);
  let n = 0;
  const id = setInterval((a) => {
    got.push(["i", a]);
    if (++n === 2) clearInterval(id);
  }, 1, "y");
  await tick(20);
  assertEquals(got, [["t", "x", 2], ["i", "y"], ["i", "y"]]);
});

// (module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))
const ADD_WASM = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 7, 1, 96, 2, 127, 127, 1, 127, 3, 2, 1, 0, 7, 7, 1, 3, 97, 100, 100, 0, 0, 10, 9, 1,
  7, 0, 32, 0, 32, 1, 106, 11,
]);

test("WebAssembly.compileStreaming / instantiateStreaming take a Response", async () => {
  const wasm = () => new Response(ADD_WASM, { headers: { "content-type": "application/wasm" } });
  const module = await WebAssembly.compileStreaming(wasm());
  assert(module instanceof WebAssembly.Module);
  const { instance } = await WebAssembly.instantiateStreaming(Promise.resolve(wasm()));
  assertEquals(instance.exports.add(2, 3), 5);
  await assertRejects(
    () => WebAssembly.compileStreaming(new Response(ADD_WASM)),
    TypeError,
    "application/wasm",
  );
  await assertRejects(() => WebAssembly.compileStreaming(ADD_WASM), TypeError, "Response");
  const notOk = new Response(ADD_WASM, { status: 404, headers: { "content-type": "application/wasm" } });
  await assertRejects(() => WebAssembly.instantiateStreaming(notOk), TypeError, "404");
});

export default { fetch: run };

// A small test harness for API tests that run inside a real ringworker
// isolate. A test file imports it, registers tests, and exports `run` as its
// fetch handler; tests/js_api.rs serves each file and GETs the report.
//
//   import { test, assert, assertEquals, assertThrows, assertRejects, run } from "./harness.js";
//   test("Headers are case-insensitive", () => { ... });
//   export default { fetch: run };
//
// Every assertion here must be able to fail (harness.test.js proves each one
// does, and tests/js_api.rs proves a failing test is reported):
// - assertEquals compares plain objects, arrays, typed arrays, ArrayBuffers,
//   DataViews, Maps, Sets and Dates by content, and every other object (an
//   Error, a DOMException, a stream, an AbortSignal, a class instance) by
//   identity: two different errors are never "equal" because neither has
//   enumerable keys.
// - assertThrows/assertRejects need the call to throw/reject; an assertion
//   that fails inside the call is that failure, not the expected error; a
//   synchronous throw is not a rejection.
// - An assertRejects left un-awaited still counts: the test fails if it
//   rejected or is still pending when the test ends.
// Never write `try { await p; assert(false) } catch (e) { ... }`: the catch
// swallows the assert. Use assertRejects/assertRejectsWith.

const tests = [];

/** Registers a test; `fn` may be async. */
export function test(name, fn) {
  tests.push({ name, fn });
}

export class AssertionError extends Error {}
AssertionError.prototype.name = "AssertionError";

function fail(message, prefix = "") {
  throw new AssertionError(prefix ? `${prefix}: ${message}` : message);
}

function isThenable(v) {
  return v !== null && (typeof v === "object" || typeof v === "function") && typeof v.then === "function";
}

/** Fails unless `cond` is truthy. A promise is refused: it is always truthy,
 *  so `assert(p)` is a missing `await`. */
export function assert(cond, message = "assertion failed") {
  if (isThenable(cond)) fail("assert() got a promise; did you forget to await it?", message);
  if (!cond) throw new AssertionError(message);
}

const TypedArray = Object.getPrototypeOf(Uint8Array);

function bytesOf(v) {
  return v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

// A readable rendering of a value for failure messages.
function show(v, depth = 0) {
  try {
    if (typeof v === "string") return JSON.stringify(v);
    if (typeof v === "bigint") return `${v}n`;
    if (typeof v === "function") return `[function ${v.name || "(anonymous)"}]`;
    if (typeof v === "symbol") return String(v);
    if (v === null || typeof v !== "object") return Object.is(v, -0) ? "-0" : String(v);
    if (depth > 4) return "...";
    const inner = (x) => show(x, depth + 1);
    const proto = Object.getPrototypeOf(v);
    if (Array.isArray(v)) return `[${v.map(inner).join(", ")}]`;
    if (v instanceof TypedArray) return `${v.constructor.name}[${Array.from(v).join(",")}]`;
    if (v instanceof ArrayBuffer || v instanceof DataView) {
      return `${v.constructor.name}[${Array.from(bytesOf(v)).join(",")}]`;
    }
    if (v instanceof Map) return `Map{${Array.from(v, ([k, x]) => `${inner(k)} => ${inner(x)}`).join(", ")}}`;
    if (v instanceof Set) return `Set{${Array.from(v, inner).join(", ")}}`;
    if (v instanceof Date) return `Date(${v.toISOString()})`;
    if (v instanceof Error || (typeof DOMException === "function" && v instanceof DOMException)) {
      return `${v.constructor.name}(${JSON.stringify(String(v.name))}, ${JSON.stringify(String(v.message))})`;
    }
    if (proto === Object.prototype || proto === null) {
      return `{${Object.keys(v)
        .map((k) => `${JSON.stringify(k)}: ${inner(v[k])}`)
        .join(", ")}}`;
    }
    return `[object ${(v.constructor && v.constructor.name) || "?"}]`;
  } catch {
    return String(v);
  }
}

// Structural equality for data, identity for everything else. `seen` pairs
// objects already being compared, so cyclic data terminates.
function deepEqual(a, b, seen = new Map()) {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  const proto = Object.getPrototypeOf(a);
  if (proto !== Object.getPrototypeOf(b)) return false;
  if (seen.get(a) === b) return true;
  seen.set(a, b);
  if (a instanceof TypedArray || proto === ArrayBuffer.prototype || proto === DataView.prototype) {
    if (proto !== ArrayBuffer.prototype && a.length !== b.length) return false;
    const x = bytesOf(a);
    const y = bytesOf(b);
    return x.length === y.length && x.every((v, i) => v === y[i]);
  }
  if (proto === Map.prototype) {
    if (a.size !== b.size) return false;
    for (const [k, v] of a) {
      if (!b.has(k) || !deepEqual(v, b.get(k), seen)) return false;
    }
    return true;
  }
  if (proto === Set.prototype) {
    if (a.size !== b.size) return false;
    for (const v of a) if (!b.has(v)) return false;
    return true;
  }
  if (proto === Date.prototype) return Object.is(a.getTime(), b.getTime());
  if (!Array.isArray(a) && proto !== Object.prototype && proto !== null) {
    // An Error, a DOMException, a stream, a class instance: their state is
    // in internal slots or #private fields that keys cannot see, so only
    // the same object is equal.
    return false;
  }
  if (Array.isArray(a) && a.length !== b.length) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k], seen));
}

/** Fails unless `actual` equals `expected`: by content for plain objects,
 *  arrays, typed arrays, ArrayBuffers, DataViews, Maps (values by content,
 *  keys by identity), Sets (by identity), Dates; by `Object.is` otherwise. */
export function assertEquals(actual, expected, message = "") {
  if (!deepEqual(actual, expected)) {
    let detail = `expected ${show(expected)}, got ${show(actual)}`;
    if (show(expected) === show(actual)) detail += " (different objects that look alike)";
    fail(detail, message);
  }
}

/** Fails unless `actual` is the very same value as `expected` (`Object.is`),
 *  even for plain objects and arrays. */
export function assertSame(actual, expected, message = "") {
  if (!Object.is(actual, expected)) {
    let detail = `expected the same value as ${show(expected)}, got ${show(actual)}`;
    if (show(expected) === show(actual)) detail += " (a different object that looks alike)";
    fail(detail, message);
  }
}

/** Fails if `actual` equals `expected` (as assertEquals compares). */
export function assertNotEquals(actual, expected, message = "") {
  if (deepEqual(actual, expected)) fail(`expected anything but ${show(expected)}`, message);
}

// Checks a caught error's class and message. A failed assertion inside the
// checked call is that failure, not the error the caller expected.
function checkError(e, ErrorClass, includes, what) {
  if (e instanceof AssertionError && ErrorClass !== AssertionError) throw e;
  if (!(e instanceof ErrorClass)) {
    fail(`expected ${what} ${ErrorClass.name}, got ${show(e)}`);
  }
  if (includes && !`${e.message}`.includes(includes)) {
    fail(`expected the message to include ${show(includes)}, got ${show(e.message)}`);
  }
  return e;
}

function checkClass(ErrorClass, helper) {
  if (typeof ErrorClass !== "function") fail(`${helper}: the error class must be a constructor, got ${show(ErrorClass)}`);
}

// Runs `fn` synchronously: { threw, error }. A returned promise is refused:
// an async function never throws, it rejects (use assertRejects).
function callSync(fn, helper) {
  if (typeof fn !== "function") fail(`${helper} needs a function, got ${show(fn)}`);
  let result;
  try {
    result = fn();
  } catch (error) {
    return { threw: true, error };
  }
  if (isThenable(result)) fail(`${helper} got a function that returned a promise; use ${helper.replace("Throws", "Rejects")}`);
  return { threw: false, result };
}

/** Calls `fn`; fails unless it throws an `ErrorClass` whose message includes
 *  `includes`. Returns the error. */
export function assertThrows(fn, ErrorClass = Error, includes = "") {
  checkClass(ErrorClass, "assertThrows");
  const r = callSync(fn, "assertThrows");
  if (!r.threw) fail(`expected ${ErrorClass.name} to be thrown, the call returned ${show(r.result)}`);
  return checkError(r.error, ErrorClass, includes, "a thrown");
}

/** Calls `fn`; fails unless it throws exactly `expected` (compared as
 *  assertEquals does: identity for errors). Returns it. */
export function assertThrowsWith(fn, expected, message = "") {
  const r = callSync(fn, "assertThrowsWith");
  if (!r.threw) fail(`expected ${show(expected)} to be thrown, the call returned ${show(r.result)}`, message);
  if (r.error instanceof AssertionError && !(expected instanceof AssertionError)) throw r.error;
  assertEquals(r.error, expected, message || "the thrown value");
  return r.error;
}

// Every assertRejects promise of the running test, so one left un-awaited
// still fails the test (see runOne()).
let tracked = [];

// The promise assertRejects returns. A subclass, so `await` goes through its
// `then` (it does not for a plain Promise) and the harness learns whether
// the test looked at the outcome at all.
class Checked extends Promise {
  static get [Symbol.species]() {
    return Promise;
  }
  then(onFulfilled, onRejected) {
    this.observed = true;
    return super.then(onFulfilled, onRejected);
  }
}

function track(promise, helper) {
  const checked = new Checked((resolve) => resolve(promise));
  checked.observed = false;
  checked.helper = helper;
  tracked.push(checked);
  return checked;
}

// Awaits the promise `target` or the one `target()` returns: { rejected, error }.
// A synchronous throw is not a rejection and fails.
async function settle(target, helper) {
  let promise = target;
  if (typeof target === "function") {
    try {
      promise = target();
    } catch (e) {
      if (e instanceof AssertionError) throw e;
      fail(`${helper}: the call threw synchronously instead of returning a rejected promise: ${show(e)}`);
    }
  }
  if (!isThenable(promise)) fail(`${helper} needs a promise or a function returning one, got ${show(promise)}`);
  try {
    const value = await promise;
    return { rejected: false, value };
  } catch (error) {
    return { rejected: true, error };
  }
}

/** Awaits `target` (a promise, or a function returning one); fails unless it
 *  rejects with an `ErrorClass` whose message includes `includes`. Resolves
 *  to the error. */
export function assertRejects(target, ErrorClass = Error, includes = "") {
  return track(
    (async () => {
      checkClass(ErrorClass, "assertRejects");
      const r = await settle(target, "assertRejects");
      if (!r.rejected) fail(`expected a rejection with ${ErrorClass.name}, it resolved to ${show(r.value)}`);
      return checkError(r.error, ErrorClass, includes, "a rejection with");
    })(),
    "assertRejects",
  );
}

/** Awaits `target`; fails unless it rejects with exactly `expected`
 *  (compared as assertEquals does: identity for errors). Resolves to it. */
export function assertRejectsWith(target, expected, message = "") {
  return track(
    (async () => {
      const r = await settle(target, "assertRejectsWith");
      if (!r.rejected) fail(`expected a rejection with ${show(expected)}, it resolved to ${show(r.value)}`, message);
      if (r.error instanceof AssertionError && !(expected instanceof AssertionError)) throw r.error;
      assertEquals(r.error, expected, message || "the rejection reason");
      return r.error;
    })(),
    "assertRejectsWith",
  );
}

/** How long one test may take before it fails as hung (ms). */
let testTimeoutMs = 5000;

/** Sets how long one test may take before it fails as hung. */
export function setTestTimeout(ms) {
  testTimeoutMs = ms;
}

async function runOne(fn) {
  tracked = [];
  let timer;
  const hung = new Promise((_, reject) => {
    const ms = testTimeoutMs;
    timer = setTimeout(() => reject(new AssertionError(`did not finish within ${ms} ms`)), ms);
  });
  try {
    await Promise.race([(async () => fn())(), hung]);
  } finally {
    clearTimeout(timer);
    // Whatever happened, a tracked check's rejection is reported through
    // the test, not as an unhandled rejection (a plain `then`: this is not
    // the test awaiting it).
    for (const checked of tracked) Promise.prototype.then.call(checked, undefined, () => {});
  }
  const unawaited = tracked.filter((checked) => !checked.observed);
  if (unawaited.length > 0) {
    // Its verdict would be lost, or arrive after the test passed.
    fail(`${unawaited.length} ${unawaited[0].helper}(...) not awaited; an un-awaited check never counts`);
  }
}

// Runs every registered test in order; the report's first line is
// "passed N failed M", then one line per failure.
export async function run() {
  let passed = 0;
  const failures = [];
  for (const { name, fn } of tests) {
    try {
      await runOne(fn);
      passed++;
    } catch (e) {
      failures.push(`FAIL ${name}: ${(e && e.stack) || show(e)}`);
    }
  }
  tracked = [];
  return new Response([`passed ${passed} failed ${failures.length}`, ...failures].join("\n"));
}

// A small test harness for API tests that run inside a real ringworker
// isolate. A test file imports it, registers tests, and exports `run` as its
// fetch handler; tests/js_api.rs serves each file and GETs the report.
//
//   import { test, assert, assertEquals, assertThrows, assertRejects, run } from "./harness.js";
//   test("Headers are case-insensitive", () => { ... });
//   export default { fetch: run };

const tests = [];

export function test(name, fn) {
  tests.push({ name, fn });
}

export class AssertionError extends Error {}

export function assert(cond, message = "assertion failed") {
  if (!cond) throw new AssertionError(message);
}

function show(v) {
  try {
    if (v instanceof Uint8Array) return `Uint8Array[${Array.from(v).join(",")}]`;
    return typeof v === "string" ? JSON.stringify(v) : String(JSON.stringify(v) ?? v);
  } catch {
    return String(v);
  }
}

function deepEqual(a, b) {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b)) {
    if (a.byteLength !== b.byteLength) return false;
    const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    return x.every((v, i) => v === y[i]);
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => deepEqual(a[k], b[k]));
}

export function assertEquals(actual, expected, message = "") {
  if (!deepEqual(actual, expected)) {
    throw new AssertionError(`${message ? message + ": " : ""}expected ${show(expected)}, got ${show(actual)}`);
  }
}

// Checks a caught error's class and message.
function checkError(e, ErrorClass, includes) {
  if (!(e instanceof ErrorClass)) {
    throw new AssertionError(`expected ${ErrorClass.name}, got ${e && e.constructor && e.constructor.name}: ${e}`);
  }
  if (includes && !`${e.message}`.includes(includes)) {
    throw new AssertionError(`expected the message to include ${show(includes)}, got ${show(e.message)}`);
  }
  return e;
}

export function assertThrows(fn, ErrorClass = Error, includes = "") {
  try {
    fn();
  } catch (e) {
    return checkError(e, ErrorClass, includes);
  }
  throw new AssertionError(`expected ${ErrorClass.name} to be thrown`);
}

export async function assertRejects(fn, ErrorClass = Error, includes = "") {
  try {
    await fn();
  } catch (e) {
    return checkError(e, ErrorClass, includes);
  }
  throw new AssertionError(`expected a rejection with ${ErrorClass.name}`);
}

// Runs every registered test in order; the report's first line is
// "passed N failed M", then one line per failure.
export async function run() {
  let passed = 0;
  const failures = [];
  for (const { name, fn } of tests) {
    try {
      await fn();
      passed++;
    } catch (e) {
      failures.push(`FAIL ${name}: ${(e && e.stack) || e}`);
    }
  }
  return new Response([`passed ${passed} failed ${failures.length}`, ...failures].join("\n"));
}

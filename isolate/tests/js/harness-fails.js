// Tests that must each be reported as a failure: tests/js_api.rs runs this
// file (it is not a *.test.js) and checks the report names every one, so the
// runner itself is shown to fail a failing, hung or sloppy test.
import { test, assert, assertEquals, assertRejects, assertRejectsWith, setTestTimeout, run } from "./harness.js";

setTestTimeout(200);

test("passes", () => {
  assertEquals([1, { a: new Uint8Array([2]) }], [1, { a: new Uint8Array([2]) }]);
});

test("fails: assert(false)", () => {
  assert(false, "deliberate");
});

test("fails: an async test that throws after an await", async () => {
  await null;
  assertEquals(new Error("x"), new Error("x"));
});

test("fails: throws a non-error", () => {
  throw "a plain string";
});

test("fails: the old try/assert(false)/catch pattern with a promise that resolves", async () => {
  const err = new Error("expected");
  try {
    await Promise.resolve("it resolved");
    assert(false, "should reject");
  } catch (e) {
    assertEquals(e, err);
  }
});

test("fails: an assertRejects that is not awaited, though it would pass", () => {
  assertRejects(Promise.reject(new TypeError("x")), TypeError);
});

test("fails: an assertRejectsWith that is not awaited and would fail", async () => {
  assertRejectsWith(Promise.resolve(1), "never");
  await null;
});

test("fails: hangs past the test timeout", async () => {
  await new Promise(() => {});
});

test("fails: a sync test that returns normally but left a pending check", () => {
  assertRejects(new Promise(() => {}));
});

export default { fetch: run };

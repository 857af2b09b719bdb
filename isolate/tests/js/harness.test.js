// Self-tests of harness.js: every assertion passes when it should and, above
// all, fails when it should. `mustFail`/`mustReject` are written with plain
// try/catch (nothing from the harness inside the try), so they do not lean
// on the helpers they check. tests/js_api.rs also runs harness-fails.js to
// show a failing, hung or sloppy test is reported as a failure.
import {
  test,
  AssertionError,
  assert,
  assertEquals,
  assertSame,
  assertNotEquals,
  assertThrows,
  assertThrowsWith,
  assertRejects,
  assertRejectsWith,
  run,
} from "./harness.js";

// Fails unless `fn()` throws an AssertionError whose message includes `includes`.
function mustFail(fn, includes = "") {
  let error;
  let threw = false;
  try {
    fn();
  } catch (e) {
    threw = true;
    error = e;
  }
  if (!threw) throw new Error(`expected an AssertionError, nothing was thrown`);
  if (!(error instanceof AssertionError)) throw new Error(`expected an AssertionError, got ${error}`);
  if (!error.message.includes(includes)) {
    throw new Error(`expected the AssertionError to mention ${JSON.stringify(includes)}: ${error.message}`);
  }
}

// Fails unless the promise `fn()` returns rejects with an AssertionError
// whose message includes `includes`.
async function mustReject(fn, includes = "") {
  let error;
  let rejected = false;
  try {
    await fn();
  } catch (e) {
    rejected = true;
    error = e;
  }
  if (!rejected) throw new Error(`expected a rejection with an AssertionError, it resolved`);
  if (!(error instanceof AssertionError)) throw new Error(`expected an AssertionError, got ${error}`);
  if (!error.message.includes(includes)) {
    throw new Error(`expected the AssertionError to mention ${JSON.stringify(includes)}: ${error.message}`);
  }
}

test("assert: passes on truthy, fails on falsy and on a promise", () => {
  assert(true);
  assert(1);
  assert("x");
  mustFail(() => assert(false, "the message"), "the message");
  mustFail(() => assert(0));
  mustFail(() => assert(""));
  mustFail(() => assert(undefined));
  mustFail(() => assert(Promise.resolve(true)), "forget to await");
});

test("assertEquals: primitives by Object.is", () => {
  assertEquals(1, 1);
  assertEquals("a", "a");
  assertEquals(NaN, NaN);
  assertEquals(null, null);
  mustFail(() => assertEquals(1, 2), "expected 2, got 1");
  mustFail(() => assertEquals(0, -0), "expected -0, got 0");
  mustFail(() => assertEquals("1", 1));
  mustFail(() => assertEquals(null, undefined));
  mustFail(() => assertEquals(undefined, {}));
  mustFail(() => assertEquals({}, null));
  mustFail(() => assertEquals(1, 2, "the context"), "the context: ");
});

test("assertEquals: errors and other class instances only by identity", () => {
  const e = new Error("x");
  assertEquals(e, e);
  mustFail(() => assertEquals(new Error("x"), new AssertionError("x")));
  mustFail(() => assertEquals(new Error("x"), new Error("x")), "different objects that look alike");
  mustFail(() => assertEquals(new Error("x"), new Error("y")));
  mustFail(() => assertEquals(new TypeError("x"), new RangeError("x")));
  mustFail(() => assertEquals(new DOMException("x", "AbortError"), new DOMException("x", "AbortError")));
  mustFail(() => assertEquals(new AbortController().signal, new AbortController().signal));
  mustFail(() => assertEquals(new ReadableStream(), new ReadableStream()));
  mustFail(() => assertEquals(new WritableStream(), new WritableStream()));
  mustFail(() => assertEquals(new Headers({ a: "1" }), new Headers({ a: "2" })));
  mustFail(() => assertEquals(new Response("a"), new Response("b")));
  mustFail(() => assertEquals(new URL("http://a/"), new URL("http://b/")));
  mustFail(() => assertEquals(Promise.resolve(1), Promise.resolve(1)));
  class Point {
    constructor(x) {
      this.x = x;
    }
  }
  mustFail(() => assertEquals(new Point(1), new Point(1)));
  mustFail(() => assertEquals(new Point(1), { x: 1 }), "expected");
  mustFail(() => assertEquals({ x: 1 }, new Point(1)));
  mustFail(() => assertEquals(() => 1, () => 1));
});

test("assertEquals: plain objects and arrays by content", () => {
  assertEquals({ a: 1, b: [1, 2, { c: "x" }] }, { b: [1, 2, { c: "x" }], a: 1 });
  assertEquals(Object.assign(Object.create(null), { a: 1 }), Object.assign(Object.create(null), { a: 1 }));
  assertEquals([], []);
  mustFail(() => assertEquals({ a: 1 }, { a: 2 }));
  mustFail(() => assertEquals({ a: 1 }, { a: 1, b: 2 }));
  mustFail(() => assertEquals({ a: 1, b: 2 }, { a: 1 }));
  mustFail(() => assertEquals({ a: undefined }, { b: undefined }));
  mustFail(() => assertEquals({ a: new Error("x") }, { a: new Error("x") }));
  mustFail(() => assertEquals([1, 2], [1, 2, 3]));
  mustFail(() => assertEquals([1, 2, 3], [1, 2]));
  mustFail(() => assertEquals([1, [2]], [1, [3]]));
  mustFail(() => assertEquals([], {}));
  mustFail(() => assertEquals({ 0: "a", length: 1 }, ["a"]));
  mustFail(() => assertEquals([undefined], [,]));
  mustFail(() => assertEquals(Object.create(null), {}));
  // Cyclic data terminates.
  const a = { n: 1 };
  a.self = a;
  const b = { n: 1 };
  b.self = b;
  assertEquals(a, b);
  const c = { n: 2 };
  c.self = c;
  mustFail(() => assertEquals(a, c));
});

test("assertEquals: typed arrays, ArrayBuffers and DataViews by kind and content", () => {
  assertEquals(new Uint8Array([1, 2]), new Uint8Array([1, 2]));
  assertEquals(new Uint8Array([1, 2]).buffer, new Uint8Array([1, 2]).buffer);
  assertEquals(new DataView(new Uint8Array([1, 2]).buffer), new DataView(new Uint8Array([1, 2]).buffer));
  assertEquals(new Uint8Array([9, 1, 2]).subarray(1), new Uint8Array([1, 2]));
  mustFail(() => assertEquals(new Uint8Array([1, 2]), new Uint8Array([1, 3])), "Uint8Array[1,2]");
  mustFail(() => assertEquals(new Uint8Array([1, 2]), new Uint8Array([1, 2, 3])));
  mustFail(() => assertEquals(new Uint8Array([1, 2]), new Int8Array([1, 2])));
  mustFail(() => assertEquals(new Uint8Array([1, 2]), [1, 2]));
  mustFail(() => assertEquals(new Uint8Array(2).buffer, new Uint8Array(3).buffer));
  mustFail(() => assertEquals(new Uint8Array([1]).buffer, new Uint8Array([2]).buffer), "ArrayBuffer[2]");
  mustFail(() => assertEquals(new Uint8Array([1]).buffer, new Uint8Array([1])));
  mustFail(() => assertEquals(new DataView(new ArrayBuffer(1)), new DataView(new ArrayBuffer(2))));
  mustFail(() => assertEquals(new Uint16Array([1]), new Uint16Array([256])));
});

test("assertEquals: Maps, Sets and Dates by content", () => {
  const k = {};
  assertEquals(new Map([["a", { x: 1 }], [k, 2]]), new Map([[k, 2], ["a", { x: 1 }]]));
  assertEquals(new Set([1, "a", k]), new Set([k, "a", 1]));
  assertEquals(new Date(5), new Date(5));
  mustFail(() => assertEquals(new Map([["a", 1]]), new Map([["a", 2]])), "Map{");
  mustFail(() => assertEquals(new Map([["a", 1]]), new Map([["b", 1]])));
  mustFail(() => assertEquals(new Map([["a", 1]]), new Map([["a", 1], ["b", 2]])));
  mustFail(() => assertEquals(new Map([[{}, 1]]), new Map([[{}, 1]])), "Map{");
  mustFail(() => assertEquals(new Map(), {}));
  mustFail(() => assertEquals(new Set([1]), new Set([2])), "Set{");
  mustFail(() => assertEquals(new Set([1]), new Set([1, 2])));
  mustFail(() => assertEquals(new Set([{}]), new Set([{}])));
  mustFail(() => assertEquals(new Set(), new Map()));
  mustFail(() => assertEquals(new Date(5), new Date(6)));
});

test("assertSame: identity even for plain data", () => {
  const o = { a: 1 };
  assertSame(o, o);
  assertSame(NaN, NaN);
  mustFail(() => assertSame({ a: 1 }, { a: 1 }), "looks alike");
  mustFail(() => assertSame([1], [1]));
  mustFail(() => assertSame(0, -0));
});

test("assertNotEquals: fails on equal values", () => {
  assertNotEquals(1, 2);
  assertNotEquals(new Error("x"), new Error("x"));
  mustFail(() => assertNotEquals({ a: [1] }, { a: [1] }), "anything but");
  mustFail(() => assertNotEquals(NaN, NaN));
});

test("assertThrows: needs a throw of the right class and message", () => {
  const e = assertThrows(() => JSON.parse("{"), SyntaxError);
  assert(e instanceof SyntaxError);
  assertThrows(() => {
    throw new TypeError("bad thing here");
  }, TypeError, "thing");
  assertThrows(() => {
    throw new TypeError("x");
  }); // any Error by default
  mustFail(() => assertThrows(() => 1), "the call returned 1");
  mustFail(() => assertThrows(() => {}, TypeError), "expected TypeError to be thrown");
  mustFail(() =>
    assertThrows(() => {
      throw new RangeError("x");
    }, TypeError),
  );
  mustFail(() =>
    assertThrows(() => {
      throw "a string";
    }),
  );
  mustFail(
    () =>
      assertThrows(
        () => {
          throw new TypeError("one message");
        },
        TypeError,
        "another",
      ),
    "include",
  );
  // A failed assertion inside the call is that failure, not "an Error".
  mustFail(() => assertThrows(() => assertEquals(1, 2)), "expected 2, got 1");
  // Misuse fails instead of passing by accident.
  mustFail(() => assertThrows("not a function", TypeError), "needs a function");
  mustFail(() => assertThrows(async () => Promise.reject(new TypeError("x")), TypeError), "assertRejects");
  mustFail(() => assertThrows(() => JSON.parse("{"), "SyntaxError"), "constructor");
  // An AssertionError is accepted only when asked for.
  assertThrows(() => assert(false), AssertionError);
});

test("assertThrowsWith: needs a throw of exactly that value", () => {
  const err = new Error("x");
  assertEquals(
    assertThrowsWith(() => {
      throw err;
    }, err),
    err,
  );
  assertThrowsWith(() => {
    throw 0;
  }, 0);
  mustFail(() => assertThrowsWith(() => {}, err), "the call returned");
  mustFail(() =>
    assertThrowsWith(() => {
      throw new Error("x");
    }, err),
  );
  mustFail(() =>
    assertThrowsWith(() => {
      throw -0;
    }, 0),
  );
  mustFail(() => assertThrowsWith(() => assert(false, "inner"), err), "inner");
});

test("assertRejects: needs a rejection of the right class and message", async () => {
  const e = await assertRejects(() => Promise.reject(new TypeError("x y")), TypeError, "y");
  assert(e instanceof TypeError);
  await assertRejects(Promise.reject(new RangeError("as a promise")), RangeError);
  await assertRejects(async () => {
    throw new Error("async throw");
  });
  await mustReject(() => assertRejects(() => Promise.resolve(7)), "resolved to 7");
  await mustReject(() => assertRejects(Promise.resolve()), "resolved");
  await mustReject(() => assertRejects(() => Promise.reject(new RangeError("x")), TypeError), "TypeError");
  await mustReject(() => assertRejects(() => Promise.reject("a string")), "a string");
  await mustReject(() => assertRejects(() => Promise.reject(new TypeError("x")), TypeError, "zzz"), "include");
  // A synchronous throw is not a rejection.
  await mustReject(
    () =>
      assertRejects(() => {
        throw new TypeError("sync");
      }, TypeError),
    "synchronously",
  );
  // Misuse fails instead of passing by accident.
  await mustReject(() => assertRejects(() => 5), "needs a promise");
  await mustReject(() => assertRejects(new TypeError("x"), TypeError), "needs a promise");
  await mustReject(() => assertRejects(Promise.reject(new TypeError("x")), "TypeError"), "constructor");
  // A failed assertion inside the awaited work is that failure.
  await mustReject(
    () =>
      assertRejects(async () => {
        await null;
        assertEquals("a", "b");
      }),
    'expected "b", got "a"',
  );
  await assertRejects(async () => assert(false), AssertionError);
});

test("assertRejectsWith: needs a rejection with exactly that value", async () => {
  const err = new Error("x");
  assertEquals(await assertRejectsWith(Promise.reject(err), err), err);
  await assertRejectsWith(() => Promise.reject("no more"), "no more");
  await mustReject(() => assertRejectsWith(Promise.resolve(err), err), "resolved");
  await mustReject(() => assertRejectsWith(Promise.reject(new Error("x")), err), "look alike");
  await mustReject(() => assertRejectsWith(Promise.reject("no"), "no more"), 'expected "no more"');
  await mustReject(
    () =>
      assertRejectsWith(() => {
        throw err;
      }, err),
    "synchronously",
  );
});

test("the old try/assert(false)/catch pattern is what these replace", async () => {
  // `try { await p; assert(false) } catch (e) { assertEquals(e, err) }` with
  // a p that resolves: the old deepEqual called the AssertionError equal to
  // `err`, so this passed. Now the catch's comparison fails.
  const err = new Error("expected");
  mustFail(() => {
    try {
      assert(false, "should reject");
    } catch (e) {
      assertEquals(e, err);
    }
  });
});

export default { fetch: run };

// WHATWG Streams: ReadableStream (default and byte), readers, tee, pipeTo,
// pipeThrough, async iteration, from(), WritableStream, TransformStream,
// queuing strategies, text streams, and the runtime's stream internals.
import {
  test,
  assert,
  assertEquals,
  assertSame,
  assertThrows,
  assertThrowsWith,
  assertRejects,
  assertRejectsWith,
  run,
} from "./harness.js";

// Lets pending promise jobs run. Streams settle through promise jobs only,
// so microtask turns are enough (and keep this file off long timer chains).
async function flush(turns = 40) {
  for (let i = 0; i < turns; i++) await null;
}
const tick = () => flush(3);
const enc = (s) => new TextEncoder().encode(s);
const dec = (b) => new TextDecoder().decode(b);

async function readAllChunks(stream) {
  const reader = stream.getReader();
  const out = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return out;
    out.push(value);
  }
}

function recordingSink(extra = {}) {
  const events = [];
  const sink = {
    events,
    write(chunk) {
      events.push(["write", chunk]);
      if (extra.write) return extra.write(chunk);
    },
    close() {
      events.push(["close"]);
    },
    abort(reason) {
      events.push(["abort", reason]);
    },
  };
  return sink;
}

// A duck-typed signal for when AbortController is not there.
function makeAbortController() {
  if (typeof AbortController === "function") return new AbortController();
  const listeners = [];
  const signal = {
    aborted: false,
    reason: undefined,
    addEventListener: (t, f) => listeners.push(f),
    removeEventListener: () => {},
  };
  return {
    signal,
    abort(reason = new Error("aborted")) {
      signal.aborted = true;
      signal.reason = reason;
      for (const f of listeners) f();
    },
  };
}

const internals = globalThis[Symbol.for("ringworker.internal.streams")];

// ------------------------------------------------------------- globals
test("globals: all stream classes exist and are non-enumerable", () => {
  const names = [
    "ReadableStream",
    "ReadableStreamDefaultReader",
    "ReadableStreamBYOBReader",
    "ReadableStreamBYOBRequest",
    "ReadableStreamDefaultController",
    "ReadableByteStreamController",
    "WritableStream",
    "WritableStreamDefaultWriter",
    "WritableStreamDefaultController",
    "TransformStream",
    "TransformStreamDefaultController",
    "ByteLengthQueuingStrategy",
    "CountQueuingStrategy",
    "TextEncoderStream",
    "TextDecoderStream",
  ];
  for (const n of names) {
    const d = Object.getOwnPropertyDescriptor(globalThis, n);
    assert(d && typeof d.value === "function", `${n} is a global function`);
    assertEquals(d.enumerable, false, `${n} enumerable`);
    assertEquals(d.writable, true, `${n} writable`);
    assertEquals(Object.prototype.toString.call(Object.create(d.value.prototype)), `[object ${n}]`);
  }
  assertEquals(Object.keys(ReadableStream.prototype).sort(), [
    "cancel",
    "getReader",
    "locked",
    "pipeThrough",
    "pipeTo",
    "tee",
    "values",
  ]);
  assertEquals(ReadableStream.prototype[Symbol.asyncIterator], ReadableStream.prototype.values);
});

test("controllers, requests and readers cannot be constructed directly", () => {
  assertThrows(() => new ReadableStreamDefaultController(), TypeError, "Illegal constructor");
  assertThrows(() => new ReadableByteStreamController(), TypeError, "Illegal constructor");
  assertThrows(() => new ReadableStreamBYOBRequest(), TypeError, "Illegal constructor");
  assertThrows(() => new WritableStreamDefaultController(), TypeError, "Illegal constructor");
  assertThrows(() => new TransformStreamDefaultController(), TypeError, "Illegal constructor");
  assertThrows(() => new ReadableStreamDefaultReader({}), TypeError, "must be a ReadableStream");
  assertThrows(() => new WritableStreamDefaultWriter({}), TypeError, "must be a WritableStream");
});

test("brand checks: methods and getters reject foreign receivers", async () => {
  const fake = Object.create(ReadableStream.prototype);
  assertThrows(() => fake.locked, TypeError, "Illegal invocation");
  assertThrows(() => ReadableStream.prototype.getReader.call({}), TypeError);
  await assertRejects(() => ReadableStream.prototype.cancel.call(fake), TypeError);
  await assertRejects(() => WritableStream.prototype.abort.call({}), TypeError);
  assertThrows(() => Object.getOwnPropertyDescriptor(TransformStream.prototype, "readable").get.call({}), TypeError);
  const r = new ReadableStream().getReader();
  await assertRejects(() => ReadableStreamDefaultReader.prototype.read.call({}), TypeError);
  assertEquals(await Promise.race([r.closed, tick().then(() => "pending")]), "pending");
});

// --------------------------------------------------- ReadableStream basics
test("ReadableStream: constructor argument checks", () => {
  assertThrows(() => new ReadableStream(null), TypeError);
  assertThrows(() => new ReadableStream({ start: 1 }), TypeError, "must be a function");
  assertThrows(() => new ReadableStream({ pull: "x" }), TypeError);
  assertThrows(() => new ReadableStream({ type: "nope" }), TypeError, "not a valid underlying source type");
  assertThrows(() => new ReadableStream({}, { highWaterMark: -1 }), RangeError);
  assertThrows(() => new ReadableStream({}, { highWaterMark: NaN }), RangeError);
  assertThrows(() => new ReadableStream({}, { size: 5 }), TypeError);
  assertThrows(() => new ReadableStream({ type: "bytes" }, { size: () => 1 }), RangeError);
  assertThrows(() => new ReadableStream({ type: "bytes", autoAllocateChunkSize: 0 }), TypeError);
  const err = new Error("start failed");
  assertThrowsWith(
    () =>
      new ReadableStream({
        start() {
          throw err;
        },
      }),
    err,
  );
  // The underlying source's methods are called with it as `this`.
  let self;
  const src = {
    start() {
      self = this;
    },
  };
  new ReadableStream(src);
  assertEquals(self, src);
});

test("ReadableStream: read() returns chunks in order, then done; closed resolves", async () => {
  const rs = new ReadableStream({
    start(c) {
      c.enqueue("a");
      c.enqueue("b");
      c.close();
    },
  });
  const reader = rs.getReader();
  assertEquals(await reader.read(), { value: "a", done: false });
  assertEquals(await reader.read(), { value: "b", done: false });
  assertEquals(await reader.read(), { value: undefined, done: true });
  assertEquals(await reader.read(), { value: undefined, done: true });
  assertEquals(await reader.closed, undefined);
});

test("ReadableStream: a pending read is fulfilled by a later enqueue", async () => {
  let controller;
  const rs = new ReadableStream({
    start(c) {
      controller = c;
    },
  });
  const reader = rs.getReader();
  const p = reader.read();
  await tick();
  controller.enqueue(42);
  assertEquals(await p, { value: 42, done: false });
  const p2 = reader.read();
  controller.close();
  assertEquals(await p2, { value: undefined, done: true });
});

test("ReadableStream: locking — getReader twice throws, locked getter, releaseLock unlocks", () => {
  const rs = new ReadableStream();
  assertEquals(rs.locked, false);
  const reader = rs.getReader();
  assertEquals(rs.locked, true);
  assertThrows(() => rs.getReader(), TypeError, "locked");
  assertThrows(() => new ReadableStreamDefaultReader(rs), TypeError, "locked");
  assertThrows(() => rs.values(), TypeError, "locked");
  assertThrows(() => rs.tee(), TypeError, "locked");
  reader.releaseLock();
  assertEquals(rs.locked, false);
  reader.releaseLock(); // a second release is a no-op
  rs.getReader();
  assertThrows(() => rs.getReader({ mode: "bogus" }), TypeError, "not a valid reader mode");
});

test("ReadableStream: cancel() on a locked stream rejects with TypeError and does not cancel", async () => {
  let cancelled = false;
  const rs = new ReadableStream({
    cancel() {
      cancelled = true;
    },
  });
  rs.getReader();
  await assertRejects(() => rs.cancel("why"), TypeError, "locked");
  assertEquals(cancelled, false);
});

test("ReadableStream: releaseLock rejects pending reads and the old closed promise with TypeError", async () => {
  const rs = new ReadableStream();
  const reader = rs.getReader();
  const closed = reader.closed;
  const r1 = reader.read();
  const r2 = reader.read();
  reader.releaseLock();
  await assertRejects(() => r1, TypeError, "released");
  await assertRejects(() => r2, TypeError, "released");
  await assertRejects(() => closed, TypeError, "released");
  await assertRejects(() => reader.read(), TypeError, "released reader");
  await assertRejects(() => reader.cancel(), TypeError);
  assertEquals(rs.locked, false);
});

test("ReadableStream: cancel(reason) calls source.cancel, resolves pending reads as done", async () => {
  const seen = [];
  const rs = new ReadableStream({
    pull() {
      seen.push("pull");
    },
    cancel(reason) {
      seen.push(["cancel", reason]);
      return new Promise((r) => setTimeout(() => r("ignored"), 1));
    },
  }, { highWaterMark: 0 });
  const reader = rs.getReader();
  const pending = reader.read();
  await flush(); // start() has finished and the read has pulled
  const result = await reader.cancel("because");
  assertEquals(result, undefined, "cancel resolves with undefined, not the source's value");
  assertEquals(await pending, { value: undefined, done: true });
  assertEquals(seen, ["pull", ["cancel", "because"]]);
  assertEquals(await reader.closed, undefined);
  // Cancelling again is a no-op that resolves.
  assertEquals(await reader.cancel("again"), undefined);
  assertEquals(seen.length, 2);
});

test("ReadableStream: cancel rejects when source.cancel throws; queue is discarded", async () => {
  const boom = new Error("boom");
  const rs = new ReadableStream({
    start(c) {
      c.enqueue("queued");
    },
    cancel() {
      throw boom;
    },
  });
  await assertRejects(() => rs.cancel(), Error, "boom");
  const reader = rs.getReader();
  assertEquals(await reader.read(), { value: undefined, done: true });
});

test("ReadableStream: controller.error() errors reads, closed, and desiredSize becomes null", async () => {
  let controller;
  const rs = new ReadableStream({
    start(c) {
      controller = c;
      c.enqueue("lost");
    },
  });
  const reader = rs.getReader();
  const err = new Error("source failed");
  controller.error(err);
  assertEquals(controller.desiredSize, null);
  await assertRejectsWith(reader.read(), err);
  await assertRejectsWith(reader.closed, err);
  await assertRejects(() => reader.cancel(), Error, "source failed");
  assertThrows(() => controller.enqueue("x"), TypeError, "errored");
  assertThrows(() => controller.close(), TypeError);
  controller.error(new Error("second")); // no-op
  await assertRejects(() => reader.closed, Error, "source failed");
});

test("ReadableStream: close() twice and enqueue after close throw TypeError; queued chunks still read", async () => {
  let controller;
  const rs = new ReadableStream({
    start(c) {
      controller = c;
    },
  });
  controller.enqueue(1);
  controller.close();
  assertThrows(() => controller.close(), TypeError, "closing");
  assertThrows(() => controller.enqueue(2), TypeError, "closing");
  assertEquals(controller.desiredSize, 0, "hwm 1 minus one queued chunk");
  const reader = rs.getReader();
  assertEquals(await reader.read(), { value: 1, done: false });
  assertEquals(await reader.read(), { value: undefined, done: true });
  assertEquals(controller.desiredSize, 0);
});

test("ReadableStream: start() promise delays pull; a rejected start errors the stream", async () => {
  const log = [];
  let finishStart;
  new ReadableStream({
    start() {
      log.push("start");
      return new Promise((r) => (finishStart = r));
    },
    pull() {
      log.push("pull");
    },
  });
  await flush();
  assertEquals(log, ["start"]);
  finishStart();
  await flush();
  assertEquals(log, ["start", "pull"]);

  const err = new Error("async start failed");
  const rs = new ReadableStream({
    start: () => Promise.reject(err),
  });
  await assertRejects(() => rs.getReader().read(), Error, "async start failed");
});

// ------------------------------------------------------------ backpressure
test("backpressure: pull is not called again until desiredSize > 0", async () => {
  let pulls = 0;
  const rs = new ReadableStream(
    {
      pull(c) {
        pulls++;
        c.enqueue(pulls);
      },
    },
    { highWaterMark: 2 },
  );
  await flush();
  assertEquals(pulls, 2, "fills the queue to the high-water mark and stops");
  await flush();
  assertEquals(pulls, 2, "no pull while the queue is full");
  const reader = rs.getReader();
  assertEquals((await reader.read()).value, 1);
  await flush();
  assertEquals(pulls, 3, "one read frees room for exactly one more pull");
});

test("backpressure: pull is never called concurrently with itself", async () => {
  let active = 0;
  let maxActive = 0;
  let pulls = 0;
  const rs = new ReadableStream(
    {
      async pull(c) {
        active++;
        maxActive = Math.max(maxActive, active);
        pulls++;
        await tick();
        c.enqueue(pulls);
        active--;
      },
    },
    { highWaterMark: 0 },
  );
  const reader = rs.getReader();
  const reads = [reader.read(), reader.read(), reader.read()];
  const values = (await Promise.all(reads)).map((r) => r.value);
  assertEquals(values, [1, 2, 3]);
  assertEquals(maxActive, 1);
});

test("backpressure: highWaterMark 0 pulls only when a read is pending", async () => {
  let pulls = 0;
  let controller;
  const rs = new ReadableStream(
    {
      start(c) {
        controller = c;
      },
      pull() {
        pulls++;
      },
    },
    { highWaterMark: 0 },
  );
  await flush();
  assertEquals(pulls, 0);
  assertEquals(controller.desiredSize, 0);
  const reader = rs.getReader();
  const p = reader.read();
  await flush();
  assertEquals(pulls, 1);
  controller.enqueue("x");
  assertEquals((await p).value, "x");
  await flush();
  assertEquals(pulls, 1, "no read pending, so no new pull");
});

test("backpressure: a rejected pull errors the stream", async () => {
  const rs = new ReadableStream({
    pull() {
      throw new RangeError("pull broke");
    },
  });
  await assertRejects(() => rs.getReader().read(), RangeError, "pull broke");
});

test("queuing strategies: size() drives desiredSize; bad sizes error the stream", async () => {
  let controller;
  new ReadableStream(
    {
      start(c) {
        controller = c;
      },
    },
    { highWaterMark: 10, size: (chunk) => chunk.length },
  );
  assertEquals(controller.desiredSize, 10);
  controller.enqueue("abcd");
  assertEquals(controller.desiredSize, 6);
  controller.enqueue("abcdefgh");
  assertEquals(controller.desiredSize, -2);

  let c2;
  const rs2 = new ReadableStream({ start: (c) => (c2 = c) }, { size: () => -1 });
  assertThrows(() => c2.enqueue("x"), RangeError);
  await assertRejects(() => rs2.getReader().read(), RangeError);

  let c3;
  const thrown = new Error("size threw");
  const rs3 = new ReadableStream(
    { start: (c) => (c3 = c) },
    {
      size() {
        throw thrown;
      },
    },
  );
  assertThrowsWith(() => c3.enqueue("x"), thrown);
  await assertRejects(() => rs3.getReader().closed, Error, "size threw");
});

test("CountQueuingStrategy and ByteLengthQueuingStrategy", () => {
  const count = new CountQueuingStrategy({ highWaterMark: 3 });
  assertEquals(count.highWaterMark, 3);
  assertEquals(count.size("anything"), 1);
  assertEquals(count.size, new CountQueuingStrategy({ highWaterMark: 1 }).size, "one shared size function");
  const bytes = new ByteLengthQueuingStrategy({ highWaterMark: 16 });
  assertEquals(bytes.highWaterMark, 16);
  assertEquals(bytes.size(new Uint8Array(5)), 5);
  assertEquals(bytes.size.length, 1);
  assertThrows(() => new CountQueuingStrategy(), TypeError, "highWaterMark is required");
  assertThrows(() => new ByteLengthQueuingStrategy({}), TypeError);
  let controller;
  new ReadableStream({ start: (c) => (controller = c) }, new ByteLengthQueuingStrategy({ highWaterMark: 8 }));
  controller.enqueue(new Uint8Array(3));
  assertEquals(controller.desiredSize, 5);
});

// ---------------------------------------------------------------------- tee
test("tee: both branches see every chunk, independently", async () => {
  const rs = new ReadableStream({
    start(c) {
      c.enqueue("a");
      c.enqueue("b");
      c.close();
    },
  });
  const [b1, b2] = rs.tee();
  assert(b1 instanceof ReadableStream && b2 instanceof ReadableStream);
  assertEquals(rs.locked, true);
  assertEquals(await readAllChunks(b1), ["a", "b"]);
  assertEquals(await readAllChunks(b2), ["a", "b"]);
});

test("tee: the source is cancelled only when both branches cancel, with both reasons", async () => {
  let cancelReason;
  const rs = new ReadableStream({
    cancel(reason) {
      cancelReason = reason;
    },
  });
  const [b1, b2] = rs.tee();
  const p1 = b1.cancel("r1");
  await flush();
  assertEquals(cancelReason, undefined, "one branch cancelling does not cancel the source");
  await b2.cancel("r2");
  await p1;
  assertEquals(cancelReason, ["r1", "r2"]);
});

test("tee: an error in the source errors both branches", async () => {
  let controller;
  const rs = new ReadableStream({ start: (c) => (controller = c) });
  const [b1, b2] = rs.tee();
  const r1 = b1.getReader();
  const r2 = b2.getReader();
  controller.error(new TypeError("source error"));
  await assertRejects(() => r1.closed, TypeError, "source error");
  await assertRejects(() => r2.read(), TypeError, "source error");
});

// ------------------------------------------------------------ async iteration
test("async iteration: for await reads every chunk and releases the lock", async () => {
  const rs = new ReadableStream({
    start(c) {
      for (const x of [1, 2, 3]) c.enqueue(x);
      c.close();
    },
  });
  const seen = [];
  for await (const x of rs) seen.push(x);
  assertEquals(seen, [1, 2, 3]);
  assertEquals(rs.locked, false);
});

test("async iteration: an early break cancels the stream", async () => {
  let cancelled = null;
  let n = 0;
  const rs = new ReadableStream({
    pull(c) {
      c.enqueue(n++);
    },
    cancel(reason) {
      cancelled = { reason };
    },
  });
  for await (const x of rs) {
    if (x === 2) break;
  }
  assertEquals(cancelled, { reason: undefined });
  assertEquals(rs.locked, false);
  assertEquals(await rs.getReader().read(), { value: undefined, done: true });
});

test("async iteration: preventCancel leaves the stream readable; errors reach the loop", async () => {
  let cancelled = false;
  const rs = new ReadableStream({
    start(c) {
      c.enqueue("a");
      c.enqueue("b");
    },
    cancel() {
      cancelled = true;
    },
  });
  for await (const x of rs.values({ preventCancel: true })) {
    assertEquals(x, "a");
    break;
  }
  assertEquals(cancelled, false);
  assertEquals(rs.locked, false);
  assertEquals((await rs.getReader().read()).value, "b");

  const failing = new ReadableStream({
    start(c) {
      c.enqueue(1);
    },
    pull(c) {
      c.error(new SyntaxError("mid-stream failure"));
    },
  });
  const got = [];
  await assertRejects(async () => {
    for await (const x of failing) got.push(x);
  }, SyntaxError, "mid-stream failure");
  assertEquals(got, [1]);
});

test("async iteration: next() calls are queued; return() after done is harmless", async () => {
  const rs = new ReadableStream({
    start(c) {
      c.enqueue("x");
      c.close();
    },
  });
  const it = rs[Symbol.asyncIterator]();
  const [a, b, c] = await Promise.all([it.next(), it.next(), it.next()]);
  assertEquals(a, { value: "x", done: false });
  assertEquals(b, { value: undefined, done: true });
  assertEquals(c, { value: undefined, done: true });
  assertEquals(await it.return("v"), { value: "v", done: true });
  const AsyncIteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf(async function* () {}).prototype);
  assertEquals(Object.getPrototypeOf(Object.getPrototypeOf(it)), AsyncIteratorPrototype);
  assertEquals(Object.prototype.toString.call(it), "[object ReadableStream AsyncIterator]");
});

// ------------------------------------------------------ ReadableStream.from
test("ReadableStream.from: arrays, strings, sync and async generators", async () => {
  assertEquals(await readAllChunks(ReadableStream.from([1, 2, 3])), [1, 2, 3]);
  assertEquals(await readAllChunks(ReadableStream.from("hi")), ["h", "i"]);
  async function* agen() {
    yield "x";
    await tick();
    yield "y";
  }
  assertEquals(await readAllChunks(ReadableStream.from(agen())), ["x", "y"]);
  // Promises yielded by a sync iterable are awaited.
  assertEquals(await readAllChunks(ReadableStream.from([Promise.resolve(7)])), [7]);
  assertThrows(() => ReadableStream.from(5), TypeError, "neither async iterable nor iterable");
  assertThrows(() => ReadableStream.from(null), TypeError);
  // A ReadableStream is itself async iterable.
  const inner = new ReadableStream({
    start(c) {
      c.enqueue("z");
      c.close();
    },
  });
  assertEquals(await readAllChunks(ReadableStream.from(inner)), ["z"]);
});

test("ReadableStream.from: pulls lazily and cancel() calls the iterator's return()", async () => {
  let produced = 0;
  let returned = null;
  const iterable = {
    [Symbol.asyncIterator]() {
      return {
        next() {
          produced++;
          return Promise.resolve({ value: produced, done: false });
        },
        return(reason) {
          returned = reason;
          return Promise.resolve({ done: true });
        },
      };
    },
  };
  const rs = ReadableStream.from(iterable);
  await flush();
  assertEquals(produced, 0, "highWaterMark 0: nothing pulled before a read");
  const reader = rs.getReader();
  assertEquals((await reader.read()).value, 1);
  await reader.cancel("stop");
  assertEquals(returned, "stop");
});

// ------------------------------------------------------------------ pipeTo
test("pipeTo: moves every chunk and closes the destination", async () => {
  const sink = recordingSink();
  const rs = ReadableStream.from(["a", "b", "c"]);
  const ws = new WritableStream(sink);
  assertEquals(await rs.pipeTo(ws), undefined);
  assertEquals(sink.events, [["write", "a"], ["write", "b"], ["write", "c"], ["close"]]);
  assertEquals(rs.locked, false);
  assertEquals(ws.locked, false);
});

test("pipeTo: preventClose keeps the destination open", async () => {
  const sink = recordingSink();
  const ws = new WritableStream(sink);
  await ReadableStream.from([1]).pipeTo(ws, { preventClose: true });
  assertEquals(sink.events, [["write", 1]]);
  const writer = ws.getWriter();
  await writer.write(2);
  assertEquals(sink.events, [["write", 1], ["write", 2]]);
});

test("pipeTo: a source error aborts the destination and rejects the pipe", async () => {
  const err = new Error("source broke");
  let controller;
  const rs = new ReadableStream({ start: (c) => (controller = c) });
  const sink = recordingSink();
  const ws = new WritableStream(sink);
  const piped = rs.pipeTo(ws);
  controller.enqueue("one");
  await flush();
  controller.error(err);
  await assertRejectsWith(piped, err);
  assertEquals(sink.events, [["write", "one"], ["abort", err]]);
});

test("pipeTo: preventAbort leaves the destination writable after a source error", async () => {
  const rs = new ReadableStream({
    start(c) {
      c.error(new Error("early"));
    },
  });
  const sink = recordingSink();
  const ws = new WritableStream(sink);
  await assertRejects(() => rs.pipeTo(ws, { preventAbort: true }), Error, "early");
  assertEquals(sink.events, []);
  await ws.getWriter().write("still writable");
  assertEquals(sink.events, [["write", "still writable"]]);
});

test("pipeTo: a destination error cancels the source (unless preventCancel)", async () => {
  const err = new Error("sink broke");
  let cancelReason = "not cancelled";
  const rs = new ReadableStream({
    pull(c) {
      c.enqueue("chunk");
    },
    cancel(reason) {
      cancelReason = reason;
    },
  });
  const ws = new WritableStream({
    write() {
      throw err;
    },
  });
  await assertRejects(() => rs.pipeTo(ws), Error, "sink broke");
  assertEquals(cancelReason, err);

  let cancelled = false;
  const rs2 = new ReadableStream({
    pull(c) {
      c.enqueue("chunk");
    },
    cancel() {
      cancelled = true;
    },
  });
  const ws2 = new WritableStream({
    write() {
      throw err;
    },
  });
  await assertRejects(() => rs2.pipeTo(ws2, { preventCancel: true }), Error, "sink broke");
  assertEquals(cancelled, false);
  assertEquals(rs2.locked, false);
});

test("pipeTo: a closed destination cancels the source with a TypeError", async () => {
  let reason;
  const rs = new ReadableStream({
    cancel(r) {
      reason = r;
    },
  });
  const ws = new WritableStream();
  await ws.close();
  await assertRejects(() => rs.pipeTo(ws), TypeError, "closed");
  assert(reason instanceof TypeError);
});

test("pipeTo: locked streams and bad arguments reject with TypeError", async () => {
  const rs = new ReadableStream();
  const ws = new WritableStream();
  await assertRejects(() => rs.pipeTo({}), TypeError, "must be a WritableStream");
  await assertRejects(() => rs.pipeTo(ws, { signal: {} }), TypeError, "AbortSignal");
  ws.getWriter();
  await assertRejects(() => rs.pipeTo(ws), TypeError, "locked");
  assertEquals(rs.locked, false, "nothing was locked by the failed pipe");
  const ws2 = new WritableStream();
  rs.getReader();
  await assertRejects(() => rs.pipeTo(ws2), TypeError, "locked");
  assertEquals(ws2.locked, false);
});

test("pipeTo: aborting the signal aborts the destination, cancels the source, rejects", async () => {
  const ac = makeAbortController();
  let cancelReason;
  let n = 0;
  const rs = new ReadableStream(
    {
      async pull(c) {
        await tick();
        c.enqueue(n++);
      },
      cancel(reason) {
        cancelReason = reason;
      },
    },
    { highWaterMark: 0 },
  );
  const sink = recordingSink();
  const ws = new WritableStream(sink);
  const piped = rs.pipeTo(ws, { signal: ac.signal });
  await flush();
  const reason = new Error("user aborted");
  ac.abort(reason);
  await assertRejectsWith(piped, reason);
  assertEquals(cancelReason, reason);
  assertEquals(sink.events[sink.events.length - 1], ["abort", reason]);
  assertEquals(rs.locked, false);
  assertEquals(ws.locked, false);
});

test("pipeTo: an already-aborted signal rejects without reading", async () => {
  const ac = makeAbortController();
  const reason = new Error("pre-aborted");
  ac.abort(reason);
  let pulled = false;
  const rs = new ReadableStream({ pull: () => void (pulled = true) }, { highWaterMark: 0 });
  const ws = new WritableStream();
  await assertRejectsWith(rs.pipeTo(ws, { signal: ac.signal, preventAbort: true, preventCancel: true }), reason);
  assertEquals(pulled, false);
  assertEquals(rs.locked, false);
  await ws.getWriter().write("ok"); // not aborted
});

test("pipeTo: an aborted signal's default reason is an AbortError", async () => {
  if (typeof AbortController !== "function") {
    assertEquals(typeof AbortController, "undefined");
    return;
  }
  const ac = new AbortController();
  const rs = new ReadableStream();
  const p = rs.pipeTo(new WritableStream(), { signal: ac.signal });
  ac.abort();
  const e = await assertRejectsWith(p, ac.signal.reason);
  assertEquals(e.name, "AbortError");
});

test("pipeTo: the destination's backpressure limits reads from the source", async () => {
  let pulls = 0;
  const rs = new ReadableStream(
    {
      pull(c) {
        pulls++;
        c.enqueue(pulls);
      },
    },
    { highWaterMark: 0 },
  );
  let release;
  const ws = new WritableStream(
    {
      write() {
        return new Promise((r) => (release = r));
      },
    },
    { highWaterMark: 1 },
  );
  rs.pipeTo(ws);
  await flush();
  // One chunk is being written and one is queued in the writable; the pipe
  // waits for ready before reading more.
  assert(pulls <= 3, `pulls stay bounded (got ${pulls})`);
  const before = pulls;
  await flush();
  assertEquals(pulls, before, "no progress while the sink is stuck");
  release();
  await flush();
  assert(pulls > before, "progress once the sink accepts the write");
});

// ------------------------------------------------------------- pipeThrough
test("pipeThrough: transforms chunks and returns the readable side", async () => {
  const upper = new TransformStream({
    transform(chunk, controller) {
      controller.enqueue(chunk.toUpperCase());
    },
  });
  const out = ReadableStream.from(["a", "b"]).pipeThrough(upper);
  assertSame(out, upper.readable);
  assertEquals(await readAllChunks(out), ["A", "B"]);
});

test("pipeThrough: errors propagate forward from the source and from the transform", async () => {
  const rs = new ReadableStream({
    start(c) {
      c.enqueue(1);
      c.error(new URIError("upstream"));
    },
  });
  const out = rs.pipeThrough(new TransformStream());
  await assertRejects(() => readAllChunks(out), URIError, "upstream");

  let cancelReason;
  const src = new ReadableStream({
    pull(c) {
      c.enqueue("x");
    },
    cancel(r) {
      cancelReason = r;
    },
  });
  const failing = new TransformStream({
    transform() {
      throw new EvalError("transform failed");
    },
  });
  await assertRejects(() => readAllChunks(src.pipeThrough(failing)), EvalError, "transform failed");
  await flush();
  assert(cancelReason instanceof EvalError, "the source was cancelled with the transform's error");
});

test("pipeThrough: argument and lock checks throw synchronously", () => {
  const rs = new ReadableStream();
  assertThrows(() => rs.pipeThrough({}), TypeError, "readable is required");
  assertThrows(() => rs.pipeThrough({ readable: new ReadableStream() }), TypeError, "writable is required");
  assertThrows(() => rs.pipeThrough({ readable: {}, writable: new WritableStream() }), TypeError);
  const ts = new TransformStream();
  ts.writable.getWriter();
  assertThrows(() => rs.pipeThrough(ts), TypeError, "locked");
  rs.getReader();
  assertThrows(() => rs.pipeThrough(new TransformStream()), TypeError, "locked");
});

// ---------------------------------------------------------- WritableStream
test("WritableStream: writes reach the sink in order; close after writes", async () => {
  const sink = recordingSink();
  const ws = new WritableStream(sink);
  const writer = ws.getWriter();
  const p1 = writer.write("a");
  const p2 = writer.write("b");
  const pc = writer.close();
  await Promise.all([p1, p2, pc]);
  assertEquals(sink.events, [["write", "a"], ["write", "b"], ["close"]]);
  assertEquals(await writer.closed, undefined);
  await assertRejects(() => writer.write("late"), TypeError, "closing or closed");
  assertEquals(writer.desiredSize, 0);
});

test("WritableStream: ready and desiredSize reflect backpressure", async () => {
  const releases = [];
  const ws = new WritableStream(
    {
      write() {
        return new Promise((r) => releases.push(r));
      },
    },
    { highWaterMark: 2 },
  );
  const writer = ws.getWriter();
  await writer.ready;
  assertEquals(writer.desiredSize, 2);
  writer.write(1);
  assertEquals(writer.desiredSize, 1);
  writer.write(2);
  assertEquals(writer.desiredSize, 0);
  let ready = false;
  writer.ready.then(() => (ready = true));
  await flush();
  assertEquals(ready, false, "ready is pending while the queue is full");
  releases.shift()();
  await flush();
  assertEquals(ready, true, "ready resolves once there is room");
  assertEquals(writer.desiredSize, 1);
});

test("WritableStream: highWaterMark 0 means ready stays pending (always backpressure)", async () => {
  const ws = new WritableStream({}, { highWaterMark: 0 });
  const writer = ws.getWriter();
  assertEquals(writer.desiredSize, 0);
  let ready = false;
  writer.ready.then(() => (ready = true));
  await writer.write("a"); // writes still go through
  await flush();
  assertEquals(ready, false);
  await writer.close();
  assertEquals(ready, true, "closing resolves ready");
});

test("WritableStream: the sink sees one write at a time", async () => {
  let active = 0;
  let max = 0;
  const ws = new WritableStream({
    async write() {
      active++;
      max = Math.max(max, active);
      await tick();
      active--;
    },
  });
  const writer = ws.getWriter();
  await Promise.all([writer.write(1), writer.write(2), writer.write(3)]);
  assertEquals(max, 1);
});

test("WritableStream: abort() calls sink.abort and rejects queued writes", async () => {
  const sink = recordingSink({
    write: () => new Promise((r) => setTimeout(r, 5)),
  });
  const ws = new WritableStream(sink);
  const writer = ws.getWriter();
  await tick(); // let start() finish, so the first write goes straight to the sink
  const w1 = writer.write("in flight");
  const w2 = writer.write("queued");
  const reason = new Error("abort!");
  const aborted = writer.abort(reason);
  assertEquals(writer.desiredSize, null);
  await w1; // the in-flight write completes first
  await assertRejectsWith(w2, reason);
  assertEquals(await aborted, undefined);
  assertEquals(sink.events, [["write", "in flight"], ["abort", reason]]);
  await assertRejects(() => writer.closed, Error, "abort!");
  await assertRejects(() => writer.ready, Error, "abort!");
});

test("WritableStream: controller.signal aborts with the abort reason", async () => {
  let controller;
  const ws = new WritableStream({
    start(c) {
      controller = c;
    },
  });
  if (controller.signal === undefined) {
    assertEquals(typeof AbortController, "undefined");
    return;
  }
  assertEquals(controller.signal.aborted, false);
  const reason = new Error("stop");
  await ws.abort(reason);
  assertEquals(controller.signal.aborted, true);
  assertEquals(controller.signal.reason, reason);
});

test("WritableStream: controller.error() errors the stream; later writes reject", async () => {
  let controller;
  const ws = new WritableStream({ start: (c) => (controller = c) });
  const writer = ws.getWriter();
  controller.error(new Error("sink gone"));
  const writing = writer.write("x");
  const closing = writer.close(); // queued while the stream is still erroring
  await assertRejects(() => writing, Error, "sink gone");
  await assertRejects(() => writer.closed, Error, "sink gone");
  await assertRejects(() => closing, Error, "sink gone");
  await assertRejects(() => writer.close(), TypeError, "errored");
});

test("WritableStream: locking, releaseLock and closing a locked stream", async () => {
  const ws = new WritableStream();
  const writer = ws.getWriter();
  assertEquals(ws.locked, true);
  assertThrows(() => ws.getWriter(), TypeError, "locked");
  await assertRejects(() => ws.close(), TypeError, "locked");
  await assertRejects(() => ws.abort(), TypeError, "locked");
  const closed = writer.closed;
  writer.releaseLock();
  await assertRejects(() => closed, TypeError, "released");
  await assertRejects(() => writer.write(1), TypeError, "released writer");
  assertThrows(() => writer.desiredSize, TypeError);
  assertEquals(ws.locked, false);
  await ws.close();
  await assertRejects(() => ws.close(), TypeError);
});

test("WritableStream: a throwing write errors the stream and skips close", async () => {
  const sink = recordingSink({
    write() {
      throw new RangeError("write failed");
    },
  });
  const ws = new WritableStream(sink);
  const writer = ws.getWriter();
  await assertRejects(() => writer.write(1), RangeError, "write failed");
  await assertRejects(() => writer.closed, RangeError, "write failed");
  await assertRejects(() => writer.close(), TypeError, "errored");
  assertEquals(sink.events, [["write", 1]]);
});

test("WritableStream: constructor checks", () => {
  assertThrows(() => new WritableStream({ type: "bytes" }), RangeError);
  assertThrows(() => new WritableStream({ write: 1 }), TypeError);
  assertThrows(() => new WritableStream({}, { highWaterMark: -5 }), RangeError);
});

// --------------------------------------------------------- TransformStream
test("TransformStream: identity by default; flush runs at close and may enqueue", async () => {
  const ts = new TransformStream({
    flush(controller) {
      controller.enqueue("end");
    },
  });
  const writer = ts.writable.getWriter();
  writer.write("a");
  writer.write("b");
  writer.close();
  assertEquals(await readAllChunks(ts.readable), ["a", "b", "end"]);
  assertEquals(await writer.closed, undefined);
});

test("TransformStream: async transform keeps order; controller.desiredSize", async () => {
  let sizeInStart;
  const ts = new TransformStream(
    {
      start(c) {
        sizeInStart = c.desiredSize;
      },
      async transform(chunk, c) {
        await tick();
        c.enqueue(chunk * 2);
        c.enqueue(chunk * 2 + 1);
      },
    },
    undefined,
    { highWaterMark: 4 },
  );
  assertEquals(sizeInStart, 4);
  const out = ReadableStream.from([1, 2, 3]).pipeThrough(ts);
  assertEquals(await readAllChunks(out), [2, 3, 4, 5, 6, 7]);
});

test("TransformStream: terminate() closes the readable and errors the writable", async () => {
  const ts = new TransformStream({
    transform(chunk, c) {
      c.enqueue(chunk);
      c.terminate();
    },
  });
  const writer = ts.writable.getWriter();
  const reader = ts.readable.getReader();
  writer.write("only");
  assertEquals(await reader.read(), { value: "only", done: false });
  assertEquals(await reader.read(), { value: undefined, done: true });
  await assertRejects(() => writer.closed, TypeError, "terminated");
});

test("TransformStream: a throwing transform errors both sides", async () => {
  const ts = new TransformStream({
    transform() {
      throw new SyntaxError("bad chunk");
    },
  });
  const writer = ts.writable.getWriter();
  const reader = ts.readable.getReader();
  const read = reader.read(); // relieves backpressure, so transform() runs
  await assertRejects(() => writer.write("x"), SyntaxError, "bad chunk");
  await assertRejects(() => read, SyntaxError, "bad chunk");
  await assertRejects(() => writer.closed, SyntaxError);
});

test("TransformStream: backpressure holds transform() until the readable is read", async () => {
  let transforms = 0;
  const ts = new TransformStream({
    transform(chunk, c) {
      transforms++;
      c.enqueue(chunk);
    },
  });
  const writer = ts.writable.getWriter();
  writer.write(1);
  writer.write(2);
  await flush();
  assertEquals(transforms, 0, "readable highWaterMark 0: nothing is transformed before a read");
  const reader = ts.readable.getReader();
  assertEquals((await reader.read()).value, 1);
  await flush();
  assertEquals(transforms, 1, "one read, one transform");
  assertEquals((await reader.read()).value, 2);
  assertEquals(transforms, 2);
});

test("TransformStream: cancelling the readable calls transformer.cancel and errors the writable", async () => {
  let cancelReason;
  const ts = new TransformStream({
    cancel(reason) {
      cancelReason = reason;
    },
    flush() {
      throw new Error("flush must not run");
    },
  });
  const writer = ts.writable.getWriter();
  await ts.readable.cancel("no more");
  assertEquals(cancelReason, "no more");
  await assertRejectsWith(writer.closed, "no more");
});

test("TransformStream: aborting the writable errors the readable", async () => {
  const ts = new TransformStream();
  const reader = ts.readable.getReader();
  const reason = new Error("writer gave up");
  await ts.writable.abort(reason);
  await assertRejectsWith(reader.read(), reason);
});

test("TransformStream: constructor checks", () => {
  assertThrows(() => new TransformStream({ readableType: "bytes" }), RangeError);
  assertThrows(() => new TransformStream({ writableType: "bytes" }), RangeError);
  assertThrows(() => new TransformStream({ transform: 3 }), TypeError);
  assertThrows(() => new TransformStream({}, { highWaterMark: -1 }), RangeError);
});

// ------------------------------------------------------------- byte streams
test("byte streams: a BYOB read fills the caller's buffer via byobRequest.respond", async () => {
  const rs = new ReadableStream({
    type: "bytes",
    pull(c) {
      const req = c.byobRequest;
      assert(req instanceof ReadableStreamBYOBRequest);
      const view = req.view;
      view[0] = 1;
      view[1] = 2;
      req.respond(2);
      assertEquals(c.byobRequest, null, "the request is used up");
    },
  });
  const reader = rs.getReader({ mode: "byob" });
  assert(reader instanceof ReadableStreamBYOBReader);
  const buf = new Uint8Array(8);
  const { value, done } = await reader.read(buf);
  assertEquals(done, false);
  assertEquals(value, new Uint8Array([1, 2]));
  assertEquals(value.buffer.byteLength, 8, "the same memory, transferred");
  assertEquals(buf.byteLength, 0, "the caller's view was detached");
});

test("byte streams: enqueued chunks fill BYOB reads; read({min}) waits for enough bytes", async () => {
  let controller;
  const rs = new ReadableStream({
    type: "bytes",
    start(c) {
      controller = c;
    },
  });
  const reader = rs.getReader({ mode: "byob" });
  const p = reader.read(new Uint8Array(4), { min: 3 });
  controller.enqueue(new Uint8Array([1, 2]));
  await flush();
  let settled = false;
  p.then(() => (settled = true));
  await flush();
  assertEquals(settled, false, "two bytes are not enough for min 3");
  const chunk = new Uint8Array([3, 4, 5]);
  controller.enqueue(chunk);
  assertEquals(chunk.byteLength, 0, "enqueue transfers the chunk's buffer");
  const { value } = await p;
  assertEquals(value, new Uint8Array([1, 2, 3, 4]));
  const rest = await reader.read(new Uint8Array(10));
  assertEquals(rest.value, new Uint8Array([5]));
  await assertRejects(() => reader.read(new Uint8Array(2), { min: 3 }), RangeError);
  await assertRejects(() => reader.read(new Uint8Array(0)), TypeError);
  await assertRejects(() => reader.read("nope"), TypeError);
});

test("byte streams: typed-array views of other element sizes; close with a partial element errors", async () => {
  let controller;
  const rs = new ReadableStream({ type: "bytes", start: (c) => (controller = c) });
  const reader = rs.getReader({ mode: "byob" });
  const p = reader.read(new Uint16Array(2));
  controller.enqueue(new Uint8Array([1, 0, 2]));
  const { value } = await p;
  assert(value instanceof Uint16Array);
  assertEquals(Array.from(value), [1]);
  const p2 = reader.read(new Uint16Array(1));
  assertThrows(() => controller.close(), TypeError, "Insufficient bytes");
  await assertRejects(() => p2, TypeError);
});

test("byte streams: default readers, autoAllocateChunkSize, and close with a pending BYOB read", async () => {
  const rs = new ReadableStream({
    type: "bytes",
    autoAllocateChunkSize: 16,
    pull(c) {
      const v = c.byobRequest.view;
      assertEquals(v.byteLength, 16);
      v.set([9, 8, 7]);
      c.byobRequest.respond(3);
      c.close();
    },
  });
  const chunks = await readAllChunks(rs);
  assertEquals(chunks.length, 1);
  assertEquals(chunks[0], new Uint8Array([9, 8, 7]));

  let controller;
  const rs2 = new ReadableStream({ type: "bytes", start: (c) => (controller = c) });
  const reader = rs2.getReader({ mode: "byob" });
  const p = reader.read(new Uint8Array(4));
  await tick();
  controller.close();
  controller.byobRequest.respond(0);
  const r = await p;
  assertEquals(r.done, true);
  assertEquals(r.value.byteLength, 0);
  assertEquals(r.value.buffer.byteLength, 4);
});

test("byte streams: releaseLock rejects pending BYOB reads; the bytes stay queued for the next reader", async () => {
  let controller;
  const rs = new ReadableStream({ type: "bytes", start: (c) => (controller = c) });
  const byob = rs.getReader({ mode: "byob" });
  const pending = byob.read(new Uint8Array(4));
  byob.releaseLock();
  await assertRejects(() => pending, TypeError, "released");
  controller.enqueue(new Uint8Array([7, 7]));
  const reader = rs.getReader();
  assertEquals((await reader.read()).value, new Uint8Array([7, 7]));
});

test("byte streams: enqueue checks, BYOB reader on a default stream, tee", async () => {
  let controller;
  const rs = new ReadableStream({ type: "bytes", start: (c) => (controller = c) });
  assertThrows(() => controller.enqueue("str"), TypeError, "ArrayBufferView");
  assertThrows(() => controller.enqueue(new Uint8Array(0)), TypeError, "non-zero");
  assertThrows(() => new ReadableStream().getReader({ mode: "byob" }), TypeError, "not a byte stream");
  const [b1, b2] = rs.tee();
  controller.enqueue(new Uint8Array([1, 2, 3]));
  controller.close();
  const c1 = await readAllChunks(b1);
  const c2 = await readAllChunks(b2);
  assertEquals(c1, [new Uint8Array([1, 2, 3])]);
  assertEquals(c2, [new Uint8Array([1, 2, 3])]);
  assert(c1[0].buffer !== c2[0].buffer, "each branch gets its own copy");
});

// ------------------------------------------------------------- text streams
test("TextEncoderStream: encodes strings, joining surrogate pairs split across chunks", async () => {
  const tes = new TextEncoderStream();
  assertEquals(tes.encoding, "utf-8");
  const writer = tes.writable.getWriter();
  writer.write("h\u00e9");
  writer.write("\ud83d"); // high surrogate alone
  writer.write("\ude00!"); // its low surrogate
  writer.write("\ud800"); // dangling at the end
  writer.close();
  const chunks = await readAllChunks(tes.readable);
  const bytes = chunks.flatMap((c) => Array.from(c));
  assertEquals(bytes, [0x68, 0xc3, 0xa9, 0xf0, 0x9f, 0x98, 0x80, 0x21, 0xef, 0xbf, 0xbd]);
  assert(chunks.every((c) => c instanceof Uint8Array));
});

test("TextDecoderStream: decodes bytes split inside a multi-byte sequence", async () => {
  if (typeof TextDecoder !== "function") {
    assertThrows(() => new TextDecoderStream(), TypeError, "TextDecoder is not defined");
    return;
  }
  const tds = new TextDecoderStream();
  assertEquals(tds.encoding, "utf-8");
  assertEquals(tds.fatal, false);
  const writer = tds.writable.getWriter();
  const bytes = enc("a\u20acb");
  writer.write(bytes.subarray(0, 2));
  writer.write(bytes.subarray(2, 4));
  writer.write(bytes.subarray(4));
  writer.close();
  const text = (await readAllChunks(tds.readable)).join("");
  assertEquals(text, "a\u20acb");
  const bad = new TextDecoderStream("utf-8", { fatal: true });
  const w = bad.writable.getWriter();
  w.write(new Uint8Array([0xff])).catch(() => {});
  await assertRejects(() => readAllChunks(bad.readable), TypeError);
  const nonBytes = new TextDecoderStream();
  const wrote = nonBytes.writable.getWriter().write("text");
  await assertRejects(() => readAllChunks(nonBytes.readable), TypeError, "ArrayBuffer");
  await assertRejects(() => wrote, TypeError, "ArrayBuffer");
});

test("text streams: pipe a byte stream through decoder and encoder", async () => {
  if (typeof TextDecoder !== "function") return assertEquals(typeof TextDecoder, "undefined");
  const src = ReadableStream.from([enc("hello "), enc("w\u00f6rld")]);
  const roundTrip = src.pipeThrough(new TextDecoderStream()).pipeThrough(new TextEncoderStream());
  const parts = await readAllChunks(roundTrip);
  assertEquals(dec(new Uint8Array(parts.flatMap((p) => Array.from(p)))), "hello w\u00f6rld");
});

// ------------------------------------------------- bodies and rw internals
test("Response bodies: a stream body is read whole (bytes, strings, buffers, views)", async () => {
  const rs = new ReadableStream({
    start(c) {
      c.enqueue(enc("ab"));
      c.enqueue("cd");
      c.enqueue(new Uint8Array([0x65, 0x66]).buffer);
      c.enqueue(new DataView(new Uint8Array([0x67, 0x68]).buffer));
      c.close();
    },
  });
  const res = new Response(rs);
  assertSame(res.body, rs);
  assertEquals(await res.text(), "abcdefgh");
  assertEquals(res.bodyUsed, true);
  // A read stream can no longer back a new body.
  await assertRejects(() => new Response(rs).text(), TypeError);
});

test("Response bodies: a bad chunk type rejects with TypeError and cancels the stream", async () => {
  let cancelReason;
  const rs = new ReadableStream({
    start(c) {
      c.enqueue(enc("ok"));
      c.enqueue(12345);
    },
    cancel(r) {
      cancelReason = r;
    },
  });
  await assertRejects(() => new Response(rs).arrayBuffer(), TypeError, "got number");
  assert(cancelReason instanceof TypeError);
});

test("Response bodies: a locked or read stream cannot be consumed", async () => {
  const locked = new ReadableStream();
  locked.getReader();
  await assertRejects(() => new Response(locked).text(), TypeError, "locked");
  const read = new ReadableStream({ start: (c) => c.enqueue(enc("x")) });
  const r = read.getReader();
  await r.read();
  r.releaseLock();
  await assertRejects(() => new Response(read).text(), TypeError);
  const errored = new ReadableStream({ start: (c) => c.error(new RangeError("body failed")) });
  await assertRejects(() => new Response(errored).text(), RangeError, "body failed");
});

test("internals: the debug hook exposes exactly the stream internals", () => {
  assert(internals, "the internals hook is installed");
  assertEquals(Object.getPrototypeOf(internals), null);
  assert(Object.isFrozen(internals));
  assertEquals(Object.keys(internals).sort(), [
    "failStream",
    "isDisturbed",
    "isLocked",
    "isReadableStream",
    "newNativeReadable",
    "readAll",
    "setControllerSignal",
    "streamReader",
  ]);
  assertEquals(internals.isReadableStream(new ReadableStream()), true);
  assertEquals(internals.isReadableStream({}), false);
  assertEquals(internals.isReadableStream(Object.create(ReadableStream.prototype)), false);
});

test("internals: isLocked / isDisturbed follow the stream", async () => {
  const rs = new ReadableStream({ start: (c) => c.enqueue(1) });
  assertEquals(internals.isLocked(rs), false);
  assertEquals(internals.isDisturbed(rs), false);
  const reader = rs.getReader();
  assertEquals(internals.isLocked(rs), true);
  assertEquals(internals.isDisturbed(rs), false);
  await reader.read();
  assertEquals(internals.isDisturbed(rs), true);
  assertEquals(internals.isLocked({}), false);
  assertEquals(internals.isDisturbed(null), false);
});

test("internals: newNativeReadable pulls only while desiredSize > 0 and not already pulling", async () => {
  const log = [];
  let resolvePull;
  const handle = internals.newNativeReadable(
    {
      pull(h) {
        log.push(["pull", h.desiredSize()]);
        return new Promise((r) => (resolvePull = r));
      },
      cancel(reason) {
        log.push(["cancel", reason]);
      },
    },
    2,
  );
  assert(handle.stream instanceof ReadableStream);
  await flush();
  assertEquals(log, [["pull", 2]]);
  handle.enqueue(enc("a"));
  await flush();
  assertEquals(log.length, 1, "no second pull while the first is pending");
  resolvePull();
  await flush();
  assertEquals(log, [["pull", 2], ["pull", 1]]);
  assertEquals(handle.enqueue(enc("b")), true);
  resolvePull();
  await flush();
  assertEquals(handle.desiredSize(), 0);
  assertEquals(log.length, 2, "queue full: no pull");
  const reader = handle.stream.getReader();
  assertEquals(dec((await reader.read()).value), "a");
  await flush();
  assertEquals(log.length, 3, "room again: pulled");
  await reader.cancel("bye");
  assertEquals(log[3], ["cancel", "bye"]);
  assertEquals(handle.enqueue(enc("late")), false, "enqueue after cancel is a no-op");
  assertEquals(handle.close(), false);
  assertEquals(handle.error(new Error("x")), false);
});

test("internals: newNativeReadable with highWaterMark 0, close and error", async () => {
  let pulls = 0;
  const handle = internals.newNativeReadable({ pull: () => void pulls++ }, 0);
  await flush();
  assertEquals(pulls, 0, "nothing is read before the script asks");
  const reader = handle.stream.getReader();
  const p = reader.read();
  await flush();
  assertEquals(pulls, 1);
  handle.enqueue(enc("x"));
  assertEquals(dec((await p).value), "x");
  assertEquals(handle.close(), true);
  assertEquals(await reader.read(), { value: undefined, done: true });

  const h2 = internals.newNativeReadable({}, 1);
  assertEquals(h2.error(new RangeError("socket reset")), true);
  await assertRejects(() => h2.stream.getReader().read(), RangeError, "socket reset");
  assertEquals(h2.desiredSize(), null);

  const h3 = internals.newNativeReadable({ pull: () => Promise.reject(new EvalError("read failed")) }, 1);
  await assertRejects(() => h3.stream.getReader().closed, EvalError, "read failed");
  assertThrows(() => internals.newNativeReadable({}, -1), RangeError);
});

test("internals: newNativeReadable byte streams serve BYOB readers", async () => {
  const handle = internals.newNativeReadable(
    {
      pull(h) {
        h.enqueue(new Uint8Array([1, 2, 3, 4, 5]));
        h.close();
      },
    },
    0,
    { type: "bytes" },
  );
  const reader = handle.stream.getReader({ mode: "byob" });
  const a = await reader.read(new Uint8Array(3));
  assertEquals(a.value, new Uint8Array([1, 2, 3]));
  const b = await reader.read(new Uint8Array(3));
  assertEquals(b.value, new Uint8Array([4, 5]));
  const c = await reader.read(new Uint8Array(3));
  assertEquals(c.done, true);
  assertEquals(handle.enqueue("not bytes"), false);
});

test("internals: readAll concatenates and rejects when locked", async () => {
  const rs = ReadableStream.from([enc("x"), "y", new Uint16Array([0x7a7a]).buffer]);
  const bytes = await internals.readAll(rs);
  assert(bytes instanceof Uint8Array);
  assertEquals(dec(bytes), "xyzz");
  const locked = new ReadableStream();
  locked.getReader();
  await assertRejects(() => internals.readAll(locked), TypeError, "locked");
  await assertRejects(() => internals.readAll({}), TypeError);
  assertEquals((await internals.readAll(ReadableStream.from([]))).byteLength, 0);
});

// How the runtime reads: pump(n, bytes) starts a batch of reads, take()
// hands over results. (A timer runs after every microtask, as the
// runtime's checkpoint does.)
const macrotask = () => new Promise((resolve) => setTimeout(resolve, 0));
async function drain(r, n = 4) {
  const got = [];
  for (;;) {
    r.pump(n, 1 << 20);
    await r.whenReady();
    const out = r.take();
    for (const x of out) {
      got.push(x);
      if (x === null || !(x instanceof Uint8Array)) return got;
    }
  }
}

test("internals: streamReader reads Uint8Array chunks in batches, then the end", async () => {
  const rs = new ReadableStream({
    start(c) {
      c.enqueue("hi");
      c.enqueue(new Uint8Array([1]).buffer);
      c.enqueue(new Uint16Array([258]));
      c.close();
    },
  });
  const r = internals.streamReader(rs);
  assertThrows(() => internals.streamReader(rs), TypeError, "locked");
  assertEquals(r.take(), undefined);
  // One pump and one checkpoint read every queued chunk, and the end.
  r.pump(8, 1 << 20);
  await macrotask();
  const out = r.take();
  assertEquals(out.length, 4);
  assertEquals(dec(out[0]), "hi");
  assertEquals(out[1], new Uint8Array([1]));
  assert(out[2] instanceof Uint8Array);
  assertEquals(out[2].byteLength, 2);
  assertEquals(out[3], null);
  // The end stays.
  r.pump(8, 1 << 20);
  assertEquals(r.take(), [null]);

  let cancelReason;
  const bad = new ReadableStream({
    start: (c) => c.enqueue({ not: "bytes" }),
    cancel: (reason) => void (cancelReason = reason),
  });
  const br = internals.streamReader(bad);
  const [err] = await drain(br);
  assert(err.error instanceof TypeError && /chunks must be/.test(err.error.message), String(err.error));
  assert(cancelReason instanceof TypeError);

  let cancelled;
  const src = new ReadableStream({ cancel: (reason) => void (cancelled = reason) });
  await internals.streamReader(src).cancel("client went away");
  assertEquals(cancelled, "client went away");
});

test("internals: a streamReader batch fills in one microtask turn, up to its reads or bytes, and waits for a slow source", async () => {
  // A pulling source that enqueues synchronously: 10 reads, 10 chunks, with
  // nothing but microtasks in between.
  let pulls = 0;
  const rs = new ReadableStream({
    pull(c) {
      c.enqueue(new Uint8Array([++pulls]));
      if (pulls === 25) c.close();
    },
  });
  const r = internals.streamReader(rs);
  r.pump(10, 1 << 20);
  await macrotask();
  const first = r.take();
  assertEquals(first.map((b) => b[0]), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  const rest = await drain(r, 10);
  assertEquals(rest.length, 16);
  assertEquals(rest.at(-1), null);
  assertEquals(rest.slice(0, 15).map((b) => b[0]), [...Array(15).keys()].map((i) => i + 11));
  assertEquals(pulls, 25);

  // A batch ends at its bytes: the source is pulled for what was asked (and
  // to refill its queue to the high-water mark), no more.
  let big = 0;
  const kb = internals.streamReader(new ReadableStream({ pull: (c) => c.enqueue(new Uint8Array(1000).fill(++big)) }));
  kb.pump(64, 3000);
  await macrotask();
  assertEquals(kb.take().map((b) => b[0]), [1, 2, 3]);
  assert(big <= 4, `pulled ${big} times for 3 chunks`);

  // A source that answers later: whenReady settles when it does.
  let enqueue;
  const slow = internals.streamReader(new ReadableStream({ start: (c) => void (enqueue = (x) => c.enqueue(x)) }));
  slow.pump(4, 1 << 20);
  assertEquals(slow.take(), undefined);
  const ready = slow.whenReady();
  setTimeout(() => enqueue(new Uint8Array([7])), 5);
  await ready;
  assertEquals(slow.take(), [new Uint8Array([7])]);
  // The batch's next read is outstanding: pump starts none, the next chunk
  // answers it.
  await macrotask();
  slow.pump(4, 1 << 20);
  enqueue(new Uint8Array([8]));
  assertEquals(slow.take(), [new Uint8Array([8])]);
});

test("internals: a failing stream ends streamReader's results with its error", async () => {
  let ctl;
  const r = internals.streamReader(new ReadableStream({ start: (c) => void (ctl = c) }));
  r.pump(3, 1 << 20);
  ctl.enqueue("a");
  ctl.error(new RangeError("boom"));
  await macrotask();
  const out = r.take();
  assertEquals(out.length, 2);
  assertEquals(dec(out[0]), "a");
  assert(out[1].error instanceof RangeError);
});

test("internals: streamReader is not fooled by a patched Object.prototype.then", async () => {
  const r = internals.streamReader(new ReadableStream({ start: (c) => c.enqueue("z") }));
  let intercepted = false;
  Object.defineProperty(Object.prototype, "then", {
    configurable: true,
    get() {
      intercepted = true;
      return undefined;
    },
  });
  try {
    r.pump(2, 1 << 20);
    await r.whenReady();
    assertEquals(dec(r.take()[0]), "z");
  } finally {
    delete Object.prototype.then;
  }
  assertEquals(intercepted, false);
});

test("internals: controller.signal exists from start() and setControllerSignal replaces it", () => {
  let controller;
  let seenInStart;
  const rs = new ReadableStream({ start: (c) => { controller = c; seenInStart = c.signal; } });
  assert(seenInStart instanceof AbortSignal && !seenInStart.aborted, "a default controller has a live signal in start()");
  assert(!("signal" in ReadableStreamDefaultController.prototype), "the prototype stays standard");
  const signal = makeAbortController().signal;
  internals.setControllerSignal(controller, signal);
  assertSame(controller.signal, signal);
  const other = makeAbortController().signal;
  internals.setControllerSignal(rs, other); // via the stream
  assertSame(controller.signal, other);
  let byteController;
  new ReadableStream({ type: "bytes", start: (c) => (byteController = c) });
  internals.setControllerSignal(byteController, signal);
  assertSame(byteController.signal, signal);
  assertThrows(() => internals.setControllerSignal({}, signal), TypeError);
});

test("internals: failStream errors the stream; enqueue throws the given TypeError, close is silent", async () => {
  let controller;
  let pulls = 0;
  const rs = new ReadableStream({
    start: (c) => (controller = c),
    pull: () => void pulls++,
  });
  const reader = rs.getReader();
  const pending = reader.read();
  const reason = new Error("client disconnected");
  internals.failStream(rs, reason, "Cannot enqueue: client disconnected");
  await assertRejectsWith(pending, reason);
  assertThrows(() => controller.enqueue("x"), TypeError, "Cannot enqueue: client disconnected");
  controller.close(); // does not throw
  controller.error(new Error("ignored"));
  assertEquals(controller.desiredSize, null);
  await assertRejects(() => reader.closed, Error, "client disconnected");

  // Without a message, the reason's message is used.
  let c2;
  const rs2 = new ReadableStream({ type: "bytes", start: (c) => (c2 = c) });
  internals.failStream(rs2, new Error("gone"));
  assertThrows(() => c2.enqueue(new Uint8Array(1)), TypeError, "gone");
  c2.close();
});

test("internals: failStream on a TransformStream's readable also fails its writer", async () => {
  const ts = new TransformStream();
  const writer = ts.writable.getWriter();
  const w = writer.write("blocked by backpressure");
  internals.failStream(ts.readable, new Error("disconnected"), "Cannot write: client disconnected");
  await assertRejects(() => w, TypeError, "client disconnected");
  await assertRejects(() => writer.write("more"), TypeError, "client disconnected");
  await assertRejects(() => ts.readable.getReader().read(), Error, "disconnected");
});

export default { fetch: run };

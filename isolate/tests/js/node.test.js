// compatibility_flags: nodejs_compat
// nodejs_compat: node:buffer, node:events, node:async_hooks, node:util,
// node:process, as Node documents them (and workerd's node tests check).
import { test, assert, assertEquals, assertThrows, assertRejects, run } from "./harness.js";
import { Buffer as NodeBuffer, kMaxLength, isUtf8 } from "node:buffer";
import bufferDefault from "buffer";
import EventEmitter, { once as eventsOnce, errorMonitor } from "node:events";
import { AsyncLocalStorage, AsyncResource } from "node:async_hooks";
import util, { promisify, format, inspect, types } from "node:util";
import process from "node:process";
import crypto, { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";

const bytes = (b) => Array.from(b);

test("the flag adds Buffer, process and global; bare and node: names are the same modules", () => {
  assert(Buffer === NodeBuffer && bufferDefault.Buffer === Buffer);
  assert(globalThis.process === process);
  assert(global === globalThis);
  assertEquals(kMaxLength, 2 ** 32);
});

test("Buffer.from: strings in every encoding, arrays, ArrayBuffers (shared memory), views (copied)", () => {
  assertEquals(bytes(Buffer.from("héllo")), [104, 195, 169, 108, 108, 111]);
  assertEquals(bytes(Buffer.from("68656c6c6f", "hex")), [104, 101, 108, 108, 111]);
  assertEquals(bytes(Buffer.from("6865zz6c", "hex")), [104, 101], "hex stops at the first bad pair");
  assertEquals(Buffer.from("aGVsbG8=", "base64").toString(), "hello");
  assertEquals(Buffer.from("aGVsbG8", "base64").toString(), "hello", "padding optional");
  assertEquals(Buffer.from("_-8", "base64url").toString("hex"), "ffef");
  assertEquals(bytes(Buffer.from("é\u0100", "latin1")), [0xe9, 0x00]);
  assertEquals(bytes(Buffer.from("ab", "utf16le")), [97, 0, 98, 0]);
  assertEquals(bytes(Buffer.from([1, 2, 256, -1])), [1, 2, 0, 255]);
  const ab = new ArrayBuffer(8);
  const shared = Buffer.from(ab, 2, 4);
  shared[0] = 7;
  assertEquals(new Uint8Array(ab)[2], 7, "an ArrayBuffer is shared");
  const u8 = new Uint8Array([1, 2, 3]);
  const copy = Buffer.from(u8);
  u8[0] = 9;
  assertEquals(copy[0], 1, "a view is copied");
  assertEquals(Buffer.from({ type: "Buffer", data: [5, 6] }).toString("hex"), "0506");
  assertThrows(() => Buffer.from(null), TypeError, "first argument");
  assertThrows(() => Buffer.from("x", "nope"), TypeError, "Unknown encoding");
});

test("toString in every encoding, with ranges", () => {
  const b = Buffer.from([0x68, 0x69, 0xff, 0x00]);
  assertEquals(b.toString("hex"), "6869ff00");
  assertEquals(b.toString("base64"), "aGn/AA==");
  assertEquals(b.toString("base64url"), "aGn_AA");
  assertEquals(b.toString("latin1"), "hi\u00ff\u0000");
  assertEquals(b.toString("ascii"), "hi\u007f\u0000");
  assertEquals(b.toString("utf8", 0, 2), "hi");
  assertEquals(b.toString("utf8", 2), "\ufffd\u0000", "invalid UTF-8 becomes U+FFFD");
  assertEquals(Buffer.from("€", "utf16le").toString("utf16le"), "€");
  assertEquals(String(Buffer.from("abc")), "abc");
  assertEquals(JSON.stringify(Buffer.from([1, 2])), '{"type":"Buffer","data":[1,2]}');
});

test("alloc, allocUnsafe, byteLength, concat, isBuffer, isEncoding, compare/equals", () => {
  assertEquals(bytes(Buffer.alloc(3)), [0, 0, 0]);
  assertEquals(Buffer.alloc(5, "ab").toString(), "ababa");
  assertEquals(bytes(Buffer.alloc(2, 0x101)), [1, 1]);
  assertEquals(Buffer.allocUnsafe(4).length, 4);
  assertThrows(() => Buffer.alloc(-1), RangeError);
  assertEquals(Buffer.byteLength("héllo"), 6);
  assertEquals(Buffer.byteLength("aGVsbG8=", "base64"), 5);
  assertEquals(Buffer.byteLength(new ArrayBuffer(9)), 9);
  const c = Buffer.concat([Buffer.from("ab"), new Uint8Array([99]), Buffer.from("de")]);
  assertEquals(c.toString(), "abcde");
  assertEquals(Buffer.concat([Buffer.from("abc")], 2).toString(), "ab");
  assertEquals(Buffer.concat([Buffer.from("a")], 3).length, 3, "zero-filled past the parts");
  assert(Buffer.isBuffer(c) && !Buffer.isBuffer(new Uint8Array(1)));
  assert(Buffer.isEncoding("UTF-8") && Buffer.isEncoding("binary") && !Buffer.isEncoding("utf9"));
  assertEquals(Buffer.compare(Buffer.from("a"), Buffer.from("b")), -1);
  assertEquals(Buffer.from("abc").compare(Buffer.from("abd")), -1);
  assertEquals([Buffer.from("b"), Buffer.from("a")].sort(Buffer.compare).map(String), ["a", "b"]);
  assert(Buffer.from("x").equals(new Uint8Array([120])));
  assert(c instanceof Uint8Array);
});

test("slice and subarray share memory; write, fill, copy, indexOf/includes/lastIndexOf", () => {
  const b = Buffer.from("hello world");
  const s = b.slice(0, 5);
  assert(Buffer.isBuffer(s));
  s[0] = 0x48;
  assertEquals(b.toString(), "Hello world", "slice is a view (unlike Uint8Array.prototype.slice)");
  assertEquals(b.subarray(-5).toString(), "world");
  const w = Buffer.alloc(6);
  assertEquals(w.write("hé", 1), 3);
  assertEquals(w.toString("hex"), "0068c3a9" + "0000");
  assertEquals(Buffer.alloc(2).write("é€"), 2, "only whole characters fit");
  assertEquals(Buffer.alloc(4).fill("ab", 1).toString("latin1"), "\u0000aba");
  const t = Buffer.alloc(4);
  assertEquals(Buffer.from("xyz").copy(t, 1), 3);
  assertEquals(t.toString("latin1"), "\u0000xyz");
  assertEquals(b.indexOf("o"), 4);
  assertEquals(b.indexOf("o", 5), 7);
  assertEquals(b.lastIndexOf("o"), 7);
  assertEquals(b.indexOf(Buffer.from("wor")), 6);
  assertEquals(b.indexOf(0x64), 10);
  assert(b.includes("world") && !b.includes("xyz"));
});

test("reading and writing integers and floats, both byte orders", () => {
  const b = Buffer.alloc(16);
  assertEquals(b.writeUInt16BE(0x1234, 0), 2);
  assertEquals(b.writeUInt32LE(0xdeadbeef, 2), 6);
  b.writeInt8(-2, 6);
  b.writeInt16LE(-300, 7);
  assertEquals(b.readUInt16BE(0), 0x1234);
  assertEquals(b.readUint16LE(0), 0x3412);
  assertEquals(b.readUInt32LE(2), 0xdeadbeef);
  assertEquals(b.readUInt32BE(2), 0xefbeadde);
  assertEquals(b.readInt8(6), -2);
  assertEquals(b.readInt16LE(7), -300);
  b.writeDoubleBE(Math.PI, 8);
  assertEquals(b.readDoubleBE(8), Math.PI);
  b.writeFloatLE(1.5, 0);
  assertEquals(b.readFloatLE(0), 1.5);
  b.writeBigUInt64LE(2n ** 63n + 5n, 8);
  assertEquals(b.readBigUInt64LE(8), 2n ** 63n + 5n);
  b.writeBigInt64BE(-5n, 0);
  assertEquals(b.readBigInt64BE(0), -5n);
  b.writeUIntBE(0x123456, 0, 3);
  assertEquals(b.readUIntBE(0, 3), 0x123456);
  b.writeIntLE(-123456, 3, 3);
  assertEquals(b.readIntLE(3, 3), -123456);
  assertThrows(() => b.readUInt32LE(14), RangeError, "out of range");
  assertThrows(() => b.writeUInt8(256, 0), RangeError);
  assertEquals(Buffer.from([1, 2, 3, 4]).swap16().toString("hex"), "02010403");
  assertEquals(isUtf8(Buffer.from("ok")), true);
  assertEquals(isUtf8(new Uint8Array([0xff])), false);
});

test("EventEmitter: on/once/prepend/off, emit order and arguments, listener bookkeeping", () => {
  const e = new EventEmitter();
  const seen = [];
  const a = (x, y) => seen.push(["a", x, y]);
  e.on("ev", a);
  e.prependListener("ev", () => seen.push(["first"]));
  e.once("ev", () => seen.push(["once"]));
  assertEquals(e.listenerCount("ev"), 3);
  assert(e.emit("ev", 1, 2));
  assert(e.emit("ev", 3));
  assertEquals(seen, [["first"], ["a", 1, 2], ["once"], ["first"], ["a", 3, undefined]]);
  e.off("ev", a);
  assertEquals(e.listeners("ev").length, 1);
  assertEquals(e.eventNames(), ["ev"]);
  e.removeAllListeners();
  assertEquals(e.emit("ev"), false);
  // `this` is the emitter; newListener/removeListener events.
  const meta = [];
  e.on("newListener", (n) => meta.push(`+${n}`));
  e.on("removeListener", (n) => meta.push(`-${n}`));
  function self() {
    assert(this === e);
  }
  e.on("x", self);
  e.emit("x");
  e.removeListener("x", self);
  assertEquals(meta, ["+removeListener", "+x", "-x"]);
});

test("EventEmitter: an unhandled 'error' throws; errorMonitor sees it; subclasses and inherits work", () => {
  const e = new EventEmitter();
  assertThrows(() => e.emit("error", new RangeError("bad")), RangeError, "bad");
  assertThrows(() => e.emit("error", "text"), Error, "Unhandled error");
  let monitored;
  e.on(errorMonitor, (err) => (monitored = err));
  e.on("error", () => {});
  const err = new Error("x");
  e.emit("error", err);
  assert(monitored === err);
  class Mine extends EventEmitter {}
  const m = new Mine();
  let got = 0;
  m.on("e", () => got++);
  m.emit("e");
  assertEquals(got, 1);
  function Old() {
    EventEmitter.call(this);
  }
  util.inherits(Old, EventEmitter);
  const o = new Old();
  o.on("z", () => got++);
  o.emit("z");
  assertEquals(got, 2);
  assertEquals(EventEmitter.defaultMaxListeners, 10);
});

test("events.once resolves with the arguments, rejects on 'error'", async () => {
  const e = new EventEmitter();
  setTimeout(() => e.emit("ready", 1, 2), 1);
  assertEquals(await eventsOnce(e, "ready"), [1, 2]);
  setTimeout(() => e.emit("error", new TypeError("nope")), 1);
  await assertRejects(() => eventsOnce(e, "ready"), TypeError, "nope");
});

test("AsyncLocalStorage: the store follows awaits, timers and microtasks; nested runs and exit", async () => {
  const als = new AsyncLocalStorage();
  assertEquals(als.getStore(), undefined);
  const inside = await als.run({ id: 1 }, async () => {
    const before = als.getStore().id;
    await null;
    await new Promise((r) => setTimeout(r, 2));
    const afterTimer = als.getStore().id;
    const fromTimer = await new Promise((r) => setTimeout(() => r(als.getStore().id), 1));
    const fromMicrotask = await new Promise((r) => queueMicrotask(() => r(als.getStore().id)));
    const nested = als.run({ id: 2 }, () => als.getStore().id);
    const outside = als.exit(() => als.getStore());
    return [before, afterTimer, fromTimer, fromMicrotask, nested, outside, als.getStore().id];
  });
  assertEquals(inside, [1, 1, 1, 1, 2, undefined, 1]);
  assertEquals(als.getStore(), undefined, "gone after run returns");
  // Two concurrent runs keep their own stores.
  const both = await Promise.all(
    ["a", "b"].map((name) =>
      als.run(name, async () => {
        await new Promise((r) => setTimeout(r, name === "a" ? 3 : 1));
        return als.getStore();
      }),
    ),
  );
  assertEquals(both, ["a", "b"]);
  // Two storages are independent.
  const other = new AsyncLocalStorage();
  assertEquals(als.run(1, () => other.run(2, () => [als.getStore(), other.getStore()])), [1, 2]);
});

test("AsyncLocalStorage.snapshot and AsyncResource.bind capture the context", () => {
  const als = new AsyncLocalStorage();
  const snap = als.run("s", () => AsyncLocalStorage.snapshot());
  assertEquals(snap(() => als.getStore()), "s");
  const bound = als.run("b", () => AsyncResource.bind(() => als.getStore()));
  assertEquals(bound(), "b");
  const res = als.run("r", () => new AsyncResource("X"));
  assertEquals(res.runInAsyncScope(() => als.getStore()), "r");
});

test("util.promisify (and custom), callbackify, format, inspect, types", async () => {
  const cbStyle = (a, b, cb) => setTimeout(() => (a < 0 ? cb(new Error("neg")) : cb(null, a + b)), 1);
  const p = promisify(cbStyle);
  assertEquals(await p(1, 2), 3);
  await assertRejects(() => p(-1, 0), Error, "neg");
  const custom = () => {};
  custom[promisify.custom] = () => Promise.resolve("custom");
  assertEquals(await promisify(custom)(), "custom");
  const cbd = util.callbackify(async (x) => x * 2);
  assertEquals(await new Promise((r) => cbd(21, (e, v) => r([e, v]))), [null, 42]);
  assertEquals(format("%s=%d %j %%", "a", 42, { b: 1 }), 'a=42 {"b":1} %');
  assertEquals(format("x", 1, "y"), "x 1 y");
  assertEquals(inspect({ a: [1, "s"], b: { c: null } }), "{ a: [ 1, 's' ], b: { c: null } }");
  assertEquals(inspect(Buffer.from("hi")), "<Buffer 68 69>");
  assertEquals(inspect(new Map([[1, 2]])), "Map(1) { 1 => 2 }");
  const circ = {};
  circ.self = circ;
  assert(inspect(circ).includes("[Circular"));
  assert(types.isPromise(Promise.resolve()) && types.isUint8Array(Buffer.alloc(1)) && types.isDate(new Date()));
  assert(types.isAsyncFunction(async () => {}) && !types.isAsyncFunction(() => {}));
  assert(types.isTypedArray(new Float32Array(1)) && !types.isTypedArray(new DataView(new ArrayBuffer(1))));
});

test("process: env, nextTick (with arguments, before timers), version, hrtime", async () => {
  assertEquals(typeof process.env, "object");
  const order = [];
  setTimeout(() => order.push("timeout"), 0);
  process.nextTick((a, b) => order.push(`tick ${a}${b}`), 1, 2);
  await new Promise((r) => setTimeout(r, 5));
  assertEquals(order, ["tick 12", "timeout"]);
  assert(process.version.startsWith("v"));
  assertEquals(process.platform, "linux");
  const [s, ns] = process.hrtime();
  assert(Number.isInteger(s) && ns >= 0 && ns < 1e9);
  assertEquals(typeof process.hrtime.bigint(), "bigint");
  assertThrows(() => process.exit(0), Error, "not supported");
  assert(process instanceof EventEmitter);
});

test("crypto: createHash/createHmac in pieces and encodings, copy, one-shot hash, errors", () => {
  assertEquals(createHash("sha256").update("abc").digest("hex"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assertEquals(createHash("md5").update("a").update(Buffer.from("bc")).digest("base64"), "kAFQmDzST7DWlj99KOF/cg==");
  assertEquals(createHash("sha1").update("616263", "hex").digest().toString("hex"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  const h = createHash("sha512").update("a");
  const c = h.copy();
  assertEquals(h.update("bc").digest("hex"), createHash("sha512").update("abc").digest("hex"));
  assertEquals(c.digest("hex"), createHash("sha512").update("a").digest("hex"));
  assertThrows(() => h.digest(), Error, "Digest already called");
  assertThrows(() => createHash("whirlpool"), Error, "not supported");
  assertEquals(
    createHmac("sha256", "Jefe").update("what do ya want for nothing?").digest("hex"),
    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
  );
  assertEquals(createHmac("sha1", Buffer.from("key")).update("The quick brown fox jumps over the lazy dog").digest("hex"), "de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9");
  assertThrows(() => createHmac("nope", "k"), TypeError, "Invalid digest");
  assertEquals(crypto.hash("sha1", "abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  assert(crypto.getHashes().includes("sha256"));
});

test("crypto: randomBytes, randomInt, randomUUID, timingSafeEqual", async () => {
  const r = randomBytes(100000);
  assert(Buffer.isBuffer(r) && r.length === 100000);
  assert(r.some((b) => b !== 0));
  const viaCallback = await new Promise((resolve) => randomBytes(8, (e, b) => resolve(b)));
  assertEquals(viaCallback.length, 8);
  for (let i = 0; i < 50; i++) {
    const n = crypto.randomInt(5, 10);
    assert(n >= 5 && n < 10 && Number.isInteger(n));
  }
  assert(/^[0-9a-f-]{36}$/.test(crypto.randomUUID()));
  assert(timingSafeEqual(Buffer.from("abc"), Buffer.from("abc")));
  assert(!timingSafeEqual(Buffer.from("abc"), new Uint8Array([97, 98, 100])));
  assertThrows(() => timingSafeEqual(Buffer.from("a"), Buffer.from("ab")), RangeError, "same byte length");
  assert(crypto.webcrypto === globalThis.crypto);
});

export default { fetch: run };

// CompressionStream / DecompressionStream (the Compression Streams
// standard): round trips in every format and chunking, the formats' own
// framing, bad chunks and corrupt, truncated or trailing input as
// TypeErrors, backpressure, and a decompression bomb read one bounded chunk
// at a time.
import { test, assert, assertEquals, assertThrows, assertRejects, run } from "./harness.js";

const FORMATS = ["gzip", "deflate", "deflate-raw"];
const enc = (s) => new TextEncoder().encode(s);

function concat(chunks) {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

// Writes `chunks` and reads everything out (write and read concurrently).
async function through(stream, chunks) {
  const writer = stream.writable.getWriter();
  const writing = (async () => {
    for (const c of chunks) await writer.write(c);
    await writer.close();
  })();
  const out = [];
  const reader = stream.readable.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    assert(value instanceof Uint8Array, "output chunks are Uint8Arrays");
    out.push(value);
  }
  await writing;
  return concat(out);
}

test("compression: round trips in every format and chunking", async () => {
  const data = enc("The quick brown fox jumps over the lazy dog. ".repeat(2000));
  for (const format of FORMATS) {
    const packed = await through(new CompressionStream(format), [data.subarray(0, 10), data.subarray(10)]);
    assert(packed.byteLength < data.byteLength / 10, `${format} compresses`);
    for (const size of [1, 7, 4096, packed.byteLength]) {
      const pieces = [];
      for (let i = 0; i < packed.byteLength; i += size) pieces.push(packed.slice(i, i + size));
      const back = await through(new DecompressionStream(format), pieces);
      assertEquals(back, data, `${format} in pieces of ${size}`);
    }
  }
});

test("compression: each format's framing (gzip magic, zlib header, raw)", async () => {
  const g = await through(new CompressionStream("gzip"), [enc("x")]);
  assertEquals([g[0], g[1]], [0x1f, 0x8b]);
  const z = await through(new CompressionStream("deflate"), [enc("x")]);
  assertEquals(z[0], 0x78);
  assertEquals((z[0] * 256 + z[1]) % 31, 0, "zlib header check bits");
  // A raw stream is not a zlib one.
  const raw = await through(new CompressionStream("deflate-raw"), [enc("x")]);
  await assertRejects(() => through(new DecompressionStream("deflate"), [raw]), TypeError);
});

test("compression: empty chunks change nothing; empty input still makes a stream", async () => {
  for (const format of FORMATS) {
    const a = await through(new CompressionStream(format), [enc("Hello"), new Uint8Array(0), enc("Hello")]);
    assertEquals(await through(new DecompressionStream(format), [a]), enc("HelloHello"));
    const empty = await through(new CompressionStream(format), []);
    assert(empty.byteLength > 0, `${format} of nothing still has framing`);
    assertEquals((await through(new DecompressionStream(format), [empty])).byteLength, 0);
  }
});

test("compression: any BufferSource goes in; anything else is a TypeError", async () => {
  const view = new DataView(enc("--dv--").buffer, 2, 2);
  const packed = await through(new CompressionStream("gzip"), [enc("ab").buffer, new Uint16Array([0x6463]), view]);
  assertEquals(new TextDecoder().decode(await through(new DecompressionStream("gzip"), [packed])), "abcddv");
  for (const bad of [undefined, null, 3, "string", {}, [1, 2]]) {
    const cs = new CompressionStream("deflate");
    const writer = cs.writable.getWriter();
    const readAll = cs.readable.getReader().read();
    await assertRejects(() => writer.write(bad), TypeError);
    await assertRejects(() => readAll, TypeError);
  }
});

test("compression: unknown formats are TypeErrors", () => {
  for (const bad of ["", "GZIP", "br", "zlib", undefined]) {
    assertThrows(() => new CompressionStream(bad), TypeError, "unsupported format");
    assertThrows(() => new DecompressionStream(bad), TypeError, "unsupported format");
  }
  assertThrows(() => new CompressionStream(), TypeError);
  const cs = new CompressionStream("gzip");
  assert(cs.readable instanceof ReadableStream && cs.writable instanceof WritableStream);
  assertEquals(Object.prototype.toString.call(cs), "[object CompressionStream]");
  assertThrows(() => Object.getOwnPropertyDescriptor(CompressionStream.prototype, "readable").get.call({}), TypeError);
});

test("decompression: corrupt, truncated and trailing input are TypeErrors", async () => {
  for (const format of FORMATS) {
    await assertRejects(
      () => through(new DecompressionStream(format), [new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5])]),
      TypeError,
    );
    const packed = await through(new CompressionStream(format), [enc("hello, hello, hello")]);
    await assertRejects(
      () => through(new DecompressionStream(format), [packed.subarray(0, packed.byteLength - 4)]),
      TypeError,
      "truncated",
    );
    await assertRejects(
      () => through(new DecompressionStream(format), [packed, new Uint8Array([0])]),
      TypeError,
      "after the end",
    );
  }
});

test("compression: a reader that stops stops the writer (backpressure)", async () => {
  const ds = new DecompressionStream("gzip");
  // ~8 MiB of zeros in ~8 KiB.
  const bomb = await through(new CompressionStream("gzip"), [new Uint8Array(8 << 20)]);
  const writer = ds.writable.getWriter();
  let written = false;
  writer.write(bomb).then(() => {
    written = true;
  });
  const reader = ds.readable.getReader();
  const first = await reader.read();
  assert(first.value.byteLength <= 65536, `one read is at most 64 KiB, got ${first.value.byteLength}`);
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
  assertEquals(written, false, "the write waits while its output is not read");
  let total = first.value.byteLength;
  for (;;) {
    const { done, value } = await reader.read();
    total += value.byteLength;
    assert(value.byteLength <= 65536);
    if (total === 8 << 20) break;
    assert(!done);
  }
  await new Promise((r) => setTimeout(r, 0));
  assert(written, "the write completed once its output was read");
  writer.close();
  assert((await reader.read()).done);
});

test("decompression: a bomb streams through in bounded chunks", async () => {
  // 64 MiB of zeros, from ~64 KiB of gzip, counted as it streams.
  const zeros = new Uint8Array(1 << 20);
  const cs = new CompressionStream("gzip");
  const writer = cs.writable.getWriter();
  const packing = (async () => {
    for (let i = 0; i < 64; i++) await writer.write(zeros);
    await writer.close();
  })();
  const packed = [];
  for await (const chunk of cs.readable) packed.push(chunk);
  await packing;
  let total = 0;
  let biggest = 0;
  for await (const chunk of new Blob(packed).stream().pipeThrough(new DecompressionStream("gzip"))) {
    total += chunk.byteLength;
    biggest = Math.max(biggest, chunk.byteLength);
  }
  assertEquals(total, 64 << 20);
  assert(biggest <= 65536, `largest output chunk ${biggest}`);
});

test("compression: cancelling the readable side errors the writable side", async () => {
  const cs = new CompressionStream("deflate");
  const writer = cs.writable.getWriter();
  await cs.readable.cancel(new RangeError("stop"));
  await assertRejects(() => writer.write(enc("x")), RangeError);
  const ds = new DecompressionStream("deflate");
  const w2 = ds.writable.getWriter();
  const r2 = ds.readable.getReader();
  w2.abort(new SyntaxError("abort"));
  await assertRejects(() => r2.read(), SyntaxError);
});

test("compression: a Response body through gzip and back", async () => {
  const body = new Response("compress me ".repeat(100)).body.pipeThrough(new CompressionStream("gzip"));
  const back = new Response(body).body.pipeThrough(new DecompressionStream("gzip"));
  assertEquals(await new Response(back).text(), "compress me ".repeat(100));
});

export default { fetch: run };

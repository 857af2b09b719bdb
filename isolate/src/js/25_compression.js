// 25_compression.js: CompressionStream and DecompressionStream (the
// Compression Streams standard: "gzip", "deflate", "deflate-raw"), on the
// native coders of compression.rs. See the header of 00_bootstrap.js for
// the file convention.
//
// Each is a writable/readable pair. Output is produced only as the readable
// side is read, at most 64 KiB per read, and a write resolves once all of its
// chunk went in: a reader that stops stops the writer (backpressure), and a
// small chunk that decompresses to gigabytes costs one output chunk of
// memory at a time.
(function (ops, rw) {
  "use strict";

  const TypeErr = TypeError;
  const ObjectDefineProperty = Object.defineProperty;
  const ArrayBufferIsView = ArrayBuffer.isView;
  const ArrayBufferByteLength = Function.prototype.call.bind(
    Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, "byteLength").get,
  );
  const PromiseCtor = Promise;
  const WritableStreamCtor = rw.WritableStream;
  const FORMATS = { __proto__: null, gzip: 0, deflate: 1, "deflate-raw": 2 };

  function isArrayBuffer(v) {
    try {
      ArrayBufferByteLength(v);
      return true;
    } catch {
      return false;
    }
  }

  function formatOf(format, what) {
    const f = `${format}`;
    const n = FORMATS[f];
    if (typeof n !== "number") {
      throw new TypeErr(`${what}: unsupported format "${f}" (expected "gzip", "deflate" or "deflate-raw")`);
    }
    return n;
  }

  // Wires a coder between a new WritableStream and ReadableStream.
  function makePair(format, compress) {
    const coder = { id: 0 };
    coder.id = ops.zOpen(coder, format, compress);
    let writableController = null;
    // The write whose chunk is going through, and the close waiting for the end.
    let pendingWrite = null;
    let pendingClose = null;
    let closing = false;
    let ended = false;
    // Wakes a pull that waits for input.
    let wake = null;
    const waitForInput = () =>
      new PromiseCtor((resolve) => {
        wake = resolve;
      });
    const poke = () => {
      if (wake !== null) {
        const w = wake;
        wake = null;
        w();
      }
    };
    const finish = (error) => {
      if (ended) return;
      ended = true;
      ops.zClose(coder.id);
      if (error !== undefined) {
        if (pendingWrite !== null) pendingWrite.reject(error);
        if (pendingClose !== null) pendingClose.reject(error);
        if (writableController !== null) writableController.error(error);
      } else if (pendingClose !== null) {
        pendingClose.resolve();
      }
      pendingWrite = null;
      pendingClose = null;
      poke();
    };
    const handle = rw.newNativeReadable(
      {
        async pull(h) {
          for (;;) {
            if (ended) return;
            let out;
            try {
              out = ops.zRead(coder.id, closing);
            } catch (e) {
              h.error(e);
              finish(e);
              return;
            }
            if (out !== null) {
              h.enqueue(out);
              return;
            }
            if (closing) {
              h.close();
              finish(undefined);
              return;
            }
            // All input went in: the write is done; wait for the next one.
            if (pendingWrite !== null) {
              const w = pendingWrite;
              pendingWrite = null;
              w.resolve();
            }
            await waitForInput();
          }
        },
        cancel(reason) {
          finish(reason === undefined ? new TypeErr("The readable side was cancelled") : reason);
        },
      },
      1,
    );
    const writable = new WritableStreamCtor({
      start(c) {
        writableController = c;
      },
      write(chunk) {
        if (!ArrayBufferIsView(chunk) && !isArrayBuffer(chunk)) {
          const e = new TypeErr("The chunk must be an ArrayBuffer or an ArrayBufferView (BufferSource)");
          handle.error(e);
          finish(e);
          throw e;
        }
        try {
          ops.zWrite(coder.id, chunk);
        } catch (e) {
          handle.error(e);
          finish(e);
          throw e;
        }
        return new PromiseCtor((resolve, reject) => {
          pendingWrite = { resolve, reject };
          poke();
        });
      },
      close() {
        closing = true;
        return new PromiseCtor((resolve, reject) => {
          pendingClose = { resolve, reject };
          poke();
        });
      },
      abort(reason) {
        handle.error(reason);
        finish(reason);
      },
    });
    return { readable: handle.stream, writable };
  }

  class CompressionStream {
    #pair;
    constructor(format) {
      if (arguments.length === 0) throw new TypeErr("CompressionStream: 1 argument required");
      this.#pair = makePair(formatOf(format, "CompressionStream"), true);
    }
    get readable() {
      if (!(#pair in this)) throw new TypeErr("Illegal invocation: CompressionStream.readable");
      return this.#pair.readable;
    }
    get writable() {
      if (!(#pair in this)) throw new TypeErr("Illegal invocation: CompressionStream.writable");
      return this.#pair.writable;
    }
  }

  class DecompressionStream {
    #pair;
    constructor(format) {
      if (arguments.length === 0) throw new TypeErr("DecompressionStream: 1 argument required");
      this.#pair = makePair(formatOf(format, "DecompressionStream"), false);
    }
    get readable() {
      if (!(#pair in this)) throw new TypeErr("Illegal invocation: DecompressionStream.readable");
      return this.#pair.readable;
    }
    get writable() {
      if (!(#pair in this)) throw new TypeErr("Illegal invocation: DecompressionStream.writable");
      return this.#pair.writable;
    }
  }

  for (const [cls, name] of [
    [CompressionStream, "CompressionStream"],
    [DecompressionStream, "DecompressionStream"],
  ]) {
    for (const key of ["readable", "writable"]) ObjectDefineProperty(cls.prototype, key, { enumerable: true });
    ObjectDefineProperty(cls.prototype, Symbol.toStringTag, { value: name, configurable: true });
    rw.define(name, cls);
  }
});

// 50_sockets: `connect()` from "cloudflare:sockets" — raw outbound TCP (and
// TLS) on the shard's ring.
//
// A Socket is a pair of streams over one native connection: `readable`
// reads what arrived as it is asked for (nothing is read ahead of the script
// beyond the socket's receive buffer), `writable` resolves each write once
// the connection took it (backpressure). While open, the socket holds a
// keepalive token for its owner.
(function sockets(ops, rw) {
  "use strict";

  const TypeErr = TypeError;
  const ObjectFreeze = Object.freeze;

  function parseAddress(address) {
    if (typeof address === "string") {
      const i = address.lastIndexOf(":");
      if (i <= 0) throw new TypeErr(`connect: the address must be "host:port" (got "${address}")`);
      let hostname = address.slice(0, i);
      if (hostname.startsWith("[") && hostname.endsWith("]")) hostname = hostname.slice(1, -1);
      return { hostname, port: Number(address.slice(i + 1)) };
    }
    if (address === null || typeof address !== "object") {
      throw new TypeErr("connect: the address must be a string or { hostname, port }");
    }
    return { hostname: `${address.hostname}`, port: Number(address.port) };
  }

  const kInternal = ObjectFreeze({});

  class Socket {
    #id;
    #readable;
    #writable;
    #opened;
    #closed;
    #resolveClosed;
    #rejectClosed;
    #done = false;
    #secureTransport;
    #upgraded = false;
    #hostname;
    #allowHalfOpen;

    constructor(key, id, opened, hostname, secureTransport, allowHalfOpen) {
      if (key !== kInternal) throw new TypeErr("Illegal constructor: use connect() from \"cloudflare:sockets\"");
      this.#id = id;
      this.#hostname = hostname;
      this.#secureTransport = secureTransport;
      this.#allowHalfOpen = allowHalfOpen;
      this.#closed = new Promise((resolve, reject) => {
        this.#resolveClosed = resolve;
        this.#rejectClosed = reject;
      });
      this.#opened = opened.then(
        ([remoteAddress, localAddress]) => ({ remoteAddress, localAddress }),
        (e) => {
          this.#finish(e);
          throw e;
        },
      );
      // (Both promises may go unobserved; a failure is still reported
      // through whichever the script does look at.)
      this.#opened.catch(() => {});
      this.#closed.catch(() => {});
      let handle;
      handle = rw.newNativeReadable(
        {
          // (Reads and writes wait for the connection to open.)
          pull: () =>
            this.#opened.then(() => ops.tcpRead(this.#id)).then(
              (chunk) => {
                if (chunk !== null) {
                  handle.enqueue(chunk);
                  return;
                }
                handle.close();
                this.#readDone = true;
                // The peer finished sending: without allowHalfOpen our side
                // closes too.
                if (!this.#allowHalfOpen) this.#closeWrites();
                this.#maybeDone();
              },
              (e) => {
                this.#finish(e);
                throw e;
              },
            ),
          cancel: () => {
            this.#readDone = true;
            this.#maybeDone();
          },
        },
        0,
      );
      this.#readable = handle.stream;
      this.#writable = new rw.WritableStream({
        write: (chunk) => {
          if (typeof chunk === "string") chunk = ops.utf8Encode(chunk);
          if (!(chunk instanceof ArrayBuffer) && !ArrayBuffer.isView(chunk)) {
            throw new TypeErr("Socket.writable: chunks must be ArrayBuffer, a view or a string");
          }
          return this.#opened.then(() => ops.tcpWrite(this.#id, chunk));
        },
        close: () => {
          this.#closeWrites();
          this.#maybeDone();
        },
        abort: () => {
          this.#closeWrites();
          this.#maybeDone();
        },
      });
    }

    #readDone = false;
    #writeDone = false;

    #closeWrites() {
      if (this.#writeDone) return;
      this.#writeDone = true;
      ops.tcpShutdown(this.#id);
    }

    // Both directions ended: the connection is released.
    #maybeDone() {
      if (this.#writeDone && this.#readDone) this.#finish();
    }

    #finish(error = undefined) {
      if (this.#done) return;
      this.#done = true;
      ops.tcpClose(this.#id);
      if (error === undefined) this.#resolveClosed(undefined);
      else this.#rejectClosed(error);
    }

    get readable() {
      return this.#readable;
    }
    get writable() {
      return this.#writable;
    }
    get opened() {
      return this.#opened;
    }
    get closed() {
      return this.#closed;
    }
    get upgraded() {
      return this.#upgraded;
    }
    get secureTransport() {
      return this.#secureTransport;
    }

    close() {
      if (!this.#done) {
        try {
          rw.failStream(this.#readable, new TypeErr("The socket was closed"));
        } catch {
          // already closed
        }
        this.#finish();
      }
      return this.#closed;
    }

    startTls(options = undefined) {
      if (this.#secureTransport !== "starttls") {
        throw new TypeErr('startTls(): the socket must be opened with secureTransport: "starttls"');
      }
      if (this.#upgraded) throw new TypeErr("startTls(): the socket was already upgraded");
      if (rw.isLocked(this.#readable) || rw.isLocked(this.#writable)) {
        throw new TypeErr("startTls(): release the readable and writable locks first");
      }
      this.#upgraded = true;
      const name =
        options !== undefined && options !== null && options.expectedServerHostname !== undefined
          ? `${options.expectedServerHostname}`
          : this.#hostname;
      // The upgrade waits for the plain connection to be open (a script may
      // call startTls() right after connect()). The plain socket is spent:
      // its streams end and its id names nothing once the TLS socket took
      // the connection.
      let secure;
      const opened = this.#opened.then(() => {
        const [id, tlsOpened] = ops.tcpStartTls(this.#id, name);
        secure.#id = id;
        return tlsOpened;
      });
      secure = new Socket(kInternal, 0, opened, name, "on", this.#allowHalfOpen);
      this.#done = true;
      this.#resolveClosed(undefined);
      return secure;
    }
  }

  function connect(address, options = undefined) {
    const { hostname, port } = parseAddress(address);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new TypeErr(`connect: invalid port ${port}`);
    }
    const o = options === undefined || options === null ? {} : options;
    const secureTransport = o.secureTransport === undefined ? "off" : `${o.secureTransport}`;
    if (secureTransport !== "off" && secureTransport !== "on" && secureTransport !== "starttls") {
      throw new TypeErr(`connect: secureTransport must be "off", "on" or "starttls" (got "${secureTransport}")`);
    }
    const [id, opened] = ops.tcpConnect(hostname, port, secureTransport === "on");
    return new Socket(kInternal, id, opened, hostname, secureTransport, o.allowHalfOpen === true);
  }

  rw.builtinModules = rw.builtinModules || {};
  rw.builtinModules["cloudflare:sockets"] = ObjectFreeze({ connect, Socket });
  // Built-in modules ("cloudflare:sockets", ...) are tiny source modules that
  // take their exports from here (see module.rs).
  if (!Object.prototype.hasOwnProperty.call(globalThis, Symbol.for("ringworker.builtin"))) {
    Object.defineProperty(globalThis, Symbol.for("ringworker.builtin"), {
      value: (name) => rw.builtinModules[name],
      enumerable: false,
      writable: false,
      configurable: false,
    });
  }
});

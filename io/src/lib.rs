//! ringworker-io: sockets and protocols, no V8.
//!
//! - [`listener`]: one `SO_REUSEPORT` listener per shard on a shared port;
//! - [`uring`]: the shard's own io_uring for sockets (multishot accept and
//!   receive into provided buffers), driven from glommio;
//! - [`socket`]: the connection socket (receive via the ring, vectored
//!   non-blocking writes);
//! - [`http`]: the HTTP/1.1 codec, the streaming request/response types, the
//!   per-shard [`Handler`] seam and the connection driver;
//! - [`ws`]: WebSockets: handshake, framing, the handler's [`ws::WebSocket`]
//!   and the session that drives an upgraded connection;
//! - [`server`]: the accept loop that ties them together on one shard;
//! - [`client`]: outbound connections (plain or TLS) and the HTTP/1.1
//!   client behind scripts' `fetch()`.
#![warn(missing_docs, missing_debug_implementations)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod client;
pub mod doorbell;
pub mod http;
pub mod listener;
pub mod server;
pub mod socket;
pub mod storage;
pub mod uring;
pub mod ws;

pub use http::{Body, BodyError, BodySender, Handler, Request, Response, ResponseBody};
pub use server::{SideListener, serve_shard, serve_shard_with};

/// Asks the allocator to give the free pages among live blocks back to the
/// system. After many connections went quiet (dormant WebSockets,
/// hibernated actors) what their tasks, requests and buffers used is free
/// but scattered between what the sockets keep, and glibc returns it only
/// when asked. Walks the heap: call it after bursts, not per event.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: plain libc call; it takes the allocator's own locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

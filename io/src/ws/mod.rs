//! WebSockets (RFC 6455), server side.
//!
//! - [`handshake`]: which requests are upgrades and the accept key;
//! - [`frame`]: frame headers (tungstenite's protocol types) and in-place
//!   unmasking over the socket's receive buffer;
//! - [`message`]: reassembly of fragments with incremental UTF-8 checks;
//! - [`WebSocket`]: the handler's end (send, close, events);
//! - [`bridge`]: a socket whose peer is on another shard (over the mesh);
//! - the session (crate-private): the upgraded connection's driver —
//!   pings answered without the handler, heartbeat, idle timeout, close
//!   handshake, shutdown with 1001, backpressure;
//! - the dormant set (crate-private): idle parkable sockets held without a
//!   task, their traffic handled in steps of the same session code.

pub mod bridge;
pub mod client;
pub(crate) mod dormant;
pub mod frame;
pub mod handshake;
pub mod message;
pub(crate) mod session;
pub(crate) mod socket;

pub use handshake::{Handshake, HandshakeError};
pub use message::Message;
pub use socket::{Listener, ReadyState, WebSocket, WsError, WsEvent};

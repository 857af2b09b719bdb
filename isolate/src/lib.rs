//! ringworker-isolate: Workers-style scripts on V8, one isolate per shard.
//!
//! - [`platform`]: V8's process-wide initialization;
//! - `module`: ES modules from disk (relative imports), with errors that
//!   name file, line and column;
//! - [`runtime`]: a shard's isolate, its context and the Workers API surface
//!   (`js/*.js`, evaluated in order at start-up);
//! - [`crypto`]: WebCrypto (`crypto.subtle`), with its digest, HMAC,
//!   random and comparison functions for other modules;
//! - [`handler`]: the [`ringworker_io::Handler`] that turns each HTTP request
//!   into a call of the script's `fetch(request, env, ctx)`.
//!
//! Isolates are not `Send`: each is created on its shard and never leaves it.
#![warn(missing_debug_implementations)]

pub mod actor;
mod body;
pub mod cache;
mod compression;
pub mod crypto;
pub mod error;
mod fetch;
mod formdata;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
mod gc_table;
pub mod handler;
mod hash;
mod htmlrewriter;
mod module;
mod node;
pub mod platform;
mod profiler;
pub mod remote;
pub mod runtime;
pub mod scheduled;
mod settle;
mod snapshot;
mod sockets;
mod urlpattern;
mod watchdog;
mod web;
mod websocket;

pub use actor::{ActorBinding, ActorOptions};
pub use cache::{CacheDir, CacheDirError, CacheMesh, CacheOptions, OpenReport};
pub use error::ScriptError;
pub use formdata::DEFAULT_FORM_DATA_LIMIT;
pub use handler::JsHandler;
pub use remote::ActorMesh;
pub use runtime::{IDLE_GC_GROWTH, JsRuntime, WorkerOptions};
pub use scheduled::{CronClock, parse_cron};
pub use snapshot::{make_startup_snapshot, use_startup_snapshot};

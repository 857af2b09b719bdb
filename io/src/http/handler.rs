//! [`Handler`]: the seam between the HTTP server and whoever answers requests
//! (a Rust embedder, or the JS isolate layer).

use std::future::Future;

use super::{Request, Response};

/// Answers requests on one shard.
///
/// A handler is built once per shard by a factory and is not `Send`: it may
/// hold `Rc`s, a V8 isolate, shard-local caches. Requests on the same shard are
/// served concurrently, each by its own call.
///
/// ```
/// use ringworker_io::{Handler, Request, Response};
/// struct Hello;
/// impl Handler for Hello {
///     async fn call(&self, _req: Request) -> Response {
///         Response::text(200, "Hello World")
///     }
/// }
/// ```
///
/// A closure `Fn(Request) -> impl Future<Output = Response>` is a handler too.
pub trait Handler: 'static {
    /// Produces the response for `req`. The response body may stream.
    fn call(&self, req: Request) -> impl Future<Output = Response>;

    /// Whether `CONNECT` requests reach this handler. By default they do
    /// not: the server is no proxy, so it answers them `501 Not
    /// Implemented` and closes the connection. A handler that says yes gets
    /// them (`target()` and `authority()` are the `host:port`), and the
    /// connection still closes after its response: nothing after a
    /// `CONNECT` head is ever parsed as a request (no tunnel either).
    fn handles_connect(&self) -> bool {
        false
    }
}

impl<F, Fut> Handler for F
where
    F: Fn(Request) -> Fut + 'static,
    Fut: Future<Output = Response>,
{
    fn call(&self, req: Request) -> impl Future<Output = Response> {
        self(req)
    }
}

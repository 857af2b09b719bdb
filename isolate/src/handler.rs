//! [`JsHandler`]: the HTTP seam for a shard's [`JsRuntime`].

use std::rc::Rc;

use ringworker_io::{Handler, Request, Response};

use crate::runtime::JsRuntime;

/// Answers every request with the script's `fetch` on this shard's runtime.
#[derive(Debug, Clone)]
pub struct JsHandler {
    runtime: Rc<JsRuntime>,
}

impl JsHandler {
    /// A handler over `runtime`.
    pub fn new(runtime: Rc<JsRuntime>) -> Self {
        Self { runtime }
    }
}

impl Handler for JsHandler {
    async fn call(&self, req: Request) -> Response {
        self.runtime.fetch(req).await
    }
}

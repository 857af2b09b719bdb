//! [`JsHandler`]: the HTTP seam for a shard's [`JsRuntime`].

use std::cell::RefCell;
use std::rc::Rc;

use ringworker_io::{Handler, Request, Response};

use crate::runtime::{JsRuntime, WorkerOptions};

/// Answers every request with the script's `fetch` on this shard's runtime,
/// replacing the runtime when its isolate runs out of heap (requests still on
/// the old one fail cleanly; new ones go to the fresh isolate).
#[derive(Debug)]
pub struct JsHandler {
    runtime: RefCell<Rc<JsRuntime>>,
    options: WorkerOptions,
    /// This shard's part of the Cache API (outlives replaced isolates).
    cache: Rc<crate::cache::CacheShard>,
}

impl JsHandler {
    /// Creates this shard's runtime for `options` and starts it. Call on the
    /// shard that will own it.
    pub fn start(options: WorkerOptions) -> Result<Self, crate::ScriptError> {
        let runtime = JsRuntime::new(options.clone())?;
        let handler = Self::new(runtime, options);
        handler.runtime.borrow().start();
        Ok(handler)
    }

    /// A handler over `runtime`, which was built from `options`.
    pub fn new(runtime: Rc<JsRuntime>, options: WorkerOptions) -> Self {
        let cache = crate::cache::CacheShard::start(&options.cache, options.shard);
        runtime.set_cache(cache.clone());
        Self {
            runtime: RefCell::new(runtime),
            options,
            cache,
        }
    }

    fn current(&self) -> Rc<JsRuntime> {
        let exhausted = self.runtime.borrow().is_exhausted();
        if exhausted {
            match JsRuntime::new(self.options.clone()) {
                Ok(fresh) => {
                    fresh.set_cache(self.cache.clone());
                    fresh.start();
                    tracing::warn!(
                        shard = self.options.shard,
                        "replaced an isolate that ran out of heap"
                    );
                    *self.runtime.borrow_mut() = fresh;
                }
                Err(e) => tracing::error!(
                    shard = self.options.shard,
                    "cannot replace the isolate: {e}"
                ),
            }
        }
        self.runtime.borrow().clone()
    }
}

impl Handler for JsHandler {
    async fn call(&self, req: Request) -> Response {
        self.current().fetch(req).await
    }
}

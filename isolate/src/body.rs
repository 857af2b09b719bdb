//! [`JsBodyStream`]: a JS `ReadableStream` response body, pulled chunk by chunk
//! as the socket takes it.
//!
//! Each poll that needs a chunk calls the reader's `read()` once; the next read
//! starts only after the connection has taken the previous chunk, so a slow
//! client leaves the stream's queue full and its `pull` uncalled
//! (backpressure reaches the producer). Chunks are written from their
//! ArrayBuffer's backing store without a copy. Dropping the stream early (the
//! client left) cancels it, so the source's `cancel` runs.

use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_lite::Stream;
use ringworker_io::BodyError;

use crate::runtime::{JsFailure, JsRuntime, RequestIds, Settled};

/// A chunk's bytes, kept alive by their V8 backing store.
struct JsChunk {
    store: v8::SharedRef<v8::BackingStore>,
    offset: usize,
    len: usize,
}

// SAFETY: a backing store is reference-counted with atomics and its memory
// does not move; `Bytes` needs `Send`, but the chunk is only read — by the
// socket write on this shard — and released from wherever the last `Bytes`
// clone drops, which V8's shared_ptr allows.
unsafe impl Send for JsChunk {}

impl AsRef<[u8]> for JsChunk {
    fn as_ref(&self) -> &[u8] {
        match self.store.data() {
            // SAFETY: offset + len lie within the store (a view's bounds).
            Some(p) => unsafe {
                std::slice::from_raw_parts((p.as_ptr() as *const u8).add(self.offset), self.len)
            },
            None => &[],
        }
    }
}

/// Turns a chunk value from JS into bytes without copying them.
fn chunk_bytes(scope: &mut v8::PinScope, v: v8::Local<v8::Value>) -> Result<Bytes, String> {
    let (ab, offset, len) = if let Ok(view) = v8::Local::<v8::ArrayBufferView>::try_from(v) {
        match view.buffer(scope) {
            Some(ab) => (ab, view.byte_offset(), view.byte_length()),
            None => return Err("response body chunk has no buffer".into()),
        }
    } else if let Ok(ab) = v8::Local::<v8::ArrayBuffer>::try_from(v) {
        let len = ab.byte_length();
        (ab, 0, len)
    } else {
        return Err(format!(
            "response body chunks must be ArrayBuffer or ArrayBufferView (e.g. Uint8Array), got {}",
            v.type_repr()
        ));
    };
    if len == 0 {
        return Ok(Bytes::new());
    }
    Ok(Bytes::from_owner(JsChunk {
        store: ab.get_backing_store(),
        offset,
        len,
    }))
}

/// `{ done, value }` from `reader.read()` -> the chunk's bytes, or None at the end.
fn extract(tc: &mut v8::PinScope, result: v8::Local<v8::Value>) -> Result<Option<Bytes>, String> {
    let Ok(obj) = v8::Local::<v8::Object>::try_from(result) else {
        return Err("reader.read() resolved to a non-object".to_string());
    };
    let k = v8::String::new(tc, "done").unwrap();
    if obj.get(tc, k.into()).is_some_and(|d| d.is_true()) {
        return Ok(None);
    }
    let k = v8::String::new(tc, "value").unwrap();
    let value = obj
        .get(tc, k.into())
        .unwrap_or_else(|| v8::undefined(tc).into());
    chunk_bytes(tc, value).map(Some)
}

/// A JS stream body seen from the connection.
pub(crate) struct JsBodyStream {
    rt: Rc<JsRuntime>,
    /// `{ read(), cancel(reason) }` from `rw.streamReader`; None once finished.
    reader: Option<v8::Global<v8::Object>>,
    pending: Option<u64>,
    /// The request this response answers: its body (which an echo may still
    /// be reading) and tracking, released when the stream ends.
    ids: Option<RequestIds>,
    /// `{ signal, stream }` from the bootstrap, and the request's cancel flag:
    /// if the client left, ending early tells the script so (see `Drop`).
    gone: Option<(v8::Global<v8::Object>, ringworker_core::CancelFlag)>,
    /// The request's id: the stream's source runs on its behalf.
    request: u32,
    /// A `fetch()` request body pulled by the upstream connection, not a
    /// response body: ending early is not the client leaving.
    upload: bool,
}

impl JsBodyStream {
    pub(crate) fn new(
        rt: Rc<JsRuntime>,
        reader: v8::Global<v8::Object>,
        ids: RequestIds,
        gone: Option<(v8::Global<v8::Object>, ringworker_core::CancelFlag)>,
    ) -> Self {
        Self {
            rt,
            reader: Some(reader),
            pending: None,
            request: ids.request(),
            ids: Some(ids),
            gone,
            upload: false,
        }
    }

    /// A `fetch()` request body: `reader` pulled as the upstream takes it,
    /// on behalf of `request` (0: none).
    pub(crate) fn upload(rt: Rc<JsRuntime>, reader: v8::Global<v8::Object>, request: u32) -> Self {
        Self {
            rt,
            reader: Some(reader),
            pending: None,
            request,
            ids: None,
            gone: None,
            upload: true,
        }
    }

    fn finish(&mut self) {
        self.reader = None;
        if let Some(ids) = self.ids.take() {
            ids.release(&self.rt);
        }
    }

    fn outcome(
        &mut self,
        o: Result<v8::Global<v8::Value>, v8::Global<v8::Value>>,
    ) -> Option<Result<Bytes, BodyError>> {
        let r = self.rt.enter(|tc, _| match o {
            Ok(result) => {
                let result = v8::Local::new(tc, result);
                extract(tc, result)
            }
            Err(e) => {
                let e = v8::Local::new(tc, e);
                Err(format!(
                    "response body stream errored: {}",
                    e.to_rust_string_lossy(tc)
                ))
            }
        });
        self.deliver(r)
    }

    fn deliver(
        &mut self,
        r: Result<Result<Option<Bytes>, String>, JsFailure>,
    ) -> Option<Result<Bytes, BodyError>> {
        match r {
            Ok(Ok(Some(b))) => Some(Ok(b)),
            Ok(Ok(None)) => {
                self.finish();
                None
            }
            Ok(Err(msg)) => {
                tracing::error!(target: "js", shard = self.rt.shard(), "{msg}");
                self.finish();
                Some(Err(BodyError::Stream(msg)))
            }
            Err(JsFailure::Terminated) | Err(JsFailure::Exception(_)) => {
                self.finish();
                Some(Err(BodyError::Stream("script terminated".into())))
            }
        }
    }
}

impl Stream for JsBodyStream {
    type Item = Result<Bytes, BodyError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            let Some(reader) = this.reader.clone() else {
                return Poll::Ready(None);
            };
            if this.rt.is_disposed() {
                this.finish();
                return Poll::Ready(Some(Err(BodyError::Stream(
                    "the isolate was replaced".into(),
                ))));
            }
            if let Some(id) = this.pending {
                return match this.rt.take_settled(id, cx.waker()) {
                    None => Poll::Pending,
                    Some(Settled::Terminated) => {
                        this.pending = None;
                        Poll::Ready(this.deliver(Err(JsFailure::Terminated)))
                    }
                    Some(Settled::Value(o)) => {
                        this.pending = None;
                        let out = this.outcome(o);
                        // Empty chunks are legal in JS and meaningless on the wire.
                        if matches!(&out, Some(Ok(b)) if b.is_empty()) {
                            continue;
                        }
                        Poll::Ready(out)
                    }
                };
            }
            let rt = this.rt.clone();
            // Usually the source enqueued synchronously, so the read settles
            // within this entry's microtasks: take the chunk right here rather
            // than registering callbacks and entering JS again.
            let started = rt.enter_as(this.request, |tc, handles| {
                let reader = v8::Local::new(tc, reader);
                let k = v8::String::new(tc, "read").unwrap();
                let read = reader
                    .get(tc, k.into())
                    .and_then(|f| v8::Local::<v8::Function>::try_from(f).ok())?;
                let p = read.call(tc, reader.into(), &[])?;
                let p = v8::Local::<v8::Promise>::try_from(p).ok()?;
                tc.perform_microtask_checkpoint();
                Some(match p.state() {
                    v8::PromiseState::Pending => Read::Pending(rt.watch_promise(tc, handles, p)),
                    v8::PromiseState::Fulfilled => {
                        let r = p.result(tc);
                        Read::Chunk(extract(tc, r))
                    }
                    v8::PromiseState::Rejected => {
                        let e = p.result(tc);
                        Read::Chunk(Err(format!(
                            "response body stream errored: {}",
                            e.to_rust_string_lossy(tc)
                        )))
                    }
                })
            });
            match started {
                Ok(Some(Read::Pending(id))) => this.pending = Some(id),
                Ok(Some(Read::Chunk(r))) => {
                    let out = this.deliver(Ok(r));
                    if matches!(&out, Some(Ok(b)) if b.is_empty()) {
                        continue;
                    }
                    return Poll::Ready(out);
                }
                _ => {
                    this.finish();
                    return Poll::Ready(Some(Err(BodyError::Stream(
                        "reader.read() failed".into(),
                    ))));
                }
            }
        }
    }
}

enum Read {
    Pending(u64),
    Chunk(Result<Option<Bytes>, String>),
}

impl Drop for JsBodyStream {
    fn drop(&mut self) {
        if let Some(id) = self.pending.take() {
            self.rt.forget_pending(id);
        }
        let gone = self.gone.take();
        if let Some(reader) = self.reader.take() {
            if let Some((parts, flag)) = gone.filter(|(_, f)| f.is_cancelled()) {
                // The client left: abort controller.signal, make enqueue()
                // throw and close() safe, then cancel (the source's cancel runs).
                let why = flag
                    .reason()
                    .map(|r| r.describe())
                    .unwrap_or("client disconnected");
                let _ = self.rt.enter_as(self.request, |tc, h| {
                    let f = v8::Local::new(tc, &h.client_gone);
                    let parts = v8::Local::new(tc, parts);
                    let reader = v8::Local::new(tc, reader);
                    let why = v8::String::new(tc, why).unwrap();
                    let recv = v8::undefined(tc).into();
                    f.call(tc, recv, &[parts.into(), reader.into(), why.into()]);
                });
            } else {
                // Ended early for another reason (the connection failed):
                // tell the source.
                let _ = self.rt.enter_as(self.request, |tc, _| {
                    let reader = v8::Local::new(tc, reader);
                    let k = v8::String::new(tc, "cancel").unwrap();
                    if let Some(cancel) = reader
                        .get(tc, k.into())
                        .and_then(|f| v8::Local::<v8::Function>::try_from(f).ok())
                    {
                        let why = if self.upload {
                            "the upstream connection ended before the request body was sent"
                        } else {
                            "client disconnected"
                        };
                        let m = v8::String::new(tc, why).unwrap();
                        let reason = v8::Exception::type_error(tc, m);
                        cancel.call(tc, reader.into(), &[reason]);
                    }
                });
            }
            // Either way it may react (clean up, close) for a grace period;
            // then its timers stop. (An upload ending early ends nothing else.)
            if !self.upload {
                self.rt.doom_after(self.request, self.rt.cancel_grace());
            }
        }
        self.finish();
    }
}

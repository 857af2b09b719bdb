//! [`JsBodyStream`]: a JS `ReadableStream` response body, pulled chunk by chunk
//! as the socket takes it.
//!
//! A poll that needs a chunk enters JS once and calls the reader's `read()`
//! as long as reads settle at once (the source enqueued synchronously), up
//! to [`BATCH_BYTES`]: one entry per batch of chunks, not per chunk. The next
//! batch starts only after the connection has taken this one, so a slow
//! client leaves the stream's queue full and its `pull` uncalled
//! (backpressure reaches the producer, a batch late at most). Chunks are written from their
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

/// Bytes of ready chunks read in one JS entry.
const BATCH_BYTES: usize = 64 * 1024;

/// The property names of a read result, made once per entry.
struct ReadKeys<'s> {
    done: v8::Local<'s, v8::String>,
    value: v8::Local<'s, v8::String>,
}

impl<'s> ReadKeys<'s> {
    fn new(tc: &mut v8::PinScope<'s, '_>) -> Self {
        Self {
            done: v8::String::new(tc, "done").unwrap(),
            value: v8::String::new(tc, "value").unwrap(),
        }
    }
}

/// `{ done, value }` from `reader.read()` -> the chunk's bytes, or None at the end.
fn extract(
    tc: &mut v8::PinScope,
    keys: &ReadKeys,
    result: v8::Local<v8::Value>,
) -> Result<Option<Bytes>, String> {
    let Ok(obj) = v8::Local::<v8::Object>::try_from(result) else {
        return Err("reader.read() resolved to a non-object".to_string());
    };
    if obj.get(tc, keys.done.into()).is_some_and(|d| d.is_true()) {
        return Ok(None);
    }
    let value = obj
        .get(tc, keys.value.into())
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
    /// Chunks read in the last batch and not yet taken.
    ready: std::collections::VecDeque<Bytes>,
    /// How the stream ended, once a batch saw it (delivered after `ready`).
    end: Option<Result<Option<Bytes>, String>>,
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
            ready: Default::default(),
            end: None,
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
            ready: Default::default(),
            end: None,
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
                let keys = ReadKeys::new(tc);
                extract(tc, &keys, result)
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
            if let Some(b) = this.ready.pop_front() {
                return Poll::Ready(Some(Ok(b)));
            }
            if let Some(end) = this.end.take() {
                return Poll::Ready(this.deliver(Ok(end)));
            }
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
            // Usually the source enqueued synchronously, so each read settles
            // within this entry's microtasks: take the chunks right here, as
            // many as are ready (up to BATCH_BYTES), rather than registering
            // callbacks and entering JS again for each.
            let started = rt.enter_as(this.request, |tc, handles| {
                let reader = v8::Local::new(tc, reader);
                let k = v8::String::new(tc, "read").unwrap();
                let read = reader
                    .get(tc, k.into())
                    .and_then(|f| v8::Local::<v8::Function>::try_from(f).ok())?;
                let keys = ReadKeys::new(tc);
                let mut chunks = Vec::new();
                let mut total = 0usize;
                let then = loop {
                    let p = read.call(tc, reader.into(), &[])?;
                    let p = v8::Local::<v8::Promise>::try_from(p).ok()?;
                    tc.perform_microtask_checkpoint();
                    match p.state() {
                        v8::PromiseState::Pending => {
                            break Then::Pending(rt.watch_promise(tc, handles, p));
                        }
                        v8::PromiseState::Fulfilled => {
                            let r = p.result(tc);
                            match extract(tc, &keys, r) {
                                Ok(Some(b)) => {
                                    total += b.len();
                                    // Empty chunks are legal in JS and
                                    // meaningless on the wire.
                                    if !b.is_empty() {
                                        chunks.push(b);
                                    }
                                    if total >= BATCH_BYTES {
                                        break Then::More;
                                    }
                                }
                                Ok(None) => break Then::End(Ok(None)),
                                Err(e) => break Then::End(Err(e)),
                            }
                        }
                        v8::PromiseState::Rejected => {
                            let e = p.result(tc);
                            break Then::End(Err(format!(
                                "response body stream errored: {}",
                                e.to_rust_string_lossy(tc)
                            )));
                        }
                    }
                };
                Some((chunks, then))
            });
            match started {
                Ok(Some((chunks, then))) => {
                    this.ready.extend(chunks);
                    match then {
                        Then::More => {}
                        Then::Pending(id) => this.pending = Some(id),
                        Then::End(e) => this.end = Some(e),
                    }
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

/// How a batch of reads stopped.
enum Then {
    /// At the batch's size: read on at the next poll.
    More,
    /// A read is waiting for the source.
    Pending(u64),
    /// The stream ended (`Ok(None)`) or failed.
    End(Result<Option<Bytes>, String>),
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

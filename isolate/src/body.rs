//! [`JsBodyStream`]: a JS `ReadableStream` response body, pulled in batches
//! as the socket takes them.
//!
//! A poll that needs chunks enters JS once: it has the stream's reader
//! handle (`rw.streamReader`) start a batch of reads (up to [`BATCH_READS`]
//! or [`BATCH_BYTES`], each issued as the one before it is answered), runs
//! the microtasks (a source that enqueues synchronously fills the batch
//! there, each pull as the previous one settles) and takes the results: one
//! entry and one checkpoint per batch, not per chunk. The next batch starts
//! only after the connection has taken this one, so a slow client leaves
//! the stream's queue full and its `pull` uncalled (backpressure reaches the
//! producer, a batch late at most). A read the source has not answered yet
//! wakes the stream when it is. Chunks are written from their ArrayBuffer's backing
//! store without a copy. Dropping the stream early (the client left)
//! cancels it, so the source's `cancel` runs.

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

/// A batch of reads ends once it has this many bytes.
const BATCH_BYTES: u32 = 64 * 1024;

/// Most reads in one batch.
const BATCH_READS: u32 = 64;

/// A JS stream body seen from the connection.
pub(crate) struct JsBodyStream {
    rt: Rc<JsRuntime>,
    /// The reader handle from `rw.streamReader` (`pump`, `take`, `whenReady`,
    /// `cancel`); None once finished.
    reader: Option<v8::Global<v8::Object>>,
    /// The watched `whenReady()` promise while reads wait for the source.
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
                let (rid, trace) = self.rt.host().borrow().request_of(self.request);
                tracing::error!(target: "js", shard = self.rt.shard(), request_id = %crate::runtime::Rid(rid), "{msg}");
                if let Some(t) = trace {
                    t.exception(msg.clone());
                }
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
                // Waiting for the source to answer a read.
                match this.rt.take_settled(id, cx.waker()) {
                    None => return Poll::Pending,
                    Some(Settled::Terminated) => {
                        this.pending = None;
                        return Poll::Ready(this.deliver(Err(JsFailure::Terminated)));
                    }
                    // It did: the results wait in the handle.
                    Some(Settled::Value(_)) => this.pending = None,
                }
            }
            let rt = this.rt.clone();
            let batch = rt.enter_as(this.request, |tc, handles| {
                let reader = v8::Local::new(tc, reader);
                let recv = v8::undefined(tc).into();
                // Results that arrived since the last batch, or else a new
                // batch of reads, answered (if the source is synchronous)
                // by this checkpoint's microtasks.
                let pull = v8::Local::new(tc, &handles.reader_pull);
                let n = v8::Integer::new_from_unsigned(tc, BATCH_READS).into();
                let bytes = v8::Integer::new_from_unsigned(tc, BATCH_BYTES).into();
                let mut out = pull.call(tc, recv, &[reader.into(), n, bytes])?;
                if out.is_undefined() {
                    tc.perform_microtask_checkpoint();
                    let take = v8::Local::new(tc, &handles.reader_take);
                    out = take.call(tc, recv, &[reader.into()])?;
                }
                if out.is_undefined() {
                    // Nothing yet: wait for the source.
                    let wait = v8::Local::new(tc, &handles.reader_wait);
                    let p = wait.call(tc, recv, &[reader.into()])?;
                    let p = v8::Local::<v8::Promise>::try_from(p).ok()?;
                    return Some(Batch::Wait(rt.watch_promise(tc, handles, p)));
                }
                let out = v8::Local::<v8::Array>::try_from(out).ok()?;
                let mut chunks = Vec::with_capacity(out.length() as usize);
                let mut end = None;
                for i in 0..out.length() {
                    let v = out.get_index(tc, i)?;
                    if v.is_null() {
                        end = Some(Ok(None));
                    } else if v.is_array_buffer_view() {
                        match chunk_bytes(tc, v) {
                            Ok(b) => chunks.push(b),
                            Err(e) => end = Some(Err(e)),
                        }
                    } else {
                        end = Some(Err(read_error(tc, v)));
                    }
                    if end.is_some() {
                        break;
                    }
                }
                Some(Batch::Results(chunks, end))
            });
            match batch {
                Ok(Some(Batch::Results(chunks, end))) => {
                    for b in chunks {
                        // Empty chunks are legal in JS and meaningless on the wire.
                        if !b.is_empty() {
                            this.ready.push_back(b);
                        }
                    }
                    this.end = end;
                }
                Ok(Some(Batch::Wait(id))) => this.pending = Some(id),
                Err(JsFailure::Terminated) => {
                    return Poll::Ready(this.deliver(Err(JsFailure::Terminated)));
                }
                _ => {
                    this.finish();
                    return Poll::Ready(Some(Err(BodyError::Stream(
                        "reading the body stream failed".into(),
                    ))));
                }
            }
        }
    }
}

/// A `ReadError` in the reader handle's results -> its message.
fn read_error(tc: &mut v8::PinScope, v: v8::Local<v8::Value>) -> String {
    let error = v8::Local::<v8::Object>::try_from(v).ok().and_then(|o| {
        let k = v8::String::new(tc, "error").unwrap();
        o.get(tc, k.into())
    });
    match error {
        Some(e) => format!(
            "response body stream errored: {}",
            e.to_rust_string_lossy(tc)
        ),
        None => "response body stream errored".into(),
    }
}

/// What one batch of reads gave.
enum Batch {
    /// Chunks, and how the stream ended if it did.
    Results(Vec<Bytes>, Option<Result<Option<Bytes>, String>>),
    /// Nothing yet: this promise settles when there is something.
    Wait(u64),
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

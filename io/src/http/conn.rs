//! The HTTP/1.1 connection driver.
//!
//! One task per connection runs two halves joined in place:
//! - the **reader** parses heads (up to `max_pipeline_depth` ahead), feeds body
//!   chunks as the handler asks for them, and otherwise keeps a read pending so
//!   a FIN or RST is seen at once and set on the in-flight request's
//!   [`CancelFlag`] — the disconnect signal comes from the socket, not from a
//!   failed write;
//! - the **writer** takes requests in order, runs the handler, and writes the
//!   response (head and body chunks gathered into one `sendmsg`), so responses
//!   go out in request order and pipelined responses share a write.
//!
//! Invariants:
//! 1. Only the writer appends to the write buffer; it is flushed before the
//!    writer waits for a handler, so the reader may answer
//!    `Expect: 100-continue` directly only while `awaiting_handler` is set.
//! 2. The reader never parses head N+1 before body N is fully read or drained.
//! 3. A request's cancel flag is set by the reader (disconnect, bad body,
//!    timeout) or by shutdown; the writer stops writing once it is set.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::{Future, poll_fn};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use futures_lite::{FutureExt, Stream};
use glommio::timer::Timer;
use ringworker_core::drain::DrainStage;
use ringworker_core::{
    CancelFlag, CancelReason, Config, DrainSignal, Outcome, OverIpLimit, RequestId, RequestTrace,
    ShardId, ShardMetrics, TailHub,
};

use super::Handler;
use super::chunked::{self, ChunkedDecoder, Decoded};
use super::head_writer::{self, BodyFraming};
use super::parse::{self, BodyKind, Version};
use super::request::{Body, BodyError, BodyShared, Head, Request, RequestParts};
use super::response::{Response, ResponseBody};
use super::target::AuthorityCheck;
use crate::socket::{MAX_IOVECS, Socket};
use crate::uring::RecvEnd;
use crate::ws::handshake::Handshake;
use crate::ws::session::{Ended, Role, Session};
use crate::ws::socket::{Outbound, WsShared};
use crate::ws::{self, WebSocket};

/// Body bytes queued for a handler before the reader stops reading.
const BODY_WINDOW: usize = 64 * 1024;
/// Unparsed bytes the reader buffers ahead (pipelined requests, body read-ahead).
const READ_AHEAD: usize = 64 * 1024;
/// Full bodies up to this size are copied next to the head (one small write
/// beats an extra iovec); larger ones are written from their own buffer.
const COPY_BODY_MAX: usize = 4 * 1024;
/// Chunks gathered into one write.
const GATHER_MAX_BYTES: usize = 256 * 1024;
/// How long a connection we close keeps reading (and discarding) so unread
/// input does not turn our close into a reset that destroys the response.
const LINGER: Duration = Duration::from_millis(200);

/// Everything a connection needs from its shard.
pub(crate) struct ConnEnv<H> {
    pub handler: Rc<H>,
    pub config: Arc<Config>,
    pub limits: parse::Limits,
    pub metrics: Rc<ShardMetrics>,
    pub drain: DrainSignal,
    pub shard: ShardId,
    /// Open WebSockets per client address (for `ws.max_per_ip`).
    pub ws_per_ip: RefCell<HashMap<IpAddr, usize>>,
    /// The shard's connection tasks, for draining.
    pub gate: glommio::sync::Gate,
    /// Idle parkable WebSockets held without a task.
    pub dormant: crate::ws::dormant::DormantSet,
    /// The shard's tail subscribers: a request gets a trace only while one
    /// is attached.
    pub tail: Rc<TailHub>,
    /// The sequence number of the shard's last request (its [`RequestId`]).
    pub last_request: Cell<u32>,
    /// `config.request_id_header`, ready to write.
    pub request_id_header: Option<Bytes>,
}

impl<H> ConnEnv<H> {
    fn next_request_id(&self) -> RequestId {
        let seq = self.last_request.get().wrapping_add(1);
        self.last_request.set(seq);
        RequestId::new(self.shard.0, seq)
    }
}

struct Meta {
    keep_alive: bool,
    is_head: bool,
    http10: bool,
    started: Instant,
    body: Option<Rc<BodyShared>>,
    cancel: CancelFlag,
    /// The request asks for a WebSocket (`Upgrade: websocket`).
    websocket: bool,
    id: RequestId,
    /// Present while a tail client is attached (see [`TailHub`]).
    trace: Option<Rc<RequestTrace>>,
}

enum Item {
    Request(Request, Meta),
    /// A request that could not be parsed: answer `status` and close.
    Reject {
        status: u16,
        reason: String,
    },
}

/// State shared by a connection's two halves (one task, so `Cell`s).
struct Shared {
    sock: Socket,
    queue: RefCell<VecDeque<Item>>,
    /// Cancel flags of every request parsed and not yet answered.
    in_flight: RefCell<VecDeque<CancelFlag>>,
    /// The reader has something new to look at (set by the writer).
    reader_kicked: Cell<bool>,
    /// One half changed state the other may be waiting on: poll both again
    /// before returning to the executor (they share one task, so a waker
    /// would only reschedule the task we are already in).
    dirty: Cell<bool>,
    reader_done: Cell<bool>,
    writer_done: Cell<bool>,
    writer_idle: Cell<bool>,
    /// The writer flushed and is waiting for a handler (see invariant 1).
    awaiting_handler: Cell<bool>,
    /// The peer closed or reset its side.
    peer_gone: Cell<bool>,
    /// Something (bad input, an undrainable body) forbids reusing the connection.
    no_reuse: Cell<bool>,
    last_activity: Cell<Instant>,
    /// When the last bytes arrived: the start time of every request parsed
    /// from them (one clock read per read batch, not per request).
    arrived: Cell<Instant>,
    served: Cell<u64>,
    /// The handler accepted a WebSocket: the connection is its from now on.
    upgraded: RefCell<Option<Rc<WsShared>>>,
    /// The last authority (`Host`) this connection's requests named that
    /// the URL standard accepts.
    authority: RefCell<AuthorityCheck>,
}

impl Shared {
    fn kick_reader(&self) {
        self.reader_kicked.set(true);
        self.dirty.set(true);
    }

    fn kick_writer(&self) {
        self.dirty.set(true);
    }

    /// Sets every in-flight request's flag; returns how many were newly set.
    fn cancel_in_flight(&self, reason: CancelReason) -> usize {
        self.in_flight
            .borrow()
            .iter()
            .filter(|f| f.cancel(reason))
            .count()
    }
}

/// Serves one accepted connection to completion.
pub(crate) async fn serve_connection<H: Handler>(
    sock: Socket,
    peer: SocketAddr,
    env: Rc<ConnEnv<H>>,
) {
    let sh = Shared {
        sock,
        queue: RefCell::new(VecDeque::new()),
        in_flight: RefCell::new(VecDeque::new()),
        reader_kicked: Cell::new(false),
        dirty: Cell::new(false),
        reader_done: Cell::new(false),
        writer_done: Cell::new(false),
        writer_idle: Cell::new(true),
        awaiting_handler: Cell::new(false),
        peer_gone: Cell::new(false),
        no_reuse: Cell::new(false),
        last_activity: Cell::new(Instant::now()),
        arrived: Cell::new(Instant::now()),
        served: Cell::new(0),
        upgraded: RefCell::new(None),
        authority: RefCell::new(AuthorityCheck::default()),
    };
    env.metrics.connection_opened();

    // Boxed: an upgraded connection frees the HTTP halves' state before its
    // WebSocket session starts (an idle socket then holds only the session).
    let mut both = Box::pin(futures_lite::future::zip(
        read_side(&sh, &env, peer),
        write_side(&sh, &env),
    ));
    // One drain registration for the connection's life (its task's waker does
    // not change); each poll then only reads the stage.
    let mut subscription = None;
    let finished = poll_fn(|cx| {
        if subscription.is_none() {
            subscription = Some(env.drain.subscribe(cx.waker()));
        }
        if env.drain.stage() == DrainStage::Forced {
            return Poll::Ready(false);
        }
        // Bounded, so one busy connection cannot starve the shard.
        for _ in 0..32 {
            sh.dirty.set(false);
            if both.as_mut().poll(cx).is_ready() {
                return Poll::Ready(true);
            }
            if !sh.dirty.get() {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await;
    drop(both);
    if !finished {
        // The drain deadline passed with this connection still busy.
        sh.cancel_in_flight(CancelReason::Shutdown);
    } else if let Some(ws) = sh.upgraded.take() {
        // (The drain subscription stays: shutdown sends the socket 1001.)
        match run_websocket(&sh, &env, peer, ws.clone()).await {
            Ended::Closed => linger_close(&sh.sock).await,
            Ended::Dropped => {}
            Ended::Parked(idle) => {
                // This task ends; the socket waits in the dormant set (still
                // an open connection).
                drop(subscription);
                let Shared { sock, .. } = sh;
                super::dormant::park(&env, sock, ws, idle);
                return;
            }
        }
        ws_left(&env, Some(peer));
    } else if !sh.peer_gone.get() {
        linger_close(&sh.sock).await;
    }
    drop(subscription);
    env.metrics.connection_closed();
}

/// Drives an upgraded connection, counted against its address's limit
/// (until [`ws_left`]).
async fn run_websocket<H: Handler>(
    sh: &Shared,
    env: &ConnEnv<H>,
    peer: SocketAddr,
    ws: Rc<WsShared>,
) -> Ended {
    let ip = peer.ip();
    env.metrics.count_websockets(|c| {
        c.open += 1;
        c.accepted += 1;
    });
    let over = {
        let mut per_ip = env.ws_per_ip.borrow_mut();
        let n = per_ip.entry(ip).or_insert(0);
        *n += 1;
        env.config.ws.max_per_ip.is_some_and(|max| *n > max)
    };
    if over {
        // (`OverIpLimit::Reject` refused it before the handler ran.)
        ws.out
            .borrow_mut()
            .push_front(Outbound::Close(Some((1013, "Try Again Later".into()))));
    }
    // (The 101 was sent: what the HTTP exchange left in the buffers goes.)
    sh.sock.shrink_buffers();
    Session::new(
        &sh.sock,
        Role::Server,
        ws,
        &env.config.ws,
        &env.drain,
        &env.metrics,
    )
    .run()
    .await
}

/// A WebSocket of `peer` ended: it no longer counts as open, nor against
/// its address (`peer` is `None` if the socket no longer knows it).
pub(crate) fn ws_left<H>(env: &ConnEnv<H>, peer: Option<SocketAddr>) {
    env.metrics
        .count_websockets(|c| c.open = c.open.saturating_sub(1));
    let Some(peer) = peer else { return };
    let mut per_ip = env.ws_per_ip.borrow_mut();
    if let Some(n) = per_ip.get_mut(&peer.ip()) {
        *n -= 1;
        if *n == 0 {
            per_ip.remove(&peer.ip());
        }
    }
}

/// Sends FIN, then reads and discards briefly so the peer gets our last
/// response before the socket is torn down.
pub(crate) async fn linger_close(sock: &Socket) {
    sock.shutdown_write();
    let mut discarded = 0usize;
    let read_to_eof = poll_fn(|cx| {
        loop {
            {
                let mut rbuf = sock.rbuf();
                discarded += rbuf.len();
                rbuf.clear();
            }
            if sock.recv_end().is_some() || discarded > 1 << 20 {
                return Poll::Ready(());
            }
            if sock.poll_recv(cx, true).is_pending() && sock.rbuf().is_empty() {
                return Poll::Pending;
            }
        }
    });
    let _ = glommio::timer::timeout(LINGER, async {
        read_to_eof.await;
        Ok(())
    })
    .await;
}

// ---------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------

enum BodyDecoder {
    Length(u64),
    Chunked(Box<ChunkedDecoder>),
}

enum Reading {
    /// Waiting for a head; `since` is when its first byte arrived.
    Head {
        since: Option<Instant>,
    },
    /// Feeding (or draining) a request body.
    Body {
        shared: Rc<BodyShared>,
        decoder: BodyDecoder,
        cancel: CancelFlag,
        drained: u64,
        progress: Instant,
    },
    /// A protocol upgrade request is being answered: nothing after it is
    /// HTTP until the handler's response says otherwise.
    Upgrade,
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deadline {
    Idle,
    Header,
    Body,
}

enum ReadEvent {
    Data,
    Eof,
    Error(io::Error),
    Timer,
    Kick,
    Drain,
}

/// A re-armable deadline over one glommio timer: arming a later deadline
/// keeps the timer and checks the real deadline when it fires, so the hot
/// path does not touch the timer wheel per request.
pub(crate) struct Alarm {
    timer: Option<Timer>,
    fires_at: Option<Instant>,
}

impl Alarm {
    pub(crate) fn new() -> Self {
        Self {
            timer: None,
            fires_at: None,
        }
    }

    /// Arms for `deadline`; true once it has passed.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>, deadline: Option<Instant>) -> bool {
        let Some(deadline) = deadline else {
            return false;
        };
        let now = Instant::now();
        if now >= deadline {
            self.timer = None;
            self.fires_at = None;
            return true;
        }
        match self.fires_at {
            // A registered timer that fires at or before the deadline will wake
            // this task then; polling it again would only re-insert it into
            // the reactor's timer map.
            Some(f) if f <= deadline && f > now && self.timer.is_some() => false,
            _ => {
                // Not armed, fired early (the deadline moved later), or the
                // deadline moved earlier: arm for the deadline.
                let mut t = Timer::new(deadline - now);
                let fired = Pin::new(&mut t).poll(cx).is_ready();
                self.timer = Some(t);
                self.fires_at = Some(deadline);
                fired
            }
        }
    }
}

async fn read_side<H: Handler>(sh: &Shared, env: &ConnEnv<H>, peer: SocketAddr) {
    let cfg = &env.config;
    let limits = &cfg.limits;
    let mut state = Reading::Head { since: None };
    let mut alarm = Alarm::new();
    let mut draining_seen = false;
    // Bytes the HTTP side consumed, counted as received (what it leaves in
    // the buffer, an upgraded connection's first frames, its session counts).
    let mut counted = 0u64;
    let count_in = |counted: &mut u64| {
        let consumed = sh.sock.received_total() - sh.sock.rbuf().len() as u64;
        if consumed > *counted {
            env.metrics.add_bytes_in((consumed - *counted) as usize);
            *counted = consumed;
        }
    };

    'outer: loop {
        count_in(&mut counted);
        // The ring appends to this buffer between our polls, so the borrow
        // lives in this block only, never across the await below.
        let (deadline, can_read, seen) = {
            let mut rbuf = sh.sock.rbuf();
            // A. Process what is buffered.
            loop {
                match &mut state {
                    Reading::Stopped => break 'outer,
                    Reading::Upgrade => {
                        if sh.writer_done.get() {
                            break 'outer;
                        }
                        break;
                    }
                    Reading::Head { since } => {
                        if sh.writer_done.get() {
                            break 'outer;
                        }
                        if rbuf.is_empty() || sh.queue.borrow().len() >= limits.max_pipeline_depth {
                            break;
                        }
                        match parse::parse_request_head(&rbuf, &env.limits) {
                            Ok(None) => {
                                since.get_or_insert_with(Instant::now);
                                break;
                            }
                            Err(e) => {
                                tracing::debug!(%peer, status = e.status(), "bad request: {e}");
                                sh.queue.borrow_mut().push_back(Item::Reject {
                                    status: e.status(),
                                    reason: e.reason().to_string(),
                                });
                                sh.kick_writer();
                                state = Reading::Stopped;
                            }
                            Ok(Some(ph)) => {
                                state = accept_head(sh, env, peer, &mut rbuf, ph);
                            }
                        }
                    }
                    Reading::Body {
                        shared,
                        decoder,
                        cancel,
                        drained,
                        progress,
                    } => {
                        if rbuf.is_empty() {
                            break;
                        }
                        let abandoned = shared.is_abandoned();
                        if !abandoned && shared.queued_bytes() >= BODY_WINDOW {
                            break;
                        }
                        let mut finished = false;
                        match decoder {
                            BodyDecoder::Length(rem) => {
                                // At most a window's worth for the handler: the
                                // rest waits in the read buffer (receiving
                                // stops), not in its queue.
                                let avail = if abandoned {
                                    rbuf.len()
                                } else {
                                    rbuf.len().min(BODY_WINDOW - shared.queued_bytes())
                                };
                                let n = (*rem).min(avail as u64) as usize;
                                let chunk = rbuf.split_to(n).freeze();
                                *rem -= n as u64;
                                if abandoned {
                                    *drained += n as u64;
                                } else {
                                    shared.push(chunk);
                                }
                                finished = *rem == 0;
                            }
                            BodyDecoder::Chunked(dec) => match dec.decode(&rbuf) {
                                // A chunk that cannot fit under the limit is
                                // refused once its size line is in, not after
                                // reading up to the limit.
                                Ok((used, Decoded::NeedMore))
                                    if !abandoned
                                        && limits.max_body_bytes.is_some_and(|m| {
                                            shared
                                                .received
                                                .get()
                                                .saturating_add(dec.announced_remaining())
                                                > m
                                        }) =>
                                {
                                    rbuf.advance(used);
                                    let max = limits.max_body_bytes.unwrap_or(0);
                                    shared.fail(BodyError::TooLarge(max));
                                    cancel.cancel(CancelReason::BadInput);
                                    sh.no_reuse.set(true);
                                    state = Reading::Stopped;
                                    continue;
                                }
                                Ok((used, Decoded::Data(range))) => {
                                    let part = rbuf.split_to(used).freeze();
                                    let len = range.len() as u64;
                                    if abandoned {
                                        *drained += len;
                                    } else if limits.max_body_bytes.is_some_and(|m| {
                                        shared
                                            .received
                                            .get()
                                            .saturating_add(len)
                                            .saturating_add(dec.announced_remaining())
                                            > m
                                    }) {
                                        let max = limits.max_body_bytes.unwrap_or(0);
                                        shared.fail(BodyError::TooLarge(max));
                                        cancel.cancel(CancelReason::BadInput);
                                        sh.no_reuse.set(true);
                                        state = Reading::Stopped;
                                        continue;
                                    } else {
                                        shared.push(part.slice(range));
                                    }
                                }
                                Ok((used, Decoded::NeedMore)) => {
                                    rbuf.advance(used);
                                    break;
                                }
                                Ok((used, Decoded::Done)) => {
                                    rbuf.advance(used);
                                    finished = true;
                                }
                                Err(e) => {
                                    shared.fail(BodyError::Malformed(e.to_string()));
                                    cancel.cancel(CancelReason::BadInput);
                                    sh.no_reuse.set(true);
                                    state = Reading::Stopped;
                                    continue;
                                }
                            },
                        }
                        *progress = sh.arrived.get();
                        if *drained > limits.max_drain_bytes {
                            // Not worth reading to reuse the connection.
                            sh.no_reuse.set(true);
                            state = Reading::Stopped;
                            continue;
                        }
                        if finished {
                            shared.finish();
                            state = Reading::Head { since: None };
                        }
                    }
                }
            }

            // B. Answer `Expect: 100-continue` once the handler asks for the body.
            if let Reading::Body { shared, .. } = &state {
                if shared.expect_continue.get() && shared.wants() && sh.awaiting_handler.get() {
                    shared.expect_continue.set(false);
                    let mut line = Vec::with_capacity(32);
                    head_writer::write_continue(&mut line);
                    // Ordered after every response queued before it (invariant 1).
                    sh.sock.send(&mut line, &[], false);
                }
            }

            // C. Shutdown: an idle connection closes now; a busy one after its response.
            let idle = rbuf.is_empty()
                && matches!(state, Reading::Head { .. })
                && sh.queue.borrow().is_empty()
                && sh.writer_idle.get();
            if env.drain.is_draining() {
                draining_seen = true;
                if idle {
                    break;
                }
            }

            // D. What may end the wait.
            let deadline = match &state {
                Reading::Head { since: Some(t) } => {
                    Some((*t + cfg.timeouts.header_read, Deadline::Header))
                }
                Reading::Head { since: None } if idle => {
                    let d = if sh.served.get() == 0 {
                        cfg.timeouts.header_read
                    } else {
                        cfg.timeouts.keepalive_idle
                    };
                    Some((sh.last_activity.get() + d, Deadline::Idle))
                }
                Reading::Body {
                    shared, progress, ..
                } if shared.wants() || shared.is_abandoned() => {
                    Some((*progress + cfg.timeouts.body_read, Deadline::Body))
                }
                _ => None,
            };
            let room = match &state {
                Reading::Head { .. } => limits.max_head_bytes + 1024,
                _ => READ_AHEAD,
            };
            let can_read = rbuf.len() < room;
            (deadline, can_read, rbuf.len())
        };
        let ev = poll_fn(|cx| {
            if sh.reader_kicked.replace(false) {
                return Poll::Ready(ReadEvent::Kick);
            }
            let buffered = sh.sock.rbuf().len();
            if buffered > seen {
                return Poll::Ready(ReadEvent::Data);
            }
            if let Reading::Body { shared, .. } = &state {
                // The body's consumer wakes this task when it wants data, frees
                // room, or abandons the body.
                shared.set_producer(cx.waker());
                let room = shared.is_abandoned() || shared.queued_bytes() < BODY_WINDOW;
                let continue_due =
                    shared.expect_continue.get() && shared.wants() && sh.awaiting_handler.get();
                if (room && buffered > 0) || continue_due {
                    return Poll::Ready(ReadEvent::Kick);
                }
            }
            if !draining_seen && env.drain.is_draining() {
                return Poll::Ready(ReadEvent::Drain);
            }
            match sh.sock.recv_end() {
                Some(RecvEnd::Eof) => return Poll::Ready(ReadEvent::Eof),
                Some(RecvEnd::Error(errno)) => {
                    return Poll::Ready(ReadEvent::Error(io::Error::from_raw_os_error(errno)));
                }
                None => {}
            }
            // Registers for more data; without room, pauses receiving.
            if sh.sock.poll_recv(cx, can_read).is_ready() {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            if alarm.poll(cx, deadline.map(|d| d.0)) {
                return Poll::Ready(ReadEvent::Timer);
            }
            Poll::Pending
        })
        .await;

        match ev {
            ReadEvent::Data => {
                let now = Instant::now();
                sh.last_activity.set(now);
                sh.arrived.set(now);
            }
            ReadEvent::Kick | ReadEvent::Drain => {}
            ReadEvent::Timer => {
                let Some((_, kind)) = deadline else { continue };
                match kind {
                    Deadline::Idle => break,
                    Deadline::Header => {
                        sh.queue.borrow_mut().push_back(Item::Reject {
                            status: 408,
                            reason: "request head not received in time".into(),
                        });
                        sh.kick_writer();
                        break;
                    }
                    Deadline::Body => {
                        if let Reading::Body { shared, cancel, .. } = &state {
                            shared.fail(BodyError::Timeout);
                            cancel.cancel(CancelReason::Timeout);
                        }
                        sh.no_reuse.set(true);
                        break;
                    }
                }
            }
            ReadEvent::Eof | ReadEvent::Error(_) => {
                let reason = match &ev {
                    ReadEvent::Error(e) if e.kind() != io::ErrorKind::UnexpectedEof => {
                        CancelReason::PeerReset
                    }
                    _ => CancelReason::PeerClosed,
                };
                let mid_body = matches!(state, Reading::Body { .. });
                if let Reading::Body { shared, .. } = &state {
                    shared.fail(BodyError::Incomplete);
                }
                let half_close =
                    reason == CancelReason::PeerClosed && cfg.allow_half_close && !mid_body;
                if !half_close {
                    sh.peer_gone.set(true);
                    let n = sh.cancel_in_flight(reason);
                    for _ in 0..n {
                        env.metrics.disconnect_detected();
                    }
                }
                sh.no_reuse.set(true);
                break;
            }
        }
    }
    count_in(&mut counted);
    sh.reader_done.set(true);
    sh.kick_writer();
}

/// Turns a parsed head into a queued request; returns the next reader state.
fn accept_head<H: Handler>(
    sh: &Shared,
    env: &ConnEnv<H>,
    peer: SocketAddr,
    rbuf: &mut BytesMut,
    ph: parse::ParsedHead,
) -> Reading {
    let limits = &env.config.limits;
    let head_buf = rbuf.split_to(ph.head_len).freeze();
    let http10 = matches!(ph.version, Version::Http10);
    if let (BodyKind::Length(n), Some(max)) = (&ph.body, limits.max_body_bytes) {
        if *n > max {
            // Refused before reading a byte of it (this is what
            // `Expect: 100-continue` is for); the connection cannot be reused.
            sh.queue.borrow_mut().push_back(Item::Reject {
                status: 413,
                reason: format!("request body of {n} bytes exceeds the limit of {max} bytes"),
            });
            sh.kick_writer();
            return Reading::Stopped;
        }
    }
    if ph.upgrade || ph.websocket || ph.is_connect {
        // The connection is not reused after an upgrade request, whatever
        // the answer: it either becomes a WebSocket or closes. Nor after a
        // CONNECT: what follows it is a tunnel's bytes, never a request.
        sh.no_reuse.set(true);
    }
    if let Some(a) = ph.authority {
        if !sh.authority.borrow_mut().accepts(a.get(&head_buf)) {
            let e = parse::ParseError::InvalidHost;
            sh.queue.borrow_mut().push_back(Item::Reject {
                status: e.status(),
                reason: e.reason().to_string(),
            });
            sh.kick_writer();
            return Reading::Stopped;
        }
    }
    if ph.is_connect && !env.handler.handles_connect() {
        // We are not a proxy (RFC 9110 §9.3.6, §15.6.2).
        sh.queue.borrow_mut().push_back(Item::Reject {
            status: 501,
            reason: "CONNECT is not supported".into(),
        });
        sh.kick_writer();
        return Reading::Stopped;
    }
    let cancel = CancelFlag::new();
    let (body, shared, decoder) = match ph.body {
        // (CONNECT has no content: what follows its head is for the tunnel.)
        _ if ph.is_connect => (Body::empty(), None, None),
        BodyKind::Empty | BodyKind::Length(0) => (Body::empty(), None, None),
        BodyKind::Length(n) => {
            let shared = BodyShared::new(ph.expect_continue);
            (
                Body::streaming(shared.clone(), Some(n)),
                Some(shared),
                Some(BodyDecoder::Length(n)),
            )
        }
        BodyKind::Chunked => {
            let shared = BodyShared::new(ph.expect_continue);
            (
                Body::streaming(shared.clone(), None),
                Some(shared),
                Some(BodyDecoder::Chunked(Box::default())),
            )
        }
    };
    let meta_upgrade = ph.upgrade || ph.websocket || ph.is_connect;
    let id = env.next_request_id();
    let started = sh.arrived.get();
    let mut req = Request::new(RequestParts {
        head: Head {
            buf: head_buf,
            method: ph.method,
            target: ph.target,
            authority: ph.authority,
            path: ph.path,
            headers: ph.headers,
            http10,
        },
        body,
        cancel: cancel.clone(),
        peer,
        shard: env.shard,
        id,
        trace: None,
    });
    let trace = env.tail.is_active().then(|| {
        // For the tail's display: the checked authority and path (the
        // script's request.url is built from the same parts).
        let host = req.authority().unwrap_or("localhost");
        let trace = RequestTrace::new(
            req.method(),
            format!("http://{host}{}", req.path_and_query()),
            started,
        );
        req.set_trace(trace.clone());
        trace
    });
    let meta = Meta {
        keep_alive: ph.keep_alive,
        is_head: ph.is_head,
        http10,
        started,
        body: shared.clone(),
        cancel: cancel.clone(),
        websocket: ph.websocket,
        id,
        trace,
    };
    sh.in_flight.borrow_mut().push_back(cancel.clone());
    sh.queue.borrow_mut().push_back(Item::Request(req, meta));
    sh.kick_writer();
    match (shared, decoder) {
        (Some(shared), Some(decoder)) => Reading::Body {
            shared,
            decoder,
            cancel,
            drained: 0,
            progress: sh.arrived.get(),
        },
        _ if meta_upgrade => Reading::Upgrade,
        _ => Reading::Head { since: None },
    }
}

// ---------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------

/// Why the writer stops using the connection.
#[derive(Debug)]
enum WriteStop {
    /// The socket failed or stalled.
    Io,
}

async fn write_side<H: Handler>(sh: &Shared, env: &ConnEnv<H>) {
    let mut wbuf: Vec<u8> = Vec::with_capacity(4096);
    loop {
        let item = sh.queue.borrow_mut().pop_front();
        let Some(item) = item else {
            if flush(sh, env, &mut wbuf, &[], false).await.is_err() {
                break;
            }
            // Idle from now: the keep-alive timeout counts from here.
            sh.last_activity.set(Instant::now());
            sh.writer_idle.set(true);
            sh.kick_reader();
            let done = poll_fn(|_cx| {
                if !sh.queue.borrow().is_empty() {
                    Poll::Ready(false)
                } else if sh.reader_done.get() {
                    Poll::Ready(true)
                } else {
                    Poll::Pending
                }
            })
            .await;
            if done {
                break;
            }
            sh.writer_idle.set(false);
            continue;
        };
        sh.writer_idle.set(false);
        // Room in the pipeline queue: the reader may parse ahead again.
        sh.kick_reader();
        match item {
            Item::Reject { status, reason } => {
                head_writer::write_error_response(&mut wbuf, status, &reason);
                env.metrics
                    .request_done(status, Outcome::Ok, Duration::ZERO);
                let _ = flush(sh, env, &mut wbuf, &[], false).await;
                break;
            }
            Item::Request(req, meta) => {
                // A write failure (`WriteStop::Io`) means the connection is done.
                let keep = serve_one(sh, env, req, &meta, &mut wbuf)
                    .await
                    .unwrap_or(false);
                sh.in_flight.borrow_mut().pop_front();
                sh.served.set(sh.served.get() + 1);
                if let Some(body) = &meta.body {
                    if !body.is_finished() {
                        // Unread body: the reader drains it (bounded) so the
                        // connection can be reused, unless the client waits for
                        // a 100-continue it will not get.
                        body.abandon();
                        if body.expect_continue.get() {
                            sh.no_reuse.set(true);
                        }
                        sh.kick_reader();
                    }
                }
                if !keep {
                    let _ = flush(sh, env, &mut wbuf, &[], false).await;
                    break;
                }
            }
        }
    }
    // Everything queued goes out before the connection is shut down.
    let _ = wait_sent(sh, env, 0).await;
    sh.writer_done.set(true);
    sh.kick_reader();
}

/// Runs the handler for one request and writes its response. Returns whether
/// the connection may be reused.
async fn serve_one<H: Handler>(
    sh: &Shared,
    env: &ConnEnv<H>,
    req: Request,
    meta: &Meta,
    wbuf: &mut Vec<u8>,
) -> Result<bool, WriteStop> {
    // A WebSocket handshake is checked before the handler sees it.
    let (handshake, early) = if meta.websocket {
        match check_websocket(env, &req) {
            Ok(h) => (Some(h), None),
            Err(resp) => (None, Some(resp)),
        }
    } else {
        (None, None)
    };
    let fut = async move {
        match early {
            Some(resp) => resp,
            None => env.handler.call(req).await,
        }
    };
    let fut = AssertUnwindSafe(fut).catch_unwind();
    let mut fut = pin!(fut);
    let first = futures_lite::future::poll_once(fut.as_mut()).await;
    let outcome = match first {
        Some(r) => Some(r),
        None => {
            // The handler waits: flush what pipelining batched, then wait for
            // it — giving up a grace period after its client is gone.
            flush(sh, env, wbuf, &[], false).await?;
            sh.awaiting_handler.set(true);
            sh.kick_reader();
            let grace = env.config.timeouts.cancel_grace;
            let r = async { Some(fut.as_mut().await) }
                .or(async {
                    meta.cancel.cancelled().await;
                    glommio::timer::sleep(grace).await;
                    None
                })
                .await;
            sh.awaiting_handler.set(false);
            r
        }
    };
    let mut resp = match outcome {
        None => {
            request_over(env, meta, 499, Outcome::ClientDisconnected);
            return Ok(false);
        }
        Some(Ok(resp)) => resp,
        Some(Err(panic)) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(shard = env.shard.0, request_id = %meta.id, "handler panicked: {msg}");
            if let Some(t) = &meta.trace {
                t.exception(format!("handler panicked: {msg}"));
            }
            Response::text(500, "internal server error").with_outcome(Outcome::Exception)
        }
    };

    let mut keep =
        meta.keep_alive && !sh.no_reuse.get() && !sh.peer_gone.get() && !env.drain.is_draining();

    // A body that failed (too large, malformed, timed out) overrides whatever
    // the handler said, as long as no byte of the response was sent.
    if let Some(err) = meta.body.as_ref().and_then(|b| b.error()) {
        if err != BodyError::Incomplete {
            resp = Response::text(err.status(), err.to_string());
            keep = false;
        }
    }
    if let Some((n, v)) = resp.headers.iter().find(|(n, v)| {
        !head_writer::is_valid_header_name(n) || !head_writer::is_valid_header_value(v)
    }) {
        tracing::error!(
            shard = env.shard.0,
            request_id = %meta.id,
            "handler returned an invalid header {:?}: {:?}",
            String::from_utf8_lossy(n),
            String::from_utf8_lossy(v)
        );
        resp = Response::text(500, "internal server error: invalid response header")
            .with_outcome(resp.outcome);
    }
    if let ResponseBody::WebSocket(ws) = &resp.body {
        match accept_websocket(ws, handshake.as_ref(), resp.status, &mut resp.headers) {
            Ok(()) => keep = false,
            Err(msg) => {
                tracing::error!(shard = env.shard.0, request_id = %meta.id, "cannot accept the WebSocket: {msg}");
                ws.fail_unattached(&msg);
                let status = if handshake.is_none() { 400 } else { 500 };
                resp = Response::text(status, msg);
                keep = false;
            }
        }
    }

    let status = resp.status;
    let handler_outcome = resp.outcome;
    let bodiless = head_writer::forbids_body(status);
    if let Some(name) = &env.request_id_header {
        resp.headers
            .push((name.clone(), Bytes::from(meta.id.to_string())));
    }
    let headers = std::mem::take(&mut resp.headers);
    let header_pairs = headers.iter().map(|(n, v)| (&n[..], &v[..]));
    // The body's framing goes into the head; then the body, if it is sent.
    let (framing, payload) = match resp.body {
        ResponseBody::Empty | ResponseBody::Full(_) => {
            let body = match resp.body {
                ResponseBody::Full(b) => b,
                _ => Bytes::new(),
            };
            let framing = if bodiless {
                BodyFraming::None
            } else {
                BodyFraming::Length(body.len() as u64)
            };
            (framing, Payload::Full(body))
        }
        ResponseBody::Stream { length, stream } => {
            if let Some(b) = &meta.body {
                if b.expect_continue.replace(false) && !b.is_finished() {
                    // The producer will likely read the body: invite it first.
                    head_writer::write_continue(wbuf);
                }
            }
            let framing = match length {
                _ if bodiless => BodyFraming::None,
                Some(n) => BodyFraming::Length(n),
                None if meta.http10 => {
                    keep = false;
                    BodyFraming::CloseDelimited
                }
                None => BodyFraming::Chunked,
            };
            (framing, Payload::Stream(stream, length))
        }
        ResponseBody::WebSocket(ws) => (BodyFraming::None, Payload::Upgrade(ws)),
    };
    let chunked = matches!(framing, BodyFraming::Chunked);
    head_writer::write_response_head(wbuf, status, header_pairs, framing, keep, meta.http10);
    let result = match payload {
        Payload::Upgrade(ws) => {
            // The 101 goes out with the writer's last flush; then the
            // connection is the WebSocket's.
            *sh.upgraded.borrow_mut() = Some(ws.0.clone());
            Ok(false)
        }
        _ if bodiless || meta.is_head => Ok(keep),
        Payload::Full(body) if body.is_empty() => Ok(keep),
        Payload::Full(body) if body.len() <= COPY_BODY_MAX => {
            wbuf.extend_from_slice(&body);
            Ok(keep)
        }
        Payload::Full(body) => {
            flush(sh, env, wbuf, std::slice::from_ref(&body), false).await?;
            Ok(keep)
        }
        Payload::Stream(stream, length) => {
            write_stream(sh, env, meta, stream, length, chunked, wbuf)
                .await
                .map(|ok| ok && keep)
        }
    };
    // A client that left before the response was complete decides the
    // outcome, whatever the handler did.
    let outcome = match meta.cancel.reason() {
        Some(r) if r.is_disconnect() => Outcome::ClientDisconnected,
        _ => handler_outcome,
    };
    request_over(env, meta, status, outcome);
    result
}

/// Counts a finished request and hands its trace (if a tail client is
/// attached) to the shard's tail hub.
fn request_over<H>(env: &ConnEnv<H>, meta: &Meta, status: u16, outcome: Outcome) {
    env.metrics
        .request_done(status, outcome, meta.started.elapsed());
    if let Some(trace) = &meta.trace {
        env.tail
            .publish(env.shard.0, Some(meta.id), trace, Some(status), outcome);
    }
}

/// Checks a WebSocket upgrade request (answering a bad one, or one over the
/// per-address limit, without the handler).
fn check_websocket<H: Handler>(env: &ConnEnv<H>, req: &Request) -> Result<Handshake, Response> {
    let hs = ws::handshake::check(req).map_err(|e| {
        let r = Response::text(e.status, e.reason);
        if e.status == 426 {
            r.header("sec-websocket-version", "13")
                .header("upgrade", "websocket")
        } else {
            r
        }
    })?;
    let cfg = &env.config.ws;
    if let (Some(max), OverIpLimit::Reject) = (cfg.max_per_ip, cfg.over_ip_limit) {
        let open = env
            .ws_per_ip
            .borrow()
            .get(&req.peer_addr().ip())
            .copied()
            .unwrap_or(0);
        if open >= max {
            return Err(Response::text(
                429,
                format!("too many WebSockets from this address (limit {max})"),
            )
            .header("retry-after", "1"));
        }
    }
    Ok(hs)
}

/// Adds the handshake's response headers to a handler's WebSocket response,
/// or says why it cannot be one.
fn accept_websocket(
    ws: &WebSocket,
    handshake: Option<&Handshake>,
    status: u16,
    headers: &mut Vec<(Bytes, Bytes)>,
) -> Result<(), String> {
    let Some(hs) = handshake else {
        return Err("a WebSocket response needs a WebSocket upgrade request".into());
    };
    if status != 101 {
        return Err(format!(
            "a response with a WebSocket must have status 101, not {status}"
        ));
    }
    let chosen =
        ws.0.protocol
            .borrow()
            .as_deref()
            .map(str::to_owned)
            .or_else(|| {
                headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(b"sec-websocket-protocol"))
                    .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            });
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(b"sec-websocket-protocol"));
    if let Some(p) = chosen {
        if !hs.protocols.contains(&p) {
            return Err(format!(
                "subprotocol {p:?} was not offered by the client (offered: {:?})",
                hs.protocols
            ));
        }
        *ws.0.protocol.borrow_mut() = Some(p.as_str().into());
        headers.push((
            Bytes::from_static(b"sec-websocket-protocol"),
            Bytes::from(p),
        ));
    }
    headers.push((
        Bytes::from_static(b"upgrade"),
        Bytes::from_static(b"websocket"),
    ));
    headers.push((
        Bytes::from_static(b"sec-websocket-accept"),
        Bytes::from(hs.accept.clone()),
    ));
    Ok(())
}

/// A response body as `serve_one` writes it.
enum Payload {
    Full(Bytes),
    Upgrade(WebSocket),
    Stream(
        Pin<Box<dyn Stream<Item = Result<Bytes, BodyError>>>>,
        Option<u64>,
    ),
}

/// Writes a streaming body, gathering whatever chunks are ready into one
/// write. Returns `Ok(false)` if the body ended abnormally (the connection
/// must close so the client sees a truncated response).
async fn write_stream<H: Handler>(
    sh: &Shared,
    env: &ConnEnv<H>,
    meta: &Meta,
    mut stream: Pin<Box<dyn Stream<Item = Result<Bytes, BodyError>>>>,
    length: Option<u64>,
    chunked: bool,
    wbuf: &mut Vec<u8>,
) -> Result<bool, WriteStop> {
    let mut sent: u64 = 0;
    let mut gathered: Vec<Bytes> = Vec::new();
    let mut gathered_bytes = 0usize;
    loop {
        if meta.cancel.is_cancelled() {
            // The client is gone: stop producing (dropping the stream tells it).
            return Ok(false);
        }
        // With bytes to write, take only what is ready (they go out together);
        // with none, wait for the producer or the client's departure.
        let next = if gathered.is_empty() && wbuf.is_empty() {
            let waited = async { Some(poll_fn(|cx| stream.as_mut().poll_next(cx)).await) }
                .or(async {
                    meta.cancel.cancelled().await;
                    None
                })
                .await;
            match waited {
                Some(item) => Some(item),
                None => return Ok(false),
            }
        } else {
            futures_lite::future::poll_once(poll_fn(|cx| stream.as_mut().poll_next(cx))).await
        };
        match next {
            // Nothing more is ready: write what was gathered.
            None => {
                flush(sh, env, wbuf, &gathered, chunked).await?;
                gathered.clear();
                gathered_bytes = 0;
            }
            Some(Some(Ok(chunk))) => {
                sent += chunk.len() as u64;
                if length.is_some_and(|n| sent > n) {
                    tracing::error!(
                        shard = env.shard.0,
                        request_id = %meta.id,
                        "response body longer than its content-length"
                    );
                    return Ok(false);
                }
                if !chunk.is_empty() {
                    gathered_bytes += chunk.len();
                    gathered.push(chunk);
                }
                if gathered.len() >= MAX_IOVECS / 3 || gathered_bytes >= GATHER_MAX_BYTES {
                    flush(sh, env, wbuf, &gathered, chunked).await?;
                    gathered.clear();
                    gathered_bytes = 0;
                }
            }
            Some(Some(Err(e))) => {
                tracing::warn!(shard = env.shard.0, request_id = %meta.id, "response body failed: {e}");
                // What the producer made before it failed still goes out
                // (a proxied body cut short arrives cut short, not emptier).
                flush(sh, env, wbuf, &gathered, chunked).await?;
                wait_sent(sh, env, 0).await?;
                return Ok(false);
            }
            Some(None) => {
                let complete = length.is_none_or(|n| n == sent);
                if !complete {
                    tracing::error!(
                        shard = env.shard.0,
                        request_id = %meta.id,
                        "response body shorter than its content-length"
                    );
                }
                flush(sh, env, wbuf, &gathered, chunked).await?;
                if chunked && complete {
                    wbuf.extend_from_slice(chunked::LAST_CHUNK);
                }
                return Ok(complete);
            }
        }
    }
}

/// Queues `wbuf` followed by `chunks` (with chunked framing if `chunked`) as
/// one send and clears `wbuf`; waits only while an earlier send is still
/// queued behind the one in flight, so a slow client bounds what is buffered.
async fn flush<H: Handler>(
    sh: &Shared,
    env: &ConnEnv<H>,
    wbuf: &mut Vec<u8>,
    chunks: &[Bytes],
    chunked: bool,
) -> Result<(), WriteStop> {
    if wbuf.is_empty() && chunks.is_empty() {
        return Ok(());
    }
    if sh.peer_gone.get() {
        wbuf.clear();
        return Err(WriteStop::Io);
    }
    let n = sh.sock.send(wbuf, chunks, chunked);
    env.metrics.add_bytes_out(n);
    wait_sent(sh, env, 1).await
}

/// Waits until at most `max_queued` sends are queued on the socket, bounded
/// by the write-stall timeout.
async fn wait_sent<H: Handler>(
    sh: &Shared,
    env: &ConnEnv<H>,
    max_queued: usize,
) -> Result<(), WriteStop> {
    let r = match futures_lite::future::poll_once(poll_fn(|cx| sh.sock.poll_sent(cx, max_queued)))
        .await
    {
        Some(r) => r,
        None => {
            let stall = env.config.timeouts.write_stall;
            let waited = glommio::timer::timeout(stall, async {
                poll_fn(|cx| sh.sock.poll_sent(cx, max_queued))
                    .await
                    .map_err(glommio::GlommioError::IoError)
            })
            .await;
            match waited {
                Ok(()) => Ok(()),
                Err(glommio::GlommioError::IoError(e)) => Err(e),
                Err(_) => {
                    fail_write(sh, env, CancelReason::Timeout);
                    return Err(WriteStop::Io);
                }
            }
        }
    };
    r.map_err(|e| {
        let reason = if matches!(
            e.kind(),
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
        ) {
            CancelReason::PeerReset
        } else {
            CancelReason::PeerClosed
        };
        fail_write(sh, env, reason);
        WriteStop::Io
    })
}

fn fail_write<H: Handler>(sh: &Shared, env: &ConnEnv<H>, reason: CancelReason) {
    sh.peer_gone.set(true);
    let n = sh.cancel_in_flight(reason);
    if reason.is_disconnect() {
        for _ in 0..n {
            env.metrics.disconnect_detected();
        }
    }
    sh.kick_reader();
}

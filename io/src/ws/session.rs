//! The WebSocket session: what runs on a connection once it was upgraded.
//!
//! One poll function moves frames both ways and keeps the connection
//! healthy: it answers pings without waking the handler, fails the connection
//! with the right close code on bad input, completes the close handshake,
//! pings a quiet peer and drops it when no answer comes, closes idle sockets,
//! sends 1001 on shutdown, and stops reading a peer that does not read what
//! it is sent (backpressure).

use ringworker_core::clock::Stamp;
use std::cell::RefMut;
use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use ringworker_core::drain::DrainStage;
use ringworker_core::{CancelReason, DrainSignal, ShardMetrics, WsConfig};

use super::frame::{self, Kind, Opcode, Violation};
use super::message::{Assembler, Message};
use super::socket::{Outbound, ReadyState, WsEvent, WsShared};
use crate::http::conn::Alarm;
use crate::socket::Socket;
use crate::uring::RecvEnd;
use bytes::{Bytes, BytesMut};

/// What a session runs over: an accepted socket (server side) or an
/// outbound connection, plain or TLS (client side). The same shape as
/// [`Socket`].
pub(crate) trait Transport {
    /// Bytes received and not consumed yet.
    fn rbuf(&self) -> RefMut<'_, BytesMut>;
    /// Ready once bytes arrived or the receive side ended; `want` false
    /// pauses receiving.
    fn poll_recv(&self, cx: &mut Context<'_>, want: bool) -> Poll<()>;
    /// How the receive side ended, if it did.
    fn recv_end(&self) -> Option<RecvEnd>;
    /// Queues `head` then `chunks`; returns the bytes queued.
    fn send(&self, head: &mut Vec<u8>, chunks: &[Bytes]) -> usize;
    /// Ready once at most `max_queued` sends are queued.
    fn poll_sent(&self, cx: &mut Context<'_>, max_queued: usize) -> Poll<io::Result<()>>;
    /// The sends queued (the one in flight included) and their bytes left.
    fn queued(&self) -> (usize, usize);
}

impl Transport for Socket {
    fn rbuf(&self) -> RefMut<'_, BytesMut> {
        Socket::rbuf(self)
    }
    fn poll_recv(&self, cx: &mut Context<'_>, want: bool) -> Poll<()> {
        Socket::poll_recv(self, cx, want)
    }
    fn recv_end(&self) -> Option<RecvEnd> {
        Socket::recv_end(self)
    }
    fn send(&self, head: &mut Vec<u8>, chunks: &[Bytes]) -> usize {
        Socket::send(self, head, chunks, false)
    }
    fn poll_sent(&self, cx: &mut Context<'_>, max_queued: usize) -> Poll<io::Result<()>> {
        Socket::poll_sent(self, cx, max_queued)
    }
    fn queued(&self) -> (usize, usize) {
        Socket::queued(self)
    }
}

/// Which end of the connection a session is: a client masks its frames and
/// reads unmasked ones; a server the other way round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Server,
    Client,
}

/// Unpredictable frame masks for a client (RFC 6455 §5.3): a counter run
/// through SipHash under the process's random keys.
fn next_mask() -> [u8; 4] {
    use std::hash::{BuildHasher, Hasher};
    thread_local! {
        static STATE: (std::collections::hash_map::RandomState, std::cell::Cell<u64>) =
            (std::collections::hash_map::RandomState::new(), std::cell::Cell::new(0));
    }
    STATE.with(|(keys, n)| {
        n.set(n.get().wrapping_add(1));
        let mut h = keys.build_hasher();
        h.write_u64(n.get());
        (h.finish() as u32).to_ne_bytes()
    })
}

/// Payloads up to this size are copied behind their header (one buffer);
/// larger ones are sent from their own.
const COPY_MAX: usize = 4 * 1024;
/// Bytes read ahead of the frame being parsed.
const READ_AHEAD: usize = 64 * 1024;
/// Events the handler has not taken yet before reading pauses.
const MAX_PENDING_EVENTS: usize = 1024;

/// How a session ended, for the connection to finish up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The close handshake completed (or we gave up waiting): close the TCP
    /// connection gracefully.
    Closed,
    /// The peer is gone or dead: drop the connection.
    Dropped,
    /// Idle on a parkable socket (see [`crate::ws::WebSocket::set_parkable`]):
    /// nothing buffered, nothing half-done. The socket stays open and a
    /// session continues later from these timestamps.
    Parked(Idle),
}

/// All a parked session needs to go on: its heartbeat and idle clocks
/// (24 bytes: a dormant socket keeps it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Idle {
    last_heard: Stamp,
    last_message: Stamp,
    pong_due: Option<Stamp>,
}

impl Idle {
    /// When it last carried a message, either way (not a ping or a pong).
    pub(crate) fn last_message(&self) -> Instant {
        self.last_message.at()
    }

    fn of(last_heard: Instant, last_message: Instant, pong_due: Option<Instant>) -> Self {
        Self {
            last_heard: Stamp::of(last_heard),
            last_message: Stamp::of(last_message),
            pong_due: pong_due.map(Stamp::of),
        }
    }
}

/// A session's own state, without its borrows: what a dormant socket's step
/// hands to a task of its own when it found more to do than a step can.
pub(crate) struct Suspended {
    ws: Rc<WsShared>,
    asm: Assembler,
    wbuf: Vec<u8>,
    /// A close frame went out (ours, or our echo of the peer's).
    sent_close: bool,
    /// The peer's close frame arrived.
    got_close: bool,
    /// The peer's close (its code and reason), to answer once the messages
    /// that came before it were delivered and what the handler sent in
    /// reply is queued: our close frame goes out after those.
    peer_close: Option<Option<(u16, String)>>,
    /// We failed the connection (bad input): input is ignored from now on.
    failed: bool,
    close_deadline: Option<Instant>,
    /// Bytes the frame being parsed needs in the buffer.
    need: usize,
    last_heard: Instant,
    last_message: Instant,
    pong_due: Option<Instant>,
    seen: usize,
}

pub(crate) struct Session<'a, T: Transport> {
    sock: &'a T,
    role: Role,
    cfg: &'a WsConfig,
    drain: &'a DrainSignal,
    metrics: &'a ShardMetrics,
    st: Suspended,
    alarm: Alarm,
    /// A dormant socket's step: polled once by the shard's dormant set, which
    /// keeps the time instead of an alarm (see `next_deadline`).
    stepping: bool,
    /// When this session next has something to do on its own (a heartbeat,
    /// a timeout), as of the last poll.
    pub(crate) next_deadline: Option<Instant>,
}

/// After a session ended (`Closed` or `Dropped`): the close frame goes out
/// before the connection is shut down, and whatever else is queued never
/// will.
pub(crate) async fn wind_up<T: Transport>(sock: &T, ws: &WsShared, cfg: &WsConfig, ended: Ended) {
    if ended == Ended::Closed {
        let _ = glommio::timer::timeout(cfg.close_timeout, async {
            let _ = poll_fn(|cx| sock.poll_sent(cx, 0)).await;
            Ok(())
        })
        .await;
    }
    ws.out.borrow_mut().clear();
    ws.out_bytes.set(0);
}

impl Suspended {
    /// Nothing buffered or half-done, with these clocks.
    fn idle(
        ws: Rc<WsShared>,
        last_heard: Instant,
        last_message: Instant,
        pong_due: Option<Instant>,
    ) -> Self {
        Self {
            ws,
            asm: Assembler::default(),
            wbuf: Vec::new(),
            sent_close: false,
            got_close: false,
            peer_close: None,
            failed: false,
            close_deadline: None,
            need: 0,
            last_heard,
            last_message,
            pong_due,
            seen: 0,
        }
    }

    pub(crate) fn ws(&self) -> &Rc<WsShared> {
        &self.ws
    }
}

impl<'a, T: Transport> Session<'a, T> {
    /// A session on a socket just attached: the handler's end opens (or is
    /// closing, if it queued a close before the handshake).
    pub(crate) fn new(
        sock: &'a T,
        role: Role,
        ws: Rc<WsShared>,
        cfg: &'a WsConfig,
        drain: &'a DrainSignal,
        metrics: &'a ShardMetrics,
    ) -> Self {
        let now = Instant::now();
        ws.state.set(ReadyState::Open);
        if ws
            .out
            .borrow()
            .iter()
            .any(|o| matches!(o, Outbound::Close(_)))
        {
            ws.state.set(ReadyState::Closing);
        }
        let st = Suspended::idle(ws, now, now, None);
        Self::with(sock, role, st, cfg, drain, metrics, false)
    }

    /// A session that goes on from `st` (which a step, or an earlier task,
    /// left).
    pub(crate) fn resume(
        sock: &'a T,
        st: Suspended,
        cfg: &'a WsConfig,
        drain: &'a DrainSignal,
        metrics: &'a ShardMetrics,
    ) -> Self {
        Self::with(sock, Role::Server, st, cfg, drain, metrics, false)
    }

    /// A parked session, to be polled once (a dormant socket's step) with
    /// [`Self::step`].
    pub(crate) fn stepping(
        sock: &'a T,
        ws: Rc<WsShared>,
        idle: Idle,
        cfg: &'a WsConfig,
        drain: &'a DrainSignal,
        metrics: &'a ShardMetrics,
    ) -> Self {
        let st = Suspended::idle(
            ws,
            idle.last_heard.at(),
            idle.last_message.at(),
            idle.pong_due.map(Stamp::at),
        );
        Self::with(sock, Role::Server, st, cfg, drain, metrics, true)
    }

    fn with(
        sock: &'a T,
        role: Role,
        st: Suspended,
        cfg: &'a WsConfig,
        drain: &'a DrainSignal,
        metrics: &'a ShardMetrics,
        stepping: bool,
    ) -> Self {
        Self {
            sock,
            role,
            cfg,
            drain,
            metrics,
            st,
            alarm: Alarm::new(),
            stepping,
            next_deadline: None,
        }
    }

    /// One round: reads, delivers and sends what it can, and handles the
    /// deadlines that passed. `Pending` with [`Self::next_deadline`] set when
    /// the session must go on in a task (it is not idle).
    pub(crate) fn step(&mut self, cx: &mut Context<'_>) -> Poll<Ended> {
        self.poll(cx)
    }

    /// This session's state, for [`Self::resume`] in a task.
    pub(crate) fn suspend(self) -> Suspended {
        self.st
    }

    /// Whether the session is idle with nothing half-done, so that its socket
    /// may go dormant. (Sends still in flight are fine: their completion wakes
    /// the dormant socket.)
    fn may_park(&self) -> bool {
        self.st.ws.parkable.get()
            && self.role == Role::Server
            && !self.drain.is_draining()
            && !self.st.sent_close
            && !self.st.got_close
            && !self.st.failed
            && self.st.close_deadline.is_none()
            && self.st.need == 0
            && self.st.wbuf.is_empty()
            && self.st.asm.buffered() == 0
            && !self.st.ws.abandoned.get()
            && self.st.ws.relay_to.borrow().strong_count() == 0
            && self.st.ws.out.borrow().is_empty()
            && self.st.ws.events_pending() == 0
            && self.sock.rbuf().is_empty()
            && self.sock.recv_end().is_none()
    }

    fn idle(&self) -> Idle {
        Idle::of(self.st.last_heard, self.st.last_message, self.st.pong_due)
    }

    /// Runs the session to its end.
    pub(crate) async fn run(mut self) -> Ended {
        let ended = poll_fn(|cx| self.poll(cx)).await;
        tracing::debug!(?ended, "WebSocket session ended");
        if matches!(ended, Ended::Parked(_)) {
            return ended;
        }
        wind_up(self.sock, &self.st.ws, self.cfg, ended).await;
        ended
    }

    fn emit_close(&self, code: u16, reason: &str, was_clean: bool, why: CancelReason) {
        self.st.ws.cancel(why);
        if self.st.ws.state.get() != ReadyState::Closed {
            self.st.ws.emit(WsEvent::Close {
                code,
                reason: reason.to_string(),
                was_clean,
            });
        }
        self.st.ws.deliver();
    }

    fn send_close(&mut self, close: Option<(u16, &str)>, now: Instant) {
        if self.st.sent_close {
            return;
        }
        let payload = frame::close_payload(close);
        self.put_frame(Opcode::Close, &payload);
        self.st.sent_close = true;
        self.st.close_deadline = Some(now + self.cfg.close_timeout);
        if self.st.ws.state.get() == ReadyState::Open {
            self.st.ws.state.set(ReadyState::Closing);
        }
    }

    /// Fails the connection (RFC 6455 §7.1.7): close frame with the code,
    /// the handler sees an error and the close at once.
    fn fail(&mut self, v: Violation, now: Instant) {
        tracing::debug!(code = v.code, "failing WebSocket: {}", v.reason);
        self.st.failed = true;
        self.send_close(Some((v.code, v.reason)), now);
        if self.st.ws.state.get() != ReadyState::Closed {
            self.st.ws.emit(WsEvent::Error(v.reason.to_string()));
        }
        self.emit_close(v.code, v.reason, false, CancelReason::BadInput);
    }

    /// Parses what arrived. Returns `Some` when the session is over.
    fn read_frames(&mut self, now: Instant) -> Option<Ended> {
        let mut rbuf = self.sock.rbuf();
        // Message bytes parsed in this call (not yet delivered).
        let mut batch = 0usize;
        // Spliced sockets only: the other side's queue (it cannot drain
        // while this runs, so it is read once).
        let relay_room = (self.st.ws.relay_to.borrow().strong_count() > 0)
            .then(|| (self.cfg.max_buffered_bytes / 2).saturating_sub(self.st.ws.relay_backlog()));
        if self.st.got_close {
            rbuf.clear();
            return None;
        }
        if self.st.failed {
            // After failing the connection only the peer's close frame matters.
            while let Some(op) = frame::skip_frame(&mut rbuf) {
                if op == 0x8 {
                    self.st.got_close = true;
                    rbuf.clear();
                    break;
                }
            }
            return None;
        }
        while !rbuf.is_empty() {
            if self.st.ws.events_pending() >= MAX_PENDING_EVENTS {
                break;
            }
            // Spliced: each message goes into the other side's queue when
            // this batch is delivered, so parsing stops (the rest waits in
            // the buffer) once that queue plus this batch is over half the
            // limit; its draining wakes this session.
            if relay_room.is_some_and(|room| batch >= room) {
                break;
            }
            let parsed = frame::next_frame_from(
                &mut rbuf,
                self.st.asm.buffered(),
                self.cfg.max_message_bytes,
                &mut self.st.need,
                self.role == Role::Server,
            );
            let f = match parsed {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(v) => {
                    drop(rbuf);
                    self.fail(v, now);
                    return None;
                }
            };
            self.st.need = 0;
            self.st.pong_due = None;
            match f.kind {
                Kind::Ping => {
                    if !self.st.sent_close {
                        // A pong is a send like any other: past the limit,
                        // the peer that pings without reading is failed.
                        if self.backlog() + f.payload.len() + 2 > self.cfg.max_buffered_bytes {
                            drop(rbuf);
                            self.fail_full(now);
                            return None;
                        }
                        self.put_frame(Opcode::Pong, &f.payload);
                    }
                }
                Kind::Pong => {}
                Kind::Close => {
                    let close = match frame::parse_close(&f.payload) {
                        Ok(c) => c,
                        Err(v) => {
                            drop(rbuf);
                            self.fail(v, now);
                            return None;
                        }
                    };
                    self.st.got_close = true;
                    rbuf.clear();
                    drop(rbuf);
                    // Answered after the messages parsed before it were
                    // delivered (see `answer_close`); it ends at the
                    // close timeout if our answer cannot go out.
                    self.st.peer_close = Some(close);
                    self.st
                        .close_deadline
                        .get_or_insert(now + self.cfg.close_timeout);
                    return None;
                }
                Kind::Text | Kind::Binary | Kind::Continue => {
                    if self.st.sent_close {
                        continue; // closing: data is discarded
                    }
                    match self.st.asm.push(f) {
                        Ok(Some(m)) => {
                            self.st.last_message = now;
                            batch += m.bytes().len();
                            if self.role == Role::Server {
                                self.metrics.count_websockets(|c| c.messages_received += 1);
                            }
                            self.st.ws.emit(WsEvent::Message(m));
                        }
                        Ok(None) => {}
                        Err(v) => {
                            drop(rbuf);
                            self.fail(v, now);
                            return None;
                        }
                    }
                }
            }
        }
        None
    }

    /// Answers the peer's close once the messages that came before it were
    /// delivered: the echo of its code goes out behind whatever the handler
    /// queued in reply (RFC 6455 §5.5.1: the side that has not sent its
    /// close frame may still send data), then the handler sees the close.
    fn answer_close(&mut self, close: Option<(u16, String)>) {
        if !self.st.sent_close {
            // Echo the peer's code (an empty close gets an empty one).
            self.st
                .ws
                .out
                .borrow_mut()
                .push_back(Outbound::Close(close.clone()));
            if self.st.ws.state.get() == ReadyState::Open {
                self.st.ws.state.set(ReadyState::Closing);
            }
        }
        let (code, reason) = close.unwrap_or((1005, String::new()));
        self.emit_close(code, &reason, true, CancelReason::PeerClosed);
    }

    /// Bytes on their way to the peer: queued by the handler, framed here,
    /// and handed to the socket but not yet taken by the kernel.
    fn backlog(&self) -> usize {
        self.st.ws.out_bytes.get() + self.st.wbuf.len() + self.sock.queued().1
    }

    /// Fails a peer that does not read what it is sent (1008); what was not
    /// yet handed to the socket is dropped (whole frames: the write buffer
    /// only ever holds whole frames).
    fn fail_full(&mut self, now: Instant) {
        self.st.ws.out.borrow_mut().clear();
        self.st.ws.out_bytes.set(0);
        self.st.wbuf.clear();
        self.fail(
            Violation {
                code: 1008,
                reason: "send buffer full: the peer is not reading",
            },
            now,
        );
    }

    /// Moves what the handler queued into sends, as far as the socket keeps up.
    fn write_out(&mut self, cx: &mut Context<'_>, now: Instant) -> Result<(), ()> {
        if self.backlog() > self.cfg.max_buffered_bytes && !self.st.sent_close {
            self.fail_full(now);
        }
        while !self.st.sent_close {
            // One send in flight and one queued behind it is enough to keep
            // the socket busy; the rest waits (and counts as bufferedAmount).
            match self.sock.poll_sent(cx, 1) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => return Err(()),
                Poll::Pending => break,
            }
            let Some(out) = self.st.ws.take_out() else {
                if self.st.ws.abandoned.get() {
                    self.send_close(Some((1000, "")), now);
                }
                break;
            };
            match out {
                Outbound::Close(c) => {
                    self.send_close(c.as_ref().map(|(c, r)| (*c, r.as_str())), now);
                }
                Outbound::Message(m) => {
                    self.st.last_message = now;
                    if self.role == Role::Server {
                        self.metrics.count_websockets(|c| c.messages_sent += 1);
                    }
                    let (op, payload) = match m {
                        Message::Text(b) => (Opcode::Text, b),
                        Message::Binary(b) => (Opcode::Binary, b),
                    };
                    if payload.len() <= COPY_MAX || self.role == Role::Client {
                        // (A client's payload is masked, so always copied.)
                        self.put_frame(op, &payload);
                        if self.st.wbuf.len() < 64 * 1024 {
                            continue;
                        }
                        self.flush();
                    } else {
                        frame::write_header(&mut self.st.wbuf, op, payload.len());
                        let n = self
                            .sock
                            .send(&mut self.st.wbuf, std::slice::from_ref(&payload));
                        if self.role == Role::Server {
                            self.metrics.add_bytes_out(n);
                        }
                    }
                }
            }
        }
        self.flush();
        Ok(())
    }

    /// Appends a whole frame to the write buffer (masked for a client).
    fn put_frame(&mut self, op: Opcode, payload: &[u8]) {
        match self.role {
            Role::Server => {
                frame::write_header(&mut self.st.wbuf, op, payload.len());
                self.st.wbuf.extend_from_slice(payload);
            }
            Role::Client => frame::write_frame(&mut self.st.wbuf, op, payload, Some(next_mask())),
        }
    }

    /// Hands the framed bytes to the socket, unless it already has a send
    /// in flight and one queued behind it: then they wait here, in one
    /// buffer, until a send completes (every queued send costs a message
    /// of its own, far more than the few bytes of a pong).
    fn flush(&mut self) {
        if !self.st.wbuf.is_empty() && self.sock.queued().0 < 2 {
            self.flush_now();
        }
    }

    /// Hands the framed bytes to the socket now (the session is ending).
    fn flush_now(&mut self) {
        if !self.st.wbuf.is_empty() {
            let n = self.sock.send(&mut self.st.wbuf, &[]);
            if self.role == Role::Server {
                self.metrics.add_bytes_out(n);
            }
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Ended> {
        loop {
            let now = Instant::now();
            if self.drain.stage() == DrainStage::Forced {
                self.emit_close(1006, "server shut down", false, CancelReason::Shutdown);
                return Poll::Ready(Ended::Dropped);
            }
            let buffered = self.sock.rbuf().len();
            if buffered > self.st.seen {
                // (A client socket's bytes are outbound traffic, not counted.)
                if self.role == Role::Server {
                    self.metrics.add_bytes_in(buffered - self.st.seen);
                }
                self.st.last_heard = now;
                self.st.pong_due = None;
            }
            if let Some(end) = self.read_frames(now) {
                return Poll::Ready(end);
            }
            // The handler's listener runs here, so what it sends in answer
            // goes out below, in this same round.
            self.st.ws.deliver();
            if let Some(close) = self.st.peer_close.take() {
                self.answer_close(close);
            }
            if self.drain.is_draining() {
                self.send_close(Some((1001, "Going Away")), now);
            }
            if self.write_out(cx, now).is_err() {
                self.emit_close(1006, "", false, CancelReason::PeerReset);
                return Poll::Ready(Ended::Dropped);
            }
            if self.st.sent_close && self.st.got_close {
                // Handshake done; the server closes the TCP connection first.
                self.flush_now();
                return Poll::Ready(Ended::Closed);
            }
            // Timers.
            if self.st.close_deadline.is_some_and(|d| now >= d) {
                self.emit_close(
                    1006,
                    "close handshake timed out",
                    false,
                    CancelReason::Timeout,
                );
                self.flush_now();
                return Poll::Ready(Ended::Closed);
            }
            if self.st.pong_due.is_some_and(|d| now >= d) {
                tracing::debug!("WebSocket peer missed its heartbeat");
                self.emit_close(1006, "heartbeat timeout", false, CancelReason::Timeout);
                return Poll::Ready(Ended::Dropped);
            }
            if let Some(interval) = self.cfg.ping_interval {
                if self.st.pong_due.is_none()
                    && !self.st.sent_close
                    && now >= self.st.last_heard + interval
                {
                    self.put_frame(Opcode::Ping, &[]);
                    self.flush();
                    self.st.pong_due = Some(now + self.cfg.pong_timeout);
                    self.st.last_heard = now;
                }
            }
            if let Some(idle) = self.cfg.idle_timeout {
                if !self.st.sent_close && now >= self.st.last_message + idle {
                    self.send_close(Some((1001, "idle timeout")), now);
                    self.flush();
                }
            }
            // The end of the receive side.
            if let Some(end) = self.sock.recv_end() {
                if !self.st.got_close {
                    let why = match end {
                        RecvEnd::Eof => CancelReason::PeerClosed,
                        RecvEnd::Error(_) => CancelReason::PeerReset,
                    };
                    self.emit_close(1006, "", false, why);
                }
                return Poll::Ready(Ended::Dropped);
            }
            // Framed bytes wait for a send to complete (see `flush`): that
            // completion wakes us.
            if !self.st.wbuf.is_empty() {
                match self.sock.poll_sent(cx, 1) {
                    Poll::Ready(Ok(())) => {
                        self.flush();
                        continue;
                    }
                    Poll::Ready(Err(_)) => {
                        self.emit_close(1006, "", false, CancelReason::PeerReset);
                        return Poll::Ready(Ended::Dropped);
                    }
                    Poll::Pending => {}
                }
            }
            // Wait for input, the handler, a send, or the next deadline.
            self.st.seen = self.sock.rbuf().len();
            self.st.ws.set_session_waker(cx.waker());
            // Reading pauses while what waits to be handed to the socket
            // (the handler's queue and framed bytes: pongs too) is over half
            // the limit, so a peer that pings without reading stops being
            // read. What the socket already holds does not count here: a
            // peer that reads only after its own writes go through (an
            // echo) would otherwise wait for us while we wait for it.
            let backlogged =
                self.st.ws.out_bytes.get() + self.st.wbuf.len() > self.cfg.max_buffered_bytes / 2;
            let paused = self.st.ws.events_pending() >= MAX_PENDING_EVENTS
                || backlogged
                || self.st.ws.relay_backlog() > self.cfg.max_buffered_bytes / 2;
            let room = self.st.need.max(READ_AHEAD);
            let want = !paused && self.st.seen < room;
            if self.sock.poll_recv(cx, want).is_ready() && self.sock.rbuf().len() > self.st.seen {
                continue;
            }
            let deadline = [
                self.st.close_deadline,
                self.st.pong_due,
                self.cfg
                    .ping_interval
                    .filter(|_| self.st.pong_due.is_none() && !self.st.sent_close)
                    .map(|i| self.st.last_heard + i),
                self.cfg
                    .idle_timeout
                    .filter(|_| !self.st.sent_close)
                    .map(|i| self.st.last_message + i),
            ]
            .into_iter()
            .flatten()
            .min();
            if self.stepping {
                // The dormant set keeps the time; a passed deadline is
                // handled in this same step.
                if deadline.is_some_and(|d| now >= d) {
                    continue;
                }
                self.next_deadline = deadline;
                if self.may_park() {
                    return Poll::Ready(Ended::Parked(self.idle()));
                }
                return Poll::Pending;
            }
            if self.alarm.poll(cx, deadline) {
                continue;
            }
            if self.may_park() {
                return Poll::Ready(Ended::Parked(self.idle()));
            }
            return Poll::Pending;
        }
    }
}

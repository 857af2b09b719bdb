//! [`NetRing`]: the shard's own io_uring for sockets, woken from glommio.
//!
//! Why not glommio's sockets: glommio arms a one-shot io_uring poll after
//! every read and then reads with a syscall, so each request costs a poll
//! submission, its completion and a `recv`. Measured here on one core
//! (`bench/RESULTS.md`), that made a hello server spend more CPU per request
//! than tokio + hyper. This ring instead keeps, per connection, one
//! **multishot receive** into a **provided buffer ring**: data arrives as
//! completions with no syscall and no re-arm per request, and one
//! `io_uring_enter` per executor round collects the completions of every
//! connection at once (`COOP_TASKRUN`: the kernel does the completion work
//! on this thread when it next enters the kernel, with no inter-processor
//! interrupt while it runs, and wakes it at once when it sleeps).
//!
//! glommio stays the executor: a driver task submits and reaps once per
//! round. When the shard has nothing to do it sleeps in glommio's ring; the
//! ring's eventfd — enabled only for that sleep, read through glommio —
//! wakes it when a completion is posted.
//!
//! Why not `DEFER_TASKRUN` (used until issue 20): its completion work waits
//! for an `io_uring_enter(GETEVENTS)` on *this* ring, and the only thing that
//! can wake a thread asleep in glommio's ring is the eventfd. The kernel
//! signals that eventfd when the work is queued — in the softirq that
//! received the packet, where it may not signal an eventfd directly, so it
//! defers the signal to an RCU callback: an idle shard answered ~15 ms late
//! (measured; the `io_uring_task_add` of glommio's eventfd read ran in an RCU
//! callback 17 ms after the receive). With `COOP_TASKRUN` the receive wakes
//! the sleeping thread itself; the completion is posted, and the eventfd
//! signalled, from the thread's own task work.
//!
//! Sends go through the ring too (`sendmsg` with every buffer of a response),
//! in order per socket, owned by the ring until they complete, and submitted
//! together with every other socket's in the same `io_uring_enter`.
//!
//! Outbound connections start with a ring `connect` ([`NetRing::connect`]);
//! once connected they are sockets like accepted ones. The shard's ring is
//! reachable from anywhere on its thread through [`NetRing::current`].

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::os::fd::{FromRawFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use io_uring::types::BufRingEntry;
use io_uring::{IoUring, cqueue, opcode, squeue, types};

/// `io_uring_enter` flag: run and reap completions (linux/io_uring.h).
const IORING_ENTER_GETEVENTS: u32 = 1;

/// Buffer group id of the provided buffer ring.
const BGID: u16 = 0;

/// Bytes one arming of a connection's multishot receive may take (plus at
/// most one receive buffer) before it ends and waits for its reader to ask
/// again. With COOP_TASKRUN the kernel
/// runs a receive's work at every syscall of the shard's thread, so
/// between two rounds an unbounded multishot could drain a fast sender into
/// megabytes of buffers nobody asked for (a handler that does not read its
/// body, a WebSocket peer whose replies are not being taken): the reader's
/// own backpressure only takes effect when it next runs.
const RECV_ARM_BYTES: u32 = 256 * 1024;

/// Offset of `optlen` in an SQE (`io_uring_sqe`: the union with
/// `splice_fd_in`/`file_index`), which carries a multishot receive's byte
/// limit (Linux 6.16+; older kernels reject it, see `probe_recv_limit`).
const SQE_OPTLEN_OFFSET: usize = 44;

/// Sizes of a shard's network ring.
#[derive(Debug, Clone, Copy)]
pub struct NetRingConfig {
    /// Submission queue entries.
    pub entries: u32,
    /// Provided receive buffers (a power of two).
    pub recv_buffers: u16,
    /// Bytes per receive buffer.
    pub recv_buffer_size: usize,
    /// How long an idle shard waits in this ring before parking in glommio
    /// (`Config::idle_ring_wait`); zero: never.
    pub idle_wait: std::time::Duration,
}

impl Default for NetRingConfig {
    fn default() -> Self {
        Self {
            entries: 1024,
            recv_buffers: 512,
            recv_buffer_size: 8 * 1024,
            idle_wait: std::time::Duration::ZERO,
        }
    }
}

/// Why a socket's receive side ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvEnd {
    /// The peer sent FIN.
    Eof,
    /// The receive failed with this errno (e.g. `ECONNRESET`).
    Error(i32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RecvState {
    /// A multishot receive is in flight under this slot.
    Armed(u32),
    /// Not receiving (backpressure), or its cancellation is in flight.
    Paused,
    /// The receive side ended.
    Ended,
}

/// One connection's state shared with the ring. It owns the descriptor:
/// every in-flight operation holds an `Rc` of it, so the descriptor closes only
/// after the last operation naming its number has completed — a closed number
/// reused by a new connection can never receive another connection's bytes.
#[derive(Debug)]
pub struct RecvShared {
    owned: std::os::fd::OwnedFd,
    /// Bytes received and not yet consumed by the connection.
    pub buf: RefCell<BytesMut>,
    /// Bytes received since the socket was made.
    received: Cell<u64>,
    state: Cell<RecvState>,
    end: Cell<Option<RecvEnd>>,
    read_waker: RefCell<Option<Waker>>,
    /// Sends in order: the front one is in flight, the rest wait for it.
    tx_queue: RefCell<VecDeque<Box<SendMsg>>>,
    tx_error: Cell<Option<i32>>,
    tx_waker: RefCell<Option<Waker>>,
    /// Completed sends, emptied, reused for the next ones (no allocation per
    /// response once a connection has sent twice). Boxed: an SQE points at a
    /// message's `msghdr`, so a message must keep its address as it moves.
    tx_spare: RefCell<[Option<Box<SendMsg>>; 2]>,
    /// Keep no spare sends and no receive capacity between uses (a socket
    /// that is quiet for long: see [`NetRing::set_lean`]).
    lean: Cell<bool>,
}

/// One `sendmsg` in flight: owns every byte it points at until it completes.
struct SendMsg {
    head: Vec<u8>,
    chunks: Vec<Bytes>,
    /// Chunk-size lines for chunked framing, 18 bytes reserved per chunk.
    framing: Vec<u8>,
    iov: Vec<libc::iovec>,
    hdr: libc::msghdr,
    /// Index of the first iovec not fully sent.
    first: usize,
    remaining: usize,
}

impl std::fmt::Debug for SendMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendMsg")
            .field("remaining", &self.remaining)
            .finish()
    }
}

impl SendMsg {
    /// An empty message whose buffers start with `head_capacity` bytes.
    fn new(head_capacity: usize) -> Box<SendMsg> {
        Box::new(SendMsg {
            head: Vec::with_capacity(head_capacity),
            chunks: Vec::new(),
            framing: Vec::new(),
            iov: Vec::new(),
            // SAFETY: msghdr is plain data; zeroed means no name and no control data.
            hdr: unsafe { std::mem::zeroed() },
            first: 0,
            remaining: 0,
        })
    }

    /// Takes `head`'s bytes (leaving it this message's emptied buffer, capacity
    /// kept) and `chunks`, and points the iovecs at them.
    fn fill(&mut self, head: &mut Vec<u8>, chunks: &[Bytes], chunked: bool) {
        std::mem::swap(&mut self.head, head);
        self.chunks.extend_from_slice(chunks);
        if chunked {
            self.framing.resize(chunks.len() * 18, 0);
        }
        let io = |p: *const u8, len: usize| libc::iovec {
            iov_base: p as *mut libc::c_void,
            iov_len: len,
        };
        if !self.head.is_empty() {
            self.iov.push(io(self.head.as_ptr(), self.head.len()));
        }
        for (i, c) in self.chunks.iter().enumerate() {
            if chunked {
                let line: &mut [u8; 18] = (&mut self.framing[i * 18..i * 18 + 18])
                    .try_into()
                    .expect("18 bytes");
                let n = crate::http::chunked::write_chunk_header(c.len(), line);
                self.iov.push(io(self.framing[i * 18..].as_ptr(), n));
            }
            self.iov.push(io(c.as_ptr(), c.len()));
            if chunked {
                self.iov
                    .push(io(crate::http::chunked::CHUNK_TRAILER.as_ptr(), 2));
            }
        }
        self.first = 0;
        self.remaining = self.iov.iter().map(|v| v.iov_len).sum();
        self.aim();
    }

    /// Forgets the sent bytes, keeping every buffer's capacity for reuse.
    fn clear(&mut self) {
        self.head.clear();
        self.chunks.clear();
        self.framing.clear();
        self.iov.clear();
        self.first = 0;
        self.remaining = 0;
    }

    /// Points the header at the unsent iovecs (the Box keeps addresses stable).
    fn aim(&mut self) {
        let rest = &mut self.iov[self.first..];
        self.hdr.msg_iov = rest.as_mut_ptr();
        self.hdr.msg_iovlen = rest.len().min(1024) as _;
    }

    /// Records `n` more bytes sent; returns whether everything was.
    fn advance(&mut self, mut n: usize) -> bool {
        self.remaining = self.remaining.saturating_sub(n);
        while n > 0 && self.first < self.iov.len() {
            let v = &mut self.iov[self.first];
            if n >= v.iov_len {
                n -= v.iov_len;
                self.first += 1;
            } else {
                // SAFETY: still within the same buffer.
                v.iov_base = unsafe { (v.iov_base as *mut u8).add(n) } as *mut libc::c_void;
                v.iov_len -= n;
                n = 0;
            }
        }
        self.aim();
        self.remaining == 0
    }

    fn sqe(&self, slot: u32, fd: RawFd) -> squeue::Entry {
        opcode::SendMsg::new(types::Fd(fd), &self.hdr)
            .flags(libc::MSG_NOSIGNAL as u32)
            .build()
            .user_data(slot as u64)
    }
}

/// A `connect` in flight: owns the socket and the address the kernel reads
/// until the operation completes, even if its future was dropped.
#[derive(Debug)]
struct ConnectShared {
    fd: RefCell<Option<std::os::fd::OwnedFd>>,
    addr: socket2::SockAddr,
    /// The completion's result, once it arrived.
    result: Cell<Option<i32>>,
    waker: RefCell<Option<Waker>>,
}

/// A multishot accept on a listener.
#[derive(Debug)]
struct AcceptShared {
    ready: RefCell<VecDeque<io::Result<RawFd>>>,
    waker: RefCell<Option<Waker>>,
    armed: Cell<bool>,
}

#[derive(Debug)]
enum Op {
    Recv(Rc<RecvShared>),
    Accept(Rc<AcceptShared>),
    Send(Rc<RecvShared>),
    Connect(Rc<ConnectShared>),
    Timer(Rc<TimerShared>),
    /// A cancellation request; its own completion carries nothing.
    Cancel,
}

/// A timeout in flight: its duration (the kernel reads it from here until
/// the completion), whether it fired, and who waits.
struct TimerShared {
    ts: types::Timespec,
    done: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

struct BufRing {
    /// The ring of entries the kernel takes buffers from.
    entries: *mut BufRingEntry,
    entries_len: usize,
    tail: Cell<u16>,
    mask: u16,
    size: usize,
    memory: Box<[u8]>,
}

impl BufRing {
    fn give(&self, bid: u16) {
        let t = self.tail.get();
        // SAFETY: `entries` points at `mask + 1` entries we own; the slot at
        // `tail` is not visible to the kernel until the tail store below.
        unsafe {
            let e = &mut *self.entries.add((t & self.mask) as usize);
            e.set_addr(self.memory.as_ptr().add(bid as usize * self.size) as u64);
            e.set_len(self.size as u32);
            e.set_bid(bid);
        }
        self.tail.set(t.wrapping_add(1));
    }

    fn publish(&self) {
        // SAFETY: the tail field lives inside the first entry's reserved bytes.
        unsafe {
            let tail = BufRingEntry::tail(self.entries) as *mut u16;
            AtomicU16::from_ptr(tail).store(self.tail.get(), Ordering::Release);
        }
    }

    fn buffer(&self, bid: u16, len: usize) -> &[u8] {
        let start = bid as usize * self.size;
        &self.memory[start..start + len.min(self.size)]
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: mapped in `NetRing::new` with this length.
        unsafe {
            libc::munmap(self.entries as *mut libc::c_void, self.entries_len);
        }
    }
}

/// A shard's network io_uring. Shard-local (`Rc`); not `Send`.
pub struct NetRing {
    ring: RefCell<IoUring<squeue::Entry, cqueue::Entry>>,
    /// The shard's metrics (ring counters), when running on a shard.
    metrics: Option<Rc<ringworker_core::ShardMetrics>>,
    bufs: BufRing,
    ops: RefCell<Vec<Option<Op>>>,
    free_ops: RefCell<Vec<u32>>,
    /// SQEs that did not fit the submission queue yet.
    backlog: RefCell<VecDeque<squeue::Entry>>,
    driver_waker: RefCell<Option<Waker>>,
    kicked: Cell<bool>,
    /// Completions taken from the queue in one batch (reused allocation).
    scratch: RefCell<Vec<cqueue::Entry>>,
    eventfd: RawFd,
    stopped: Cell<bool>,
    /// Shard-wide services that live as long as the ring runs (the outbound
    /// client): dropped at `stop`, inside the executor, not at thread exit.
    locals: RefCell<Vec<Rc<dyn std::any::Any>>>,
    /// How long an idle driver waits in this ring itself before parking
    /// the executor (see [`NetRing::wait_briefly`]); zero: never.
    idle_wait: std::time::Duration,
    /// Moving average of how long the shard stayed idle, in ns.
    idle_gap_ns: Cell<u64>,
    /// When the driver last parked in glommio (which then ran its timers).
    last_park: Cell<std::time::Instant>,
    /// The kernel ends a multishot receive after [`RECV_ARM_BYTES`] (else
    /// the ring cancels it once that much is buffered, which bounds less
    /// well: a receive the kernel is running cannot be cancelled).
    recv_limit: bool,
}

impl std::fmt::Debug for NetRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetRing")
            .field("ops", &self.ops.borrow().len())
            .finish()
    }
}

fn last_err() -> io::Error {
    io::Error::last_os_error()
}

thread_local! {
    /// The ring started last on this thread (a shard has one), while it runs.
    /// Weak: the thread-local must not keep a stopped ring alive.
    static CURRENT: RefCell<std::rc::Weak<NetRing>> = const { RefCell::new(std::rc::Weak::new()) };
}

impl NetRing {
    /// Sets up the ring, its provided buffers and its eventfd, and spawns the
    /// driver tasks on the current glommio executor.
    pub fn start(cfg: NetRingConfig) -> io::Result<Rc<NetRing>> {
        let mut ring = IoUring::builder()
            .setup_single_issuer()
            .setup_coop_taskrun()
            .setup_taskrun_flag()
            .setup_submit_all()
            .build(cfg.entries)
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("io_uring setup (kernel 6.1+ needed): {e}"),
                )
            })?;
        let nbuf = cfg.recv_buffers.next_power_of_two().max(8);
        let entries_len = nbuf as usize * std::mem::size_of::<BufRingEntry>();
        // SAFETY: an anonymous private mapping, page-aligned as the kernel requires.
        let mem = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                entries_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_ANONYMOUS | libc::MAP_PRIVATE,
                -1,
                0,
            )
        };
        if mem == libc::MAP_FAILED {
            return Err(last_err());
        }
        let bufs = BufRing {
            entries: mem as *mut BufRingEntry,
            entries_len,
            tail: Cell::new(0),
            mask: nbuf - 1,
            size: cfg.recv_buffer_size,
            memory: vec![0u8; nbuf as usize * cfg.recv_buffer_size].into_boxed_slice(),
        };
        // SAFETY: the entries stay mapped (and the buffers allocated) for the
        // ring's life; `BufRing` is dropped after the ring in `NetRing`.
        unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(mem as u64, nbuf, BGID, 0)?;
        }
        for bid in 0..nbuf {
            bufs.give(bid);
        }
        bufs.publish();
        // SAFETY: plain syscall.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if efd < 0 {
            return Err(last_err());
        }
        let recv_limit = probe_recv_limit(&mut ring, &bufs);
        ring.submitter().register_eventfd(efd)?;
        // Quiet until the shard is about to sleep (`drive`): a busy shard
        // reaps every round anyway, and a signal per completion would cost
        // glommio a read and a re-arm each.
        ring.completion().disable_eventfd();
        let net = Rc::new(NetRing {
            ring: RefCell::new(ring),
            metrics: ringworker_core::ShardMetrics::current(),
            bufs,
            ops: RefCell::new(Vec::new()),
            free_ops: RefCell::new(Vec::new()),
            backlog: RefCell::new(VecDeque::new()),
            driver_waker: RefCell::new(None),
            kicked: Cell::new(false),
            scratch: RefCell::new(Vec::with_capacity(256)),
            eventfd: efd,
            stopped: Cell::new(false),
            idle_wait: cfg.idle_wait,
            idle_gap_ns: Cell::new(LONG_IDLE_GAP_NS),
            last_park: Cell::new(std::time::Instant::now()),
            recv_limit,
            locals: RefCell::new(Vec::new()),
        });
        glommio::spawn_local(drive(net.clone())).detach();
        glommio::spawn_local(doorbell(net.clone())).detach();
        CURRENT.with(|c| *c.borrow_mut() = Rc::downgrade(&net));
        Ok(net)
    }

    /// The ring started on this thread (the shard's), while it runs: lets
    /// layers that were not handed it (the script's `fetch()`) reach it.
    pub fn current() -> Option<Rc<NetRing>> {
        CURRENT
            .with(|c| c.borrow().upgrade())
            .filter(|r| !r.stopped.get())
    }

    /// The shard-wide `T` kept with this ring, if one was set.
    pub fn local<T: 'static>(&self) -> Option<Rc<T>> {
        self.locals
            .borrow()
            .iter()
            .find_map(|l| l.clone().downcast::<T>().ok())
    }

    /// Keeps `value` with the ring until [`stop`](Self::stop), replacing a
    /// `T` set before. For per-shard services reached through
    /// [`current`](Self::current) (the outbound client).
    pub fn set_local<T: 'static>(&self, value: Rc<T>) {
        let old = self.take_local::<T>();
        self.locals.borrow_mut().push(value);
        drop(old);
    }

    /// Takes the shard-wide `T` out, if one was set.
    pub fn take_local<T: 'static>(&self) -> Option<Rc<T>> {
        let mut locals = self.locals.borrow_mut();
        let i = locals.iter().position(|l| l.is::<T>())?;
        locals.swap_remove(i).downcast::<T>().ok()
    }

    /// Stops the driver tasks (at shard exit) and drops the services kept
    /// with the ring.
    pub fn stop(&self) {
        // Dropped outside the borrow: their drop may use the ring (closing
        // pooled connections), so submit what they queued once more.
        let locals = std::mem::take(&mut *self.locals.borrow_mut());
        if !locals.is_empty() {
            drop(locals);
            self.pump();
        }
        self.stopped.set(true);
        CURRENT.with(|c| {
            let mut c = c.borrow_mut();
            if std::ptr::eq(c.as_ptr(), self) {
                *c = std::rc::Weak::new();
            }
        });
        self.kick();
    }

    fn kick(&self) {
        if !self.kicked.replace(true) {
            if let Some(w) = self.driver_waker.borrow().as_ref() {
                w.wake_by_ref();
            }
        }
    }

    /// Submits the queued SQEs now, without waiting for completions.
    fn submit_now(&self) {
        let r = self.ring.borrow_mut().submit();
        if let Some(m) = &self.metrics {
            m.ring_enter(0);
        }
        if let Err(e) = r {
            if e.raw_os_error() != Some(libc::EINTR) && e.raw_os_error() != Some(libc::EBUSY) {
                tracing::error!("io_uring_enter failed: {e}");
            }
        }
    }

    fn add_op(&self, op: Op) -> u32 {
        let mut ops = self.ops.borrow_mut();
        match self.free_ops.borrow_mut().pop() {
            Some(i) => {
                ops[i as usize] = Some(op);
                i
            }
            None => {
                ops.push(Some(op));
                (ops.len() - 1) as u32
            }
        }
    }

    fn free_op(&self, slot: u32) -> Option<Op> {
        let op = self.ops.borrow_mut()[slot as usize].take();
        self.free_ops.borrow_mut().push(slot);
        op
    }

    fn push(&self, sqe: squeue::Entry) {
        let mut ring = self.ring.borrow_mut();
        // SAFETY: every buffer an SQE points at is owned by the ring (provided
        // buffers) or lives in an `Rc` held by its op slot until completion.
        if unsafe { ring.submission().push(&sqe) }.is_err() {
            self.backlog.borrow_mut().push_back(sqe);
        }
        drop(ring);
        self.kick();
    }

    /// Takes ownership of a connection socket and starts receiving on it.
    pub fn socket(self: &Rc<Self>, owned: std::os::fd::OwnedFd) -> Rc<RecvShared> {
        let s = Rc::new(RecvShared {
            owned,
            buf: RefCell::new(BytesMut::with_capacity(8 * 1024)),
            received: Cell::new(0),
            state: Cell::new(RecvState::Paused),
            end: Cell::new(None),
            read_waker: RefCell::new(None),
            tx_queue: RefCell::new(VecDeque::new()),
            tx_error: Cell::new(None),
            tx_waker: RefCell::new(None),
            tx_spare: RefCell::new([None, None]),
            lean: Cell::new(false),
        });
        self.arm_recv(&s);
        s
    }

    fn arm_recv(&self, s: &Rc<RecvShared>) {
        let slot = self.add_op(Op::Recv(s.clone()));
        s.state.set(RecvState::Armed(slot));
        self.push(recv_sqe(s.fd(), slot, self.recv_limit));
    }

    fn cancel(&self, slot: u32) {
        let c = self.add_op(Op::Cancel);
        self.push(
            opcode::AsyncCancel::new(slot as u64)
                .build()
                .user_data(c as u64),
        );
    }

    /// Polls for received data or the end of the receive side. `want` says
    /// whether the connection has room for more: without room the receive is
    /// paused (backpressure reaches the client's TCP window).
    ///
    /// Ready only once the receive side ended; until then it wakes `cx`
    /// when bytes arrive, so a caller looks at the buffer before polling.
    pub fn poll_recv(
        self: &Rc<Self>,
        s: &Rc<RecvShared>,
        cx: &mut Context<'_>,
        want: bool,
    ) -> Poll<()> {
        match (s.state.get(), want) {
            (RecvState::Paused, true) if s.end.get().is_none() => self.arm_recv(s),
            (RecvState::Armed(slot), false) => {
                s.state.set(RecvState::Paused);
                self.cancel(slot);
                // At once, not at the end of the round: the thread's other
                // syscalls meanwhile run the kernel's completion work
                // (COOP_TASKRUN), and the multishot receive would go on
                // filling buffers for a reader that asked to stop.
                self.submit_now();
            }
            _ => {}
        }
        if s.end.get().is_some() {
            return Poll::Ready(());
        }
        let mut w = s.read_waker.borrow_mut();
        if !w.as_ref().is_some_and(|x| x.will_wake(cx.waker())) {
            *w = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Queues `head` followed by `chunks` (with chunked framing if `chunked`)
    /// to be sent after everything queued before. The bytes are owned by the
    /// send until it completes; `head` is left empty (a recycled buffer) for reuse.
    /// Sends go out together with every other socket's at the driver's next round.
    pub fn send(
        &self,
        s: &Rc<RecvShared>,
        head: &mut Vec<u8>,
        chunks: &[Bytes],
        chunked: bool,
    ) -> usize {
        // A recycled message, or a fresh one whose buffer is as large as this
        // head, so the writer does not regrow from nothing meanwhile.
        let mut msg = s
            .take_spare()
            .unwrap_or_else(|| SendMsg::new(head.capacity().max(1024)));
        msg.fill(head, chunks, chunked);
        let len = msg.remaining;
        if len == 0 {
            s.keep_spare(msg);
            return 0;
        }
        let mut q = s.tx_queue.borrow_mut();
        q.push_back(msg);
        if q.len() == 1 {
            let slot = self.add_op(Op::Send(s.clone()));
            let sqe = q[0].sqe(slot, s.fd());
            drop(q);
            self.push(sqe);
        }
        len
    }

    /// Ready once at most `max_queued` sends are queued (including the one in
    /// flight), or with the errno that failed a send.
    pub fn poll_sent(
        &self,
        s: &Rc<RecvShared>,
        cx: &mut Context<'_>,
        max_queued: usize,
    ) -> Poll<Result<(), i32>> {
        if let Some(e) = s.tx_error.get() {
            return Poll::Ready(Err(e));
        }
        if s.tx_queue.borrow().len() <= max_queued {
            return Poll::Ready(Ok(()));
        }
        *s.tx_waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }

    /// The sends queued on a socket (the one in flight included) and the
    /// bytes they have left to send.
    pub fn queued(&self, s: &Rc<RecvShared>) -> (usize, usize) {
        let q = s.tx_queue.borrow();
        (q.len(), q.iter().map(|m| m.remaining).sum())
    }

    /// Gives back the buffer memory an idle long-lived connection (an
    /// upgraded WebSocket) does not need: an empty receive buffer's capacity
    /// and all but one small spare send.
    pub fn shrink_buffers(&self, s: &Rc<RecvShared>) {
        {
            let mut buf = s.buf.borrow_mut();
            if buf.is_empty() && buf.capacity() > 0 {
                *buf = BytesMut::new();
            }
        }
        if s.lean.get() {
            // Nothing kept: not even the queues' capacity.
            *s.tx_spare.borrow_mut() = [None, None];
            let mut q = s.tx_queue.borrow_mut();
            if q.is_empty() && q.capacity() > 0 {
                *q = VecDeque::new();
            }
            return;
        }
        let mut spare = s.tx_spare.borrow_mut();
        spare[1] = None;
        if let Some(m) = spare[0].as_mut() {
            m.head = Vec::new();
            m.chunks = Vec::new();
            m.framing = Vec::new();
            m.iov = Vec::new();
        }
    }

    /// A lean socket keeps no spare sends: each send allocates its message
    /// and frees it on completion. For sockets quiet for long stretches,
    /// where a few hundred bytes per socket matter more than an allocation
    /// per send. Returns whether it was lean already.
    pub fn set_lean(&self, s: &Rc<RecvShared>, lean: bool) -> bool {
        let was = s.lean.replace(lean);
        if lean {
            self.shrink_buffers(s);
        }
        was
    }

    /// Stops receiving on a socket that is being closed and drops the sends
    /// not yet handed to the kernel. The descriptor closes once the last
    /// in-flight operation completes.
    pub fn release(&self, s: &Rc<RecvShared>) {
        if let RecvState::Armed(slot) = s.state.get() {
            self.cancel(slot);
        }
        s.state.set(RecvState::Ended);
        let mut q = s.tx_queue.borrow_mut();
        q.truncate(1); // the front one is in flight; the rest never will be
    }

    /// Connects the non-blocking TCP socket `fd` to `addr` through the ring.
    /// Resolves with the socket once connected, ready for [`NetRing::socket`].
    ///
    /// # Cancel safety
    /// Dropping the future cancels the connect; the socket closes once the
    /// kernel has let go of it.
    pub fn connect(
        self: &Rc<Self>,
        fd: std::os::fd::OwnedFd,
        addr: socket2::SockAddr,
    ) -> Connecting {
        use std::os::fd::AsRawFd;
        let raw = fd.as_raw_fd();
        let c = Rc::new(ConnectShared {
            fd: RefCell::new(Some(fd)),
            addr,
            result: Cell::new(None),
            waker: RefCell::new(None),
        });
        let slot = self.add_op(Op::Connect(c.clone()));
        // The address lives in `c`, which the op slot keeps until completion.
        self.push(
            opcode::Connect::new(types::Fd(raw), c.addr.as_ptr(), c.addr.len())
                .build()
                .user_data(slot as u64),
        );
        Connecting {
            ring: self.clone(),
            shared: c,
            slot,
        }
    }

    /// Completes after `d`, as a completion of this ring: a shard waiting
    /// in its ring for network events (`idle_wait`) wakes for it directly,
    /// without glommio's timer wheel and park. Dropping it cancels it.
    pub fn sleep(self: &Rc<Self>, d: std::time::Duration) -> RingSleep {
        let t = Rc::new(TimerShared {
            ts: types::Timespec::from(d),
            done: Cell::new(false),
            waker: RefCell::new(None),
        });
        let slot = self.add_op(Op::Timer(t.clone()));
        // The timespec lives in `t`, which the op slot keeps until completion.
        self.push(
            opcode::Timeout::new(&t.ts as *const types::Timespec)
                .build()
                .user_data(slot as u64),
        );
        RingSleep {
            ring: self.clone(),
            shared: t,
            slot,
        }
    }

    /// Starts a multishot accept on `listener`.
    pub fn listen(self: &Rc<Self>, listener: RawFd) -> Acceptor {
        let a = Rc::new(AcceptShared {
            ready: RefCell::new(VecDeque::new()),
            waker: RefCell::new(None),
            armed: Cell::new(false),
        });
        let acc = Acceptor {
            ring: self.clone(),
            fd: listener,
            shared: a,
            slot: Cell::new(None),
        };
        acc.arm();
        acc
    }

    /// Submits queued SQEs, runs deferred completions and dispatches them.
    /// Returns how many completions were handled.
    fn pump(&self) -> usize {
        {
            let mut ring = self.ring.borrow_mut();
            let mut backlog = self.backlog.borrow_mut();
            while let Some(sqe) = backlog.front() {
                // SAFETY: as in `push`.
                if unsafe { ring.submission().push(sqe) }.is_err() {
                    break;
                }
                backlog.pop_front();
            }
            let (to_submit, work_due) = {
                let mut sq = ring.submission();
                sq.sync();
                (sq.len() as u32, sq.taskrun() || sq.cq_overflow())
            };
            // The TASKRUN flag says the kernel has completion work queued for
            // this thread (it would run at the next syscall of any kind);
            // without it and without anything to submit, an idle round
            // costs no syscall.
            let r = if to_submit > 0 || work_due {
                // SAFETY: no extended argument.
                unsafe {
                    ring.submitter().enter::<libc::sigset_t>(
                        to_submit,
                        0,
                        IORING_ENTER_GETEVENTS,
                        None,
                    )
                }
            } else {
                Ok(0)
            };
            if to_submit > 0 || work_due {
                if let Some(m) = &self.metrics {
                    m.ring_enter(to_submit);
                }
            }
            if let Err(e) = r {
                if e.raw_os_error() != Some(libc::EINTR) && e.raw_os_error() != Some(libc::EBUSY) {
                    tracing::error!("io_uring_enter failed: {e}");
                }
            }
        }
        let mut handled = 0;
        let mut cqes = std::mem::take(&mut *self.scratch.borrow_mut());
        loop {
            {
                let mut ring = self.ring.borrow_mut();
                cqes.extend(ring.completion().take(256));
            }
            if cqes.is_empty() {
                break;
            }
            handled += cqes.len();
            for c in cqes.drain(..) {
                self.complete(c);
            }
        }
        *self.scratch.borrow_mut() = cqes;
        if handled > 0 {
            self.bufs.publish();
            if let Some(m) = &self.metrics {
                m.ring_completions(handled);
            }
        }
        handled
    }

    fn note_idle_gap(&self, gap: std::time::Duration) {
        let g = gap.as_nanos().min(u128::from(u32::MAX)) as u64;
        self.idle_gap_ns.set((self.idle_gap_ns.get() * 7 + g) / 8);
    }

    /// Waits up to `max` in this ring's own `io_uring_enter` for a
    /// completion: an idle shard whose next event comes soon takes it
    /// without a trip through glommio's park (timer re-arms, its rings, the
    /// eventfd read). Returns whether completions are due. glommio's own
    /// timers and wake-ups wait meanwhile (at most `max`).
    fn wait_briefly(&self, max: std::time::Duration) -> bool {
        let mut ring = self.ring.borrow_mut();
        let ts = types::Timespec::from(max);
        let args = types::SubmitArgs::new().timespec(&ts);
        let r = ring.submitter().submit_with_args(1, &args);
        if let Some(m) = &self.metrics {
            m.ring_enter(0);
        }
        match r {
            Ok(_) => true,
            // ETIME: nothing came; EINTR: look again anyway.
            Err(e) => Self::work_due(&mut ring) || e.raw_os_error() != Some(libc::ETIME),
        }
    }

    /// Whether completions are posted or completion work is queued.
    fn work_due(ring: &mut IoUring) -> bool {
        let mut sq = ring.submission();
        sq.sync();
        sq.taskrun() || sq.cq_overflow() || {
            drop(sq);
            !ring.completion().is_empty()
        }
    }

    /// Before the shard sleeps in glommio: lets completions ring the
    /// eventfd, unless some are due already (then returns false and stays
    /// quiet: the caller pumps instead of sleeping). Work queued before the
    /// eventfd was enabled rang no bell, so it is looked for after.
    fn enable_doorbell(&self) -> bool {
        let mut ring = self.ring.borrow_mut();
        ring.completion().enable_eventfd();
        if Self::work_due(&mut ring) {
            ring.completion().disable_eventfd();
            return false;
        }
        true
    }

    /// After the sleep: back to reaping every round without the eventfd.
    fn disable_doorbell(&self) {
        self.ring.borrow_mut().completion().disable_eventfd();
    }

    fn complete(&self, c: cqueue::Entry) {
        let slot = c.user_data() as u32;
        let more = cqueue::more(c.flags());
        let res = c.result();
        let op = {
            let ops = self.ops.borrow();
            match ops.get(slot as usize) {
                Some(Some(Op::Recv(s))) => Some(Op::Recv(s.clone())),
                Some(Some(Op::Accept(a))) => Some(Op::Accept(a.clone())),
                Some(Some(Op::Send(s))) => Some(Op::Send(s.clone())),
                Some(Some(Op::Connect(c))) => Some(Op::Connect(c.clone())),
                Some(Some(Op::Timer(t))) => Some(Op::Timer(t.clone())),
                Some(Some(Op::Cancel)) => Some(Op::Cancel),
                _ => None,
            }
        };
        match op {
            Some(Op::Recv(s)) => {
                if let Some(bid) = cqueue::buffer_select(c.flags()) {
                    if res > 0 {
                        s.buf
                            .borrow_mut()
                            .extend_from_slice(self.bufs.buffer(bid, res as usize));
                        s.received.set(s.received.get() + res as u64);
                    }
                    self.bufs.give(bid);
                }
                let current = s.state.get() == RecvState::Armed(slot);
                if res == 0 {
                    s.end.set(Some(RecvEnd::Eof));
                } else if res < 0 && res != -libc::ENOBUFS && res != -libc::ECANCELED {
                    s.end.set(Some(RecvEnd::Error(-res)));
                }
                if !more {
                    self.free_op(slot);
                    if current {
                        if s.end.get().is_some() {
                            s.state.set(RecvState::Ended);
                        } else if res == -libc::ENOBUFS {
                            // Out of provided buffers: receive again.
                            self.arm_recv(&s);
                        } else {
                            // Its byte limit reached (or cancelled): the
                            // reader arms it again when it wants more.
                            s.state.set(RecvState::Paused);
                        }
                    }
                } else if current
                    && !self.recv_limit
                    && s.buf.borrow().len() >= RECV_ARM_BYTES as usize
                {
                    // No byte limit in this kernel: stop it from here.
                    s.state.set(RecvState::Paused);
                    self.cancel(slot);
                    self.submit_now();
                }
                if let Some(w) = s.read_waker.borrow().as_ref() {
                    w.wake_by_ref();
                }
            }
            Some(Op::Send(s)) => {
                self.free_op(slot);
                let mut q = s.tx_queue.borrow_mut();
                if res < 0 {
                    s.tx_error.set(Some(-res));
                    q.clear();
                } else {
                    let done = q.front_mut().is_none_or(|m| m.advance(res as usize));
                    if done {
                        if let Some(m) = q.pop_front() {
                            s.keep_spare(m);
                        }
                    }
                    // The next send (or the rest of a partial one) goes out now.
                    if let Some(front) = q.front() {
                        let slot = self.add_op(Op::Send(s.clone()));
                        let sqe = front.sqe(slot, s.fd());
                        drop(q);
                        self.push(sqe);
                    }
                }
                if let Some(w) = s.tx_waker.borrow_mut().take() {
                    w.wake();
                }
            }
            Some(Op::Accept(a)) => {
                a.ready.borrow_mut().push_back(if res >= 0 {
                    Ok(res)
                } else {
                    Err(io::Error::from_raw_os_error(-res))
                });
                if !more {
                    self.free_op(slot);
                    a.armed.set(false);
                }
                if let Some(w) = a.waker.borrow().as_ref() {
                    w.wake_by_ref();
                }
            }
            Some(Op::Connect(c)) => {
                self.free_op(slot);
                c.result.set(Some(res));
                if let Some(w) = c.waker.borrow_mut().take() {
                    w.wake();
                }
            }
            Some(Op::Timer(t)) => {
                self.free_op(slot);
                t.done.set(true);
                if let Some(w) = t.waker.borrow_mut().take() {
                    w.wake();
                }
            }
            Some(Op::Cancel) => {
                self.free_op(slot);
            }
            None => {}
        }
    }
}

/// A timer on the shard's network ring (see [`NetRing::sleep`]).
#[derive(Debug)]
pub struct RingSleep {
    ring: Rc<NetRing>,
    shared: Rc<TimerShared>,
    slot: u32,
}

impl std::fmt::Debug for TimerShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimerShared")
            .field("done", &self.done.get())
            .finish()
    }
}

impl std::future::Future for RingSleep {
    type Output = ();

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.shared.done.get() {
            return Poll::Ready(());
        }
        let mut w = self.shared.waker.borrow_mut();
        if !w.as_ref().is_some_and(|x| x.will_wake(cx.waker())) {
            *w = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl Drop for RingSleep {
    fn drop(&mut self) {
        if !self.shared.done.get() {
            // Still pending in the kernel: cancel it (the slot keeps the
            // timespec alive until the cancelled completion arrives).
            self.ring.cancel(self.slot);
        }
    }
}

impl Drop for NetRing {
    fn drop(&mut self) {
        // SAFETY: our eventfd.
        unsafe {
            libc::close(self.eventfd);
        }
    }
}

/// A multishot receive on `fd` under op `slot`, limited to
/// [`RECV_ARM_BYTES`] where the kernel can (`limit`).
fn recv_sqe(fd: RawFd, slot: u32, limit: bool) -> squeue::Entry {
    let sqe = opcode::RecvMulti::new(types::Fd(fd), BGID)
        .build()
        .user_data(slot as u64);
    if !limit {
        return sqe;
    }
    // SAFETY: `Entry` is `repr(C)` over the 64-byte `io_uring_sqe`; the u32
    // at `SQE_OPTLEN_OFFSET` is its `optlen` (the io-uring crate has no
    // setter for it yet).
    unsafe {
        let mut raw: [u8; 64] = std::mem::transmute(sqe);
        raw[SQE_OPTLEN_OFFSET..SQE_OPTLEN_OFFSET + 4]
            .copy_from_slice(&RECV_ARM_BYTES.to_ne_bytes());
        std::mem::transmute::<[u8; 64], squeue::Entry>(raw)
    }
}

/// Whether this kernel takes a multishot receive's byte limit (`optlen`,
/// Linux 6.16+; older ones answer EINVAL): a receive limited to one byte,
/// on a socketpair holding two, must end with its first completion (the
/// kernel ends it once the limit is reached; that completion may hold up
/// to a whole buffer).
fn probe_recv_limit(ring: &mut IoUring, bufs: &BufRing) -> bool {
    let Ok((a, b)) = std::os::unix::net::UnixStream::pair() else {
        return false;
    };
    if (&b).write_all(b"xy").is_err() {
        return false;
    }
    use std::io::Write as _;
    use std::os::fd::AsRawFd as _;
    let sqe = opcode::RecvMulti::new(types::Fd(a.as_raw_fd()), BGID)
        .build()
        .user_data(u64::MAX);
    // SAFETY: as in `recv_sqe`, with a limit of one byte.
    let sqe = unsafe {
        let mut raw: [u8; 64] = std::mem::transmute(sqe);
        raw[SQE_OPTLEN_OFFSET..SQE_OPTLEN_OFFSET + 4].copy_from_slice(&1u32.to_ne_bytes());
        std::mem::transmute::<[u8; 64], squeue::Entry>(raw)
    };
    // SAFETY: the socket outlives the operation (we wait for its end below
    // or cancel it) and the buffers are the ring's own.
    if unsafe { ring.submission().push(&sqe) }.is_err() {
        return false;
    }
    let mut limited = false;
    let mut ended = false;
    for _ in 0..4 {
        if ring.submit_and_wait(1).is_err() {
            break;
        }
        let cqes: Vec<_> = ring.completion().collect();
        for c in cqes {
            if c.user_data() != u64::MAX {
                continue;
            }
            if let Some(bid) = cqueue::buffer_select(c.flags()) {
                bufs.give(bid);
            }
            if !cqueue::more(c.flags()) {
                ended = true;
                limited = c.result() > 0;
            }
        }
        if ended {
            break;
        }
    }
    bufs.publish();
    if !ended {
        // Still armed: take it back before the socket closes.
        let cancel = opcode::AsyncCancel::new(u64::MAX)
            .build()
            .user_data(u64::MAX - 1);
        // SAFETY: a cancel carries no buffers.
        if unsafe { ring.submission().push(&cancel) }.is_ok() {
            let _ = ring.submit_and_wait(2);
            ring.completion().for_each(|c| {
                if let Some(bid) = cqueue::buffer_select(c.flags()) {
                    bufs.give(bid);
                }
            });
            bufs.publish();
        }
    }
    drop((a, b));
    limited
}

/// A yield that took longer than this let other tasks run (see `drive`).
const BUSY_ROUND: std::time::Duration = std::time::Duration::from_micros(2);

/// The typical idle gap (a moving average) above which an idle shard waits
/// in its ring (see [`NetRing::wait_briefly`]).
const LONG_IDLE_GAP_NS: u64 = 20_000;

/// A wait in the ring shorter than this is not worth its syscall.
const MIN_IDLE_WAIT: std::time::Duration = std::time::Duration::from_micros(20);

/// The driver task: one `io_uring_enter` per executor round while there is
/// work; asleep (waiting for a kick or the eventfd) when there is none.
async fn drive(net: Rc<NetRing>) {
    loop {
        if net.stopped.get() {
            return;
        }
        net.kicked.set(false);
        let handled = net.pump();
        if handled > 0 || !net.backlog.borrow().is_empty() {
            // Let the woken connections run, then collect again.
            futures_lite::future::yield_now().await;
            continue;
        }
        // Nothing due now. While other tasks are running, look again after
        // them: glommio reads its own ring — and with it this ring's eventfd
        // — only once its run queue is empty, so a busy shard would notice a
        // completion (a client's RST, say) only then. A yield that comes
        // straight back means the queue is empty: then sleep until kicked.
        let before = std::time::Instant::now();
        futures_lite::future::yield_now().await;
        if before.elapsed() > BUSY_ROUND {
            continue;
        }
        let idle_from = std::time::Instant::now();
        // Waiting in the ring pays off when idle gaps are long enough for
        // glommio's park to cost something; with events microseconds apart
        // (a busy shard) the park is cheap and a sleep here is not.
        // glommio runs its own timers (timeouts, sweepers) when it parks:
        // it parks at least once per `idle_wait`, so they are never later
        // than that.
        let since_park = idle_from.saturating_duration_since(net.last_park.get());
        if !net.idle_wait.is_zero()
            && net.idle_gap_ns.get() >= LONG_IDLE_GAP_NS
            && since_park < net.idle_wait
        {
            // Until glommio's next turn at the latest (script timers are
            // completions of this ring: they end the wait themselves).
            let wait = net.idle_wait - since_park;
            if wait >= MIN_IDLE_WAIT && net.wait_briefly(wait) {
                net.note_idle_gap(idle_from.elapsed());
                continue;
            }
        }
        if !net.enable_doorbell() {
            continue;
        }
        std::future::poll_fn(|cx| {
            if net.kicked.get() || net.stopped.get() {
                return Poll::Ready(());
            }
            *net.driver_waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await;
        net.disable_doorbell();
        net.last_park.set(std::time::Instant::now());
        net.note_idle_gap(idle_from.elapsed());
    }
}

/// Reads the ring's eventfd through glommio: completes whenever the kernel
/// queued completion work for this ring, waking the driver.
async fn doorbell(net: Rc<NetRing>) {
    // SAFETY: dup gives the glommio file its own descriptor to close.
    let fd = unsafe { libc::dup(net.eventfd) };
    if fd < 0 {
        tracing::error!("cannot dup the ring eventfd: {}", last_err());
        return;
    }
    // SAFETY: `fd` is a fresh descriptor owned by the glommio file from here on.
    let file = unsafe { glommio::io::BufferedFile::from_raw_fd(fd) };
    while !net.stopped.get() {
        if file.read_at(0, 8).await.is_err() {
            glommio::timer::sleep(std::time::Duration::from_millis(1)).await;
        }
        net.kick();
    }
}

/// A ring `connect` in flight (see [`NetRing::connect`]).
#[derive(Debug)]
pub struct Connecting {
    ring: Rc<NetRing>,
    shared: Rc<ConnectShared>,
    slot: u32,
}

impl std::future::Future for Connecting {
    type Output = io::Result<std::os::fd::OwnedFd>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let c = &self.shared;
        match c.result.get() {
            None => {
                let mut w = c.waker.borrow_mut();
                if !w.as_ref().is_some_and(|x| x.will_wake(cx.waker())) {
                    *w = Some(cx.waker().clone());
                }
                Poll::Pending
            }
            Some(res) if res < 0 => Poll::Ready(Err(io::Error::from_raw_os_error(-res))),
            Some(_) => match c.fd.borrow_mut().take() {
                Some(fd) => Poll::Ready(Ok(fd)),
                None => Poll::Ready(Err(io::Error::other("connect polled after completion"))),
            },
        }
    }
}

impl Drop for Connecting {
    fn drop(&mut self) {
        if self.shared.result.get().is_none() {
            // Still in the kernel: cancel it. The slot keeps the socket and
            // its address alive until the (cancelled) completion arrives.
            self.ring.cancel(self.slot);
        }
    }
}

/// A listener's multishot accept.
#[derive(Debug)]
pub struct Acceptor {
    ring: Rc<NetRing>,
    fd: RawFd,
    shared: Rc<AcceptShared>,
    slot: Cell<Option<u32>>,
}

impl Acceptor {
    fn arm(&self) {
        if !self.shared.armed.replace(true) {
            let slot = self.ring.add_op(Op::Accept(self.shared.clone()));
            self.slot.set(Some(slot));
            self.ring.push(
                opcode::AcceptMulti::new(types::Fd(self.fd))
                    .flags(libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK)
                    .build()
                    .user_data(slot as u64),
            );
        }
    }

    /// The next accepted connection's descriptor.
    pub async fn accept(&self) -> io::Result<RawFd> {
        std::future::poll_fn(|cx| {
            if let Some(r) = self.shared.ready.borrow_mut().pop_front() {
                return Poll::Ready(r);
            }
            self.arm();
            *self.shared.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        if self.shared.armed.get() {
            if let Some(slot) = self.slot.get() {
                self.ring.cancel(slot);
            }
        }
        // Connections accepted but not taken are closed.
        for fd in self.shared.ready.borrow_mut().drain(..).flatten() {
            // SAFETY: an accepted descriptor nobody else owns.
            unsafe {
                libc::close(fd);
            }
        }
    }
}

impl RecvShared {
    /// The socket's descriptor.
    pub fn fd(&self) -> RawFd {
        use std::os::fd::AsRawFd;
        self.owned.as_raw_fd()
    }

    fn take_spare(&self) -> Option<Box<SendMsg>> {
        let mut spare = self.tx_spare.borrow_mut();
        spare[1].take().or_else(|| spare[0].take())
    }

    /// Keeps a completed send for reuse (up to two; the rest are freed; a
    /// lean socket keeps none).
    fn keep_spare(&self, mut m: Box<SendMsg>) {
        if self.lean.get() {
            return;
        }
        let mut spare = self.tx_spare.borrow_mut();
        if let Some(slot) = spare.iter_mut().find(|x| x.is_none()) {
            m.clear();
            *slot = Some(m);
        }
    }

    /// How the receive side ended, if it did.
    pub fn end(&self) -> Option<RecvEnd> {
        self.end.get()
    }

    /// Bytes received since the socket was made.
    pub fn received(&self) -> u64 {
        self.received.get()
    }
}

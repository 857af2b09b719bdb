//! [`KeepaliveLedger`]: which owners a shard's outbound connections keep
//! resident, since when, and why each keepalive ended.
//!
//! Every outbound WebSocket (including `fetch()` with `Upgrade: websocket`)
//! and every outbound TCP socket takes a [`KeepaliveToken`] for its [`Owner`]:
//! the incoming request that opened it, or an actor. While an owner holds a
//! live token it is *pinned* and must stay resident. A plain `fetch()` takes
//! no token, even while its body streams.
//!
//! A token stops pinning when it is released ([`KeepaliveToken::end`], or
//! dropped: [`TokenEnd::Closed`]) or when the ledger's cap passes
//! (`OutboundConfig::keepalive_cap`, 15 minutes by default). Past the cap the
//! connection keeps working; it only no longer pins its owner.
//!
//! **One end per token.** A token ends once, at the moment it stops pinning:
//! with the reason it is released with, or with [`TokenEnd::CapExpired`] if
//! the cap came first. So `acquired == live + ended.total()`, for the shard
//! and for each owner, and `expired_by_cap() == ended.cap_expired`. Releasing
//! a token that is already past its cap changes no end count; it is counted
//! in `released_after_cap` (and `past_cap` drops).
//!
//! Nobody has to touch a token for it to expire: every call on the ledger
//! first sweeps the tokens whose deadline passed. The cap is one per ledger,
//! so deadlines come in acquire order and the sweep only looks at the front
//! of a queue. [`KeepaliveLedger::unpinned`] is the async way to learn that an
//! owner is no longer pinned (actors use it to decide eviction).
//!
//! One ledger per shard, shard-local (`Rc`, not `Send`): the shard launcher
//! installs it with the configured cap; other layers find it with
//! [`KeepaliveLedger::current`]. Memory is bounded by the tokens held: rows
//! for owners that hold no token are kept for the last
//! [`IDLE_OWNER_ROWS`] such owners only.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use serde::{Serialize, Serializer};

use crate::cancel::CancelReason;

/// A duration as whole milliseconds (the stats JSON's unit for pinned time).
fn millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// An owner as its display text (`request 7`, `actor 0x...`).
fn display<S: Serializer, T: fmt::Display>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// How many rows of owners that hold no token a ledger keeps (the most
/// recent ones); older ones are dropped, their counts stay in the totals.
pub const IDLE_OWNER_ROWS: usize = 1024;

/// Caps are clamped to this (about a century) so deadlines never overflow.
const MAX_CAP: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The deadline queue is compacted once this many of its entries belong to
/// released tokens and they are at least half of it.
const COMPACT_MIN_STALE: usize = 1024;

/// Who a keepalive token keeps resident.
///
/// ```
/// use ringworker_core::keepalive::Owner;
/// assert_eq!(Owner::Request(7).to_string(), "request 7");
/// assert_eq!(Owner::Actor(0xab).to_string(), "actor 0x00000000000000ab");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Owner {
    /// An incoming request, by its shard-local id.
    Request(u64),
    /// An actor, by its id.
    Actor(u64),
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Request(id) => write!(f, "request {id}"),
            Self::Actor(id) => write!(f, "actor {id:#018x}"),
        }
    }
}

/// What kind of outbound connection holds a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// An outbound WebSocket, including `fetch()` with `Upgrade: websocket`.
    WebSocket,
    /// An outbound TCP socket.
    Tcp,
}

impl TokenKind {
    /// A short name: `websocket` or `tcp`.
    pub fn describe(self) -> &'static str {
        match self {
            Self::WebSocket => "websocket",
            Self::Tcp => "tcp",
        }
    }
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// Why a token stopped pinning its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenEnd {
    /// Our side closed the connection (also: the token was dropped).
    Closed,
    /// The peer closed the connection.
    PeerClosed,
    /// The connection failed (reset, error, timeout).
    Failed,
    /// It was cancelled (aborted by the script, server shutdown).
    Cancelled,
    /// Its owner ended first (the request finished, the actor was evicted).
    OwnerEnded,
    /// The keepalive cap passed; the connection may still be open.
    CapExpired,
}

impl TokenEnd {
    /// Every reason, in declaration order.
    pub const ALL: [TokenEnd; 6] = [
        Self::Closed,
        Self::PeerClosed,
        Self::Failed,
        Self::Cancelled,
        Self::OwnerEnded,
        Self::CapExpired,
    ];

    /// A short human description.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::PeerClosed => "closed by the peer",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::OwnerEnded => "owner ended",
            Self::CapExpired => "keepalive cap expired",
        }
    }

    /// A snake_case name for a metric label or a JSON key (`peer_closed`).
    pub fn label(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::PeerClosed => "peer_closed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::OwnerEnded => "owner_ended",
            Self::CapExpired => "cap_expired",
        }
    }
}

impl fmt::Display for TokenEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// The end a connection's [`CancelFlag`](crate::CancelFlag) reason maps to:
/// a reset, timeout or bad input is a failure, an eviction ends the owner,
/// shutdown and abort are cancellations.
impl From<CancelReason> for TokenEnd {
    fn from(r: CancelReason) -> Self {
        match r {
            CancelReason::PeerClosed => Self::PeerClosed,
            CancelReason::PeerReset | CancelReason::Timeout | CancelReason::BadInput => {
                Self::Failed
            }
            CancelReason::Shutdown | CancelReason::Aborted => Self::Cancelled,
            CancelReason::Evicted => Self::OwnerEnded,
        }
    }
}

/// Tokens ended, by [`TokenEnd`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EndCounts {
    /// [`TokenEnd::Closed`].
    pub closed: u64,
    /// [`TokenEnd::PeerClosed`].
    pub peer_closed: u64,
    /// [`TokenEnd::Failed`].
    pub failed: u64,
    /// [`TokenEnd::Cancelled`].
    pub cancelled: u64,
    /// [`TokenEnd::OwnerEnded`].
    pub owner_ended: u64,
    /// [`TokenEnd::CapExpired`].
    pub cap_expired: u64,
}

impl EndCounts {
    /// The count for one reason.
    pub fn get(&self, end: TokenEnd) -> u64 {
        match end {
            TokenEnd::Closed => self.closed,
            TokenEnd::PeerClosed => self.peer_closed,
            TokenEnd::Failed => self.failed,
            TokenEnd::Cancelled => self.cancelled,
            TokenEnd::OwnerEnded => self.owner_ended,
            TokenEnd::CapExpired => self.cap_expired,
        }
    }

    /// Tokens ended for any reason.
    pub fn total(&self) -> u64 {
        TokenEnd::ALL.iter().map(|&e| self.get(e)).sum()
    }

    /// Adds another set of counts to this one.
    pub fn add(&mut self, other: &EndCounts) {
        for e in TokenEnd::ALL {
            *self.slot(e) += other.get(e);
        }
    }

    fn slot(&mut self, end: TokenEnd) -> &mut u64 {
        match end {
            TokenEnd::Closed => &mut self.closed,
            TokenEnd::PeerClosed => &mut self.peer_closed,
            TokenEnd::Failed => &mut self.failed,
            TokenEnd::Cancelled => &mut self.cancelled,
            TokenEnd::OwnerEnded => &mut self.owner_ended,
            TokenEnd::CapExpired => &mut self.cap_expired,
        }
    }
}

/// One owner's row in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OwnerStats {
    /// Whose row.
    #[serde(serialize_with = "display")]
    pub owner: Owner,
    /// Tokens pinning it now (held and not past the cap).
    pub live: u64,
    /// Tokens still held but past the cap (not pinning).
    pub past_cap: u64,
    /// Wall time during which it held at least one live token, including
    /// the current stretch.
    #[serde(rename = "pinned_ms", serialize_with = "millis")]
    pub pinned_time: Duration,
    /// Tokens it acquired.
    pub acquired: u64,
    /// Its tokens that ended, by reason.
    pub ended: EndCounts,
}

/// A ledger's totals since it was made (gauges are as of the call).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KeepaliveTotals {
    /// Tokens acquired.
    pub acquired: u64,
    /// Tokens pinning their owner now.
    pub live: u64,
    /// Of `live`, outbound WebSockets.
    pub live_websocket: u64,
    /// Of `live`, outbound TCP sockets.
    pub live_tcp: u64,
    /// Tokens still held but past the cap.
    pub past_cap: u64,
    /// Tokens released after their cap had passed.
    pub released_after_cap: u64,
    /// Owners pinned now.
    pub pinned_owners: u64,
    /// Pinned time summed over every owner (also those whose rows were dropped).
    #[serde(rename = "pinned_ms", serialize_with = "millis")]
    pub pinned_time: Duration,
    /// Tokens ended, by reason (one end per token; see the module docs).
    pub ended: EndCounts,
}

impl KeepaliveTotals {
    /// Tokens that reached the cap while held (`ended.cap_expired`).
    pub fn expired_by_cap(&self) -> u64 {
        self.ended.cap_expired
    }

    /// Adds another ledger's totals (another shard's) to these.
    pub fn add(&mut self, other: &KeepaliveTotals) {
        self.acquired += other.acquired;
        self.live += other.live;
        self.live_websocket += other.live_websocket;
        self.live_tcp += other.live_tcp;
        self.past_cap += other.past_cap;
        self.released_after_cap += other.released_after_cap;
        self.pinned_owners += other.pinned_owners;
        self.pinned_time += other.pinned_time;
        self.ended.add(&other.ended);
    }
}

/// A held token: whose, what, and whether its cap passed.
struct Held {
    owner: Owner,
    kind: TokenKind,
    past_cap: bool,
}

/// A token slot, reused after release; `generation` tells a reused slot from
/// the one a deadline entry was made for.
struct Slot {
    generation: u32,
    held: Option<Held>,
}

/// When the token in `slot` (of `generation`) reaches the cap.
struct Deadline {
    at: Instant,
    slot: u32,
    generation: u32,
}

#[derive(Default)]
struct OwnerRow {
    live: u64,
    past_cap: u64,
    /// Start of the current pinned stretch, while `live > 0`.
    pinned_since: Option<Instant>,
    /// Closed pinned stretches.
    pinned: Duration,
    acquired: u64,
    ended: EndCounts,
    /// Its entry in the idle queue while it holds no token; 0 otherwise.
    idle_seq: u64,
    /// `unpinned()` futures waiting for `live` to reach 0.
    waiters: Vec<Waker>,
}

impl OwnerRow {
    fn pinned_time(&self, now: Instant) -> Duration {
        self.pinned
            + self
                .pinned_since
                .map_or(Duration::ZERO, |s| now.saturating_duration_since(s))
    }

    fn stats(&self, owner: Owner, now: Instant) -> OwnerStats {
        OwnerStats {
            owner,
            live: self.live,
            past_cap: self.past_cap,
            pinned_time: self.pinned_time(now),
            acquired: self.acquired,
            ended: self.ended,
        }
    }
}

struct State {
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Live tokens' deadlines in acquire (= deadline) order, plus entries of
    /// released tokens (`stale` of them) dropped lazily.
    deadlines: VecDeque<Deadline>,
    stale: usize,
    owners: HashMap<Owner, OwnerRow>,
    /// Owners that hold no token, oldest first, with their `idle_seq`.
    idle: VecDeque<(Owner, u64)>,
    idle_seq: u64,
    /// Counters; `pinned_owners` is kept here, `pinned_time` is computed.
    totals: KeepaliveTotals,
    /// Closed stretches of every owner.
    pinned_closed: Duration,
    /// Sum over pinned owners of `pinned_since - base`, for O(1) totals.
    open_since_nanos: u128,
}

impl State {
    /// Expires every token whose deadline is at or before `now`; drops
    /// released tokens' entries from the front.
    fn sweep(&mut self, base: Instant, now: Instant, wake: &mut Vec<Waker>) {
        while let Some(d) = self.deadlines.front() {
            let slot = &mut self.slots[d.slot as usize];
            if slot.generation != d.generation {
                self.deadlines.pop_front();
                self.stale -= 1;
                continue;
            }
            if d.at > now {
                break;
            }
            let at = d.at;
            let held = slot
                .held
                .as_mut()
                .expect("a current deadline belongs to a held token");
            held.past_cap = true;
            let (owner, kind) = (held.owner, held.kind);
            self.deadlines.pop_front();
            self.totals.past_cap += 1;
            self.owners
                .get_mut(&owner)
                .expect("a held token's owner has a row")
                .past_cap += 1;
            self.stop_pinning(base, owner, kind, TokenEnd::CapExpired, at, wake);
        }
    }

    fn acquire(
        &mut self,
        base: Instant,
        owner: Owner,
        kind: TokenKind,
        now: Instant,
        deadline: Instant,
    ) -> (u32, u32) {
        let held = Held {
            owner,
            kind,
            past_cap: false,
        };
        let slot = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize].held = Some(held);
                i
            }
            None => {
                let i = u32::try_from(self.slots.len()).expect("fewer than 2^32 tokens");
                self.slots.push(Slot {
                    generation: 0,
                    held: Some(held),
                });
                i
            }
        };
        let generation = self.slots[slot as usize].generation;
        self.deadlines.push_back(Deadline {
            at: deadline,
            slot,
            generation,
        });
        let row = self.owners.entry(owner).or_default();
        row.acquired += 1;
        row.live += 1;
        row.idle_seq = 0;
        if row.live == 1 {
            row.pinned_since = Some(now);
            self.totals.pinned_owners += 1;
            self.open_since_nanos += (now - base).as_nanos();
        }
        self.totals.acquired += 1;
        self.totals.live += 1;
        match kind {
            TokenKind::WebSocket => self.totals.live_websocket += 1,
            TokenKind::Tcp => self.totals.live_tcp += 1,
        }
        (slot, generation)
    }

    fn release(
        &mut self,
        base: Instant,
        slot: u32,
        generation: u32,
        end: TokenEnd,
        now: Instant,
        wake: &mut Vec<Waker>,
    ) {
        let s = &mut self.slots[slot as usize];
        debug_assert_eq!(s.generation, generation, "a token is released once");
        let held = s.held.take().expect("a live token's slot is held");
        s.generation = s.generation.wrapping_add(1);
        self.free.push(slot);
        let owner = held.owner;
        if held.past_cap {
            self.totals.past_cap -= 1;
            self.totals.released_after_cap += 1;
            self.owners
                .get_mut(&owner)
                .expect("a held token's owner has a row")
                .past_cap -= 1;
        } else {
            self.stale += 1;
            self.stop_pinning(base, owner, held.kind, end, now, wake);
            self.compact();
        }
        let row = &self.owners[&owner];
        if row.live == 0 && row.past_cap == 0 {
            self.mark_idle(owner);
        }
    }

    /// A live token of `owner` stops pinning at `at`, for `end`.
    fn stop_pinning(
        &mut self,
        base: Instant,
        owner: Owner,
        kind: TokenKind,
        end: TokenEnd,
        at: Instant,
        wake: &mut Vec<Waker>,
    ) {
        self.totals.live -= 1;
        match kind {
            TokenKind::WebSocket => self.totals.live_websocket -= 1,
            TokenKind::Tcp => self.totals.live_tcp -= 1,
        }
        *self.totals.ended.slot(end) += 1;
        let row = self
            .owners
            .get_mut(&owner)
            .expect("a held token's owner has a row");
        row.live -= 1;
        *row.ended.slot(end) += 1;
        if row.live == 0 {
            let since = row.pinned_since.take().expect("a pinned owner has a start");
            let stretch = at.saturating_duration_since(since);
            row.pinned += stretch;
            self.pinned_closed += stretch;
            self.totals.pinned_owners -= 1;
            self.open_since_nanos -= (since - base).as_nanos();
            wake.append(&mut row.waiters);
        }
    }

    /// Remembers that `owner` holds no token; drops the oldest such rows
    /// beyond [`IDLE_OWNER_ROWS`].
    fn mark_idle(&mut self, owner: Owner) {
        self.idle_seq += 1;
        let seq = self.idle_seq;
        if let Some(row) = self.owners.get_mut(&owner) {
            row.idle_seq = seq;
        }
        self.idle.push_back((owner, seq));
        while self.idle.len() > IDLE_OWNER_ROWS {
            let (old, old_seq) = self.idle.pop_front().expect("longer than the bound");
            // The owner may have taken a token (or gone idle again) since.
            if self.owners.get(&old).is_some_and(|r| r.idle_seq == old_seq) {
                self.owners.remove(&old);
            }
        }
    }

    /// Drops released tokens' deadline entries once they are the bulk of the
    /// queue (a long cap and many short connections), so the queue stays
    /// proportional to the live tokens.
    fn compact(&mut self) {
        if self.stale >= COMPACT_MIN_STALE && self.stale * 2 >= self.deadlines.len() {
            let slots = &self.slots;
            self.deadlines
                .retain(|d| slots[d.slot as usize].generation == d.generation);
            self.stale = 0;
        }
    }

    fn totals(&self, base: Instant, now: Instant) -> KeepaliveTotals {
        // Sum over pinned owners of (now - since) = n * (now - base) - sum(since - base).
        let open = (u128::from(self.totals.pinned_owners) * (now - base).as_nanos())
            .saturating_sub(self.open_since_nanos);
        let open = Duration::from_nanos(u64::try_from(open).unwrap_or(u64::MAX));
        KeepaliveTotals {
            pinned_time: self.pinned_closed + open,
            ..self.totals
        }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<KeepaliveLedger>>> = const { RefCell::new(None) };
}

/// A shard's keepalive tokens: who is pinned by outbound connections, for how
/// long, and why each token ended. Shard-local: `Rc`, not `Send`.
///
/// ```
/// use std::time::Duration;
/// use ringworker_core::keepalive::{KeepaliveLedger, Owner, TokenEnd, TokenKind};
///
/// let ledger = KeepaliveLedger::new(Duration::from_secs(15 * 60));
/// let owner = Owner::Request(7);
/// let ws = ledger.acquire(owner, TokenKind::WebSocket);
/// let tcp = ledger.acquire(owner, TokenKind::Tcp);
/// assert!(ledger.pins(owner));
/// assert_eq!(ledger.live_tokens(owner), 2);
///
/// ws.end(TokenEnd::PeerClosed);
/// drop(tcp); // dropping a token ends it as `Closed`
/// assert!(!ledger.pins(owner));
/// let totals = ledger.totals();
/// assert_eq!((totals.acquired, totals.live), (2, 0));
/// assert_eq!((totals.ended.peer_closed, totals.ended.closed), (1, 1));
/// ```
///
/// An actor learns when it may be evicted by awaiting
/// [`unpinned`](Self::unpinned) on its shard (a glommio executor):
///
/// ```
/// # use std::time::Duration;
/// # use ringworker_core::keepalive::{KeepaliveLedger, Owner, TokenKind};
/// # let ex = glommio::LocalExecutorBuilder::default().io_memory(512 * 1024).make().unwrap();
/// # ex.run(async {
/// let ledger = KeepaliveLedger::new(Duration::from_millis(20));
/// let actor = Owner::Actor(1);
/// let socket = ledger.acquire(actor, TokenKind::Tcp);
/// ledger.unpinned(actor).await; // the cap passed; `socket` is still open
/// assert_eq!(ledger.totals().expired_by_cap(), 1);
/// # drop(socket);
/// # });
/// ```
pub struct KeepaliveLedger {
    cap: Duration,
    /// The origin of `State::open_since_nanos`.
    base: Instant,
    state: RefCell<State>,
}

impl fmt::Debug for KeepaliveLedger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("KeepaliveLedger");
        d.field("cap", &self.cap);
        if let Ok(st) = self.state.try_borrow() {
            d.field("live", &st.totals.live)
                .field("past_cap", &st.totals.past_cap)
                .field("owners", &st.owners.len());
        }
        d.finish_non_exhaustive()
    }
}

impl KeepaliveLedger {
    /// An empty ledger whose tokens stop pinning `cap` after they were
    /// acquired (clamped to a century).
    pub fn new(cap: Duration) -> Rc<Self> {
        Rc::new(Self {
            cap: cap.min(MAX_CAP),
            base: Instant::now(),
            state: RefCell::new(State {
                slots: Vec::new(),
                free: Vec::new(),
                deadlines: VecDeque::new(),
                stale: 0,
                owners: HashMap::new(),
                idle: VecDeque::new(),
                idle_seq: 0,
                totals: KeepaliveTotals::default(),
                pinned_closed: Duration::ZERO,
                open_since_nanos: 0,
            }),
        })
    }

    /// Makes `ledger` this thread's (the shard's) ledger, for layers built
    /// without a handle to it (outbound connections, actors).
    pub fn install(ledger: Rc<Self>) {
        CURRENT.with(|c| *c.borrow_mut() = Some(ledger));
    }

    /// This shard's ledger, if the thread runs a shard (or one was installed).
    pub fn current() -> Option<Rc<Self>> {
        CURRENT.with(|c| c.borrow().clone())
    }

    /// How long a token pins its owner at most.
    pub fn cap(&self) -> Duration {
        self.cap
    }

    /// Runs `f` on the state after expiring what is due; wakes `unpinned()`
    /// waiters after the state is released (a waker may re-enter the ledger).
    fn with<R>(&self, f: impl FnOnce(&mut State, Instant, &mut Vec<Waker>) -> R) -> R {
        let now = Instant::now();
        let mut wake = Vec::new();
        let r = {
            let mut st = self.state.borrow_mut();
            st.sweep(self.base, now, &mut wake);
            f(&mut st, now, &mut wake)
        };
        for w in wake {
            w.wake();
        }
        r
    }

    /// Takes a token pinning `owner` for one outbound connection of `kind`.
    /// Release it with [`KeepaliveToken::end`] (or drop it) when the
    /// connection ends; it stops pinning by itself after [`cap`](Self::cap).
    pub fn acquire(self: &Rc<Self>, owner: Owner, kind: TokenKind) -> KeepaliveToken {
        let deadline_in = self.cap;
        let (slot, generation) =
            self.with(|st, now, _| st.acquire(self.base, owner, kind, now, now + deadline_in));
        KeepaliveToken {
            ledger: self.clone(),
            slot,
            generation,
            owner,
            kind,
            released: false,
        }
    }

    /// Tokens pinning `owner` now (held, not past the cap).
    pub fn live_tokens(&self, owner: Owner) -> usize {
        self.with(|st, _, _| st.owners.get(&owner).map_or(0, |r| r.live as usize))
    }

    /// Whether `owner` holds at least one live token.
    pub fn pins(&self, owner: Owner) -> bool {
        self.live_tokens(owner) > 0
    }

    /// Wall time during which `owner` held at least one live token, including
    /// the current stretch (zero for an owner the ledger does not know).
    pub fn pinned_time(&self, owner: Owner) -> Duration {
        self.with(|st, now, _| {
            st.owners
                .get(&owner)
                .map_or(Duration::ZERO, |r| r.pinned_time(now))
        })
    }

    /// `owner`'s row, if the ledger has one (it holds a token, or held one
    /// recently: see [`IDLE_OWNER_ROWS`]).
    pub fn owner_stats(&self, owner: Owner) -> Option<OwnerStats> {
        self.with(|st, now, _| st.owners.get(&owner).map(|r| r.stats(owner, now)))
    }

    /// Every row: owners holding tokens and recently idle ones, by owner.
    pub fn owners(&self) -> Vec<OwnerStats> {
        let mut rows = self.with(|st, now, _| {
            st.owners
                .iter()
                .map(|(&o, r)| r.stats(o, now))
                .collect::<Vec<_>>()
        });
        rows.sort_unstable_by_key(|r| r.owner);
        rows
    }

    /// The `n` rows with the longest pinned time, longest first.
    pub fn longest_pinned(&self, n: usize) -> Vec<OwnerStats> {
        let mut rows = self.owners();
        rows.sort_by_key(|r| std::cmp::Reverse(r.pinned_time));
        rows.truncate(n);
        rows
    }

    /// The ledger's totals.
    pub fn totals(&self) -> KeepaliveTotals {
        self.with(|st, now, _| st.totals(self.base, now))
    }

    /// Resolves when `owner` holds no live token: at once if it holds none,
    /// else when its last one is released or passes the cap. Re-checked on
    /// each wake-up, so an owner that is pinned again before the future runs
    /// keeps it waiting.
    ///
    /// Must be awaited on a glommio executor (it sleeps until the ledger's
    /// next deadline). Cancel safe: dropping it loses nothing.
    pub async fn unpinned(&self, owner: Owner) {
        loop {
            let next = self.with(|st, _, _| {
                let pinned = st.owners.get(&owner).is_some_and(|r| r.live > 0);
                // After the sweep the front is the earliest live deadline.
                pinned.then(|| st.deadlines.front().map(|d| d.at)).flatten()
            });
            let Some(at) = next else { return };
            let wait = at.saturating_duration_since(Instant::now());
            futures_lite::future::or(
                PinEnded {
                    ledger: self,
                    owner,
                },
                glommio::timer::sleep(wait),
            )
            .await;
        }
    }

    fn release(&self, slot: u32, generation: u32, end: TokenEnd) {
        self.with(|st, now, wake| st.release(self.base, slot, generation, end, now, wake));
    }
}

/// Resolves once `owner` is not pinned; woken when its last live token ends.
struct PinEnded<'a> {
    ledger: &'a KeepaliveLedger,
    owner: Owner,
}

impl Future for PinEnded<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let owner = self.owner;
        let pinned = self
            .ledger
            .with(|st, _, _| match st.owners.get_mut(&owner) {
                Some(row) if row.live > 0 => {
                    // One registration per waiting task, however often it polls.
                    if !row.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                        row.waiters.push(cx.waker().clone());
                    }
                    true
                }
                _ => false,
            });
        if pinned {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }
}

/// One outbound connection's keepalive: pins its owner until it is ended,
/// dropped, or its ledger's cap passes. Not `Send`: it lives on its shard.
pub struct KeepaliveToken {
    ledger: Rc<KeepaliveLedger>,
    slot: u32,
    generation: u32,
    owner: Owner,
    kind: TokenKind,
    released: bool,
}

impl fmt::Debug for KeepaliveToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeepaliveToken")
            .field("owner", &self.owner)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl KeepaliveToken {
    /// Whom it pins.
    pub fn owner(&self) -> Owner {
        self.owner
    }

    /// What kind of connection holds it.
    pub fn kind(&self) -> TokenKind {
        self.kind
    }

    /// Whether it still pins its owner (the cap has not passed).
    pub fn pins(&self) -> bool {
        let (slot, generation) = (self.slot as usize, self.generation);
        self.ledger.with(|st, _, _| {
            let s = &st.slots[slot];
            s.generation == generation && s.held.as_ref().is_some_and(|h| !h.past_cap)
        })
    }

    /// Releases it, recording why the connection ended (counted only if the
    /// token was still pinning: see the module docs).
    pub fn end(mut self, reason: TokenEnd) {
        self.release(reason);
    }

    fn release(&mut self, reason: TokenEnd) {
        if !self.released {
            self.released = true;
            self.ledger.release(self.slot, self.generation, reason);
        }
    }
}

impl Drop for KeepaliveToken {
    fn drop(&mut self) {
        self.release(TokenEnd::Closed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    const LONG: Duration = Duration::from_secs(3600);

    /// Runs `f` on a small glommio executor (timers need one).
    fn run<T>(f: impl Future<Output = T>) -> T {
        glommio::LocalExecutorBuilder::default()
            .io_memory(256 * 1024)
            .ring_depth(32)
            .make()
            .expect("a glommio executor")
            .run(f)
    }

    /// Fails the test if `f` takes longer than `limit`.
    async fn within<T>(limit: Duration, f: impl Future<Output = T>) -> T {
        futures_lite::future::or(f, async {
            glommio::timer::sleep(limit).await;
            panic!("did not finish within {limit:?}");
        })
        .await
    }

    #[test]
    fn counts_acquires_and_end_reasons() {
        let ledger = KeepaliveLedger::new(LONG);
        let a = Owner::Request(1);
        let t1 = ledger.acquire(a, TokenKind::WebSocket);
        let t2 = ledger.acquire(a, TokenKind::Tcp);
        let t3 = ledger.acquire(a, TokenKind::Tcp);
        let t4 = ledger.acquire(a, TokenKind::WebSocket);
        let t = ledger.totals();
        assert_eq!(
            (t.acquired, t.live, t.live_websocket, t.live_tcp),
            (4, 4, 2, 2)
        );
        assert_eq!(t.pinned_owners, 1);
        assert_eq!(ledger.live_tokens(a), 4);
        assert!(t1.pins());
        assert_eq!((t1.owner(), t1.kind()), (a, TokenKind::WebSocket));

        t1.end(TokenEnd::PeerClosed);
        t2.end(TokenEnd::Failed);
        t3.end(TokenEnd::Cancelled);
        t4.end(TokenEnd::OwnerEnded);
        let t = ledger.totals();
        assert_eq!(
            (t.live, t.live_websocket, t.live_tcp, t.pinned_owners),
            (0, 0, 0, 0)
        );
        assert_eq!(
            t.ended,
            EndCounts {
                peer_closed: 1,
                failed: 1,
                cancelled: 1,
                owner_ended: 1,
                ..EndCounts::default()
            }
        );
        assert_eq!(t.acquired, t.live + t.ended.total());
        assert_eq!(t.expired_by_cap(), 0);
        let row = ledger.owner_stats(a).unwrap();
        assert_eq!((row.acquired, row.live, row.past_cap), (4, 0, 0));
        assert_eq!(row.ended, t.ended);
        assert!(!ledger.pins(a));
    }

    #[test]
    fn a_dropped_token_ends_closed() {
        let ledger = KeepaliveLedger::new(LONG);
        let a = Owner::Actor(9);
        drop(ledger.acquire(a, TokenKind::Tcp));
        let t = ledger.totals();
        assert_eq!((t.live, t.ended.closed, t.ended.total()), (0, 1, 1));
        assert_eq!(ledger.owner_stats(a).unwrap().ended.closed, 1);
    }

    #[test]
    fn two_owners_are_independent() {
        let ledger = KeepaliveLedger::new(LONG);
        let (a, b) = (Owner::Request(1), Owner::Actor(1));
        let ta = ledger.acquire(a, TokenKind::WebSocket);
        let tb = ledger.acquire(b, TokenKind::WebSocket);
        let tb2 = ledger.acquire(b, TokenKind::Tcp);
        ta.end(TokenEnd::Closed);
        assert!(!ledger.pins(a));
        assert_eq!(ledger.live_tokens(b), 2);
        let frozen = ledger.pinned_time(a);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(ledger.pinned_time(a), frozen);
        assert!(ledger.pinned_time(b) > frozen);
        let rows = ledger.owners();
        assert_eq!(rows.iter().map(|r| r.owner).collect::<Vec<_>>(), [a, b]);
        assert_eq!((rows[0].live, rows[1].live), (0, 2));
        assert_eq!((rows[0].acquired, rows[1].acquired), (1, 2));
        assert_eq!(ledger.longest_pinned(1)[0].owner, b);
        run(async {
            // a is free while b is pinned
            within(Duration::from_secs(5), ledger.unpinned(a)).await;
        });
        drop((tb, tb2));
        assert_eq!(ledger.totals().ended.closed, 3);
    }

    #[test]
    fn pinned_time_accumulates_only_while_pinned() {
        let ledger = KeepaliveLedger::new(LONG);
        let a = Owner::Request(3);
        assert_eq!(ledger.pinned_time(a), Duration::ZERO);
        let t = ledger.acquire(a, TokenKind::Tcp);
        std::thread::sleep(Duration::from_millis(30));
        let overlapping = ledger.acquire(a, TokenKind::WebSocket);
        assert!(ledger.pinned_time(a) >= Duration::from_millis(30));
        drop(t);
        std::thread::sleep(Duration::from_millis(10));
        drop(overlapping);
        let first = ledger.pinned_time(a);
        assert!(first >= Duration::from_millis(40), "{first:?}");
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(ledger.pinned_time(a), first, "idle time is not pinned time");
        let t = ledger.acquire(a, TokenKind::Tcp);
        std::thread::sleep(Duration::from_millis(20));
        drop(t);
        let second = ledger.pinned_time(a);
        assert!(second >= first + Duration::from_millis(20));
        // the shard total is the same sum (one owner)
        assert_eq!(ledger.totals().pinned_time, second);
    }

    #[test]
    fn the_cap_stops_pinning_and_counts_once() {
        let cap = Duration::from_millis(30);
        let ledger = KeepaliveLedger::new(cap);
        let a = Owner::Actor(2);
        let t = ledger.acquire(a, TokenKind::WebSocket);
        std::thread::sleep(Duration::from_millis(50));
        // nobody touched the token: the query notices the expiry
        assert!(!ledger.pins(a));
        assert!(!t.pins());
        let totals = ledger.totals();
        assert_eq!(
            (totals.live, totals.past_cap, totals.expired_by_cap()),
            (0, 1, 1)
        );
        assert_eq!(totals.live_websocket, 0);
        assert_eq!(ledger.totals().expired_by_cap(), 1, "counted once");
        // the stretch ends at the deadline, not when it was noticed
        assert_eq!(ledger.pinned_time(a), cap);
        assert_eq!(totals.pinned_time, cap);

        t.end(TokenEnd::PeerClosed);
        let totals = ledger.totals();
        assert_eq!((totals.past_cap, totals.released_after_cap), (0, 1));
        assert_eq!(totals.ended.total(), 1, "one end per token");
        assert_eq!(totals.ended.peer_closed, 0);
        assert_eq!(totals.expired_by_cap(), 1);
        let row = ledger.owner_stats(a).unwrap();
        assert_eq!((row.live, row.past_cap, row.ended.cap_expired), (0, 0, 1));
        assert_eq!(row.pinned_time, cap);
    }

    #[test]
    fn unpinned_resolves_on_release() {
        let ledger = KeepaliveLedger::new(LONG);
        let a = Owner::Actor(5);
        run(async {
            let t1 = ledger.acquire(a, TokenKind::WebSocket);
            let t2 = ledger.acquire(a, TokenKind::Tcp);
            let done = Rc::new(Cell::new(false));
            let waiter = {
                let (ledger, done) = (ledger.clone(), done.clone());
                glommio::spawn_local(async move {
                    ledger.unpinned(a).await;
                    done.set(true);
                })
            };
            glommio::timer::sleep(Duration::from_millis(10)).await;
            assert!(!done.get());
            t1.end(TokenEnd::Closed);
            glommio::timer::sleep(Duration::from_millis(10)).await;
            assert!(!done.get(), "one token still pins");
            t2.end(TokenEnd::Failed);
            within(Duration::from_secs(5), waiter).await;
            assert!(done.get());
        });
        assert_eq!(ledger.totals().expired_by_cap(), 0);
    }

    #[test]
    fn unpinned_resolves_when_the_cap_passes() {
        let cap = Duration::from_millis(60);
        let ledger = KeepaliveLedger::new(cap);
        let a = Owner::Actor(6);
        run(async {
            let start = Instant::now();
            let t1 = ledger.acquire(a, TokenKind::Tcp);
            glommio::timer::sleep(Duration::from_millis(30)).await;
            // a later token moves the owner's end past the first deadline
            let t2 = ledger.acquire(a, TokenKind::WebSocket);
            within(Duration::from_secs(5), ledger.unpinned(a)).await;
            assert!(start.elapsed() >= Duration::from_millis(90));
            assert!(!t1.pins() && !t2.pins());
            let totals = ledger.totals();
            assert_eq!((totals.expired_by_cap(), totals.past_cap), (2, 2));
            // already unpinned: resolves at once
            within(Duration::from_millis(5), ledger.unpinned(a)).await;
        });
    }

    #[test]
    fn idle_owner_rows_are_bounded() {
        let ledger = KeepaliveLedger::new(LONG);
        let held = ledger.acquire(Owner::Actor(0), TokenKind::Tcp);
        for i in 0..3000 {
            drop(ledger.acquire(Owner::Request(i), TokenKind::WebSocket));
        }
        let rows = ledger.owners();
        assert_eq!(rows.len(), IDLE_OWNER_ROWS + 1);
        assert!(rows.iter().any(|r| r.owner == Owner::Actor(0)));
        assert!(ledger.owner_stats(Owner::Request(0)).is_none());
        assert!(ledger.owner_stats(Owner::Request(2999)).is_some());
        let t = ledger.totals();
        assert_eq!((t.acquired, t.live, t.ended.closed), (3001, 1, 3000));
        drop(held);
    }

    #[test]
    fn released_deadlines_do_not_accumulate() {
        let ledger = KeepaliveLedger::new(LONG);
        let held = ledger.acquire(Owner::Actor(0), TokenKind::Tcp);
        for i in 0..20_000 {
            drop(ledger.acquire(Owner::Request(i % 7), TokenKind::Tcp));
        }
        let st = ledger.state.borrow();
        assert!(st.deadlines.len() <= 2 * COMPACT_MIN_STALE + 1);
        assert!(st.slots.len() <= 2, "slots are reused");
        drop(st);
        assert!(held.pins());
    }

    #[test]
    fn install_makes_it_current_on_this_thread() {
        std::thread::spawn(|| {
            assert!(KeepaliveLedger::current().is_none());
            let ledger = KeepaliveLedger::new(Duration::from_secs(1));
            KeepaliveLedger::install(ledger.clone());
            let current = KeepaliveLedger::current().unwrap();
            assert!(Rc::ptr_eq(&current, &ledger));
            assert_eq!(current.cap(), Duration::from_secs(1));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn names_and_cancel_reasons() {
        assert_eq!(Owner::Request(7).to_string(), "request 7");
        assert_eq!(Owner::Actor(255).to_string(), "actor 0x00000000000000ff");
        assert_eq!(TokenKind::WebSocket.to_string(), "websocket");
        assert_eq!(TokenEnd::CapExpired.describe(), "keepalive cap expired");
        assert_eq!(
            TokenEnd::from(CancelReason::PeerClosed),
            TokenEnd::PeerClosed
        );
        assert_eq!(TokenEnd::from(CancelReason::PeerReset), TokenEnd::Failed);
        assert_eq!(TokenEnd::from(CancelReason::Evicted), TokenEnd::OwnerEnded);
        assert_eq!(TokenEnd::from(CancelReason::Shutdown), TokenEnd::Cancelled);
        let mut c = EndCounts::default();
        for e in TokenEnd::ALL {
            *c.slot(e) += 1;
        }
        assert_eq!(c.total(), 6);
        assert_eq!(KeepaliveLedger::new(Duration::MAX).cap(), MAX_CAP);
    }
}

//! Live tail: one JSON event per finished request or actor event, for
//! `tail` clients of the admin listener.
//!
//! A shard's [`TailHub`] holds the subscribers attached to it (one per tail
//! client, sent to every shard by a control message). While it holds none,
//! the request path pays one `Cell<bool>` load ([`TailHub::is_active`]) and
//! nothing else: no [`RequestTrace`] is made, `console.*` lines are not
//! kept. While one is attached, each request gets a trace (its method, URL,
//! console lines and uncaught exceptions, JS time), and when the request is
//! over the hub filters it per subscriber, serializes it once and offers it
//! with `try_send` to each subscriber's bounded queue.
//!
//! A subscriber whose queue is full is dropped on the spot (its
//! [`TailSubscription::overflowed`] turns true and the shards forget it): a
//! slow tail client never slows a shard and never makes it buffer more than
//! the queue's bound.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::metrics::Outcome;
use crate::request_id::RequestId;

/// Most console lines and exceptions one trace keeps; later ones are
/// counted as dropped.
pub const TRACE_MAX_ENTRIES: usize = 256;
/// Longest console line or exception text kept, in bytes (longer ones are cut).
pub const TRACE_MAX_TEXT: usize = 16 * 1024;

/// One `console.*` line of a request.
#[derive(Debug, Clone, Serialize)]
pub struct TraceLog {
    /// `debug`, `log`, `info`, `warn` or `error`.
    pub level: &'static str,
    /// The formatted arguments.
    pub message: String,
    /// When, in milliseconds since the request started.
    pub at_ms: f64,
}

/// An uncaught exception (or unhandled rejection) of a request.
#[derive(Debug, Clone, Serialize)]
pub struct TraceException {
    /// Its text, with the stack when there is one.
    pub message: String,
    /// When, in milliseconds since the request started.
    pub at_ms: f64,
}

/// What one request produced, for tail clients. Made by the connection only
/// while a tail client is attached to the shard ([`TailHub::is_active`]);
/// the handler (the isolate) adds its console lines, exceptions and JS time.
#[derive(Debug)]
pub struct RequestTrace {
    started: Instant,
    at: SystemTime,
    /// The HTTP method, or an actor event's name (`fetch`, `alarm`, ...).
    method: String,
    /// The URL (empty for an actor event).
    url: String,
    /// The actor (`Class:id`) of an actor event.
    actor: Option<String>,
    worker: RefCell<Option<Rc<str>>>,
    logs: RefCell<Vec<TraceLog>>,
    exceptions: RefCell<Vec<TraceException>>,
    dropped: Cell<u32>,
    cpu: Cell<Duration>,
}

fn cut(mut text: String) -> String {
    if text.len() > TRACE_MAX_TEXT {
        let mut end = TRACE_MAX_TEXT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

impl RequestTrace {
    /// A trace for a request that started at `started`.
    pub fn new(method: &str, url: String, started: Instant) -> Rc<Self> {
        Self::make(method.to_string(), url, None, started)
    }

    /// A trace for an event delivered to actor `actor` (`Class:id`):
    /// `event` is `fetch`, `alarm`, an RPC method's name, `webSocketMessage`...
    pub fn for_actor(actor: String, event: String) -> Rc<Self> {
        Self::make(event, String::new(), Some(actor), Instant::now())
    }

    fn make(method: String, url: String, actor: Option<String>, started: Instant) -> Rc<Self> {
        Rc::new(Self {
            started,
            at: SystemTime::now() - started.elapsed(),
            method,
            url,
            actor,
            worker: RefCell::new(None),
            logs: RefCell::new(Vec::new()),
            exceptions: RefCell::new(Vec::new()),
            dropped: Cell::new(0),
            cpu: Cell::new(Duration::ZERO),
        })
    }

    fn room(&self) -> bool {
        let used = self.logs.borrow().len() + self.exceptions.borrow().len();
        if used >= TRACE_MAX_ENTRIES {
            self.dropped.set(self.dropped.get() + 1);
            return false;
        }
        true
    }

    /// Names the worker that served it.
    pub fn set_worker(&self, name: Rc<str>) {
        *self.worker.borrow_mut() = Some(name);
    }

    /// A `console.*` line at `level` (`log`, `warn`, ...).
    pub fn log(&self, level: &'static str, message: String) {
        if self.room() {
            self.logs.borrow_mut().push(TraceLog {
                level,
                message: cut(message),
                at_ms: ms(self.started.elapsed()),
            });
        }
    }

    /// An uncaught exception or unhandled rejection.
    pub fn exception(&self, message: String) {
        if self.room() {
            self.exceptions.borrow_mut().push(TraceException {
                message: cut(message),
                at_ms: ms(self.started.elapsed()),
            });
        }
    }

    /// Adds time the script ran for it (a JS entry's duration: entries are
    /// synchronous, so this is CPU time).
    pub fn add_cpu(&self, d: Duration) {
        self.cpu.set(self.cpu.get() + d);
    }

    /// The `console.*` lines so far.
    pub fn logs(&self) -> Vec<TraceLog> {
        self.logs.borrow().clone()
    }
}

/// A finished request or actor event as a tail client receives it (one
/// JSON object).
#[derive(Debug, Serialize)]
struct TailEvent<'a> {
    /// `request` or `actor`.
    kind: &'static str,
    /// When it started, in milliseconds since the Unix epoch.
    timestamp_ms: u64,
    worker: Option<&'a str>,
    shard: usize,
    /// The request's id; for an actor event, the request that caused it
    /// (null for an alarm or a hibernated socket's message).
    request_id: Option<RequestId>,
    /// The HTTP method, or the actor event (`fetch`, `alarm`, an RPC
    /// method, `webSocketMessage`, `webSocketClose`, `webSocketError`).
    method: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    actor: Option<&'a str>,
    /// The response status (null for an actor event).
    status: Option<u16>,
    outcome: Outcome,
    cpu_ms: f64,
    wall_ms: f64,
    logs: &'a [TraceLog],
    exceptions: &'a [TraceException],
    /// Lines and exceptions over [`TRACE_MAX_ENTRIES`], not sent.
    dropped_entries: u32,
}

/// Which requests a tail client wants. Values of one kind are alternatives;
/// kinds must all match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TailFilter {
    statuses: Vec<StatusFilter>,
    outcomes: Vec<Outcome>,
    methods: Vec<String>,
    /// Share of matching events sent, 0 to 1.
    sampling: f64,
}

/// One `status=` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusFilter {
    /// Below 400 with outcome `ok`.
    Ok,
    /// 400 or above, or an outcome other than `ok` and `client_disconnected`.
    Error,
    /// A class: `2xx` is `Class(2)`.
    Class(u16),
    /// One code.
    Code(u16),
}

/// A tail filter that cannot be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad tail filter {key}={value}: {why}")]
pub struct TailFilterError {
    key: String,
    value: String,
    why: &'static str,
}

impl TailFilter {
    /// Everything, unsampled.
    pub fn all() -> Self {
        Self {
            sampling: 1.0,
            ..Self::default()
        }
    }

    /// Parses a query string: `status=` (`ok`, `error`, `5xx`, `404`),
    /// `outcome=` ([`Outcome::name`]), `method=` (`GET`), each repeatable or
    /// comma-separated, and `sampling=` (a rate from 0 to 1).
    ///
    /// ```
    /// use ringworker_core::tail::TailFilter;
    /// let f = TailFilter::parse_query("status=error,2xx&method=post&sampling=0.5").unwrap();
    /// assert!(TailFilter::parse_query("status=teapot").is_err());
    /// # let _ = f;
    /// ```
    pub fn parse_query(query: &str) -> Result<Self, TailFilterError> {
        let mut f = Self::all();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let bad = |why| TailFilterError {
                key: key.to_string(),
                value: value.to_string(),
                why,
            };
            for v in value.split(',').filter(|v| !v.is_empty()) {
                match key {
                    "status" => f.statuses.push(match v {
                        "ok" => StatusFilter::Ok,
                        "error" => StatusFilter::Error,
                        _ if v.len() == 3 && v.ends_with("xx") => match v[..1].parse::<u16>() {
                            Ok(c @ 1..=5) => StatusFilter::Class(c),
                            _ => return Err(bad("expected ok, error, 1xx-5xx or a code")),
                        },
                        _ => match v.parse::<u16>() {
                            Ok(c @ 100..=599) => StatusFilter::Code(c),
                            _ => return Err(bad("expected ok, error, 1xx-5xx or a code")),
                        },
                    }),
                    "outcome" => f.outcomes.push(Outcome::parse(v).ok_or_else(|| {
                        bad("expected ok, exception, cpu_limit, heap_limit or client_disconnected")
                    })?),
                    "method" => f.methods.push(v.to_string()),
                    "sampling" => {
                        f.sampling = match v.parse::<f64>() {
                            Ok(r) if (0.0..=1.0).contains(&r) => r,
                            _ => return Err(bad("expected a rate from 0 to 1")),
                        }
                    }
                    _ => return Err(bad("unknown filter (status, outcome, method, sampling)")),
                }
            }
        }
        Ok(f)
    }

    /// Whether an event passes (an actor event has no status: `ok` and
    /// `error` go by its outcome, classes and codes never match it).
    fn matches(&self, method: &str, status: Option<u16>, outcome: Outcome) -> bool {
        let failed = !matches!(outcome, Outcome::Ok | Outcome::ClientDisconnected);
        let status_ok = self.statuses.is_empty()
            || self.statuses.iter().any(|s| match (*s, status) {
                (StatusFilter::Ok, st) => st.is_none_or(|st| st < 400) && outcome == Outcome::Ok,
                (StatusFilter::Error, st) => st.is_some_and(|st| st >= 400) || failed,
                (StatusFilter::Class(c), Some(st)) => st / 100 == c,
                (StatusFilter::Code(c), Some(st)) => st == c,
                (_, None) => false,
            });
        status_ok
            && (self.outcomes.is_empty() || self.outcomes.contains(&outcome))
            && (self.methods.is_empty()
                || self.methods.iter().any(|m| m.eq_ignore_ascii_case(method)))
    }
}

/// What a subscription's shards and its owner share.
#[derive(Debug)]
struct TailShared {
    id: u64,
    /// A shard found its queue full and dropped it.
    overflowed: AtomicBool,
    /// Its owner let go of it.
    closed: AtomicBool,
}

/// A tail client's end: the events every shard sends it, in a bounded queue.
/// Dropping it detaches it (shards forget it at their next event, or at
/// once when told with [`ShardCommand::Untail`](crate::ShardCommand::Untail)).
pub struct TailSubscription {
    rx: flume::Receiver<Arc<str>>,
    stream: flume::r#async::RecvStream<'static, Arc<str>>,
    template: TailSubscriber,
}

impl std::fmt::Debug for TailSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TailSubscription")
            .field("id", &self.id())
            .field("queued", &self.rx.len())
            .finish()
    }
}

/// A subscription's end on one shard (sent to it in a control message).
#[derive(Debug, Clone)]
pub struct TailSubscriber {
    filter: TailFilter,
    tx: flume::Sender<Arc<str>>,
    shared: Arc<TailShared>,
}

impl TailSubscriber {
    /// The subscription's id (for [`ShardCommand::Untail`](crate::ShardCommand::Untail)).
    pub fn id(&self) -> u64 {
        self.shared.id
    }
}

impl TailSubscription {
    /// A subscription for `filter` whose queue holds at most `capacity` events.
    pub fn new(filter: TailFilter, capacity: usize) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let (tx, rx) = flume::bounded(capacity.max(1));
        Self {
            stream: rx.clone().into_stream(),
            rx,
            template: TailSubscriber {
                filter,
                tx,
                shared: Arc::new(TailShared {
                    id: NEXT.fetch_add(1, Ordering::Relaxed),
                    overflowed: AtomicBool::new(false),
                    closed: AtomicBool::new(false),
                }),
            },
        }
    }

    /// Its id.
    pub fn id(&self) -> u64 {
        self.template.shared.id
    }

    /// An end to hand to one shard.
    pub fn subscriber(&self) -> TailSubscriber {
        self.template.clone()
    }

    /// The next event (a JSON object), once one comes; `None` once it
    /// overflowed (the client was too slow) or every shard let go of it.
    pub async fn next(&mut self) -> Option<Arc<str>> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    /// [`Self::next`] as a poll: `Ready(None)` once it overflowed.
    pub fn poll_next(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Arc<str>>> {
        use futures_lite::Stream;
        if self.overflowed() {
            return std::task::Poll::Ready(None);
        }
        std::pin::Pin::new(&mut self.stream).poll_next(cx)
    }

    /// An event already queued, without waiting.
    pub fn try_next(&self) -> Option<Arc<str>> {
        if self.overflowed() {
            return None;
        }
        self.rx.try_recv().ok()
    }

    /// Whether a shard dropped it because its queue was full.
    pub fn overflowed(&self) -> bool {
        self.template.shared.overflowed.load(Ordering::Acquire)
    }
}

impl Drop for TailSubscription {
    fn drop(&mut self) {
        self.template.shared.closed.store(true, Ordering::Release);
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<TailHub>>> = const { RefCell::new(None) };
}

/// A shard's tail subscribers. Shard-local (`Rc`).
#[derive(Debug)]
pub struct TailHub {
    subs: RefCell<Vec<TailSubscriber>>,
    active: Cell<bool>,
    /// xorshift state for sampling.
    rng: Cell<u64>,
}

impl Default for TailHub {
    fn default() -> Self {
        Self {
            subs: RefCell::new(Vec::new()),
            active: Cell::new(false),
            rng: Cell::new(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
                    | 1,
            ),
        }
    }
}

impl TailHub {
    /// A hub with no subscriber.
    pub fn new() -> Rc<Self> {
        Rc::new(Self::default())
    }

    /// Makes `hub` this thread's (the shard's), for layers built without a
    /// handle to it (the isolate's actors).
    pub fn set_current(hub: Option<Rc<TailHub>>) {
        CURRENT.with(|c| *c.borrow_mut() = hub);
    }

    /// This shard's hub, if the thread runs a shard.
    pub fn current() -> Option<Rc<TailHub>> {
        CURRENT.with(|c| c.borrow().clone())
    }

    /// Whether a tail client is attached: the one check the request path
    /// makes when none is.
    #[inline]
    pub fn is_active(&self) -> bool {
        self.active.get()
    }

    /// How many subscribers are attached.
    pub fn subscribers(&self) -> usize {
        self.subs.borrow().len()
    }

    /// Attaches a subscriber.
    pub fn subscribe(&self, s: TailSubscriber) {
        let mut subs = self.subs.borrow_mut();
        subs.retain(|x| !x.shared.closed.load(Ordering::Acquire));
        if !s.shared.closed.load(Ordering::Acquire) {
            subs.push(s);
        }
        self.active.set(!subs.is_empty());
    }

    /// Detaches subscription `id`.
    pub fn unsubscribe(&self, id: u64) {
        let mut subs = self.subs.borrow_mut();
        subs.retain(|x| x.shared.id != id);
        self.active.set(!subs.is_empty());
    }

    fn sample(&self, rate: f64) -> bool {
        if rate >= 1.0 {
            return true;
        }
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        ((x >> 11) as f64 / (1u64 << 53) as f64) < rate
    }

    /// Offers a finished request (or actor event: no `status`) to every
    /// subscriber whose filter takes it.
    pub fn publish(
        &self,
        shard: usize,
        id: Option<RequestId>,
        trace: &RequestTrace,
        status: Option<u16>,
        outcome: Outcome,
    ) {
        let mut json: Option<Arc<str>> = None;
        let mut subs = self.subs.borrow_mut();
        subs.retain(|s| {
            if s.shared.closed.load(Ordering::Acquire) {
                return false;
            }
            if !s.filter.matches(&trace.method, status, outcome) || !self.sample(s.filter.sampling)
            {
                return true;
            }
            let ev = json.get_or_insert_with(|| {
                let worker = trace.worker.borrow();
                let logs = trace.logs.borrow();
                let exceptions = trace.exceptions.borrow();
                let e = TailEvent {
                    kind: if trace.actor.is_some() {
                        "actor"
                    } else {
                        "request"
                    },
                    timestamp_ms: trace
                        .at
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .map(|d| d.as_millis() as u64)
                        .unwrap_or(0),
                    worker: worker.as_deref(),
                    shard,
                    request_id: id,
                    method: &trace.method,
                    url: trace.actor.is_none().then_some(trace.url.as_str()),
                    actor: trace.actor.as_deref(),
                    status,
                    outcome,
                    cpu_ms: ms(trace.cpu.get()),
                    wall_ms: ms(trace.started.elapsed()),
                    logs: &logs,
                    exceptions: &exceptions,
                    dropped_entries: trace.dropped.get(),
                };
                serde_json::to_string(&e)
                    .unwrap_or_else(|_| String::from("{}"))
                    .into()
            });
            match s.tx.try_send(ev.clone()) {
                Ok(()) => true,
                Err(flume::TrySendError::Full(_)) => {
                    // Too slow: dropped, never waited for.
                    s.shared.overflowed.store(true, Ordering::Release);
                    false
                }
                Err(flume::TrySendError::Disconnected(_)) => false,
            }
        });
        self.active.set(!subs.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace() -> Rc<RequestTrace> {
        let t = RequestTrace::new("GET", "http://h/x".into(), Instant::now());
        t.log("log", "hello".into());
        t.exception("Error: boom".into());
        t
    }

    #[test]
    fn events_reach_subscribers_whose_filter_takes_them() {
        let hub = TailHub::new();
        assert!(!hub.is_active());
        let all = TailSubscription::new(TailFilter::all(), 8);
        let errors = TailSubscription::new(TailFilter::parse_query("status=error").unwrap(), 8);
        hub.subscribe(all.subscriber());
        hub.subscribe(errors.subscriber());
        assert!(hub.is_active());
        hub.publish(
            0,
            Some(RequestId::new(0, 1)),
            &trace(),
            Some(200),
            Outcome::Ok,
        );
        hub.publish(
            0,
            Some(RequestId::new(0, 2)),
            &trace(),
            Some(500),
            Outcome::Exception,
        );
        let first: serde_json::Value = serde_json::from_str(&all.try_next().unwrap()).unwrap();
        assert_eq!(first["status"], 200);
        assert_eq!(first["logs"][0]["message"], "hello");
        assert_eq!(first["exceptions"][0]["message"], "Error: boom");
        assert!(all.try_next().is_some());
        let e: serde_json::Value = serde_json::from_str(&errors.try_next().unwrap()).unwrap();
        assert_eq!(e["outcome"], "exception");
        assert!(errors.try_next().is_none());
        drop(all);
        drop(errors);
        hub.publish(
            0,
            Some(RequestId::new(0, 3)),
            &trace(),
            Some(200),
            Outcome::Ok,
        );
        assert!(!hub.is_active(), "closed subscriptions are forgotten");
    }

    #[test]
    fn a_full_queue_drops_the_subscriber() {
        let hub = TailHub::new();
        let slow = TailSubscription::new(TailFilter::all(), 2);
        hub.subscribe(slow.subscriber());
        for i in 0..3 {
            hub.publish(
                0,
                Some(RequestId::new(0, i)),
                &trace(),
                Some(200),
                Outcome::Ok,
            );
        }
        assert!(slow.overflowed());
        assert!(!hub.is_active());
        assert!(slow.try_next().is_none());
    }

    #[test]
    fn filters_parse_and_match() {
        let f = TailFilter::parse_query("status=5xx,404&method=get&outcome=ok").unwrap();
        assert!(f.matches("GET", Some(503), Outcome::Ok));
        assert!(f.matches("GET", Some(404), Outcome::Ok));
        assert!(!f.matches("GET", Some(403), Outcome::Ok));
        assert!(!f.matches("POST", Some(503), Outcome::Ok));
        assert!(!f.matches("GET", Some(503), Outcome::Exception));
        let ok = TailFilter::parse_query("status=ok").unwrap();
        assert!(ok.matches("GET", Some(200), Outcome::Ok));
        assert!(!ok.matches("GET", Some(200), Outcome::CpuLimit));
        // Actor events: no status; ok and error go by the outcome.
        let err = TailFilter::parse_query("status=error&method=alarm").unwrap();
        assert!(err.matches("alarm", None, Outcome::Exception));
        assert!(!err.matches("alarm", None, Outcome::Ok));
        assert!(!f.matches("GET", None, Outcome::Ok));
        assert!(TailFilter::parse_query("sampling=2").is_err());
        assert!(TailFilter::parse_query("outcome=nope").is_err());
        assert!(TailFilter::parse_query("colour=red").is_err());
        let none = TailFilter::parse_query("sampling=0").unwrap();
        let hub = TailHub::new();
        let s = TailSubscription::new(none, 8);
        hub.subscribe(s.subscriber());
        hub.publish(
            0,
            Some(RequestId::new(0, 1)),
            &trace(),
            Some(200),
            Outcome::Ok,
        );
        assert!(s.try_next().is_none());
    }
}

//! The shard launcher: one OS thread per shard, named `shard-N`, pinned to
//! one of the CPUs the process was given ([`cpus`](crate::cpus)), running a glommio `LocalExecutor`. Shards share nothing mutable; the
//! outside reaches them through [`control`](crate::control) messages.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use glommio::{LocalExecutorBuilder, Placement};

use crate::config::Config;
use crate::control::{ControlReceiver, ControlSender, ShardCommand, control_channel};
use crate::drain::{DrainSignal, DrainStage};
use crate::keepalive::KeepaliveLedger;
use crate::metrics::{ShardMetrics, ShardStats};
use crate::tail::{TailHub, TailSubscription};

/// A shard's index, `0..shards`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardId(pub usize);

impl fmt::Display for ShardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "shard-{}", self.0)
    }
}

/// Why a shard could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    /// The shard failed before it reported ready (bind, executor set-up).
    #[error("{shard} failed to start: {reason}")]
    Start {
        /// Which shard.
        shard: ShardId,
        /// What went wrong.
        reason: String,
    },
    /// The shard's main future returned an error.
    #[error("{shard} failed: {reason}")]
    Failed {
        /// Which shard.
        shard: ShardId,
        /// What went wrong.
        reason: String,
    },
    /// The shard's thread panicked.
    #[error("{0} panicked")]
    Panicked(ShardId),
    /// The OS refused to create a thread or doorbell.
    #[error("cannot create a shard: {0}")]
    Io(#[from] std::io::Error),
    /// More pinned shards than CPUs the process may run on.
    #[error(transparent)]
    Placement(#[from] crate::cpus::TooManyShards),
    /// The control plane failed.
    #[error(transparent)]
    Control(#[from] crate::control::ControlError),
}

impl ShardError {
    /// What went wrong, without the shard's name (for a report that names
    /// it already).
    pub fn reason(&self) -> String {
        match self {
            ShardError::Start { reason, .. } | ShardError::Failed { reason, .. } => reason.clone(),
            other => other.to_string(),
        }
    }
}

/// The once-only "this shard is serving (or failed to start)" report.
type ReadySlot = Rc<RefCell<Option<mpsc::Sender<Result<(), (ShardId, String)>>>>>;

/// What a shard's main future is handed: its identity and its local services.
pub struct ShardContext {
    /// This shard.
    pub id: ShardId,
    /// The server's configuration.
    pub config: Arc<Config>,
    /// This shard's metrics.
    pub metrics: Rc<ShardMetrics>,
    /// This shard's keepalive ledger (also [`KeepaliveLedger::current`]),
    /// capped at `config.outbound.keepalive_cap`.
    pub keepalive: Rc<KeepaliveLedger>,
    /// This shard's shutdown stages.
    pub drain: DrainSignal,
    /// This shard's tail subscribers (see [`crate::tail`]).
    pub tail: Rc<TailHub>,
    /// Every shard of the set, this one included, by message (stats for the
    /// admin listener, tail subscriptions).
    pub controller: ShardController,
    ready: ReadySlot,
}

impl fmt::Debug for ShardContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardContext")
            .field("id", &self.id)
            .finish()
    }
}

impl ShardContext {
    /// Tells the launcher this shard is serving. [`ShardSet::launch`] returns
    /// once every shard has called it (or failed).
    pub fn ready(&self) {
        if let Some(tx) = self.ready.borrow_mut().take() {
            let _ = tx.send(Ok(()));
        }
    }

    /// A second handle on the same shard services and the same ready signal,
    /// so a failure of the main future before `ready()` is still reported once.
    fn share(&self) -> ShardContext {
        ShardContext {
            id: self.id,
            config: self.config.clone(),
            metrics: self.metrics.clone(),
            keepalive: self.keepalive.clone(),
            drain: self.drain.clone(),
            tail: self.tail.clone(),
            controller: self.controller.clone(),
            ready: self.ready.clone(),
        }
    }

    fn fail_start(&self, reason: String) -> bool {
        match self.ready.borrow_mut().take() {
            Some(tx) => {
                let _ = tx.send(Err((self.id, reason)));
                true
            }
            None => false,
        }
    }
}

/// Running shards, seen from outside.
#[derive(Debug)]
pub struct ShardSet {
    controls: ShardController,
    threads: Vec<(ShardId, JoinHandle<Result<(), ShardError>>)>,
}

/// Reaches running shards from any thread: stats and shutdown, by message.
#[derive(Debug, Clone)]
pub struct ShardController(Arc<Controls>);

#[derive(Debug)]
struct Controls {
    senders: Vec<ControlSender>,
    lifecycle: Lifecycle,
}

/// Whether the shards serve, as a load balancer's readiness probe asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Readiness {
    /// Not every shard has started yet.
    Starting,
    /// Every shard serves.
    Ready,
    /// Shutdown has begun (or a shard stopped): send traffic elsewhere.
    Draining,
}

#[derive(Debug)]
struct Lifecycle {
    shards: usize,
    /// Every shard reported ready.
    started: AtomicBool,
    /// Shutdown was asked for.
    draining: AtomicBool,
    /// Shards whose thread has not ended.
    running: AtomicUsize,
}

/// How long a stats request waits for a shard's answer.
const STATS_TIMEOUT: Duration = Duration::from_secs(5);

impl ShardController {
    fn new(senders: Vec<ControlSender>) -> Self {
        let shards = senders.len();
        Self(Arc::new(Controls {
            senders,
            lifecycle: Lifecycle {
                shards,
                started: AtomicBool::new(false),
                draining: AtomicBool::new(false),
                running: AtomicUsize::new(shards),
            },
        }))
    }

    /// How many shards.
    pub fn shards(&self) -> usize {
        self.0.senders.len()
    }

    fn ask_stats(&self) -> (flume::Receiver<ShardStats>, usize) {
        let (tx, rx) = flume::bounded(self.0.senders.len().max(1));
        let mut asked = 0;
        for c in self.0.senders.iter() {
            if c.send(ShardCommand::Stats(tx.clone())).is_ok() {
                asked += 1;
            }
        }
        (rx, asked)
    }

    /// Asks every running shard for a metrics snapshot (a message each, no
    /// lock) and waits for them. Not for a shard's own thread (it would wait
    /// for itself): there, use [`Self::stats_async`].
    pub fn stats(&self) -> Vec<ShardStats> {
        let (rx, asked) = self.ask_stats();
        let mut out: Vec<ShardStats> = (0..asked)
            .filter_map(|_| rx.recv_timeout(STATS_TIMEOUT).ok())
            .collect();
        out.sort_by_key(|s| s.shard);
        out
    }

    /// [`Self::stats`] for a shard: the answers are awaited, so this shard
    /// answers its own request meanwhile. A shard that does not answer
    /// within 5 s is left out.
    pub async fn stats_async(&self) -> Vec<ShardStats> {
        let (rx, asked) = self.ask_stats();
        let mut out = Vec::with_capacity(asked);
        let collect = async {
            while out.len() < asked {
                match rx.recv_async().await {
                    Ok(s) => out.push(s),
                    Err(_) => break,
                }
            }
        };
        futures_lite::future::or(collect, glommio::timer::sleep(STATS_TIMEOUT)).await;
        out.sort_by_key(|s| s.shard);
        out
    }

    /// Attaches `sub` to every shard and waits (on a shard) until each
    /// sends it its finished requests; returns how many do. Detach with
    /// [`Self::untail`] (or drop it: shards forget it at their next request).
    pub async fn tail(&self, sub: &TailSubscription) -> usize {
        let (tx, rx) = flume::bounded(self.0.senders.len().max(1));
        let mut asked = 0;
        for c in self.0.senders.iter() {
            if c.send(ShardCommand::Tail(sub.subscriber(), tx.clone()))
                .is_ok()
            {
                asked += 1;
            }
        }
        drop(tx);
        let mut attached = 0;
        let collect = async {
            while attached < asked && rx.recv_async().await.is_ok() {
                attached += 1;
            }
        };
        futures_lite::future::or(collect, glommio::timer::sleep(STATS_TIMEOUT)).await;
        attached
    }

    /// Detaches tail subscription `id` from every shard.
    pub fn untail(&self, id: u64) {
        for c in self.0.senders.iter() {
            let _ = c.send(ShardCommand::Untail(id));
        }
    }

    /// Whether every shard serves: [`Readiness::Starting`] until each has
    /// started, [`Readiness::Draining`] once shutdown was asked for (by
    /// [`Self::begin_draining`] or [`Self::shutdown`]) or a shard stopped.
    pub fn readiness(&self) -> Readiness {
        let l = &self.0.lifecycle;
        if l.draining.load(Ordering::Acquire) || l.running.load(Ordering::Acquire) < l.shards {
            Readiness::Draining
        } else if l.started.load(Ordering::Acquire) {
            Readiness::Ready
        } else {
            Readiness::Starting
        }
    }

    /// Reports not-ready from now on without stopping anything yet: what a
    /// graceful shutdown does first, so load balancers stop sending before
    /// the listeners close.
    pub fn begin_draining(&self) {
        self.0.lifecycle.draining.store(true, Ordering::Release);
    }

    /// Begins graceful shutdown on every shard (idempotent).
    pub fn shutdown(&self) {
        self.begin_draining();
        for c in self.0.senders.iter() {
            let _ = c.send(ShardCommand::Shutdown);
        }
    }
}

/// Counts a shard's thread as ended when dropped (also on a panic).
struct Running(ShardController);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.0.lifecycle.running.fetch_sub(1, Ordering::AcqRel);
    }
}

impl ShardSet {
    /// Starts `config.shards` shards; each runs `shard_main(ctx)` to completion.
    ///
    /// Returns once every shard called [`ShardContext::ready`]; if one failed
    /// first, the others are shut down and its error is returned.
    pub fn launch<F, Fut>(config: Arc<Config>, shard_main: F) -> Result<ShardSet, ShardError>
    where
        F: Fn(ShardContext) -> Fut + Send + Clone + 'static,
        Fut: Future<Output = Result<(), ShardError>> + 'static,
    {
        let shards = config.shards.max(1);
        let cpus = if config.pin_shards {
            Some(crate::cpus::shard_cpus(
                shards,
                &crate::cpus::allowed_cpus()?,
            )?)
        } else {
            None
        };
        let (ready_tx, ready_rx) = mpsc::channel();
        let mut senders = Vec::with_capacity(shards);
        let mut receivers = Vec::with_capacity(shards);
        for i in 0..shards {
            let (ctl_tx, ctl_rx) = control_channel(i)?;
            senders.push(ctl_tx);
            receivers.push(ctl_rx);
        }
        // Every shard holds the controller too: its admin listener asks the
        // others for stats and attaches tail clients to them.
        let controls = ShardController::new(senders);
        let mut threads = Vec::with_capacity(shards);
        for (i, ctl_rx) in receivers.into_iter().enumerate() {
            let id = ShardId(i);
            let placement = match &cpus {
                Some(cpus) => Placement::Fixed(cpus[i]),
                None => Placement::Unbound,
            };
            let config = config.clone();
            let ready = ready_tx.clone();
            let main = shard_main.clone();
            let controller = controls.clone();
            let thread = std::thread::Builder::new()
                .name(id.to_string())
                .spawn(move || run_shard(id, placement, config, controller, ctl_rx, ready, main));
            match thread {
                Ok(t) => threads.push((id, t)),
                Err(e) => {
                    // The shards already started stop; this one never runs.
                    controls
                        .0
                        .lifecycle
                        .running
                        .fetch_sub(shards - i, Ordering::AcqRel);
                    let set = ShardSet { controls, threads };
                    set.shutdown();
                    let _ = set.join();
                    return Err(e.into());
                }
            }
        }
        drop(ready_tx);
        let set = ShardSet { controls, threads };
        for _ in 0..shards {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err((shard, reason))) => {
                    set.shutdown();
                    let _ = set.join();
                    return Err(ShardError::Start { shard, reason });
                }
                Err(_) => {
                    set.shutdown();
                    let err = set.join().err();
                    return Err(err.unwrap_or(ShardError::Start {
                        shard: ShardId(0),
                        reason: "shard exited before it was ready".into(),
                    }));
                }
            }
        }
        set.controls
            .0
            .lifecycle
            .started
            .store(true, Ordering::Release);
        Ok(set)
    }

    /// How many shards were started.
    pub fn len(&self) -> usize {
        self.controls.shards()
    }

    /// Whether no shard was started (never true after a successful launch).
    pub fn is_empty(&self) -> bool {
        self.controls.shards() == 0
    }

    /// A `Send + Clone` handle for stats and shutdown from any thread.
    pub fn controller(&self) -> ShardController {
        self.controls.clone()
    }

    /// Asks every running shard for a metrics snapshot (a message each, no lock).
    pub fn stats(&self) -> Vec<ShardStats> {
        self.controls.stats()
    }

    /// Begins graceful shutdown on every shard (idempotent).
    pub fn shutdown(&self) {
        self.controls.shutdown()
    }

    /// Waits for every shard to exit; returns the first error.
    pub fn join(self) -> Result<(), ShardError> {
        let mut first = None;
        for (id, t) in self.threads {
            let r = match t.join() {
                Ok(r) => r,
                Err(_) => Err(ShardError::Panicked(id)),
            };
            if let Err(e) = r {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

fn run_shard<F, Fut>(
    id: ShardId,
    placement: Placement,
    config: Arc<Config>,
    controller: ShardController,
    control: ControlReceiver,
    ready: mpsc::Sender<Result<(), (ShardId, String)>>,
    shard_main: F,
) -> Result<(), ShardError>
where
    F: Fn(ShardContext) -> Fut,
    Fut: Future<Output = Result<(), ShardError>> + 'static,
{
    let _running = Running(controller.clone());
    let executor = LocalExecutorBuilder::new(placement)
        .name(&id.to_string())
        .io_memory(config.io_memory)
        .ring_depth(config.ring_depth)
        .make();
    let executor = match executor {
        Ok(ex) => ex,
        Err(e) => {
            let reason = format!(
                "cannot start the executor: {e} (is `ulimit -l` at least io_memory = {} bytes?)",
                config.io_memory
            );
            let _ = ready.send(Err((id, reason.clone())));
            return Err(ShardError::Start { shard: id, reason });
        }
    };
    executor.run(async move {
        let ctx = ShardContext {
            id,
            config: config.clone(),
            metrics: Rc::new(ShardMetrics::new()),
            keepalive: KeepaliveLedger::new(config.outbound.keepalive_cap),
            drain: DrainSignal::new(),
            tail: TailHub::new(),
            controller,
            ready: Rc::new(RefCell::new(Some(ready))),
        };
        let metrics = ctx.metrics.clone();
        let tail = ctx.tail.clone();
        ShardMetrics::set_current(Some(metrics.clone()));
        TailHub::set_current(Some(ctx.tail.clone()));
        let keepalive = ctx.keepalive.clone();
        KeepaliveLedger::install(keepalive.clone());
        let drain = ctx.drain.clone();
        let deadline = config.timeouts.drain;
        glommio::spawn_local(control.run(move |cmd| match cmd {
            ShardCommand::Stats(reply) => {
                let mut stats = metrics.snapshot(id.0).with_keepalive(&keepalive);
                stats.tail_clients = tail.subscribers() as u64;
                let _ = reply.send(stats);
            }
            ShardCommand::Tail(sub, attached) => {
                tail.subscribe(sub);
                let _ = attached.send(());
            }
            ShardCommand::Untail(sub) => tail.unsubscribe(sub),
            ShardCommand::Shutdown => {
                if !drain.is_draining() {
                    tracing::info!(shard = id.0, "draining");
                    drain.advance(DrainStage::Draining);
                    let d = drain.clone();
                    glommio::spawn_local(async move {
                        glommio::timer::sleep(deadline).await;
                        d.advance(DrainStage::Forced);
                    })
                    .detach();
                }
            }
        }))
        .detach();
        let result = shard_main(ctx.share()).await;
        match &result {
            // (launch names the shard.)
            Err(e) => {
                ctx.fail_start(e.reason());
            }
            // A main that ends without calling ready() must not hang launch().
            Ok(()) => ctx.ready(),
        }
        result
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_start_shutdown_and_stopped_shards() {
        let (tx, _rx) = control_channel(0).unwrap();
        let c = ShardController::new(vec![tx]);
        assert_eq!(c.readiness(), Readiness::Starting);
        c.0.lifecycle.started.store(true, Ordering::Release);
        assert_eq!(c.readiness(), Readiness::Ready);
        let stopped = Running(c.clone());
        drop(stopped);
        assert_eq!(c.readiness(), Readiness::Draining, "a shard stopped");
        let (tx, _rx) = control_channel(0).unwrap();
        let c = ShardController::new(vec![tx]);
        c.0.lifecycle.started.store(true, Ordering::Release);
        c.begin_draining();
        assert_eq!(c.readiness(), Readiness::Draining);
    }
}

//! The shard launcher: one OS thread per shard, named `shard-N`, pinned to
//! one of the CPUs the process was given ([`cpus`](crate::cpus)), running a glommio `LocalExecutor`. Shards share nothing mutable; the
//! outside reaches them through [`control`](crate::control) messages.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use glommio::{LocalExecutorBuilder, Placement};

use crate::config::Config;
use crate::control::{ControlReceiver, ControlSender, ShardCommand, control_channel};
use crate::drain::{DrainSignal, DrainStage};
use crate::keepalive::KeepaliveLedger;
use crate::metrics::{ShardMetrics, ShardStats};

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
pub struct ShardController(Arc<Vec<ControlSender>>);

impl ShardController {
    /// Asks every running shard for a metrics snapshot (a message each, no lock).
    pub fn stats(&self) -> Vec<ShardStats> {
        let (tx, rx) = mpsc::channel();
        let mut asked = 0;
        for c in self.0.iter() {
            if c.send(ShardCommand::Stats(tx.clone())).is_ok() {
                asked += 1;
            }
        }
        drop(tx);
        let mut out: Vec<ShardStats> = (0..asked)
            .filter_map(|_| rx.recv_timeout(Duration::from_secs(5)).ok())
            .collect();
        out.sort_by_key(|s| s.shard);
        out
    }

    /// Begins graceful shutdown on every shard (idempotent).
    pub fn shutdown(&self) {
        for c in self.0.iter() {
            let _ = c.send(ShardCommand::Shutdown);
        }
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
        let mut controls = Vec::with_capacity(shards);
        let mut threads = Vec::with_capacity(shards);
        for i in 0..shards {
            let id = ShardId(i);
            let (ctl_tx, ctl_rx) = control_channel(i)?;
            controls.push(ctl_tx);
            let placement = match &cpus {
                Some(cpus) => Placement::Fixed(cpus[i]),
                None => Placement::Unbound,
            };
            let config = config.clone();
            let ready = ready_tx.clone();
            let main = shard_main.clone();
            let thread = std::thread::Builder::new()
                .name(id.to_string())
                .spawn(move || run_shard(id, placement, config, ctl_rx, ready, main))?;
            threads.push((id, thread));
        }
        drop(ready_tx);
        let set = ShardSet {
            controls: ShardController(Arc::new(controls)),
            threads,
        };
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
        Ok(set)
    }

    /// How many shards were started.
    pub fn len(&self) -> usize {
        self.controls.0.len()
    }

    /// Whether no shard was started (never true after a successful launch).
    pub fn is_empty(&self) -> bool {
        self.controls.0.is_empty()
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
    control: ControlReceiver,
    ready: mpsc::Sender<Result<(), (ShardId, String)>>,
    shard_main: F,
) -> Result<(), ShardError>
where
    F: Fn(ShardContext) -> Fut,
    Fut: Future<Output = Result<(), ShardError>> + 'static,
{
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
            ready: Rc::new(RefCell::new(Some(ready))),
        };
        let metrics = ctx.metrics.clone();
        ShardMetrics::set_current(Some(metrics.clone()));
        let keepalive = ctx.keepalive.clone();
        KeepaliveLedger::install(keepalive.clone());
        let drain = ctx.drain.clone();
        let deadline = config.timeouts.drain;
        glommio::spawn_local(control.run(move |cmd| match cmd {
            ShardCommand::Stats(reply) => {
                let _ = reply.send(metrics.snapshot(id.0).with_keepalive(&keepalive));
            }
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

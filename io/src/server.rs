//! The per-shard accept loop: accepts on this shard's `SO_REUSEPORT`
//! listener, spawns one task per connection, and on shutdown stops accepting
//! and waits for the connections to drain.
//!
//! A shard may serve a second, [`SideListener`] (the admin listener) on the
//! same ring with its own handler. It shares nothing per connection with the
//! main listener: its own connection set, counters (the shard's metrics
//! count only the main listener's traffic) and shutdown signal. It keeps
//! accepting while the main listener drains, so health checks and metrics
//! still answer, and closes once the main listener's connections are gone.

use std::cell::{Cell, RefCell};
use std::net::TcpListener as StdTcpListener;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use futures_lite::FutureExt;
use glommio::sync::Gate;
use ringworker_core::drain::DrainStage;
use ringworker_core::{DrainSignal, ShardContext, ShardError, ShardMetrics, TailHub};

use crate::http::Handler;
use crate::http::conn::{ConnEnv, serve_connection};
use crate::http::parse;
use crate::socket::Socket;
use crate::uring::{NetRing, NetRingConfig};

/// A second listener a shard serves beside its main one, with its own
/// handler (see the module docs).
#[derive(Debug)]
pub struct SideListener<A> {
    /// This shard's socket of it (`SO_REUSEPORT`, like the main one).
    pub listener: StdTcpListener,
    /// What answers its requests.
    pub handler: A,
}

/// Serves HTTP/1.1 on `listener` with `handler` until the shard is told to
/// shut down and its connections have drained (or the drain deadline passed).
///
/// Calls [`ShardContext::ready`] once it accepts.
pub async fn serve_shard<H: Handler>(
    ctx: &ShardContext,
    listener: StdTcpListener,
    handler: H,
) -> Result<(), ShardError> {
    serve_shard_with::<H, H>(ctx, listener, handler, None).await
}

/// [`serve_shard`], and `side` beside it on the same ring (see
/// [`SideListener`]).
pub async fn serve_shard_with<H: Handler, A: Handler>(
    ctx: &ShardContext,
    listener: StdTcpListener,
    handler: H,
    side: Option<SideListener<A>>,
) -> Result<(), ShardError> {
    let ring = NetRing::start(NetRingConfig {
        idle_wait: ctx.config.idle_ring_wait,
        ..NetRingConfig::default()
    })
    .map_err(|e| ShardError::Start {
        shard: ctx.id,
        reason: format!("cannot set up the network ring: {e}"),
    })?;
    // The ring is now this thread's current one; the shard's outbound client
    // (made on first use by `Client::current`) takes this configuration.
    crate::client::Client::install_config(ctx.config.outbound.clone());
    crate::ws::client::configure(ctx.config.ws.clone());
    let env = conn_env(
        ctx,
        handler,
        ctx.metrics.clone(),
        ctx.drain.clone(),
        ctx.tail.clone(),
        ctx.config.request_id_header.as_deref(),
    );
    let side = side.map(|s| {
        // Its own counters and shutdown; no tail client ever sees it.
        let env = conn_env(
            ctx,
            s.handler,
            Rc::new(ShardMetrics::new()),
            DrainSignal::new(),
            TailHub::new(),
            None,
        );
        let task = glommio::spawn_local(accept_loop(env.clone(), ring.clone(), s.listener));
        (env, task)
    });
    ctx.ready();
    tracing::debug!(shard = ctx.id.0, "accepting");
    accept_loop(env, ring.clone(), listener).await;
    if let Some((env, task)) = side {
        env.drain.advance(DrainStage::Draining);
        let drain = env.drain.clone();
        let deadline = ctx.config.timeouts.drain;
        let forced = glommio::spawn_local(async move {
            glommio::timer::sleep(deadline).await;
            drain.advance(DrainStage::Forced);
        });
        task.await;
        drop(forced);
    }
    ring.stop();
    Ok(())
}

fn conn_env<H: Handler>(
    ctx: &ShardContext,
    handler: H,
    metrics: Rc<ShardMetrics>,
    drain: DrainSignal,
    tail: Rc<TailHub>,
    request_id_header: Option<&str>,
) -> Rc<ConnEnv<H>> {
    let limits = &ctx.config.limits;
    Rc::new(ConnEnv {
        handler: Rc::new(handler),
        config: ctx.config.clone(),
        limits: parse::Limits {
            max_head_bytes: limits.max_head_bytes,
            max_headers: limits.max_headers,
            max_uri_bytes: limits.max_uri_bytes,
        },
        metrics,
        drain,
        shard: ctx.id,
        ws_per_ip: RefCell::default(),
        gate: Gate::new(),
        dormant: crate::ws::dormant::DormantSet::new(&ctx.config.ws),
        tail,
        last_request: Cell::new(0),
        request_id_header: request_id_header.map(|n| Bytes::copy_from_slice(n.as_bytes())),
    })
}

/// Accepts on `listener` until `env.drain` reaches draining, closes it, then
/// waits for the connections to end.
async fn accept_loop<H: Handler>(env: Rc<ConnEnv<H>>, ring: Rc<NetRing>, listener: StdTcpListener) {
    let acceptor = ring.listen(listener.as_raw_fd());
    let gate = env.gate.clone();
    if let Ok(task) = gate.spawn(crate::http::dormant::drive(env.clone())) {
        drop(task.detach());
    }
    let max_connections = env.config.limits.max_connections_per_shard as u64;
    loop {
        if env.metrics.open_connections() >= max_connections {
            // At the cap: leave new connections in the backlog for a moment.
            glommio::timer::sleep(Duration::from_millis(1)).await;
            if env.drain.is_draining() {
                break;
            }
            continue;
        }
        let accepted = async { Some(acceptor.accept().await) }
            .or(async {
                env.drain.reached(DrainStage::Draining).await;
                None
            })
            .await;
        match accepted {
            None => break,
            Some(Ok(fd)) => {
                // SAFETY: a freshly accepted descriptor that nothing else owns.
                let sock = unsafe { Socket::from_accepted(&ring, fd) };
                let peer = match sock.peer_addr() {
                    Ok(p) => p,
                    Err(_) => continue, // already gone
                };
                match gate.spawn(serve_connection(sock, peer, env.clone())) {
                    // Detached: the gate still tracks it for draining.
                    Ok(task) => drop(task.detach()),
                    Err(_) => break,
                }
            }
            Some(Err(e)) => {
                tracing::warn!(shard = env.shard.0, "accept failed: {e}");
                // EMFILE and friends: back off instead of spinning.
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    drop(acceptor);
    drop(listener);
    tracing::debug!(
        shard = env.shard.0,
        open = env.metrics.open_connections(),
        "draining connections"
    );
    // Connections end themselves: idle ones at once, busy ones after their
    // response, and all of them when the drain deadline forces them. Dormant
    // WebSockets get their tasks back first (to send 1001).
    crate::http::dormant::wake_all(&env);
    let _ = gate.close().await;
}

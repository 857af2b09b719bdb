//! The per-shard accept loop: accepts on this shard's `SO_REUSEPORT`
//! listener, spawns one task per connection, and on shutdown stops accepting
//! and waits for the connections to drain.

use std::net::TcpListener as StdTcpListener;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;

use futures_lite::FutureExt;
use glommio::sync::Gate;
use ringworker_core::drain::DrainStage;
use ringworker_core::{ShardContext, ShardError};

use crate::http::Handler;
use crate::http::conn::{ConnEnv, serve_connection};
use crate::http::parse;
use crate::socket::Socket;
use crate::uring::{NetRing, NetRingConfig};

/// Serves HTTP/1.1 on `listener` with `handler` until the shard is told to
/// shut down and its connections have drained (or the drain deadline passed).
///
/// Calls [`ShardContext::ready`] once it accepts.
pub async fn serve_shard<H: Handler>(
    ctx: &ShardContext,
    listener: StdTcpListener,
    handler: H,
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
    let acceptor = ring.listen(listener.as_raw_fd());
    let limits = &ctx.config.limits;
    let env = Rc::new(ConnEnv {
        handler: Rc::new(handler),
        config: ctx.config.clone(),
        limits: parse::Limits {
            max_head_bytes: limits.max_head_bytes,
            max_headers: limits.max_headers,
            max_uri_bytes: limits.max_uri_bytes,
        },
        metrics: ctx.metrics.clone(),
        drain: ctx.drain.clone(),
        shard: ctx.id,
        ws_per_ip: Default::default(),
        gate: Gate::new(),
        dormant: crate::ws::dormant::DormantSet::new(&ctx.config.ws),
    });
    let gate = env.gate.clone();
    if let Ok(task) = gate.spawn(crate::http::dormant::drive(env.clone())) {
        drop(task.detach());
    }
    ctx.ready();
    tracing::debug!(shard = ctx.id.0, "accepting");

    loop {
        if ctx.metrics.open_connections() >= limits.max_connections_per_shard as u64 {
            // At the cap: leave new connections in the backlog for a moment.
            glommio::timer::sleep(Duration::from_millis(1)).await;
            if ctx.drain.is_draining() {
                break;
            }
            continue;
        }
        let accepted = async { Some(acceptor.accept().await) }
            .or(async {
                ctx.drain.reached(DrainStage::Draining).await;
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
                tracing::warn!(shard = ctx.id.0, "accept failed: {e}");
                // EMFILE and friends: back off instead of spinning.
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    drop(acceptor);
    drop(listener);
    tracing::debug!(
        shard = ctx.id.0,
        open = ctx.metrics.open_connections(),
        "draining connections"
    );
    // Connections end themselves: idle ones at once, busy ones after their
    // response, and all of them when the drain deadline forces them. Dormant
    // WebSockets get their tasks back first (to send 1001).
    crate::http::dormant::wake_all(&env);
    let _ = gate.close().await;
    ring.stop();
    Ok(())
}

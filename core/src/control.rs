//! The control plane: how code outside a shard reaches it.
//!
//! Each shard has a lock-free command queue and a socketpair used only as a
//! doorbell: glommio's reactor can await a socket, but not a foreign thread's
//! condition variable, so a one-byte write is what wakes a parked shard.

use std::io::Write;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::Arc;

use crossbeam_queue::SegQueue;
use futures_lite::AsyncReadExt;

use crate::metrics::ShardStats;
use crate::tail::TailSubscriber;

/// A message to one shard.
#[derive(Debug)]
pub enum ShardCommand {
    /// Reply with a snapshot of the shard's metrics. The reply channel can
    /// be waited on from a thread or `.await`ed on another shard.
    Stats(flume::Sender<ShardStats>),
    /// Attach a tail client: the shard sends it its finished requests, and
    /// answers on the channel once it does.
    Tail(TailSubscriber, flume::Sender<()>),
    /// Detach tail subscription `id`.
    Untail(u64),
    /// Begin graceful shutdown: stop accepting, drain, then exit.
    Shutdown,
}

/// Errors of the control plane.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The shard has exited; its doorbell is closed.
    #[error("shard {0} is not running")]
    ShardGone(usize),
    /// Creating the doorbell failed.
    #[error("cannot create the control doorbell: {0}")]
    Io(#[from] std::io::Error),
}

/// The outside end of a shard's control channel. `Send + Sync`.
#[derive(Debug)]
pub struct ControlSender {
    shard: usize,
    queue: Arc<SegQueue<ShardCommand>>,
    bell: StdUnixStream,
}

impl ControlSender {
    /// Queues `cmd` and rings the shard's doorbell.
    pub fn send(&self, cmd: ShardCommand) -> Result<(), ControlError> {
        self.queue.push(cmd);
        (&self.bell)
            .write_all(&[1])
            .map_err(|_| ControlError::ShardGone(self.shard))
    }
}

/// The shard's end of its control channel.
#[derive(Debug)]
pub struct ControlReceiver {
    queue: Arc<SegQueue<ShardCommand>>,
    bell: StdUnixStream,
}

/// A connected sender/receiver pair for shard `shard`.
pub fn control_channel(shard: usize) -> Result<(ControlSender, ControlReceiver), ControlError> {
    let (a, b) = StdUnixStream::pair()?;
    let queue = Arc::new(SegQueue::new());
    Ok((
        ControlSender {
            shard,
            queue: queue.clone(),
            bell: a,
        },
        ControlReceiver { queue, bell: b },
    ))
}

impl ControlReceiver {
    /// Runs on the shard: calls `on_command` for each command as it arrives,
    /// until every sender is gone.
    pub async fn run(self, mut on_command: impl FnMut(ShardCommand)) {
        self.bell.set_nonblocking(true).ok();
        // SAFETY: the fd is owned by `self.bell`, whose ownership moves into the
        // glommio stream here (into_raw_fd releases it), so it is closed once.
        let mut bell = unsafe { glommio::net::UnixStream::from_raw_fd(self.bell.into_raw_fd()) };
        let mut buf = [0u8; 64];
        loop {
            while let Some(cmd) = self.queue.pop() {
                on_command(cmd);
            }
            match bell.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        while let Some(cmd) = self.queue.pop() {
            on_command(cmd);
        }
    }
}

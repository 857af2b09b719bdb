//! [`Doorbell`]: waits for another thread to ring (a byte on a
//! socketpair), e.g. a cross-shard mailbox ([`ringworker_core::mesh::Mesh`]).
//! On a serving shard the wait is a receive on the shard's network ring, so
//! a shard idle in that ring wakes for it at once; elsewhere it is a
//! glommio socket read.

use std::future::poll_fn;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};

use futures_lite::AsyncReadExt;

use crate::socket::Socket;
use crate::uring::NetRing;

/// The waiting end of a doorbell.
#[derive(Debug)]
pub struct Doorbell(Wait);

#[derive(Debug)]
enum Wait {
    Ring(Socket),
    Glommio(glommio::net::UnixStream),
}

impl Doorbell {
    /// Waits on `fd` (a non-blocking Unix stream socket) with this shard's
    /// network ring if it has one, else with glommio. Call on the shard.
    pub fn new(fd: OwnedFd) -> Self {
        match NetRing::current() {
            Some(ring) => Self(Wait::Ring(Socket::from_owned(&ring, fd))),
            // SAFETY: `fd` is an owned, open Unix stream socket whose
            // ownership moves into the glommio stream here.
            None => Self(Wait::Glommio(unsafe {
                glommio::net::UnixStream::from_raw_fd(fd.into_raw_fd())
            })),
        }
    }

    /// Resolves when the bell was rung (true) or its other end closed (false).
    pub async fn rung(&mut self) -> bool {
        match &mut self.0 {
            Wait::Ring(sock) => {
                // (`poll_recv` is ready only at the end; bytes are seen in
                // the buffer.)
                poll_fn(|cx| {
                    if !sock.rbuf().is_empty() || sock.recv_end().is_some() {
                        return std::task::Poll::Ready(());
                    }
                    sock.poll_recv(cx, true)
                })
                .await;
                let rang = !sock.rbuf().is_empty();
                sock.rbuf().clear();
                rang || sock.recv_end().is_none()
            }
            Wait::Glommio(s) => {
                let mut buf = [0u8; 64];
                matches!(s.read(&mut buf).await, Ok(n) if n > 0)
            }
        }
    }
}

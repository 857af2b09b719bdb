//! [`Socket`]: a connected TCP socket, shared by a connection's reader and
//! writer halves inside one task.
//!
//! Both directions go through the shard's [`NetRing`]: a multishot receive
//! appends to the socket's buffer (no syscall per read), and sends are
//! `sendmsg` operations with every buffer of a response (head, chunk framing,
//! data), in order, submitted with all other sockets' in one `io_uring_enter`.
//! An outbound socket ([`Socket::connect`]) is the same once connected.

use std::cell::RefMut;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};

use crate::uring::{NetRing, RecvEnd, RecvShared};

/// Most iovecs gathered into one send (a chunked body's chunk takes three:
/// its size line, its bytes, its CRLF). The kernel takes up to 1,024.
pub const MAX_IOVECS: usize = 256;

/// A connected socket.
#[derive(Debug)]
pub struct Socket {
    ring: Rc<NetRing>,
    recv: Rc<RecvShared>,
    peer: io::Result<SocketAddr>,
}

impl Socket {
    /// Takes ownership of an accepted, non-blocking descriptor and starts
    /// receiving on it. (`TCP_NODELAY` comes from the listener, see
    /// [`crate::listener::bind_reuseport`]; set it there for other listeners.)
    ///
    /// # Safety
    /// `fd` must be an open TCP socket that nothing else owns.
    pub unsafe fn from_accepted(ring: &Rc<NetRing>, fd: RawFd) -> Self {
        // SAFETY: the caller hands over ownership of `fd`.
        let stream = unsafe { TcpStream::from_raw_fd(fd) };
        let peer = stream.peer_addr();
        Self {
            recv: ring.socket(OwnedFd::from(stream)),
            ring: ring.clone(),
            peer,
        }
    }

    /// Takes ownership of a connected non-TCP stream socket (a Unix socket)
    /// and starts receiving on it.
    pub fn from_owned(ring: &Rc<NetRing>, fd: OwnedFd) -> Self {
        Self {
            recv: ring.socket(fd),
            ring: ring.clone(),
            peer: Err(io::Error::other("not a TCP socket")),
        }
    }

    /// Connects to `addr` through the ring (`IORING_OP_CONNECT`, no blocking
    /// syscall) with a non-blocking, close-on-exec socket with `TCP_NODELAY`,
    /// then starts receiving on it like an accepted socket.
    ///
    /// # Errors
    /// The connect's error (e.g. `ConnectionRefused`), or the socket's setup.
    ///
    /// # Cancel safety
    /// Dropping the future cancels the connect and closes the socket.
    pub async fn connect(ring: &Rc<NetRing>, addr: SocketAddr) -> io::Result<Socket> {
        use socket2::{Domain, Protocol, Type};
        let sock = socket2::Socket::new(
            Domain::for_address(addr),
            Type::STREAM.nonblocking().cloexec(),
            Some(Protocol::TCP),
        )?;
        sock.set_nodelay(true)?;
        let fd = ring.connect(OwnedFd::from(sock), addr.into()).await?;
        Ok(Self {
            recv: ring.socket(fd),
            ring: ring.clone(),
            peer: Ok(addr),
        })
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        match &self.peer {
            Ok(a) => Ok(*a),
            Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
        }
    }

    /// The local address the socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        // SAFETY: the descriptor stays open while `self` (its ring state) lives.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(self.recv.fd()) };
        socket2::SockRef::from(&fd)
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("not an IP socket"))
    }

    /// The received bytes not yet consumed. Do not hold across an `.await`.
    pub fn rbuf(&self) -> RefMut<'_, BytesMut> {
        self.recv.buf.borrow_mut()
    }

    /// Waits for more received bytes or the end of the receive side; `want`
    /// false pauses receiving (backpressure).
    pub fn poll_recv(&self, cx: &mut Context<'_>, want: bool) -> Poll<()> {
        self.ring.poll_recv(&self.recv, cx, want)
    }

    /// How the receive side ended (FIN or an error), if it did.
    pub fn recv_end(&self) -> Option<RecvEnd> {
        self.recv.end()
    }

    /// Bytes received since the socket was accepted (consumed or not).
    pub fn received_total(&self) -> u64 {
        self.recv.received()
    }

    /// Queues `head` then `chunks` (chunked framing if `chunked`) to be sent
    /// in order after earlier sends; `head` is left empty for reuse. Returns
    /// the bytes queued. See [`NetRing::send`].
    pub fn send(&self, head: &mut Vec<u8>, chunks: &[Bytes], chunked: bool) -> usize {
        self.ring.send(&self.recv, head, chunks, chunked)
    }

    /// Ready once at most `max_queued` sends are queued, or with the error
    /// that failed one.
    pub fn poll_sent(&self, cx: &mut Context<'_>, max_queued: usize) -> Poll<io::Result<()>> {
        self.ring
            .poll_sent(&self.recv, cx, max_queued)
            .map_err(io::Error::from_raw_os_error)
    }

    /// The sends queued (the one in flight included) and the bytes they
    /// have left: what the socket holds for a peer that is slow to read.
    pub fn queued(&self) -> (usize, usize) {
        self.ring.queued(&self.recv)
    }

    /// Frees buffer capacity an idle long-lived connection does not need
    /// (see [`NetRing::shrink_buffers`]).
    pub fn shrink_buffers(&self) {
        self.ring.shrink_buffers(&self.recv);
    }

    /// Keeps no spare buffers between uses (see [`NetRing::set_lean`]);
    /// returns whether it was lean already.
    pub fn set_lean(&self, lean: bool) -> bool {
        self.ring.set_lean(&self.recv, lean)
    }

    /// Shuts down the write side (sends FIN) so the peer sees a clean close.
    pub fn shutdown_write(&self) {
        // SAFETY: plain syscall on a descriptor the ring state keeps open.
        unsafe {
            libc::shutdown(self.recv.fd(), libc::SHUT_WR);
        }
    }

    /// Shuts down both directions now: the peer sees the end at once, and a
    /// send blocked on a peer that does not read fails instead of keeping the
    /// descriptor open. For dropping a connection mid-exchange.
    pub fn abort(&self) {
        // SAFETY: plain syscall on a descriptor the ring state keeps open.
        unsafe {
            libc::shutdown(self.recv.fd(), libc::SHUT_RDWR);
        }
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // The descriptor closes when the ring's last operation on it completes.
        self.ring.release(&self.recv);
    }
}

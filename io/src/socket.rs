//! [`Socket`]: a connected TCP socket shared by a connection's reader and
//! writer halves inside one task.
//!
//! Reads go through glommio (a non-blocking `recv`, then an io_uring poll for
//! readiness). Writes are our own `sendmsg` with several buffers at once
//! (head + chunk framing + data in one syscall, `MSG_NOSIGNAL`); only when the
//! socket is full do we fall back to glommio to wait for writability.

use std::cell::RefCell;
use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::{AsyncRead, AsyncWrite};
use glommio::net::TcpStream;

/// Most buffers handed to one `sendmsg`.
pub const MAX_IOVECS: usize = 64;

/// A connected socket; both halves borrow it only for the length of a poll.
#[derive(Debug)]
pub struct Socket {
    stream: RefCell<TcpStream>,
    fd: RawFd,
}

impl Socket {
    /// Wraps an accepted stream.
    pub fn new(stream: TcpStream) -> Self {
        let fd = stream.as_raw_fd();
        Self {
            stream: RefCell::new(stream),
            fd,
        }
    }

    /// The raw descriptor (for socket options).
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// Reads into `buf`; `Ok(0)` is the peer's FIN.
    pub fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.stream.borrow_mut()).poll_read(cx, buf)
    }

    /// Writes as much of `bufs` as the socket takes without blocking.
    pub fn try_writev(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let n = bufs.len().min(MAX_IOVECS);
        // SAFETY: msghdr is plain data; zeroed is a valid "no name, no control" header.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = bufs.as_ptr() as *mut libc::iovec; // IoSlice is ABI-compatible with iovec
        msg.msg_iovlen = n as _;
        loop {
            // SAFETY: `msg` points at `n` valid iovecs borrowed for this call only.
            let r =
                unsafe { libc::sendmsg(self.fd, &msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) };
            if r >= 0 {
                return Ok(r as usize);
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }

    /// Writes some of `bufs`, waiting for writability if the socket is full.
    pub fn poll_writev(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.try_writev(bufs) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // glommio's write retries the send and, still full, registers an
                // io_uring poll for POLLOUT that wakes this task.
                let first = bufs
                    .iter()
                    .find(|b| !b.is_empty())
                    .map(|b| &b[..])
                    .unwrap_or(&[]);
                Pin::new(&mut *self.stream.borrow_mut()).poll_write(cx, first)
            }
            r => Poll::Ready(r),
        }
    }

    /// Shuts down the write side (sends FIN) so the peer sees a clean close.
    pub fn shutdown_write(&self) {
        // SAFETY: plain syscall on our own descriptor.
        unsafe {
            libc::shutdown(self.fd, libc::SHUT_WR);
        }
    }

    /// Sets `TCP_NODELAY`.
    pub fn set_nodelay(&self) {
        let one: libc::c_int = 1;
        // SAFETY: valid pointer/len for an int option on our own descriptor.
        unsafe {
            libc::setsockopt(
                self.fd,
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                &one as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}

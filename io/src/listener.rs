//! Listeners: one socket per shard, all bound to the same address with
//! `SO_REUSEPORT` so the kernel spreads connections across shards.
//!
//! They are bound on the launching thread (so a bind error reaches the caller
//! and port 0 resolves to one port for all shards) and handed to the shards.

use std::io;
use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

/// Binds `count` listeners on `addr` with `SO_REUSEPORT`; with port 0, the
/// port the first one got is used by all. They have `TCP_NODELAY` set, which
/// the sockets they accept inherit.
pub fn bind_reuseport(
    addr: SocketAddr,
    count: usize,
    backlog: i32,
) -> io::Result<Vec<TcpListener>> {
    let mut out = Vec::with_capacity(count);
    let mut addr = addr;
    for _ in 0..count.max(1) {
        let domain = if addr.is_ipv6() {
            Domain::IPV6
        } else {
            Domain::IPV4
        };
        let sock = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
        sock.set_reuse_address(true)?;
        sock.set_reuse_port(true)?;
        sock.set_nonblocking(true)?;
        // Accepted sockets inherit it: no setsockopt per connection.
        sock.set_nodelay(true)?;
        sock.bind(&addr.into())?;
        sock.listen(backlog)?;
        let l: TcpListener = sock.into();
        if addr.port() == 0 {
            addr = l.local_addr()?;
        }
        out.push(l);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_resolves_to_one_port() {
        let ls = bind_reuseport("127.0.0.1:0".parse().unwrap(), 3, 128).unwrap();
        let port = ls[0].local_addr().unwrap().port();
        assert_ne!(port, 0);
        assert!(ls.iter().all(|l| l.local_addr().unwrap().port() == port));
    }

    #[test]
    fn accepted_sockets_inherit_nodelay() {
        let ls = bind_reuseport("127.0.0.1:0".parse().unwrap(), 1, 16).unwrap();
        let _c = std::net::TcpStream::connect(ls[0].local_addr().unwrap()).unwrap();
        ls[0].set_nonblocking(false).unwrap();
        let (accepted, _) = ls[0].accept().unwrap();
        assert!(accepted.nodelay().unwrap());
    }
}

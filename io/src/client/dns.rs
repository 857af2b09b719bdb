//! Name resolution for outbound connections, without ever blocking the shard.
//!
//! IP literals (`10.0.0.1`, `[::1]`) need no lookup and `localhost` is the
//! loopback addresses. Any other name goes to the system resolver
//! (`getaddrinfo`, which blocks) on glommio's blocking thread pool, and the
//! answer is kept per shard for [`TTL`]: a script fetching the same origin
//! again does not pay a lookup (nor a thread hop) per request.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// How long a looked-up answer is reused. `getaddrinfo` reports no TTL, so
/// this is short enough to follow a changed record soon.
pub const TTL: Duration = Duration::from_secs(30);

/// Most names cached per shard; past it expired entries go, then all.
const MAX_ENTRIES: usize = 1024;

/// Why a name could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("DNS lookup of {host} failed: {reason}")]
pub struct DnsError {
    /// The name looked up.
    pub host: String,
    /// What the resolver said.
    pub reason: String,
}

/// A shard's resolver with its cache.
#[derive(Debug, Default)]
pub(crate) struct Resolver {
    cache: RefCell<HashMap<String, Cached>>,
}

/// A looked-up answer and when it expires.
#[derive(Debug)]
struct Cached {
    ips: Rc<[IpAddr]>,
    until: Instant,
}

/// The addresses of `host` without a lookup, if it is an IP literal (v6 in
/// brackets or bare) or `localhost`.
pub(crate) fn literal(host: &str) -> Option<Vec<IpAddr>> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Some(vec![ip]);
    }
    if host.eq_ignore_ascii_case("localhost") || host.eq_ignore_ascii_case("localhost.") {
        return Some(vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ]);
    }
    None
}

impl Resolver {
    /// The socket addresses of `host:port`, in the resolver's order.
    ///
    /// # Cancel safety
    /// Dropping the future abandons the lookup (it still finishes on the
    /// pool thread, and its answer is dropped).
    pub(crate) async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, DnsError> {
        let with_port = |ips: &[IpAddr]| ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect();
        if let Some(ips) = literal(host) {
            return Ok(with_port(&ips));
        }
        let key = host.to_ascii_lowercase();
        if let Some(c) = self.cache.borrow().get(&key) {
            if Instant::now() < c.until {
                return Ok(with_port(&c.ips));
            }
        }
        let name = key.clone();
        let looked_up = glommio::executor()
            .spawn_blocking(move || {
                (name.as_str(), 0)
                    .to_socket_addrs()
                    .map(|a| a.collect::<Vec<_>>())
            })
            .await;
        let fail = |reason: String| DnsError {
            host: host.to_string(),
            reason,
        };
        let addrs = looked_up.map_err(|e| fail(e.to_string()))?;
        let mut ips: Vec<IpAddr> = Vec::with_capacity(addrs.len());
        for a in addrs {
            if !ips.contains(&a.ip()) {
                ips.push(a.ip());
            }
        }
        if ips.is_empty() {
            return Err(fail("no addresses".into()));
        }
        let out = with_port(&ips);
        let mut cache = self.cache.borrow_mut();
        if cache.len() >= MAX_ENTRIES {
            let now = Instant::now();
            cache.retain(|_, c| c.until > now);
            if cache.len() >= MAX_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(
            key,
            Cached {
                ips: ips.into(),
                until: Instant::now() + TTL,
            },
        );
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_need_no_lookup() {
        assert_eq!(
            literal("127.0.0.1"),
            Some(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)])
        );
        assert_eq!(
            literal("[::1]"),
            Some(vec![IpAddr::V6(Ipv6Addr::LOCALHOST)])
        );
        assert_eq!(literal("::1"), Some(vec![IpAddr::V6(Ipv6Addr::LOCALHOST)]));
        assert_eq!(literal("LocalHost").map(|v| v.len()), Some(2));
        assert_eq!(literal("example.com"), None);
        assert_eq!(literal("[example.com]"), None);
    }
}

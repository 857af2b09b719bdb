//! Name resolution for outbound connections, without ever blocking the shard.
//!
//! IP literals (`10.0.0.1`, `[::1]`) need no lookup and `localhost` is the
//! loopback addresses. Any other name goes to the system resolver
//! (`getaddrinfo`, which blocks) on glommio's blocking thread pool, and the
//! answer is kept per shard for [`TTL`]: a script fetching the same origin
//! again does not pay a lookup (nor a thread hop) per request, and requests
//! for a name being looked up wait for that one lookup.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::poll_fn;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::task::{Poll, Waker};
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
    inflight: RefCell<HashMap<String, Rc<Lookup>>>,
    lookups: std::cell::Cell<u64>,
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

/// One lookup in flight, shared by every request for the same name: a burst
/// of fetches to a new host costs one `getaddrinfo`, not one each (the pool
/// has one thread per shard, so they would queue behind each other).
#[derive(Debug, Default)]
struct Lookup {
    done: RefCell<Option<Result<Rc<[IpAddr]>, String>>>,
    waiters: RefCell<Vec<Waker>>,
}

/// Runs `getaddrinfo` for `name` on the blocking pool. A task of its own,
/// so the lookup finishes (and wakes the others) even if the request that
/// started it is gone.
async fn look_up(name: String, lookup: Rc<Lookup>) {
    let looked_up = glommio::executor()
        .spawn_blocking(move || {
            (name.as_str(), 0)
                .to_socket_addrs()
                .map(|a| a.collect::<Vec<_>>())
        })
        .await;
    let result = looked_up.map_err(|e| e.to_string()).and_then(|addrs| {
        let mut ips: Vec<IpAddr> = Vec::with_capacity(addrs.len());
        for a in addrs {
            if !ips.contains(&a.ip()) {
                ips.push(a.ip());
            }
        }
        if ips.is_empty() {
            Err("no addresses".to_string())
        } else {
            Ok(ips.into())
        }
    });
    *lookup.done.borrow_mut() = Some(result);
    for w in lookup.waiters.borrow_mut().drain(..) {
        w.wake();
    }
}

impl Resolver {
    /// The socket addresses of `host:port`, in the resolver's order.
    ///
    /// # Cancel safety
    /// Dropping the future abandons the wait; the lookup still finishes
    /// and its answer is cached for the next request.
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
        let lookup = self
            .inflight
            .borrow_mut()
            .entry(key.clone())
            .or_insert_with(|| {
                let l = Rc::new(Lookup::default());
                self.lookups.set(self.lookups.get() + 1);
                glommio::spawn_local(look_up(key.clone(), l.clone())).detach();
                l
            })
            .clone();
        let result = poll_fn(|cx| {
            if let Some(r) = lookup.done.borrow().as_ref() {
                return Poll::Ready(r.clone());
            }
            let mut waiters = lookup.waiters.borrow_mut();
            if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
                waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await;
        // The first one back files the answer.
        let mut inflight = self.inflight.borrow_mut();
        if inflight.get(&key).is_some_and(|l| Rc::ptr_eq(l, &lookup)) {
            inflight.remove(&key);
            if let Ok(ips) = &result {
                self.store(key, ips.clone());
            }
        }
        match result {
            Ok(ips) => Ok(with_port(&ips)),
            Err(reason) => Err(DnsError {
                host: host.to_string(),
                reason,
            }),
        }
    }

    /// System lookups started so far.
    pub(crate) fn lookups(&self) -> u64 {
        self.lookups.get()
    }

    fn store(&self, key: String, ips: Rc<[IpAddr]>) {
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
                ips,
                until: Instant::now() + TTL,
            },
        );
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

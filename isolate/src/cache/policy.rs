//! Whether and for how long `cache.put()` keeps a response, by the Workers
//! rules: `Cache-Control` (`no-store`, `no-cache`, `private`, `max-age`,
//! `s-maxage`) and `Expires` decide; a `Set-Cookie` response is kept only
//! when `Cache-Control: private=Set-Cookie` says to drop the cookie; a
//! response with no freshness information is not kept (as wrangler's local
//! cache, miniflare, does).

use std::time::Duration;

/// What `put` does with a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Keep it this long, without these header fields (lower-case names).
    Store {
        /// Freshness lifetime.
        ttl: Duration,
        /// Fields `private=...` names, dropped from the stored copy.
        strip: Vec<String>,
    },
    /// Do not keep it (why, for logs and tests).
    Skip(&'static str),
}

/// One `Cache-Control` directive: name and optional argument.
fn directives(value: &str) -> impl Iterator<Item = (String, Option<String>)> + '_ {
    // (Quoted arguments may hold commas: `private="set-cookie, x"`.)
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in value.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => parts.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    parts.push(cur);
    parts.into_iter().filter_map(|p| {
        let p = p.trim();
        if p.is_empty() {
            return None;
        }
        Some(match p.split_once('=') {
            Some((k, v)) => (
                k.trim().to_ascii_lowercase(),
                Some(v.trim().trim_matches('"').to_string()),
            ),
            None => (p.to_ascii_lowercase(), None),
        })
    })
}

/// Decides for a response with `headers` (lower-case names), at `now_unix`
/// seconds (for `Expires`).
pub(crate) fn decide(headers: &[(String, String)], now_unix: i64) -> Decision {
    fn get<'a>(headers: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = &'a str> {
        headers
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    let mut max_age = None;
    let mut s_maxage = None;
    let mut strip = Vec::new();
    for cc in get(headers, "cache-control") {
        for (k, v) in directives(cc) {
            match (k.as_str(), v) {
                ("no-store", _) => return Decision::Skip("Cache-Control: no-store"),
                ("no-cache", None) => return Decision::Skip("Cache-Control: no-cache"),
                ("private", None) => return Decision::Skip("Cache-Control: private"),
                ("private", Some(fields)) => strip.extend(
                    fields
                        .split(',')
                        .map(|f| f.trim().to_ascii_lowercase())
                        .filter(|f| !f.is_empty()),
                ),
                ("max-age", Some(n)) => max_age = n.parse::<i64>().ok().or(Some(0)),
                ("s-maxage", Some(n)) => s_maxage = n.parse::<i64>().ok().or(Some(0)),
                _ => {}
            }
        }
    }
    if get(headers, "set-cookie").next().is_some() && !strip.iter().any(|f| f == "set-cookie") {
        return Decision::Skip("Set-Cookie without Cache-Control: private=Set-Cookie");
    }
    let ttl = match s_maxage.or(max_age) {
        Some(secs) => secs,
        None => match get(headers, "expires").next() {
            Some(e) => match httpdate::parse_http_date(e.trim()) {
                Ok(t) => {
                    let at = t
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs() as i64)
                        .unwrap_or(0);
                    at - now_unix
                }
                // An invalid Expires means "already expired".
                Err(_) => 0,
            },
            None => {
                return Decision::Skip(
                    "no freshness information (Cache-Control max-age/s-maxage or Expires)",
                );
            }
        },
    };
    if ttl <= 0 {
        return Decision::Skip("already stale");
    }
    Decision::Store {
        ttl: Duration::from_secs(ttl as u64),
        strip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn ttl(pairs: &[(&str, &str)]) -> Option<u64> {
        match decide(&h(pairs), 1_000_000_000) {
            Decision::Store { ttl, .. } => Some(ttl.as_secs()),
            Decision::Skip(_) => None,
        }
    }

    #[test]
    fn max_age_s_maxage_and_expires() {
        assert_eq!(ttl(&[("cache-control", "public, max-age=60")]), Some(60));
        assert_eq!(
            ttl(&[("cache-control", "max-age=60, s-maxage=600")]),
            Some(600)
        );
        assert_eq!(ttl(&[("cache-control", "max-age=0")]), None);
        // 2001-09-09T01:46:40Z is 1_000_000_000; 100 s later:
        assert_eq!(
            ttl(&[("expires", "Sun, 09 Sep 2001 01:48:20 GMT")]),
            Some(100)
        );
        assert_eq!(ttl(&[("expires", "Sun, 09 Sep 2001 01:40:00 GMT")]), None);
        assert_eq!(ttl(&[("expires", "garbage")]), None);
        assert_eq!(
            ttl(&[
                ("cache-control", "max-age=5"),
                ("expires", "Sun, 09 Sep 2001 01:48:20 GMT")
            ]),
            Some(5),
            "max-age wins over Expires"
        );
        assert_eq!(
            ttl(&[("content-type", "text/plain")]),
            None,
            "no freshness: not kept"
        );
    }

    #[test]
    fn no_store_no_cache_private_and_cookies() {
        assert_eq!(ttl(&[("cache-control", "no-store, max-age=60")]), None);
        assert_eq!(ttl(&[("cache-control", "no-cache, max-age=60")]), None);
        assert_eq!(ttl(&[("cache-control", "private, max-age=60")]), None);
        assert_eq!(
            ttl(&[("cache-control", "max-age=60"), ("set-cookie", "a=1")]),
            None
        );
        let d = decide(
            &h(&[
                (
                    "cache-control",
                    "max-age=60, private=\"Set-Cookie, X-Secret\"",
                ),
                ("set-cookie", "a=1"),
            ]),
            0,
        );
        assert_eq!(
            d,
            Decision::Store {
                ttl: Duration::from_secs(60),
                strip: vec!["set-cookie".into(), "x-secret".into()],
            }
        );
    }
}

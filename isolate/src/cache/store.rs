//! One shard's partition of the cache: entries by key, least recently used
//! first out when the partition is over its byte budget, stale ones dropped
//! when found. Plain data, no I/O: the shard that owns the partition is the
//! only one that touches it (see `cache/mod.rs`).

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use bytes::Bytes;

/// A stored response.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Status code.
    pub(crate) status: u16,
    /// Header fields (lower-case names), as stored.
    pub(crate) headers: Vec<(String, String)>,
    /// The whole body.
    pub(crate) body: Bytes,
    /// For each field the response `Vary`s on, the request's value at `put`.
    pub(crate) vary: Vec<(String, Option<String>)>,
    /// When it goes stale.
    pub(crate) expires: Instant,
}

impl Entry {
    /// Bytes it is charged for.
    pub(crate) fn size(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|(k, v)| k.len() + v.len() + 16)
            .sum();
        let vary: usize = self
            .vary
            .iter()
            .map(|(k, v)| k.len() + v.as_ref().map_or(0, String::len) + 16)
            .sum();
        self.body.len() + headers + vary + 64
    }

    /// Whether a request with `headers` (lower-case names) selects this
    /// entry: every field it varies on has the value it had at `put`.
    pub(crate) fn selected_by(&self, headers: &[(String, String)]) -> bool {
        self.vary.iter().all(|(name, stored)| {
            let now = headers.iter().find(|(k, _)| k == name).map(|(_, v)| v);
            now == stored.as_ref()
        })
    }
}

/// Counters of a partition.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StoreStats {
    pub(crate) entries: usize,
    pub(crate) bytes: usize,
    pub(crate) evictions: u64,
}

/// The partition.
#[derive(Debug)]
pub(crate) struct Store {
    budget: usize,
    used: usize,
    /// key -> (entry, its last use).
    entries: HashMap<String, (Entry, u64)>,
    /// last use -> key: the eviction order.
    order: BTreeMap<u64, String>,
    tick: u64,
    evictions: u64,
}

impl Store {
    /// An empty partition of `budget` bytes.
    pub(crate) fn new(budget: usize) -> Self {
        Self {
            budget,
            used: 0,
            entries: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
            evictions: 0,
        }
    }

    fn bump(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    /// Stores `entry` under `key` (replacing what was there), evicting the
    /// least recently used entries to stay in budget. False if it is larger
    /// than the whole budget (then nothing changes but the old entry goes).
    pub(crate) fn put(&mut self, key: String, entry: Entry) -> bool {
        self.remove(&key);
        let size = entry.size();
        if size > self.budget {
            return false;
        }
        while self.used + size > self.budget {
            let Some((_, victim)) = self.order.pop_first() else {
                break;
            };
            if let Some((e, _)) = self.entries.remove(&victim) {
                self.used -= e.size();
                self.evictions += 1;
            }
        }
        let t = self.bump();
        self.order.insert(t, key.clone());
        self.entries.insert(key, (entry, t));
        self.used += size;
        true
    }

    /// The fresh entry under `key` that a request with `headers` selects
    /// (it becomes the most recently used). A stale one is dropped.
    pub(crate) fn get(
        &mut self,
        key: &str,
        headers: &[(String, String)],
        now: Instant,
    ) -> Option<Entry> {
        let (e, _) = self.entries.get(key)?;
        if e.expires <= now {
            self.remove(key);
            return None;
        }
        if !e.selected_by(headers) {
            return None;
        }
        let t = self.bump();
        let (e, last) = self.entries.get_mut(key)?;
        self.order.remove(last);
        *last = t;
        self.order.insert(t, key.to_string());
        Some(e.clone())
    }

    /// Whether an entry (fresh or not) is held under `key`.
    pub(crate) fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    /// Drops `key`; whether a fresh entry was there.
    pub(crate) fn delete(&mut self, key: &str, now: Instant) -> bool {
        match self.remove(key) {
            Some(e) => e.expires > now,
            None => false,
        }
    }

    fn remove(&mut self, key: &str) -> Option<Entry> {
        let (e, t) = self.entries.remove(key)?;
        self.order.remove(&t);
        self.used -= e.size();
        Some(e)
    }

    /// Its counters.
    pub(crate) fn stats(&self) -> StoreStats {
        StoreStats {
            entries: self.entries.len(),
            bytes: self.used,
            evictions: self.evictions,
        }
    }
}

/// The byte range a `Range` header asks of a `len`-byte body: `Ok(Some)` a
/// satisfiable single range, `Ok(None)` none (or one we answer whole: several
/// ranges, another unit, bad syntax), `Err(())` unsatisfiable (416).
pub(crate) fn byte_range(header: &str, len: usize) -> Result<Option<(usize, usize)>, ()> {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        // The last n bytes.
        let Ok(n) = b.parse::<usize>() else {
            return Ok(None);
        };
        if n == 0 || len == 0 {
            return Err(());
        }
        (len.saturating_sub(n), len - 1)
    } else {
        let Ok(start) = a.parse::<usize>() else {
            return Ok(None);
        };
        let end = if b.is_empty() {
            len.saturating_sub(1)
        } else {
            match b.parse::<usize>() {
                Ok(e) if e >= start => e.min(len.saturating_sub(1)),
                _ => return Ok(None),
            }
        };
        if start >= len {
            return Err(());
        }
        (start, end)
    };
    Ok(Some(range))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn entry(body: usize, ttl: Duration) -> Entry {
        Entry {
            status: 200,
            headers: vec![],
            body: Bytes::from(vec![b'x'; body]),
            vary: vec![],
            expires: Instant::now() + ttl,
        }
    }

    #[test]
    fn least_recently_used_goes_first_and_the_budget_holds() {
        let hour = Duration::from_secs(3600);
        let size = entry(1000, hour).size();
        let mut s = Store::new(size * 3);
        let now = Instant::now();
        for k in ["a", "b", "c"] {
            assert!(s.put(k.into(), entry(1000, hour)));
        }
        assert!(s.get("a", &[], now).is_some(), "a is now the most recent");
        assert!(s.put("d".into(), entry(1000, hour)));
        assert!(
            s.get("b", &[], now).is_none(),
            "b was the least recently used"
        );
        assert!(s.get("a", &[], now).is_some());
        let st = s.stats();
        assert_eq!((st.entries, st.evictions), (3, 1));
        assert!(st.bytes <= size * 3);
        assert!(
            !s.put("huge".into(), entry(size * 4, hour)),
            "over the budget"
        );
        assert!(s.delete("a", now));
        assert!(!s.delete("a", now));
    }

    #[test]
    fn stale_entries_are_gone_and_vary_selects() {
        let mut s = Store::new(1 << 20);
        s.put("k".into(), entry(10, Duration::from_millis(10)));
        assert!(
            s.get("k", &[], Instant::now() + Duration::from_millis(20))
                .is_none()
        );
        assert_eq!(s.stats().entries, 0);
        let mut e = entry(10, Duration::from_secs(60));
        e.vary = vec![("accept-encoding".into(), Some("gzip".into()))];
        s.put("v".into(), e);
        let gzip = vec![("accept-encoding".to_string(), "gzip".to_string())];
        let br = vec![("accept-encoding".to_string(), "br".to_string())];
        assert!(s.get("v", &gzip, Instant::now()).is_some());
        assert!(s.get("v", &br, Instant::now()).is_none());
        assert!(s.get("v", &[], Instant::now()).is_none());
    }

    #[test]
    fn ranges() {
        assert_eq!(byte_range("bytes=0-9", 100), Ok(Some((0, 9))));
        assert_eq!(byte_range("bytes=90-", 100), Ok(Some((90, 99))));
        assert_eq!(byte_range("bytes=-10", 100), Ok(Some((90, 99))));
        assert_eq!(byte_range("bytes=50-500", 100), Ok(Some((50, 99))));
        assert_eq!(byte_range("bytes=100-", 100), Err(()));
        assert_eq!(byte_range("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(byte_range("items=0-1", 100), Ok(None));
        assert_eq!(byte_range("bytes=9-1", 100), Ok(None));
    }
}

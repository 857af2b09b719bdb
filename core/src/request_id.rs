//! [`RequestId`]: the id every request gets, for its log lines, its tail
//! event and (with `--request-id-header`) its response.
//!
//! Unique within a process and, with high probability, across restarts:
//! 24 bits drawn once per process, the shard, and the shard's request
//! counter. Making one is a counter increment; formatting happens only when
//! it is shown.

use std::fmt;
use std::sync::OnceLock;

/// One request's id, shown as 16 hex digits (`3fa9c1` `00` `0000002a`:
/// process, shard, sequence).
///
/// ```
/// use ringworker_core::RequestId;
/// let id = RequestId::new(3, 42);
/// let text = id.to_string();
/// assert_eq!(text.len(), 16);
/// assert!(text.ends_with("030000002a"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(u64);

/// 24 bits that differ between processes (the start time and pid mixed).
fn process_bits() -> u64 {
    static BITS: OnceLock<u64> = OnceLock::new();
    *BITS.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let mut x = nanos ^ (u64::from(std::process::id()) << 32);
        // splitmix64's finalizer: every input bit reaches the 24 kept.
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (x ^ (x >> 31)) & 0xff_ffff
    })
}

impl RequestId {
    /// The id of request number `seq` on shard `shard` (shards past 255
    /// share the byte; the sequence keeps ids apart within a shard).
    pub fn new(shard: usize, seq: u32) -> Self {
        Self(process_bits() << 40 | ((shard as u64 & 0xff) << 32) | u64::from(seq))
    }

    /// The id as a number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl serde::Serialize for RequestId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_differ_by_shard_and_sequence() {
        let a = RequestId::new(0, 1);
        assert_ne!(a, RequestId::new(1, 1));
        assert_ne!(a, RequestId::new(0, 2));
        assert_eq!(a.get() >> 40, RequestId::new(7, 9).get() >> 40);
    }
}

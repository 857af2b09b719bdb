//! The `Date` response header value, cached per thread (so per shard).
//!
//! Formatting an IMF-fixdate costs far more than a response head needs to
//! spend, and the value only changes once a second, so each thread keeps the
//! last string and reformats only when the second has changed. Reading the
//! clock is a vDSO call, with no syscall.

use std::cell::Cell;
use std::io::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const HTTP_DATE_LEN: usize = 29;

/// Last second representable as an IMF-fixdate (9999-12-31T23:59:59Z);
/// httpdate panics past it.
const MAX_SECS: u64 = 253_402_300_799;

/// The date written when the clock cannot be read as a valid date.
const FALLBACK: [u8; HTTP_DATE_LEN] = *b"Thu, 01 Jan 1970 00:00:00 GMT";

/// The formatted date and the second it is for.
#[derive(Clone, Copy)]
struct Cached {
    secs: u64,
    date: [u8; HTTP_DATE_LEN],
}

thread_local! {
    // `u64::MAX` is never a current second, so the first call formats.
    static CACHE: Cell<Cached> = const {
        Cell::new(Cached { secs: u64::MAX, date: FALLBACK })
    };
}

/// Calls `f` with the current time as an IMF-fixdate (the `Date` header value,
/// RFC 9110 §5.6.7), formatted at most once per second per thread.
///
/// # Examples
///
/// ```
/// use ringworker_io::http::date::with_http_date;
///
/// let mut head = b"date: ".to_vec();
/// with_http_date(|date| head.extend_from_slice(date));
/// assert!(head.ends_with(b" GMT"));
/// ```
pub fn with_http_date<R>(f: impl FnOnce(&[u8; HTTP_DATE_LEN]) -> R) -> R {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // The date is copied out, not borrowed, so `f` may call back in.
    let date = CACHE
        .try_with(|cache| {
            let cached = cache.get();
            if cached.secs == now {
                cached.date
            } else {
                let date = format_http_date(now);
                cache.set(Cached { secs: now, date });
                date
            }
        })
        .unwrap_or_else(|_| format_http_date(now));
    f(&date)
}

/// Formats `secs` since the Unix epoch as an IMF-fixdate; seconds past the
/// year 9999 are clamped to its last second.
fn format_http_date(secs: u64) -> [u8; HTTP_DATE_LEN] {
    let Some(time) = UNIX_EPOCH.checked_add(Duration::from_secs(secs.min(MAX_SECS))) else {
        return FALLBACK;
    };
    let mut date = [0u8; HTTP_DATE_LEN];
    let mut cursor = &mut date[..];
    match write!(cursor, "{}", httpdate::HttpDate::from(time)) {
        // Every date from 1970 to 9999 is exactly 29 bytes.
        Ok(()) if cursor.is_empty() => date,
        _ => FALLBACK,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_imf_fixdate() {
        assert_eq!(
            &format_http_date(784_111_777),
            b"Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(&format_http_date(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            &format_http_date(1_475_419_451),
            b"Sun, 02 Oct 2016 14:44:11 GMT"
        );
        assert_eq!(
            &format_http_date(951_782_400),
            b"Tue, 29 Feb 2000 00:00:00 GMT"
        );
    }

    #[test]
    fn far_future_is_clamped_not_panicking() {
        assert_eq!(
            &format_http_date(MAX_SECS),
            b"Fri, 31 Dec 9999 23:59:59 GMT"
        );
        assert_eq!(
            &format_http_date(u64::MAX),
            b"Fri, 31 Dec 9999 23:59:59 GMT"
        );
    }

    #[test]
    fn cached_date_is_current_and_well_formed() {
        let date = with_http_date(|d| *d);
        let text = std::str::from_utf8(&date).unwrap();
        let parsed = httpdate::parse_http_date(text).unwrap();
        let age = SystemTime::now().duration_since(parsed).unwrap_or_default();
        assert!(age < Duration::from_secs(5), "{text} is stale");
        assert_eq!(&date[25..], b" GMT");
    }

    #[test]
    fn reentrant_calls_work() {
        let (outer, inner) = with_http_date(|outer| (*outer, with_http_date(|inner| *inner)));
        // Both were read within the same test; at most a second apart.
        let outer = httpdate::parse_http_date(std::str::from_utf8(&outer).unwrap()).unwrap();
        let inner = httpdate::parse_http_date(std::str::from_utf8(&inner).unwrap()).unwrap();
        assert!(inner.duration_since(outer).unwrap_or_default() <= Duration::from_secs(1));
    }

    #[test]
    fn each_thread_has_its_own_cache() {
        let here = with_http_date(|d| *d);
        let there = std::thread::spawn(|| with_http_date(|d| *d))
            .join()
            .unwrap();
        assert_eq!(here.len(), there.len());
        assert!(httpdate::parse_http_date(std::str::from_utf8(&there).unwrap()).is_ok());
    }
}

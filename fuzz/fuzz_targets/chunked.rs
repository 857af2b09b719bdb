//! The chunked request-body decoder (`http::chunked`): the same bytes fed
//! whole or split at any two points give the same body, the same end (and
//! the same place where it ends) and the same error; data ranges stay
//! inside what was consumed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringworker_io::http::chunked::{ChunkedDecoder, ChunkedError, Decoded};

/// Decodes `parts` in order: (body, consumed, done, error).
fn decode(parts: &[&[u8]]) -> (Vec<u8>, usize, bool, Option<ChunkedError>) {
    let mut d = ChunkedDecoder::new();
    let mut body = Vec::new();
    let mut consumed = 0;
    let mut pending: Vec<u8> = Vec::new();
    for part in parts {
        pending.extend_from_slice(part);
        loop {
            match d.decode(&pending) {
                Ok((used, found)) => {
                    assert!(used <= pending.len());
                    if let Decoded::Data(r) = &found {
                        assert!(!r.is_empty() && r.end <= used, "{r:?} outside {used}");
                        body.extend_from_slice(&pending[r.clone()]);
                    }
                    consumed += used;
                    pending.drain(..used);
                    match found {
                        Decoded::Data(_) => continue,
                        Decoded::NeedMore => {
                            assert!(pending.is_empty(), "NeedMore left input behind");
                            break;
                        }
                        Decoded::Done => return (body, consumed, true, None),
                    }
                }
                Err(e) => return (body, consumed, false, Some(e)),
            }
        }
    }
    (body, consumed, false, None)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let (a, b) = (data[0] as usize, data[1] as usize);
    let input = &data[2..];
    let (i, j) = {
        let n = input.len().max(1);
        let (x, y) = (a % n, b % n);
        (x.min(y), x.max(y))
    };
    let whole = decode(&[input]);
    let split = decode(&[&input[..i], &input[i..j], &input[j..]]);
    // (Where an error stops reading is no concern: the connection closes.
    // Where the body ends is: the next request starts there.)
    let (whole_consumed, split_consumed) = (whole.1, split.1);
    let strip = |(body, _, done, err): (Vec<u8>, usize, bool, Option<_>)| (body, done, err);
    let (whole, split) = (strip(whole), strip(split));
    if whole.1 {
        assert_eq!(whole_consumed, split_consumed, "the body ends elsewhere when split at {i} and {j}");
    }
    assert_eq!(whole, split, "split at {i} and {j}");
});

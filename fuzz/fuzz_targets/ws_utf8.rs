//! Reassembly of fragmented text messages (`ws::message::Assembler`), with
//! UTF-8 checked as fragments arrive: a message is delivered exactly when
//! its bytes are valid UTF-8, whatever the fragment boundaries (even inside
//! a code point); otherwise it fails with 1007, and never before the
//! fragment that makes the text invalid.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use ringworker_io::ws::frame::{Frame, Kind};
use ringworker_io::ws::message::{Assembler, Message};

fuzz_target!(|data: &[u8]| {
    // The first bytes are the fragment sizes (0 ends the list).
    let sizes: Vec<usize> = data.iter().take_while(|&&b| b != 0).map(|&b| b as usize % 16).collect();
    let text = data.get(sizes.len() + 1..).unwrap_or_default();
    let mut parts = Vec::new();
    let mut at = 0;
    for s in &sizes {
        let end = (at + s).min(text.len());
        parts.push(&text[at..end]);
        at = end;
    }
    parts.push(&text[at..]);
    let mut asm = Assembler::default();
    let last = parts.len() - 1;
    let mut delivered = None;
    for (i, part) in parts.iter().enumerate() {
        let frame = Frame {
            kind: if i == 0 { Kind::Text } else { Kind::Continue },
            fin: i == last,
            payload: Bytes::copy_from_slice(part),
        };
        match asm.push(frame) {
            Ok(Some(m)) => {
                assert_eq!(i, last, "delivered before the last fragment");
                delivered = Some(m);
            }
            Ok(None) => assert!(i < last, "the last fragment delivered nothing"),
            Err(v) => {
                assert_eq!(v.code, 1007);
                // What arrived so far can no longer begin valid UTF-8.
                let so_far: Vec<u8> = parts[..=i].concat();
                match std::str::from_utf8(&so_far) {
                    Ok(_) => panic!("1007 for valid text"),
                    Err(e) => assert!(
                        e.error_len().is_some() || i == last,
                        "1007 for an incomplete but valid prefix"
                    ),
                }
                assert!(std::str::from_utf8(text).is_err());
                return;
            }
        }
    }
    let m = delivered.expect("the last fragment completes the message");
    assert_eq!(std::str::from_utf8(text).ok(), m.as_text());
    assert_eq!(m, Message::Text(Bytes::copy_from_slice(text)));
});

//! The WebSocket frame parser (`ws::frame`) over a receive buffer: every
//! input ends in frames, a wait for more, or a close code; a frame takes
//! exactly the bytes `extent` says it spans; the limits hold.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use ringworker_io::ws::frame::{Kind, extent, next_frame_from};

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, input)) = data.split_first() else {
        return;
    };
    let masked = knobs & 1 == 1;
    let max_payload = 1usize << (knobs >> 1 & 0x0f);
    let mut buf = BytesMut::from(input);
    let mut need = 0usize;
    let mut already = 0usize;
    loop {
        let before = buf.len();
        let ext = extent(&buf);
        match next_frame_from(&mut buf, already, max_payload, &mut need, masked) {
            Ok(Some(f)) => {
                let used = before - buf.len();
                let e = ext.expect("a parsed frame has an extent");
                assert_eq!(e.total(), used as u64, "extent and parser disagree");
                assert_eq!(e.payload_len, f.payload.len() as u64);
                match f.kind {
                    Kind::Close | Kind::Ping | Kind::Pong => {
                        assert!(f.fin && f.payload.len() <= 125)
                    }
                    _ => {
                        assert!(already + f.payload.len() <= max_payload);
                        already = if f.fin { 0 } else { already + f.payload.len() };
                    }
                }
            }
            Ok(None) => {
                assert_eq!(buf.len(), before, "waiting consumed bytes");
                if need > 0 {
                    assert!(need > before, "waits for {need} with {before} buffered");
                }
                break;
            }
            Err(v) => {
                assert!(matches!(v.code, 1002 | 1007 | 1009), "close code {}", v.code);
                break;
            }
        }
    }
});

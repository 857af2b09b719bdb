//! WebSocket frames (RFC 6455 §5) over the connection's receive buffer.
//!
//! Headers are parsed and written with tungstenite's protocol types; the
//! payload is split off the socket's receive buffer and unmasked in place, so
//! a message reaches its consumer without being copied.

use std::io::Cursor;

use bytes::{Bytes, BytesMut};
use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

/// A close code and why the connection must be failed (RFC 6455 §7.4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The close code to send: 1002, 1007 or 1009.
    pub code: u16,
    /// A short reason, sent in the close frame and shown to the script.
    pub reason: &'static str,
}

impl Violation {
    pub(crate) const fn protocol(reason: &'static str) -> Self {
        Self { code: 1002, reason }
    }
    pub(crate) const fn invalid_utf8() -> Self {
        Self {
            code: 1007,
            reason: "invalid UTF-8 in a text message",
        }
    }
    pub(crate) const fn too_big() -> Self {
        Self {
            code: 1009,
            reason: "message too big",
        }
    }
}

/// What a frame is, once its header checked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Opens a text message.
    Text,
    /// Opens a binary message.
    Binary,
    /// Continues the open message.
    Continue,
    /// Close (payload: code and reason).
    Close,
    /// Ping (must be answered with a pong carrying the same payload).
    Ping,
    /// Pong.
    Pong,
}

/// One unmasked frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Its kind.
    pub kind: Kind,
    /// Whether it ends its message.
    pub fin: bool,
    /// Its unmasked payload.
    pub payload: Bytes,
}

/// The next frame in `buf`, split off it and unmasked in place.
///
/// `Ok(None)` means more bytes are needed (nothing was consumed); `need` is
/// then set to how many bytes the whole frame occupies once the header is
/// known. `max_payload` bounds a data frame's payload (with what the open
/// message already holds, the caller's `already` bytes): a frame over it is a
/// 1009 before any of its payload is buffered.
pub fn next_frame(
    buf: &mut BytesMut,
    already: usize,
    max_payload: usize,
    need: &mut usize,
) -> Result<Option<Frame>, Violation> {
    next_frame_from(buf, already, max_payload, need, true)
}

/// [`next_frame`] for either end: a server reads masked frames (`masked`),
/// a client unmasked ones; the other kind is a protocol error (RFC 6455 §5.1).
pub fn next_frame_from(
    buf: &mut BytesMut,
    already: usize,
    max_payload: usize,
    need: &mut usize,
    masked: bool,
) -> Result<Option<Frame>, Violation> {
    let mut cur = Cursor::new(&buf[..]);
    let (header, len) = match FrameHeader::parse(&mut cur) {
        Ok(Some(h)) => h,
        Ok(None) => {
            *need = 0;
            return Ok(None);
        }
        Err(_) => return Err(Violation::protocol("reserved opcode")),
    };
    let header_len = cur.position() as usize;
    if header.rsv1 || header.rsv2 || header.rsv3 {
        return Err(Violation::protocol("reserved bits set"));
    }
    let mask = match (header.mask, masked) {
        (Some(m), true) => Some(m),
        (None, false) => None,
        (None, true) => return Err(Violation::protocol("unmasked client frame")),
        (Some(_), false) => return Err(Violation::protocol("masked server frame")),
    };
    let kind = match header.opcode {
        OpCode::Data(Data::Text) => Kind::Text,
        OpCode::Data(Data::Binary) => Kind::Binary,
        OpCode::Data(Data::Continue) => Kind::Continue,
        OpCode::Control(Control::Close) => Kind::Close,
        OpCode::Control(Control::Ping) => Kind::Ping,
        OpCode::Control(Control::Pong) => Kind::Pong,
        OpCode::Data(Data::Reserved(_)) | OpCode::Control(Control::Reserved(_)) => {
            return Err(Violation::protocol("reserved opcode"));
        }
    };
    // RFC 6455 §5.2: the most significant bit of a 64-bit length must be 0.
    if len > i64::MAX as u64 {
        return Err(Violation::protocol(
            "payload length with the most significant bit set",
        ));
    }
    let control = matches!(kind, Kind::Close | Kind::Ping | Kind::Pong);
    if control {
        if !header.is_final {
            return Err(Violation::protocol("fragmented control frame"));
        }
        if len > 125 {
            return Err(Violation::protocol("control frame payload over 125 bytes"));
        }
    } else if len > (max_payload.saturating_sub(already)) as u64 {
        return Err(Violation::too_big());
    }
    let len = len as usize;
    if buf.len() < header_len + len {
        *need = header_len + len;
        return Ok(None);
    }
    let _ = buf.split_to(header_len);
    let mut payload = buf.split_to(len);
    if let Some(mask) = mask {
        unmask(&mut payload, mask);
    }
    Ok(Some(Frame {
        kind,
        fin: header.is_final,
        payload: payload.freeze(),
    }))
}

/// Where a frame sits in a buffer, read from its first bytes without any
/// check: enough to skip it, or for a client to read a server's frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    /// The first byte (FIN, RSV bits, opcode).
    pub first: u8,
    /// Whether it carries a mask.
    pub masked: bool,
    /// Header bytes, mask included.
    pub header_len: usize,
    /// Payload bytes.
    pub payload_len: u64,
}

impl Extent {
    /// Header and payload together.
    pub fn total(&self) -> u64 {
        (self.header_len as u64).saturating_add(self.payload_len)
    }
}

/// The extent of the frame at the start of `buf`, once its header is there.
pub fn extent(buf: &[u8]) -> Option<Extent> {
    if buf.len() < 2 {
        return None;
    }
    let (payload_len, mut header_len) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as u64, 4),
        127 if buf.len() >= 10 => (u64::from_be_bytes(buf[2..10].try_into().unwrap()), 10),
        126 | 127 => return None,
        n => (n as u64, 2),
    };
    let masked = buf[1] & 0x80 != 0;
    if masked {
        header_len += 4;
    }
    Some(Extent {
        first: buf[0],
        masked,
        header_len,
        payload_len,
    })
}

/// Appends a frame with any first byte (FIN, RSV bits, opcode), masked with
/// `mask` if given: how a client writes, and how tests write bad frames.
pub fn encode(out: &mut Vec<u8>, first: u8, payload: &[u8], mask: Option<[u8; 4]>) {
    out.push(first);
    let m = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(m | n as u8),
        n if n <= 0xffff => {
            out.push(m | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(m | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if let Some(mask) = mask {
        out.extend_from_slice(&mask);
    }
    let body = out.len();
    out.extend_from_slice(payload);
    if let Some(mask) = mask {
        unmask(&mut out[body..], mask);
    }
}

/// The next frame in `buf` read without any check (after the connection was
/// failed, only a close frame still matters): its opcode, split off `buf`.
/// `None` if it is not complete yet.
pub fn skip_frame(buf: &mut BytesMut) -> Option<u8> {
    let e = extent(buf)?;
    if (buf.len() as u64) < e.total() {
        return None;
    }
    let _ = buf.split_to(e.total() as usize);
    Some(e.first & 0x0f)
}

/// Applies (or removes) a frame mask in place, a word at a time.
pub fn unmask(data: &mut [u8], mask: [u8; 4]) {
    let word = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for c in &mut chunks {
        let v = u64::from_ne_bytes((&*c).try_into().unwrap()) ^ word;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}

/// Server frame opcodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// A text message.
    Text,
    /// A binary message.
    Binary,
    /// Close.
    Close,
    /// Ping.
    Ping,
    /// Pong.
    Pong,
}

/// Appends an unmasked, final frame header for `len` payload bytes.
pub fn write_header(out: &mut Vec<u8>, op: Opcode, len: usize) {
    let opcode = match op {
        Opcode::Text => OpCode::Data(Data::Text),
        Opcode::Binary => OpCode::Data(Data::Binary),
        Opcode::Close => OpCode::Control(Control::Close),
        Opcode::Ping => OpCode::Control(Control::Ping),
        Opcode::Pong => OpCode::Control(Control::Pong),
    };
    let header = FrameHeader {
        opcode,
        ..FrameHeader::default()
    };
    header
        .format(len as u64, out)
        .expect("writing to a Vec cannot fail");
}

/// Whether `code` may be sent in a close frame (RFC 6455 §7.4, IANA registry).
pub fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Reads a close frame's payload: `Ok(None)` for an empty one (no code).
pub fn parse_close(payload: &[u8]) -> Result<Option<(u16, String)>, Violation> {
    match payload.len() {
        0 => Ok(None),
        1 => Err(Violation::protocol("close frame with a 1-byte payload")),
        _ => {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            if !is_valid_close_code(code) {
                return Err(Violation::protocol("invalid close code"));
            }
            let reason = std::str::from_utf8(&payload[2..])
                .map_err(|_| Violation::invalid_utf8())?
                .to_string();
            Ok(Some((code, reason)))
        }
    }
}

/// Appends a final frame of kind `op` carrying `payload`, masked with `mask`
/// if given (a client's frames).
pub fn write_frame(out: &mut Vec<u8>, op: Opcode, payload: &[u8], mask: Option<[u8; 4]>) {
    let opcode: u8 = match op {
        Opcode::Text => 0x1,
        Opcode::Binary => 0x2,
        Opcode::Close => 0x8,
        Opcode::Ping => 0x9,
        Opcode::Pong => 0xA,
    };
    encode(out, 0x80 | opcode, payload, mask);
}

/// A close frame's payload (`None`: empty): the code, then the reason cut
/// to 123 bytes on a character boundary (a control payload holds 125).
pub fn close_payload(close: Option<(u16, &str)>) -> Vec<u8> {
    let Some((code, reason)) = close else {
        return Vec::new();
    };
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut p = Vec::with_capacity(2 + end);
    p.extend_from_slice(&code.to_be_bytes());
    p.extend_from_slice(&reason.as_bytes()[..end]);
    p
}

/// Appends a close frame (`None`: no code, empty payload).
pub fn write_close(out: &mut Vec<u8>, close: Option<(u16, &str)>) {
    match close {
        None => write_header(out, Opcode::Close, 0),
        Some((code, reason)) => {
            // A control payload holds 125 bytes: the reason is cut to 123.
            let mut end = reason.len().min(123);
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            write_header(out, Opcode::Close, 2 + end);
            out.extend_from_slice(&code.to_be_bytes());
            out.extend_from_slice(&reason.as_bytes()[..end]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_frame(first: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut out = Vec::new();
        encode(&mut out, first, payload, mask);
        out
    }

    fn parse(bytes: &[u8]) -> Result<Option<Frame>, Violation> {
        let mut buf = BytesMut::from(bytes);
        let mut need = 0;
        next_frame(&mut buf, 0, 1 << 20, &mut need)
    }

    #[test]
    fn unmasks_in_place_across_word_boundaries() {
        for len in [0, 1, 7, 8, 9, 300, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let wire = client_frame(0x82, &payload, Some([1, 2, 3, 250]));
            let f = parse(&wire).unwrap().unwrap();
            assert_eq!(f.kind, Kind::Binary);
            assert!(f.fin);
            assert_eq!(&f.payload[..], &payload[..], "len {len}");
        }
    }

    #[test]
    fn waits_for_the_whole_frame_and_says_how_big_it_is() {
        let wire = client_frame(0x81, b"hello", Some([9, 9, 9, 9]));
        let mut buf = BytesMut::from(&wire[..4]);
        let mut need = 0;
        assert!(next_frame(&mut buf, 0, 100, &mut need).unwrap().is_none());
        assert_eq!(buf.len(), 4, "nothing consumed");
        buf.extend_from_slice(&wire[4..wire.len() - 1]);
        assert!(next_frame(&mut buf, 0, 100, &mut need).unwrap().is_none());
        assert_eq!(need, wire.len());
        buf.extend_from_slice(&wire[wire.len() - 1..]);
        let f = next_frame(&mut buf, 0, 100, &mut need).unwrap().unwrap();
        assert_eq!(&f.payload[..], b"hello");
        assert!(buf.is_empty());
    }

    #[test]
    fn bad_frames_get_their_close_codes() {
        let m = Some([1, 2, 3, 4]);
        let code = |w: Vec<u8>| parse(&w).unwrap_err().code;
        assert_eq!(code(client_frame(0x81, b"x", None)), 1002, "unmasked");
        assert_eq!(code(client_frame(0xC1, b"x", m)), 1002, "rsv1");
        assert_eq!(code(client_frame(0x83, b"x", m)), 1002, "opcode 3");
        assert_eq!(code(client_frame(0x8B, b"x", m)), 1002, "opcode 0xB");
        assert_eq!(code(client_frame(0x09, b"x", m)), 1002, "fragmented ping");
        assert_eq!(code(client_frame(0x89, &[0; 126], m)), 1002, "long ping");
        let mut buf = BytesMut::from(&client_frame(0x82, &[0; 200], m)[..]);
        let mut need = 0;
        assert_eq!(
            next_frame(&mut buf, 0, 100, &mut need).unwrap_err().code,
            1009
        );
        let mut buf = BytesMut::from(&client_frame(0x80, &[0; 60], m)[..]);
        assert_eq!(
            next_frame(&mut buf, 50, 100, &mut need).unwrap_err().code,
            1009
        );
    }

    #[test]
    fn close_payloads() {
        assert_eq!(parse_close(b"").unwrap(), None);
        assert_eq!(parse_close(b"\x03").unwrap_err().code, 1002);
        assert_eq!(
            parse_close(b"\x03\xe8bye").unwrap(),
            Some((1000, "bye".into()))
        );
        assert_eq!(
            parse_close(b"\x03\xed").unwrap_err().code,
            1002,
            "1005 on the wire"
        );
        assert_eq!(parse_close(b"\x03\xe8\xff").unwrap_err().code, 1007);
        assert_eq!(
            parse_close(b"\x0f\xa0").unwrap(),
            Some((4000, String::new()))
        );
        let mut out = Vec::new();
        write_close(&mut out, Some((1001, &"é".repeat(100))));
        assert_eq!(
            out.len(),
            2 + 2 + 122,
            "reason cut to 123 bytes on a char boundary"
        );
    }

    #[test]
    fn server_headers() {
        let mut out = Vec::new();
        write_header(&mut out, Opcode::Text, 5);
        assert_eq!(out, [0x81, 5]);
        out.clear();
        write_header(&mut out, Opcode::Binary, 300);
        assert_eq!(out, [0x82, 126, 1, 44]);
        out.clear();
        write_header(&mut out, Opcode::Pong, 70_000);
        assert_eq!(out[..2], [0x8A, 127]);
    }
}

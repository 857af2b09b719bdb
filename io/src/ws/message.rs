//! Messages: frames reassembled (RFC 6455 §5.4), text checked as UTF-8 as it
//! arrives so a bad byte fails the connection at once, even when a code point
//! is split across fragments.

use bytes::{Bytes, BytesMut};

use super::frame::{Frame, Kind, Violation};

/// A complete message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message; its bytes are valid UTF-8.
    Text(Bytes),
    /// A binary message.
    Binary(Bytes),
}

impl Message {
    /// A text message.
    pub fn text(s: impl Into<String>) -> Self {
        Message::Text(Bytes::from(s.into()))
    }

    /// The payload bytes.
    pub fn bytes(&self) -> &Bytes {
        match self {
            Message::Text(b) | Message::Binary(b) => b,
        }
    }

    /// The text, if it is a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            // SAFETY-free: text messages are validated (or built from a String).
            Message::Text(b) => std::str::from_utf8(b).ok(),
            Message::Binary(_) => None,
        }
    }
}

/// A fragmented message being put together.
#[derive(Debug)]
struct Partial {
    text: bool,
    buf: BytesMut,
    /// How much of `buf` is known to be valid UTF-8 (text only).
    checked: usize,
}

/// Puts messages together from data frames.
#[derive(Debug, Default)]
pub struct Assembler {
    partial: Option<Partial>,
}

impl Assembler {
    /// Bytes of the open message so far (for the size limit).
    pub fn buffered(&self) -> usize {
        self.partial.as_ref().map_or(0, |p| p.buf.len())
    }

    /// Takes a data frame; returns the message it completes, if any.
    pub fn push(&mut self, frame: Frame) -> Result<Option<Message>, Violation> {
        match (frame.kind, &mut self.partial) {
            (Kind::Text | Kind::Binary, Some(_)) => Err(Violation::protocol(
                "a new message started before the previous one ended",
            )),
            (Kind::Continue, None) => {
                Err(Violation::protocol("continuation frame with no message"))
            }
            (Kind::Text, None) if frame.fin => {
                std::str::from_utf8(&frame.payload).map_err(|_| Violation::invalid_utf8())?;
                Ok(Some(Message::Text(frame.payload)))
            }
            (Kind::Binary, None) if frame.fin => Ok(Some(Message::Binary(frame.payload))),
            (Kind::Text | Kind::Binary, None) => {
                let mut p = Partial {
                    text: frame.kind == Kind::Text,
                    buf: BytesMut::from(&frame.payload[..]),
                    checked: 0,
                };
                check_utf8(&mut p, false)?;
                self.partial = Some(p);
                Ok(None)
            }
            (Kind::Continue, Some(p)) => {
                p.buf.extend_from_slice(&frame.payload);
                check_utf8(p, frame.fin)?;
                if !frame.fin {
                    return Ok(None);
                }
                let p = self.partial.take().expect("matched Some");
                let bytes = p.buf.freeze();
                Ok(Some(if p.text {
                    Message::Text(bytes)
                } else {
                    Message::Binary(bytes)
                }))
            }
            (Kind::Close | Kind::Ping | Kind::Pong, _) => {
                unreachable!("control frames are handled by the session")
            }
        }
    }
}

/// Checks the new bytes of a text message; an incomplete code point at the
/// end is fine unless the message is complete.
fn check_utf8(p: &mut Partial, fin: bool) -> Result<(), Violation> {
    if !p.text {
        return Ok(());
    }
    match std::str::from_utf8(&p.buf[p.checked..]) {
        Ok(_) => p.checked = p.buf.len(),
        Err(e) if e.error_len().is_none() && !fin => p.checked += e.valid_up_to(),
        Err(_) => return Err(Violation::invalid_utf8()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(kind: Kind, fin: bool, payload: &[u8]) -> Frame {
        Frame {
            kind,
            fin,
            payload: Bytes::copy_from_slice(payload),
        }
    }

    #[test]
    fn reassembles_fragments() {
        let mut a = Assembler::default();
        assert_eq!(a.push(f(Kind::Binary, false, b"ab")).unwrap(), None);
        assert_eq!(a.push(f(Kind::Continue, false, b"cd")).unwrap(), None);
        assert_eq!(a.buffered(), 4);
        assert_eq!(
            a.push(f(Kind::Continue, true, b"e")).unwrap(),
            Some(Message::Binary(Bytes::from_static(b"abcde")))
        );
        assert_eq!(
            a.push(f(Kind::Text, true, b"ok")).unwrap(),
            Some(Message::text("ok"))
        );
    }

    #[test]
    fn a_code_point_split_across_fragments_is_fine_and_a_bad_one_fails_early() {
        let euro = "€".as_bytes(); // 3 bytes
        let mut a = Assembler::default();
        a.push(f(Kind::Text, false, &euro[..1])).unwrap();
        a.push(f(Kind::Continue, false, &euro[1..2])).unwrap();
        assert_eq!(
            a.push(f(Kind::Continue, true, &euro[2..])).unwrap(),
            Some(Message::text("€"))
        );
        // A bad byte fails at its fragment, not at the end of the message.
        let mut a = Assembler::default();
        a.push(f(Kind::Text, false, b"ok")).unwrap();
        assert_eq!(
            a.push(f(Kind::Continue, false, b"\xff")).unwrap_err().code,
            1007
        );
        // A code point cut off by the end of the message.
        let mut a = Assembler::default();
        a.push(f(Kind::Text, false, &euro[..2])).unwrap();
        assert_eq!(a.push(f(Kind::Continue, true, b"")).unwrap_err().code, 1007);
        let mut a = Assembler::default();
        assert_eq!(a.push(f(Kind::Text, true, b"\xc3")).unwrap_err().code, 1007);
    }

    #[test]
    fn fragments_out_of_order_are_protocol_errors() {
        let mut a = Assembler::default();
        assert_eq!(
            a.push(f(Kind::Continue, true, b"x")).unwrap_err().code,
            1002
        );
        a.push(f(Kind::Text, false, b"x")).unwrap();
        assert_eq!(a.push(f(Kind::Binary, true, b"x")).unwrap_err().code, 1002);
    }
}

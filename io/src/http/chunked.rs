//! The chunked transfer coding (RFC 9112 §7.1): an incremental, zero-copy
//! decoder for request bodies and the framing pieces for encoding responses.
//!
//! [`ChunkedDecoder`] is a byte-at-a-time state machine over the framing
//! (size lines, extensions, CRLFs, trailers) that hands chunk data back as
//! ranges of the caller's input, so data is never copied. It is strict where
//! leniency enables request smuggling: bare LF, bare CR, malformed or
//! oversized sizes and missing CRLF after data are errors, and extensions and
//! trailers are skipped but bounded.

use super::head_writer::is_tchar;
use std::ops::Range;

/// Longest chunk-size line (size, extensions and CRLF) accepted, in bytes;
/// extensions are skipped, so this bounds the work they can cause.
pub const MAX_SIZE_LINE_BYTES: usize = 4 * 1024;

/// Largest trailer section (all trailer lines and the final CRLF) accepted,
/// in bytes; trailers are skipped, not kept.
pub const MAX_TRAILER_BYTES: usize = 16 * 1024;

/// Most hex digits in a chunk size: 16 digits fill a `u64`.
const MAX_SIZE_DIGITS: u8 = 16;

/// Appended after each chunk's data when encoding.
pub const CHUNK_TRAILER: &[u8] = b"\r\n";

/// Ends a chunked body: the zero-size chunk and an empty trailer section.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Why a chunked body was rejected; every variant means the request is
/// malformed (HTTP 400) and the connection must be closed, since where the
/// body ends is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChunkedError {
    /// A size line with no hex digits.
    #[error("missing chunk size")]
    EmptySize,
    /// A size with a non-hex character (including `+`, `-`, `0x`).
    #[error("invalid chunk size")]
    InvalidSize,
    /// More than 16 hex digits.
    #[error("chunk size too large")]
    SizeOverflow,
    /// The size line exceeds [`MAX_SIZE_LINE_BYTES`].
    #[error("chunk size line too long")]
    SizeLineTooLong,
    /// A control character inside a chunk extension.
    #[error("invalid chunk extension")]
    InvalidExtension,
    /// An LF not preceded by CR.
    #[error("bare LF in chunked body")]
    BareLf,
    /// A CR not followed by LF.
    #[error("CR without LF in chunked body")]
    BareCr,
    /// Chunk data not followed by CRLF.
    #[error("chunk data not followed by CRLF")]
    MissingDataCrlf,
    /// A malformed trailer line.
    #[error("invalid trailer field")]
    InvalidTrailer,
    /// The trailer section exceeds [`MAX_TRAILER_BYTES`].
    #[error("trailer section too large")]
    TrailersTooLarge,
}

impl ChunkedError {
    /// The HTTP status to answer with: always 400.
    pub const fn status(&self) -> u16 {
        400
    }

    /// A short text for the response body (the same as `Display`).
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::EmptySize => "missing chunk size",
            Self::InvalidSize => "invalid chunk size",
            Self::SizeOverflow => "chunk size too large",
            Self::SizeLineTooLong => "chunk size line too long",
            Self::InvalidExtension => "invalid chunk extension",
            Self::BareLf => "bare LF in chunked body",
            Self::BareCr => "CR without LF in chunked body",
            Self::MissingDataCrlf => "chunk data not followed by CRLF",
            Self::InvalidTrailer => "invalid trailer field",
            Self::TrailersTooLarge => "trailer section too large",
        }
    }
}

/// What one [`ChunkedDecoder::decode`] call found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// Body bytes: this range of the input passed to the call (never empty,
    /// and within the consumed prefix).
    Data(Range<usize>),
    /// All input was consumed and more is needed.
    NeedMore,
    /// The body is complete; bytes after the consumed prefix belong to the
    /// next request.
    Done,
}

/// Where the decoder is in the framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Hex digits of a chunk size.
    Size,
    /// Whitespace after the size; only a `;` may follow (BWS before an extension).
    SizeWhitespace,
    /// Inside chunk extensions, skipped up to CR.
    Extension,
    /// CR of the size line seen, LF expected.
    SizeLf,
    /// `remaining` data bytes to hand out.
    Data,
    /// CR expected after data.
    DataCr,
    /// LF expected after data.
    DataLf,
    /// Start of a trailer line, or CR of the final empty line.
    TrailerStart,
    /// Inside a trailer field name.
    TrailerName,
    /// Inside a trailer field value.
    TrailerValue,
    /// CR of a trailer line seen, LF expected.
    TrailerLf,
    /// CR of the final empty line seen, LF expected.
    EndLf,
    /// The body is complete.
    Done,
    /// An error was returned; it is returned again on every call.
    Failed(ChunkedError),
}

/// Incremental decoder for one chunked body.
///
/// Feed it the bytes after the head with [`decode`](Self::decode), drop the
/// consumed prefix, and call again until [`Decoded::Done`]. It keeps no
/// buffer, so a body may arrive split at any byte.
///
/// # Examples
///
/// ```
/// use ringworker_io::http::chunked::{ChunkedDecoder, Decoded};
///
/// let mut input: &[u8] = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\nNEXT";
/// let mut decoder = ChunkedDecoder::new();
/// let mut body = Vec::new();
/// loop {
///     let (used, found) = decoder.decode(input).unwrap();
///     match found {
///         Decoded::Data(range) => body.extend_from_slice(&input[range]),
///         Decoded::NeedMore => unreachable!("the whole body is here"),
///         Decoded::Done => {
///             input = &input[used..];
///             break;
///         }
///     }
///     input = &input[used..];
/// }
/// assert_eq!(body, b"hello world");
/// assert_eq!(input, b"NEXT");
/// ```
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    /// Size being read, then data bytes left in the current chunk.
    remaining: u64,
    /// Hex digits read for the current size.
    digits: u8,
    /// Bytes of the current size line so far.
    line_len: usize,
    /// Bytes of the trailer section so far.
    trailer_len: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    /// A decoder at the start of a chunked body.
    pub const fn new() -> Self {
        Self {
            state: State::Size,
            remaining: 0,
            digits: 0,
            line_len: 0,
            trailer_len: 0,
        }
    }

    /// Consumes a prefix of `input` and reports what it found.
    ///
    /// Returns `(consumed, found)`: the caller drops `input[..consumed]`
    /// before the next call. A [`Decoded::Data`] range lies within
    /// `..consumed`, so the data can be sliced out of `input` without a copy.
    /// Framing bytes are remembered in the decoder, so [`Decoded::NeedMore`]
    /// always consumes all of `input`. After [`Decoded::Done`] further calls
    /// return `(0, Done)`.
    ///
    /// # Errors
    ///
    /// A [`ChunkedError`] when the framing is malformed or exceeds its bounds;
    /// the decoder then returns the same error on every call.
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Decoded), ChunkedError> {
        let mut pos = 0;
        loop {
            match self.state {
                State::Done => return Ok((pos, Decoded::Done)),
                State::Failed(e) => return Err(e),
                State::Data => {
                    let available = input.len().saturating_sub(pos);
                    if available == 0 {
                        return Ok((pos, Decoded::NeedMore));
                    }
                    // `n <= available`, so it fits in usize.
                    let n = self.remaining.min(available as u64) as usize;
                    self.remaining -= n as u64;
                    if self.remaining == 0 {
                        self.state = State::DataCr;
                    }
                    return Ok((pos + n, Decoded::Data(pos..pos + n)));
                }
                _ => {
                    let Some(&byte) = input.get(pos) else {
                        return Ok((pos, Decoded::NeedMore));
                    };
                    pos += 1;
                    if let Err(e) = self.step(byte) {
                        self.state = State::Failed(e);
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Whether the whole body, including the trailer section, has been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Data bytes of the current chunk still to come, as its size line
    /// announced them (0 outside chunk data): a caller with a body limit
    /// refuses a chunk that cannot fit as soon as its size is known,
    /// instead of reading up to the limit first.
    pub fn announced_remaining(&self) -> u64 {
        if self.state == State::Data {
            self.remaining
        } else {
            0
        }
    }

    /// Advances the framing state machine by one byte (never in `Data`).
    fn step(&mut self, byte: u8) -> Result<(), ChunkedError> {
        match self.state {
            State::Size | State::SizeWhitespace | State::Extension | State::SizeLf => {
                self.line_len += 1;
                if self.line_len > MAX_SIZE_LINE_BYTES {
                    return Err(ChunkedError::SizeLineTooLong);
                }
            }
            State::TrailerStart
            | State::TrailerName
            | State::TrailerValue
            | State::TrailerLf
            | State::EndLf => {
                self.trailer_len += 1;
                if self.trailer_len > MAX_TRAILER_BYTES {
                    return Err(ChunkedError::TrailersTooLarge);
                }
            }
            State::Data | State::DataCr | State::DataLf | State::Done | State::Failed(_) => {}
        }

        self.state = match (self.state, byte) {
            (_, b'\n') if self.state.expects_line_content() => return Err(ChunkedError::BareLf),

            (State::Size, _) if byte.is_ascii_hexdigit() => {
                if self.digits == MAX_SIZE_DIGITS {
                    return Err(ChunkedError::SizeOverflow);
                }
                self.digits += 1;
                self.remaining = (self.remaining << 4) | u64::from(hex_value(byte));
                State::Size
            }
            (State::Size, b';' | b'\r' | b' ' | b'\t') if self.digits == 0 => {
                return Err(ChunkedError::EmptySize);
            }
            (State::Size, b';') => State::Extension,
            (State::Size, b' ' | b'\t') => State::SizeWhitespace,
            (State::Size, b'\r') => State::SizeLf,
            (State::Size, _) => return Err(ChunkedError::InvalidSize),

            (State::SizeWhitespace, b' ' | b'\t') => State::SizeWhitespace,
            (State::SizeWhitespace, b';') => State::Extension,
            (State::SizeWhitespace, _) => return Err(ChunkedError::InvalidSize),

            // Extensions are tokens and quoted strings; only control
            // characters other than HTAB can never appear in them.
            (State::Extension, b'\r') => State::SizeLf,
            (State::Extension, b'\t' | 0x20..=0x7e | 0x80..=0xff) => State::Extension,
            (State::Extension, _) => return Err(ChunkedError::InvalidExtension),

            (State::SizeLf, b'\n') => {
                self.line_len = 0;
                self.digits = 0;
                if self.remaining == 0 {
                    State::TrailerStart
                } else {
                    State::Data
                }
            }
            (State::SizeLf, _) => return Err(ChunkedError::BareCr),

            (State::DataCr, b'\r') => State::DataLf,
            (State::DataLf, b'\n') => State::Size,
            (State::DataCr | State::DataLf, _) => return Err(ChunkedError::MissingDataCrlf),

            (State::TrailerStart, b'\r') => State::EndLf,
            (State::TrailerStart, _) if is_tchar(byte) => State::TrailerName,
            // Includes SP/HTAB at the start of a line: obs-fold.
            (State::TrailerStart, _) => return Err(ChunkedError::InvalidTrailer),

            (State::TrailerName, b':') => State::TrailerValue,
            (State::TrailerName, _) if is_tchar(byte) => State::TrailerName,
            (State::TrailerName, _) => return Err(ChunkedError::InvalidTrailer),

            (State::TrailerValue, b'\r') => State::TrailerLf,
            (State::TrailerValue, b'\t' | 0x20..=0x7e | 0x80..=0xff) => State::TrailerValue,
            (State::TrailerValue, _) => return Err(ChunkedError::InvalidTrailer),

            (State::TrailerLf, b'\n') => State::TrailerStart,
            (State::EndLf, b'\n') => State::Done,
            (State::TrailerLf | State::EndLf, _) => return Err(ChunkedError::BareCr),

            // `decode` never steps in these states.
            (State::Data | State::Done | State::Failed(_), _) => self.state,
        };
        Ok(())
    }
}

impl State {
    /// States in which an LF can only be a bare LF (no CR was just seen).
    fn expects_line_content(self) -> bool {
        matches!(
            self,
            State::Size
                | State::SizeWhitespace
                | State::Extension
                | State::TrailerStart
                | State::TrailerName
                | State::TrailerValue
        )
    }
}

/// The value of an ASCII hex digit (0 for anything else).
fn hex_value(byte: u8) -> u8 {
    match byte {
        b'0'..=b'9' => byte - b'0',
        b'a'..=b'f' => byte - b'a' + 10,
        b'A'..=b'F' => byte - b'A' + 10,
        _ => 0,
    }
}

/// Writes the header of a chunk of `len` bytes (lowercase hex size and CRLF)
/// into `out` and returns how many bytes it used (3 to 18).
///
/// Follow it with the data and [`CHUNK_TRAILER`]. A `len` of 0 writes the
/// header of the last chunk, so skip empty writes and end the body with
/// [`LAST_CHUNK`] instead.
///
/// # Examples
///
/// ```
/// use ringworker_io::http::chunked::write_chunk_header;
///
/// let mut buf = [0u8; 18];
/// let n = write_chunk_header(4096, &mut buf);
/// assert_eq!(&buf[..n], b"1000\r\n");
/// ```
pub fn write_chunk_header(len: usize, out: &mut [u8; 18]) -> usize {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let len = len as u64;
    let digits = (16 - len.leading_zeros() as usize / 4).max(1);
    for (i, slot) in out.iter_mut().take(digits).enumerate() {
        let shift = 4 * (digits - 1 - i);
        *slot = HEX[((len >> shift) & 0xf) as usize];
    }
    out[digits] = b'\r';
    out[digits + 1] = b'\n';
    digits + 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_announced_size_is_known_before_the_data() {
        let mut d = ChunkedDecoder::new();
        assert_eq!(
            d.decode(b"ffffffffffffffff\r\n"),
            Ok((18, Decoded::NeedMore))
        );
        assert_eq!(d.announced_remaining(), u64::MAX);
        assert_eq!(d.decode(b"abc"), Ok((3, Decoded::Data(0..3))));
        assert_eq!(d.announced_remaining(), u64::MAX - 3);
        let mut d = ChunkedDecoder::new();
        assert_eq!(d.decode(b"3\r\nabc"), Ok((6, Decoded::Data(3..6))));
        assert_eq!(d.announced_remaining(), 0);
    }

    /// Decodes `input` delivered as the given pieces; returns the body, the
    /// bytes left after the end, and whether the decoder finished.
    fn decode_pieces(pieces: &[&[u8]]) -> Result<(Vec<u8>, Vec<u8>, bool), ChunkedError> {
        let mut decoder = ChunkedDecoder::new();
        let mut body = Vec::new();
        let mut pending = Vec::new();
        for (i, piece) in pieces.iter().enumerate() {
            pending.extend_from_slice(piece);
            loop {
                let (used, found) = decoder.decode(&pending)?;
                assert!(used <= pending.len());
                match found {
                    Decoded::Data(range) => {
                        assert!(!range.is_empty() && range.end <= used);
                        body.extend_from_slice(&pending[range]);
                        pending.drain(..used);
                    }
                    Decoded::NeedMore => {
                        assert_eq!(used, pending.len());
                        pending.clear();
                        break;
                    }
                    Decoded::Done => {
                        pending.drain(..used);
                        assert!(decoder.is_done());
                        pending.extend(pieces[i + 1..].iter().flat_map(|p| p.iter()));
                        return Ok((body, pending, true));
                    }
                }
            }
        }
        Ok((body, pending, decoder.is_done()))
    }

    fn decode_all(input: &[u8]) -> Result<(Vec<u8>, Vec<u8>, bool), ChunkedError> {
        decode_pieces(&[input])
    }

    fn decode_err(input: &[u8]) -> ChunkedError {
        match decode_all(input) {
            Err(e) => e,
            other => panic!(
                "expected an error for {:?}, got {other:?}",
                String::from_utf8_lossy(input)
            ),
        }
    }

    /// The verdict is the same however the input is split: in two at every
    /// point, and one byte at a time.
    fn assert_split_invariant(input: &[u8]) {
        let whole = decode_all(input);
        for cut in 0..=input.len() {
            let (a, b) = input.split_at(cut);
            assert_eq!(decode_pieces(&[a, b]), whole, "split at {cut}");
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(decode_pieces(&bytes), whole, "byte at a time");
    }

    const VALID: &[u8] = b"5\r\nhello\r\n1A;name=value;q=\"a;b\"\r\n0123456789abcdefghijklmnop\r\n\
        3 ;ext\r\nxyz\r\n000\r\nTrailer-A: 1\r\nX-Checksum:  abc \r\n\r\nGET / HTTP/1.1\r\n\r\n";

    #[test]
    fn decodes_valid_body_at_every_split() {
        let (body, rest, done) = decode_all(VALID).unwrap();
        assert_eq!(body, b"hello0123456789abcdefghijklmnopxyz");
        assert_eq!(rest, b"GET / HTTP/1.1\r\n\r\n");
        assert!(done);
        assert_split_invariant(VALID);
    }

    #[test]
    fn decodes_at_every_three_way_split() {
        let input = b"3\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n";
        let whole = decode_all(input).unwrap();
        assert_eq!(whole.0, b"abcde");
        for i in 0..=input.len() {
            for j in i..=input.len() {
                let pieces = [&input[..i], &input[i..j], &input[j..]];
                assert_eq!(
                    decode_pieces(&pieces),
                    Ok(whole.clone()),
                    "split at {i}, {j}"
                );
            }
        }
    }

    #[test]
    fn empty_body() {
        assert_eq!(decode_all(b"0\r\n\r\n"), Ok((vec![], vec![], true)));
        assert_eq!(decode_all(LAST_CHUNK), Ok((vec![], vec![], true)));
        assert_split_invariant(b"0\r\n\r\n");
    }

    #[test]
    fn incomplete_body_needs_more() {
        for input in [
            &b""[..],
            b"5",
            b"5\r",
            b"5\r\nhel",
            b"5\r\nhello",
            b"5\r\nhello\r\n0\r\n",
            b"0\r\nA: b\r\n",
        ] {
            let (_, _, done) = decode_all(input).unwrap();
            assert!(!done, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn data_is_handed_out_zero_copy_in_place() {
        let input = b"4\r\nwxyz\r\n0\r\n\r\n";
        let mut decoder = ChunkedDecoder::new();
        let (used, found) = decoder.decode(input).unwrap();
        assert_eq!(found, Decoded::Data(3..7));
        assert_eq!(used, 7);
        let (used2, found) = decoder.decode(&input[used..]).unwrap();
        assert_eq!(found, Decoded::Done);
        assert_eq!(used + used2, input.len());
        assert_eq!(decoder.decode(b"more"), Ok((0, Decoded::Done)));
        assert_eq!(decoder.decode(b""), Ok((0, Decoded::Done)));
    }

    #[test]
    fn large_chunk_arrives_in_pieces() {
        let mut input = b"10000\r\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 0x10000));
        input.extend_from_slice(b"\r\n0\r\n\r\n");
        let pieces: Vec<&[u8]> = input.chunks(1000).collect();
        let (body, rest, done) = decode_pieces(&pieces).unwrap();
        assert_eq!(body.len(), 0x10000);
        assert!(rest.is_empty() && done);
    }

    #[test]
    fn hex_sizes() {
        let (body, _, _) = decode_all(b"a\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n").unwrap();
        assert_eq!(body.len(), 20);
        // Sixteen digits are accepted (leading zeros count).
        let (body, _, done) = decode_all(b"0000000000000001\r\nz\r\n0\r\n\r\n").unwrap();
        assert_eq!((body, done), (b"z".to_vec(), true));
        // The largest size parses; the data is simply not there yet.
        let mut decoder = ChunkedDecoder::new();
        assert_eq!(
            decoder.decode(b"ffffffffffffffff\r\n"),
            Ok((18, Decoded::NeedMore))
        );
        assert_eq!(decoder.remaining, u64::MAX);
    }

    #[test]
    fn bad_sizes() {
        let cases: &[(&[u8], ChunkedError)] = &[
            (b"\r\n", ChunkedError::EmptySize),
            (b";ext\r\n", ChunkedError::EmptySize),
            (b" 5\r\n", ChunkedError::EmptySize),
            (b"+5\r\nhello\r\n0\r\n\r\n", ChunkedError::InvalidSize),
            (b"-5\r\n", ChunkedError::InvalidSize),
            (b"0x5\r\nhello\r\n0\r\n\r\n", ChunkedError::InvalidSize),
            (b"5g\r\n", ChunkedError::InvalidSize),
            (b"5 5\r\n", ChunkedError::InvalidSize),
            (b"5 \r\n", ChunkedError::InvalidSize),
            (b"5,\r\n", ChunkedError::InvalidSize),
            (b"\xff\r\n", ChunkedError::InvalidSize),
            (b"10000000000000000\r\n", ChunkedError::SizeOverflow),
            (b"00000000000000000\r\n", ChunkedError::SizeOverflow),
            (b"5\n", ChunkedError::BareLf),
            (b"\n", ChunkedError::BareLf),
            (b"5\rx", ChunkedError::BareCr),
            (b"5\r\r\n", ChunkedError::BareCr),
        ];
        assert_rejected(cases);
    }

    /// Each input fails with its error, however it is split.
    fn assert_rejected(cases: &[(&[u8], ChunkedError)]) {
        for (input, expected) in cases {
            assert_eq!(
                decode_err(input),
                *expected,
                "{:?}",
                String::from_utf8_lossy(input)
            );
            assert_split_invariant(input);
        }
    }

    #[test]
    fn extensions() {
        let (body, _, done) =
            decode_all(b"1;a=b;c\r\nx\r\n1 \t; a = \"q;\" \r\ny\r\n0;last\r\n\r\n").unwrap();
        assert_eq!((body, done), (b"xy".to_vec(), true));
        assert_eq!(decode_err(b"1;a\nb\r\n"), ChunkedError::BareLf);
        assert_eq!(decode_err(b"1;a\x00\r\n"), ChunkedError::InvalidExtension);
        assert_eq!(decode_err(b"1;a\x7f\r\n"), ChunkedError::InvalidExtension);
        assert_eq!(decode_err(b"1;a\rb\n"), ChunkedError::BareCr);
    }

    #[test]
    fn size_line_is_bounded() {
        // The whole line, CRLF included, may be exactly the limit.
        let mut line = b"1;".to_vec();
        line.resize(MAX_SIZE_LINE_BYTES - 2, b'e');
        line.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
        assert_eq!(decode_all(&line).unwrap().0, b"x");

        let mut line = b"1;".to_vec();
        line.resize(MAX_SIZE_LINE_BYTES - 1, b'e');
        line.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
        assert_eq!(decode_err(&line), ChunkedError::SizeLineTooLong);

        // Detected without waiting for the end of the line.
        let mut line = b"1;".to_vec();
        line.resize(MAX_SIZE_LINE_BYTES + 1, b'e');
        let mut decoder = ChunkedDecoder::new();
        assert_eq!(decoder.decode(&line), Err(ChunkedError::SizeLineTooLong));

        // The bound is per line, not cumulative.
        let mut input = Vec::new();
        for _ in 0..4 {
            input.extend_from_slice(b"1;");
            input.resize(input.len() + 3000, b'e');
            input.extend_from_slice(b"\r\nx\r\n");
        }
        input.extend_from_slice(b"0\r\n\r\n");
        assert_eq!(decode_all(&input).unwrap().0, b"xxxx");
    }

    #[test]
    fn data_must_end_with_crlf() {
        let cases: &[&[u8]] = &[
            b"5\r\nhelloX\r\n0\r\n\r\n",
            b"5\r\nhello\n0\r\n\r\n",
            b"5\r\nhello\rX0\r\n\r\n",
            b"5\r\nhello world\r\n0\r\n\r\n",
            b"3\r\nhello\r\n0\r\n\r\n",
        ];
        for input in cases {
            assert_eq!(
                decode_err(input),
                ChunkedError::MissingDataCrlf,
                "{:?}",
                String::from_utf8_lossy(input)
            );
            assert_split_invariant(input);
        }
    }

    #[test]
    fn trailers() {
        let (body, rest, done) =
            decode_all(b"1\r\na\r\n0\r\nA: 1\r\nB:\r\nC-d: x y\t\r\n\r\nrest").unwrap();
        assert_eq!((body, rest, done), (b"a".to_vec(), b"rest".to_vec(), true));
        let cases: &[(&[u8], ChunkedError)] = &[
            (b"0\r\nA: 1\n\r\n", ChunkedError::BareLf),
            (b"0\r\nA: 1\r\n\n", ChunkedError::BareLf),
            (b"0\r\n\n", ChunkedError::BareLf),
            (b"0\r\nA\n", ChunkedError::BareLf),
            (b"0\r\n\rX", ChunkedError::BareCr),
            (b"0\r\nA: 1\rX", ChunkedError::BareCr),
            (b"0\r\n A: 1\r\n\r\n", ChunkedError::InvalidTrailer),
            (
                b"0\r\nA: 1\r\n\tfolded\r\n\r\n",
                ChunkedError::InvalidTrailer,
            ),
            (b"0\r\n: 1\r\n\r\n", ChunkedError::InvalidTrailer),
            (b"0\r\nA : 1\r\n\r\n", ChunkedError::InvalidTrailer),
            (b"0\r\nNoColon\r\n\r\n", ChunkedError::InvalidTrailer),
            (b"0\r\nA: \x00\r\n\r\n", ChunkedError::InvalidTrailer),
        ];
        assert_rejected(cases);
    }

    #[test]
    fn trailers_are_bounded() {
        let mut input = b"0\r\n".to_vec();
        while input.len() < 3 + MAX_TRAILER_BYTES {
            input.extend_from_slice(b"X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        input.extend_from_slice(b"\r\n");
        assert_eq!(decode_err(&input), ChunkedError::TrailersTooLarge);

        // Exactly at the limit, final CRLF included.
        let mut input = b"0\r\nX: ".to_vec();
        input.resize(3 + MAX_TRAILER_BYTES - 4, b'v');
        input.extend_from_slice(b"\r\n\r\n");
        assert!(decode_all(&input).unwrap().2);
        let mut over = input.clone();
        over.insert(8, b'v');
        assert_eq!(decode_err(&over), ChunkedError::TrailersTooLarge);
    }

    #[test]
    fn errors_are_sticky() {
        let mut decoder = ChunkedDecoder::new();
        assert_eq!(decoder.decode(b"z\r\n"), Err(ChunkedError::InvalidSize));
        assert_eq!(decoder.decode(b"0\r\n\r\n"), Err(ChunkedError::InvalidSize));
        assert!(!decoder.is_done());
    }

    #[test]
    fn errors_are_400_with_matching_reason() {
        let all = [
            ChunkedError::EmptySize,
            ChunkedError::InvalidSize,
            ChunkedError::SizeOverflow,
            ChunkedError::SizeLineTooLong,
            ChunkedError::InvalidExtension,
            ChunkedError::BareLf,
            ChunkedError::BareCr,
            ChunkedError::MissingDataCrlf,
            ChunkedError::InvalidTrailer,
            ChunkedError::TrailersTooLarge,
        ];
        for e in all {
            assert_eq!(e.status(), 400);
            assert_eq!(e.to_string(), e.reason());
        }
    }

    #[test]
    fn chunk_headers() {
        let mut buf = [0u8; 18];
        let cases: &[(usize, &[u8])] = &[
            (0, b"0\r\n"),
            (1, b"1\r\n"),
            (15, b"f\r\n"),
            (16, b"10\r\n"),
            (255, b"ff\r\n"),
            (4096, b"1000\r\n"),
            (0xdead_beef, b"deadbeef\r\n"),
        ];
        for (len, expected) in cases {
            let n = write_chunk_header(*len, &mut buf);
            assert_eq!(&buf[..n], *expected);
        }
        let n = write_chunk_header(usize::MAX, &mut buf);
        let expected = format!("{:x}\r\n", usize::MAX);
        assert_eq!(&buf[..n], expected.as_bytes());
    }

    #[test]
    fn encoder_output_round_trips_through_decoder() {
        let mut wire = Vec::new();
        let mut header = [0u8; 18];
        let mut expected = Vec::new();
        for size in [1usize, 15, 16, 17, 255, 256, 1000, 4097] {
            let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let n = write_chunk_header(size, &mut header);
            wire.extend_from_slice(&header[..n]);
            wire.extend_from_slice(&data);
            wire.extend_from_slice(CHUNK_TRAILER);
            expected.extend_from_slice(&data);
        }
        wire.extend_from_slice(LAST_CHUNK);
        let (body, rest, done) = decode_all(&wire).unwrap();
        assert_eq!(body, expected);
        assert!(rest.is_empty() && done);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let alphabet = b"0123456789abcdefABCDEFxX;= \t\r\n:\x00\x7f\xff\"";
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..3000 {
            let mut input = Vec::new();
            for _ in 0..(seed % 40) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                input.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let whole = decode_all(&input);
            let bytes: Vec<&[u8]> = input.chunks(1).collect();
            assert_eq!(decode_pieces(&bytes), whole);
        }
    }
}

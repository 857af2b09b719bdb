//! The native side of `request.formData()` / `response.formData()` for
//! `multipart/form-data` bodies (`js/22_formdata.js`): a streaming parser
//! fed chunk by chunk as the body arrives.
//!
//! Parsing is `multer`'s (an async, stream-based parser with size limits).
//! It is driven synchronously here: the body's chunks go into a channel it
//! reads as its input stream, and it is polled with a no-op waker until it
//! needs more input, so it never waits on anything but the next chunk JS
//! hands over. Whole parts come back to JS as they complete; a file's bytes
//! are handed over without a copy. Memory is bounded by the form limit
//! (`WorkerOptions::form_data_limit`): past it, or on a malformed body (no
//! closing boundary, bad part headers, a part without a name), the parse
//! fails with a `TypeError` that says why and the rest of the body is not
//! read. A preamble or part headers longer than [`MAX_HEAD_BYTES`] fail
//! too.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::mpsc;
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use futures_lite::Stream;
use v8::MapFnTo;

use crate::gc_table::GcTable;
use crate::runtime::{bytes_to_uint8array, new_string, throw_type_error, utf8_text, with_bytes};

/// The largest multipart form `formData()` parses, per isolate (an isolate
/// slot; `WorkerOptions::form_data_limit`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct FormLimit(pub(crate) u64);

/// The default largest multipart form `formData()` parses: 100 MiB, the
/// request body limit of the server and of Workers' free plan.
pub const DEFAULT_FORM_DATA_LIMIT: u64 = 100 << 20;

/// This module's ops (named as the JS files call them on `ops`).
pub(crate) fn ops() -> Vec<(&'static str, v8::FunctionCallback)> {
    vec![
        ("multipartOpen", op_multipart_open.map_fn_to()),
        ("multipartFeed", op_multipart_feed.map_fn_to()),
    ]
}

/// The parser's input: chunks JS handed over; the end once the sender goes.
struct Feed(mpsc::Receiver<Bytes>);

impl Stream for Feed {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.0.try_recv() {
            Ok(b) => Poll::Ready(Some(Ok(b))),
            Err(mpsc::TryRecvError::Empty) => Poll::Pending,
            Err(mpsc::TryRecvError::Disconnected) => Poll::Ready(None),
        }
    }
}

/// A part read whole.
#[derive(Debug, PartialEq)]
pub(crate) struct Part {
    pub(crate) name: String,
    /// For a file part: its file name and type.
    pub(crate) file: Option<(String, String)>,
    pub(crate) data: Bytes,
}

/// Most bytes that may arrive with no part or part data coming out of them:
/// a preamble before the first boundary, or a part's headers. (The parser
/// searches what it holds again for each chunk; unbounded, a body with no
/// boundary would cost time quadratic in its size before any limit.)
pub(crate) const MAX_HEAD_BYTES: usize = 64 << 10;

/// A part being read: its field, its name, its file name and type (for a
/// file), its data so far.
struct Reading {
    field: multer::Field<'static>,
    name: String,
    file: Option<(String, String)>,
    data: Vec<Bytes>,
}

/// One parse in progress.
pub(crate) struct Parser {
    tx: Option<mpsc::Sender<Bytes>>,
    multipart: multer::Multipart<'static>,
    /// The part being read.
    current: Option<Reading>,
    limit: u64,
    /// Bytes fed since a part or part data last came out.
    stalled: usize,
}

impl Parser {
    /// A parser for a body with this boundary, failing past `limit` bytes.
    pub(crate) fn new(boundary: &str, limit: u64) -> Self {
        let (tx, rx) = mpsc::channel();
        let constraints = multer::Constraints::new().size_limit(
            multer::SizeLimit::new()
                .whole_stream(limit)
                .per_field(limit),
        );
        Self {
            tx: Some(tx),
            multipart: multer::Multipart::with_constraints(Feed(rx), boundary, constraints),
            current: None,
            limit,
            stalled: 0,
        }
    }

    /// Hands over the next chunk of the body (`None`: the body ended) and
    /// returns the parts completed since the last call. Once the body ended
    /// without an error, the form is complete.
    pub(crate) fn feed(&mut self, chunk: Option<Bytes>) -> Result<Vec<Part>, String> {
        match chunk {
            Some(b) if !b.is_empty() => {
                self.stalled += b.len();
                if let Some(tx) = &self.tx {
                    // (The receiver lives as long as the parser.)
                    let _ = tx.send(b);
                }
            }
            Some(_) => {}
            None => self.tx = None,
        }
        let ended = self.tx.is_none();
        let mut out = Vec::new();
        let finished = self.pump(&mut out)?;
        if ended && !finished {
            return Err("the body ended before the closing boundary".into());
        }
        if self.stalled > MAX_HEAD_BYTES && !finished {
            return Err(format!(
                "no boundary or end of part headers within {MAX_HEAD_BYTES} bytes"
            ));
        }
        Ok(out)
    }

    /// Parses what has arrived: true once the closing boundary was read.
    fn pump(&mut self, out: &mut Vec<Part>) -> Result<bool, String> {
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Some(r) = &mut self.current {
                match Pin::new(&mut r.field).poll_next(&mut cx) {
                    Poll::Ready(Some(Ok(b))) => {
                        self.stalled = 0;
                        r.data.push(b);
                        continue;
                    }
                    Poll::Ready(Some(Err(e))) => return Err(self.describe(e)),
                    Poll::Ready(None) => {
                        let r = self.current.take().expect("a part");
                        out.push(Part {
                            name: r.name,
                            file: r.file,
                            data: concat(r.data),
                        });
                    }
                    Poll::Pending => return Ok(false),
                }
            }
            match self.multipart.poll_next_field(&mut cx) {
                Poll::Ready(Ok(Some(field))) => {
                    let Some(name) = field.name().map(str::to_owned) else {
                        return Err("a part has no Content-Disposition with a name".into());
                    };
                    let file = field.file_name().map(|f| (f.to_owned(), part_type(&field)));
                    self.stalled = 0;
                    self.current = Some(Reading {
                        field,
                        name,
                        file,
                        data: Vec::new(),
                    });
                }
                Poll::Ready(Ok(None)) => return Ok(true),
                Poll::Ready(Err(e)) => return Err(self.describe(e)),
                Poll::Pending => return Ok(false),
            }
        }
    }

    fn describe(&self, e: multer::Error) -> String {
        use multer::Error as E;
        match e {
            E::IncompleteStream | E::IncompleteFieldData { .. } => {
                "the body ended before the closing boundary".into()
            }
            E::StreamSizeExceeded { .. } | E::FieldSizeExceeded { .. } => {
                format!("the form is larger than the limit of {} bytes", self.limit)
            }
            E::IncompleteHeaders | E::ReadHeaderFailed(_) => {
                "a part's headers are malformed".into()
            }
            E::DecodeHeaderName { name, .. } => {
                format!("a part's header name {name:?} is malformed")
            }
            E::DecodeHeaderValue { .. } => "a part's header value is malformed".into(),
            other => other.to_string(),
        }
    }
}

/// A file part's type: its last `Content-Type`, trimmed and lowercased if
/// it looks like a MIME type (printable ASCII, a `/`), "" if not, and
/// `text/plain` without one (the Fetch spec's multipart parser).
fn part_type(field: &multer::Field<'_>) -> String {
    let Some(v) = field.headers().get_all("content-type").iter().next_back() else {
        return "text/plain".into();
    };
    let t = String::from_utf8_lossy(v.as_bytes())
        .trim()
        .to_ascii_lowercase();
    let valid = t.contains('/') && t.bytes().all(|b| (0x20..0x7f).contains(&b));
    if valid { t } else { String::new() }
}

/// One buffer from a part's chunks (no copy for one chunk).
fn concat(mut chunks: Vec<Bytes>) -> Bytes {
    match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.pop().expect("one chunk"),
        _ => {
            let mut all = BytesMut::with_capacity(chunks.iter().map(Bytes::len).sum());
            for c in &chunks {
                all.extend_from_slice(c);
            }
            all.freeze()
        }
    }
}

/// `multipartOpen(holder, boundary)` -> the id of a new parser, owned by
/// the object `holder` (dropped when V8 collects it, if not earlier).
fn op_multipart_open(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let Ok(holder) = v8::Local::<v8::Object>::try_from(args.get(0)) else {
        return throw_type_error(scope, "multipartOpen: expected a holder object");
    };
    let boundary = args.get(1).to_rust_string_lossy(scope);
    if boundary.is_empty() || boundary.len() > 70 {
        return throw_type_error(
            scope,
            "formData: the multipart boundary must be 1 to 70 characters",
        );
    }
    let limit = scope
        .get_slot::<FormLimit>()
        .map_or(DEFAULT_FORM_DATA_LIMIT, |l| l.0);
    let table = GcTable::<Parser>::of(scope);
    let id = table.insert(scope, holder, Parser::new(&boundary, limit));
    rv.set(v8::Integer::new_from_unsigned(scope, id).into());
}

/// `multipartFeed(id, chunk | null)` -> the parts completed so far, flat:
/// `[name, value, ...]`, where a value is a string, or for a file
/// `[fileName, type, Uint8Array]`. `null` ends the body. Throws a
/// `TypeError` (and drops the parser) for a malformed or oversized form.
fn op_multipart_feed(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let id = args.get(0).uint32_value(scope).unwrap_or(0);
    let chunk = args.get(1);
    let chunk = if chunk.is_null_or_undefined() {
        None
    } else {
        match with_bytes(scope, chunk, Bytes::copy_from_slice) {
            Some(b) => Some(b),
            None => return throw_type_error(scope, "formData: a body chunk is not a Uint8Array"),
        }
    };
    let ended = chunk.is_none();
    let table = GcTable::<Parser>::of(scope);
    let Some(result) = table.with(id, |p| p.feed(chunk)) else {
        return throw_type_error(scope, "formData: the parser is gone");
    };
    let parts = match result {
        Ok(parts) => parts,
        Err(why) => {
            table.remove(id);
            return throw_type_error(scope, &format!("formData: malformed multipart body: {why}"));
        }
    };
    if ended {
        table.remove(id);
    }
    let mut flat: Vec<v8::Local<v8::Value>> = Vec::with_capacity(parts.len() * 2);
    for part in parts {
        flat.push(new_string(scope, &part.name).into());
        match part.file {
            None => flat.push(utf8_text(scope, &part.data, false).into()),
            Some((file_name, ty)) => {
                let name = new_string(scope, &file_name).into();
                let ty = new_string(scope, &ty).into();
                let data = bytes_to_uint8array(scope, part.data).into();
                flat.push(v8::Array::new_with_elements(scope, &[name, ty, data]).into());
            }
        }
    }
    rv.set(v8::Array::new_with_elements(scope, &flat).into());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(lines: &[&str]) -> Vec<u8> {
        lines.join("\r\n").into_bytes()
    }

    fn parse_in(body: &[u8], piece: usize, limit: u64) -> Result<Vec<Part>, String> {
        let mut p = Parser::new("b", limit);
        let mut out = Vec::new();
        for c in body.chunks(piece.max(1)) {
            out.extend(p.feed(Some(Bytes::copy_from_slice(c)))?);
        }
        out.extend(p.feed(None)?);
        Ok(out)
    }

    #[test]
    fn parses_fields_and_files_in_any_chunking() {
        let b = body(&[
            "--b",
            "Content-Disposition: form-data; name=\"a\"",
            "",
            "one\r\ntwo",
            "--b",
            "Content-Disposition: form-data; name=\"f\"; filename=\"x.bin\"",
            "Content-Type: Image/PNG",
            "",
            "PNG--b-not-a-boundary",
            "--b",
            "Content-Disposition: form-data; name=\"g\"; filename=\"\"",
            "",
            "",
            "--b--",
            "",
        ]);
        for piece in [1, 2, 3, 7, 64, b.len()] {
            let parts = parse_in(&b, piece, 1 << 20).unwrap();
            assert_eq!(parts.len(), 3, "piece {piece}");
            assert_eq!(parts[0].name, "a");
            assert_eq!(parts[0].file, None);
            assert_eq!(&parts[0].data[..], b"one\r\ntwo");
            assert_eq!(parts[1].file, Some(("x.bin".into(), "image/png".into())));
            assert_eq!(&parts[1].data[..], b"PNG--b-not-a-boundary");
            assert_eq!(parts[2].file, Some((String::new(), "text/plain".into())));
            assert!(parts[2].data.is_empty());
        }
    }

    #[test]
    fn a_body_without_its_closing_boundary_fails() {
        let b = body(&[
            "--b",
            "Content-Disposition: form-data; name=\"a\"",
            "",
            "value",
        ]);
        let e = parse_in(&b, 5, 1 << 20).unwrap_err();
        assert!(e.contains("closing boundary"), "{e}");
        // Not even a first boundary.
        let e = parse_in(b"just text", 4, 1 << 20).unwrap_err();
        assert!(e.contains("closing boundary"), "{e}");
    }

    #[test]
    fn a_body_without_boundaries_fails_within_a_bounded_prefix() {
        let mut p = Parser::new("b", 100 << 20);
        let chunk = Bytes::from(vec![b'x'; 4096]);
        let mut fed = 0;
        let err = loop {
            match p.feed(Some(chunk.clone())) {
                Ok(_) => fed += chunk.len(),
                Err(e) => break e,
            }
        };
        assert!(err.contains("no boundary"), "{err}");
        assert!(fed <= MAX_HEAD_BYTES, "fed {fed}");
        // Endless part headers likewise.
        let mut p = Parser::new("b", 100 << 20);
        p.feed(Some(Bytes::from_static(b"--b\r\nX-Long: ")))
            .unwrap();
        let err = loop {
            if let Err(e) = p.feed(Some(chunk.clone())) {
                break e;
            }
        };
        assert!(err.contains("no boundary or end of part headers"), "{err}");
    }

    #[test]
    fn a_part_without_a_name_fails() {
        let b = body(&["--b", "Content-Type: text/plain", "", "v", "--b--", ""]);
        let e = parse_in(&b, 100, 1 << 20).unwrap_err();
        assert!(e.contains("name"), "{e}");
    }

    #[test]
    fn a_form_past_the_limit_fails_while_it_streams() {
        let mut p = Parser::new("b", 64 << 10);
        let head = body(&[
            "--b",
            "Content-Disposition: form-data; name=\"f\"; filename=\"f\"",
            "",
            "",
        ]);
        p.feed(Some(Bytes::from(head))).unwrap();
        let chunk = Bytes::from(vec![b'x'; 8 << 10]);
        let mut fed = 0;
        let err = loop {
            match p.feed(Some(chunk.clone())) {
                Ok(_) => fed += chunk.len(),
                Err(e) => break e,
            }
            assert!(fed < 1 << 20, "never failed");
        };
        assert!(err.contains("limit"), "{err}");
        assert!(fed <= 64 << 10, "read {fed} bytes past a 64 KiB limit");
    }
}

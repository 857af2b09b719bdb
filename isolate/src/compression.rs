//! The native side of `CompressionStream` / `DecompressionStream`
//! (`js/25_compression.js`): gzip, deflate (zlib) and deflate-raw, with
//! `flate2` on its `zlib-rs` backend.
//!
//! A coder keeps the input JS wrote and produces output only when JS reads:
//! at most [`OUT_CHUNK`] bytes per read. A writer's chunk counts as written
//! once all of it went through, so a small compressed chunk that expands to
//! gigabytes (a decompression bomb) costs one output chunk of memory at a
//! time, as fast as the reader takes it, never the whole expansion.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use v8::MapFnTo;

use crate::gc_table::GcTable;
use crate::runtime::{array_buffer, throw_type_error, with_bytes};

/// Most bytes one read produces.
pub(crate) const OUT_CHUNK: usize = 64 << 10;

/// This module's ops (named as the JS files call them on `ops`).
pub(crate) fn ops() -> Vec<(&'static str, v8::FunctionCallback)> {
    vec![
        ("zOpen", op_z_open.map_fn_to()),
        ("zWrite", op_z_write.map_fn_to()),
        ("zRead", op_z_read.map_fn_to()),
        ("zClose", op_z_close.map_fn_to()),
    ]
}

/// The formats of the Compression Streams standard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Gzip,
    Deflate,
    DeflateRaw,
}

enum Engine {
    Compress(Compress),
    Decompress(Decompress),
}

/// Compressors kept for reuse, per isolate (an isolate slot): making one
/// allocates and clears its window and hash tables, ~50 µs for gzip, an
/// eighth of compressing a 64 KiB response; a finished one is reset and
/// kept instead. (Decompressors are not: flate2 cannot reset one to gzip.)
#[derive(Default)]
pub(crate) struct CompressorPool(std::cell::RefCell<Vec<(Format, Compress)>>);

/// Most idle compressors a pool keeps.
const POOL_MAX: usize = 8;

impl CompressorPool {
    fn of(isolate: &mut v8::Isolate) -> std::rc::Rc<Self> {
        if let Some(p) = isolate.get_slot::<std::rc::Rc<Self>>() {
            return p.clone();
        }
        let p = std::rc::Rc::new(Self::default());
        isolate.set_slot(p.clone());
        p
    }

    fn take(&self, format: Format) -> Option<Compress> {
        let mut idle = self.0.borrow_mut();
        let at = idle.iter().position(|(f, _)| *f == format)?;
        Some(idle.swap_remove(at).1)
    }

    /// Keeps a coder's compressor if the coder finished cleanly.
    fn put(&self, coder: Coder) {
        if let (true, Engine::Compress(mut c)) = (coder.done, coder.engine) {
            let mut idle = self.0.borrow_mut();
            if idle.len() < POOL_MAX {
                c.reset();
                idle.push((coder.format, c));
            }
        }
    }
}

/// One stream's (de)compressor and the input it has not consumed yet.
pub(crate) struct Coder {
    format: Format,
    engine: Engine,
    input: Vec<u8>,
    /// How much of `input` went in.
    at: usize,
    /// The compressed stream ended (decompression) or was finished
    /// (compression): nothing more comes out.
    done: bool,
    scratch: Vec<u8>,
}

impl Coder {
    /// A compressor (`compress`) or decompressor for `format`.
    #[cfg(test)]
    fn new(format: Format, compress: bool) -> Self {
        Self::with(format, compress, None)
    }

    /// A compressor (`compress`) or decompressor for `format`; a compressor
    /// reuses `idle` (a reset one for `format`) if given.
    fn with(format: Format, compress: bool, idle: Option<Compress>) -> Self {
        let engine = if let Some(c) = idle {
            Engine::Compress(c)
        } else if compress {
            let level = Compression::default();
            Engine::Compress(match format {
                Format::Gzip => Compress::new_gzip(level, 15),
                Format::Deflate => Compress::new(level, true),
                Format::DeflateRaw => Compress::new(level, false),
            })
        } else {
            Engine::Decompress(match format {
                Format::Gzip => Decompress::new_gzip(15),
                Format::Deflate => Decompress::new(true),
                Format::DeflateRaw => Decompress::new(false),
            })
        };
        Self {
            format,
            engine,
            input: Vec::new(),
            at: 0,
            done: false,
            scratch: vec![0; OUT_CHUNK],
        }
    }

    /// Queues input. Fails for input after the end of a compressed stream.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        if bytes.is_empty() {
            return Ok(());
        }
        if self.done {
            return Err(self.trailing());
        }
        if self.at == self.input.len() {
            self.input.clear();
            self.at = 0;
        }
        self.input.extend_from_slice(bytes);
        Ok(())
    }

    /// Up to [`OUT_CHUNK`] bytes of output, or `None` when none can come
    /// without more input (or, once `finish`ed, at the very end). With
    /// `finish` the input is complete: the compressor writes its trailer;
    /// a decompressor whose stream has not ended fails.
    pub(crate) fn read(&mut self, finish: bool) -> Result<Option<Vec<u8>>, String> {
        if self.done {
            if self.at < self.input.len() {
                return Err(self.trailing());
            }
            return Ok(None);
        }
        if !finish && self.at == self.input.len() {
            // Nothing to go in: nothing comes out (not even a header, so a
            // reader waiting before a bad first chunk sees the error).
            return Ok(None);
        }
        let mut produced = 0;
        // Until the output chunk is full or no progress is possible.
        loop {
            let input = &self.input[self.at..];
            let out = &mut self.scratch[produced..];
            if out.is_empty() {
                break;
            }
            let (before_in, before_out, status) = match &mut self.engine {
                Engine::Compress(c) => {
                    let (i, o) = (c.total_in(), c.total_out());
                    let flush = if finish {
                        FlushCompress::Finish
                    } else {
                        FlushCompress::None
                    };
                    let s = c.compress(input, out, flush).map_err(|e| e.to_string())?;
                    (c.total_in() - i, c.total_out() - o, s)
                }
                Engine::Decompress(d) => {
                    let (i, o) = (d.total_in(), d.total_out());
                    let s = d
                        .decompress(input, out, FlushDecompress::None)
                        .map_err(|e| format!("the compressed data is invalid ({e})"))?;
                    (d.total_in() - i, d.total_out() - o, s)
                }
            };
            self.at += before_in as usize;
            produced += before_out as usize;
            if status == Status::StreamEnd {
                self.done = true;
                if self.at < self.input.len() {
                    return Err(self.trailing());
                }
                break;
            }
            if before_in == 0 && before_out == 0 {
                break;
            }
        }
        if produced == 0 {
            if finish && !self.done {
                if let Engine::Decompress(_) = self.engine {
                    return Err("the compressed data ended too soon (it is truncated)".into());
                }
            }
            return Ok(None);
        }
        Ok(Some(self.scratch[..produced].to_vec()))
    }

    /// Whether all queued input went in.
    #[cfg(test)]
    fn drained(&self) -> bool {
        self.at == self.input.len()
    }

    fn trailing(&self) -> String {
        "there is data after the end of the compressed stream".into()
    }
}

/// `zOpen(holder, format, compress)` -> a coder's id, owned by `holder`;
/// format 0 gzip, 1 deflate, 2 deflate-raw.
fn op_z_open(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let Ok(holder) = v8::Local::<v8::Object>::try_from(args.get(0)) else {
        return throw_type_error(scope, "zOpen: expected a holder object");
    };
    let format = match args.get(1).uint32_value(scope) {
        Some(0) => Format::Gzip,
        Some(1) => Format::Deflate,
        Some(2) => Format::DeflateRaw,
        _ => return throw_type_error(scope, "zOpen: unknown format"),
    };
    let compress = args.get(2).is_true();
    let idle = compress
        .then(|| CompressorPool::of(scope).take(format))
        .flatten();
    let coder = Coder::with(format, compress, idle);
    let table = GcTable::<Coder>::of(scope);
    let id = table.insert(scope, holder, coder);
    rv.set(v8::Integer::new_from_unsigned(scope, id).into());
}

/// `zWrite(id, bufferSource)`: queues input (copied). Throws a TypeError
/// for input past the end of a compressed stream.
fn op_z_write(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let id = args.get(0).uint32_value(scope).unwrap_or(0);
    let table = GcTable::<Coder>::of(scope);
    let result = with_bytes(scope, args.get(1), |b| table.with(id, |c| c.write(b)));
    match result {
        None => throw_type_error(
            scope,
            "The chunk must be an ArrayBuffer or an ArrayBufferView",
        ),
        Some(None) => throw_type_error(scope, "The stream is closed"),
        Some(Some(Err(why))) => throw_type_error(scope, &why),
        Some(Some(Ok(()))) => {}
    }
}

/// `zRead(id, finish)` -> a Uint8Array of output, or null: none without
/// more input (all that was written went in), or the end once `finish`ed.
/// Throws a TypeError for bad or truncated input.
fn op_z_read(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let id = args.get(0).uint32_value(scope).unwrap_or(0);
    let finish = args.get(1).is_true();
    let table = GcTable::<Coder>::of(scope);
    match table.with(id, |c| c.read(finish)) {
        None => throw_type_error(scope, "The stream is closed"),
        Some(Err(why)) => throw_type_error(scope, &why),
        Some(Ok(None)) => rv.set(v8::null(scope).into()),
        Some(Ok(Some(out))) => {
            let len = out.len();
            let ab = array_buffer(scope, out);
            if let Some(view) = v8::Uint8Array::new(scope, ab, 0, len) {
                rv.set(view.into());
            }
        }
    }
}

/// `zClose(id)`: the stream ended or failed; its coder goes.
fn op_z_close(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let id = args.get(0).uint32_value(scope).unwrap_or(0);
    if let Some(coder) = GcTable::<Coder>::of(scope).remove(id) {
        CompressorPool::of(scope).put(coder);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(c: &mut Coder, input: &[u8], piece: usize) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        for p in input.chunks(piece.max(1)) {
            c.write(p)?;
            while let Some(o) = c.read(false)? {
                assert!(o.len() <= OUT_CHUNK);
                out.extend(o);
            }
            assert!(c.drained());
        }
        while let Some(o) = c.read(true)? {
            out.extend(o);
        }
        Ok(out)
    }

    #[test]
    fn round_trips_every_format_in_any_chunking() {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for format in [Format::Gzip, Format::Deflate, Format::DeflateRaw] {
            for piece in [1, 1000, data.len()] {
                let packed = run(&mut Coder::new(format, true), &data, piece.min(65536)).unwrap();
                assert!(packed.len() < data.len());
                let back = run(&mut Coder::new(format, false), &packed, piece).unwrap();
                assert!(back == data, "{format:?} piece {piece}");
            }
        }
        // gzip's magic number; zlib's header byte.
        let g = run(&mut Coder::new(Format::Gzip, true), b"x", 1).unwrap();
        assert_eq!(&g[..2], &[0x1f, 0x8b]);
        let z = run(&mut Coder::new(Format::Deflate, true), b"x", 1).unwrap();
        assert_eq!(z[0], 0x78);
    }

    #[test]
    fn a_pooled_compressor_starts_a_new_stream() {
        let pool = CompressorPool::default();
        let mut first = Coder::new(Format::Gzip, true);
        let a = run(&mut first, b"first stream", 4).unwrap();
        pool.put(first);
        assert!(pool.take(Format::Deflate).is_none(), "kept per format");
        let mut again = Coder::with(Format::Gzip, true, pool.take(Format::Gzip));
        let b = run(&mut again, b"first stream", 4).unwrap();
        assert_eq!(a, b, "the reused compressor makes the same stream");
        let back = run(&mut Coder::new(Format::Gzip, false), &b, 7).unwrap();
        assert_eq!(back, b"first stream");
        // One that did not finish is not kept.
        let mut cut = Coder::new(Format::Gzip, true);
        cut.write(b"x").unwrap();
        pool.put(cut);
        assert!(pool.take(Format::Gzip).is_none());
    }

    #[test]
    fn a_bomb_comes_out_one_chunk_per_read() {
        // 16 MiB of zeros compress to ~16 KiB.
        let zeros = vec![0u8; 16 << 20];
        let bomb = run(&mut Coder::new(Format::Gzip, true), &zeros, 1 << 20).unwrap();
        assert!(bomb.len() < 64 << 10, "{}", bomb.len());
        let mut d = Coder::new(Format::Gzip, false);
        d.write(&bomb).unwrap();
        let first = d.read(false).unwrap().unwrap();
        assert_eq!(first.len(), OUT_CHUNK);
        assert!(!d.drained(), "one read took all the input");
        let mut total = first.len();
        while let Some(o) = d.read(false).unwrap() {
            total += o.len();
        }
        assert_eq!(total, zeros.len());
    }

    #[test]
    fn bad_truncated_and_trailing_input_fail() {
        let mut d = Coder::new(Format::Gzip, false);
        d.write(b"not gzip at all").unwrap();
        assert!(d.read(false).unwrap_err().contains("invalid"));

        let packed = run(
            &mut Coder::new(Format::Deflate, true),
            b"hello hello hello",
            3,
        )
        .unwrap();
        let mut d = Coder::new(Format::Deflate, false);
        d.write(&packed[..packed.len() - 3]).unwrap();
        while d.read(false).unwrap().is_some() {}
        assert!(d.read(true).unwrap_err().contains("truncated"));

        let mut d = Coder::new(Format::Deflate, false);
        let mut with_tail = packed.clone();
        with_tail.extend_from_slice(b"tail");
        d.write(&with_tail).unwrap();
        let e = loop {
            match d.read(false) {
                Ok(Some(_)) => continue,
                Ok(None) => break d.read(true).unwrap_err(),
                Err(e) => break e,
            }
        };
        assert!(e.contains("after the end"), "{e}");
    }
}

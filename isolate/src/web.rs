//! Native ops behind `js/05_web.js`: WHATWG URL (the `url` crate), text
//! decoding with every WHATWG encoding label (`encoding_rs`), random bytes
//! (`getrandom`) and the monotonic clock.

use std::collections::HashMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use v8::MapFnTo;

/// Per-isolate state of these ops (an isolate slot).
pub(crate) struct WebState {
    decoders: HashMap<u32, encoding_rs::Decoder>,
    next_decoder: u32,
    epoch: Instant,
    time_origin_ms: f64,
}

impl WebState {
    pub(crate) fn new() -> Self {
        Self {
            decoders: HashMap::new(),
            next_decoder: 0,
            epoch: Instant::now(),
            time_origin_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64() * 1000.0)
                .unwrap_or(0.0),
        }
    }
}

/// Streaming decoders left mid-stream by scripts are evicted past this many.
const MAX_DECODERS: usize = 4096;

fn string<'s>(scope: &v8::PinScope<'s, '_>, s: &str) -> v8::Local<'s, v8::String> {
    v8::String::new(scope, s).unwrap_or_else(|| v8::String::empty(scope))
}

fn throw_type_error(scope: &mut v8::PinScope, msg: &str) {
    let m = string(scope, msg);
    let e = v8::Exception::type_error(scope, m);
    scope.throw_exception(e);
}

/// The components `url_parts` locates (all but the href and the origin).
const PIECES: usize = 9;

/// `urlParse` / `urlSet` answer `[href, start, end, ...]`: the href and,
/// for each of protocol, username, password, host, hostname, port,
/// pathname, search and hash, where it lies in the href (every one is a
/// piece of the serialization, which is ASCII, so byte and UTF-16 offsets
/// agree). JS slices a component when the script reads it; the origin is
/// computed only when asked for (`urlOrigin`).
///
/// `same` is the input string when it is already the serialization (as a
/// request's URL is): it is answered as is, not copied.
fn url_parts<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    u: &url::Url,
    same: Option<v8::Local<'_, v8::Value>>,
) -> v8::Local<'s, v8::Array> {
    use url::quirks as q;
    let href = u.as_str();
    let base = href.as_ptr() as usize;
    let span = |part: &str| -> (u32, u32) {
        let at = (part.as_ptr() as usize).wrapping_sub(base);
        if part.is_empty() || at > href.len() {
            (0, 0)
        } else {
            (at as u32, (at + part.len()) as u32)
        }
    };
    let spans: [_; PIECES] = [
        span(q::protocol(u)),
        span(q::username(u)),
        span(q::password(u)),
        span(q::host(u)),
        span(q::hostname(u)),
        span(q::port(u)),
        span(q::pathname(u)),
        span(q::search(u)),
        span(q::hash(u)),
    ];
    let href: v8::Local<v8::Value> = match same {
        Some(v) => v8::Local::new(scope, v),
        None => string(scope, href).into(),
    };
    let mut values = [href; 1 + 2 * PIECES];
    for (i, (start, end)) in spans.into_iter().enumerate() {
        values[1 + 2 * i] = v8::Integer::new_from_unsigned(scope, start).into();
        values[2 + 2 * i] = v8::Integer::new_from_unsigned(scope, end).into();
    }
    v8::Array::new_with_elements(scope, &values)
}

/// `urlOrigin(href)` -> the URL's origin, serialized.
fn op_url_origin(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let href = args.get(0).to_rust_string_lossy(scope);
    let origin = match url::Url::parse(&href) {
        Ok(u) => url::quirks::origin(&u),
        Err(_) => "null".to_string(),
    };
    rv.set(string(scope, &origin).into());
}

/// `urlParse(input, base?)` -> the components (see `url_parts`), or
/// undefined if invalid.
fn op_url_parse(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let input = args.get(0).to_rust_string_lossy(scope);
    let base = args.get(1);
    let parsed = if base.is_undefined() {
        url::Url::parse(&input)
    } else {
        let base = base.to_rust_string_lossy(scope);
        url::Url::parse(&base).and_then(|b| b.join(&input))
    };
    if let Ok(u) = parsed {
        let arg = args.get(0);
        let same = (arg.is_string() && u.as_str() == input).then_some(arg);
        let a = url_parts(scope, &u, same);
        rv.set(a.into());
    }
}

/// `urlSet(href, part, value)` -> components after the setter (a setter that
/// the spec says to ignore leaves the URL unchanged).
fn op_url_set(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    use url::quirks as q;
    let href = args.get(0).to_rust_string_lossy(scope);
    let part = args.get(1).to_rust_string_lossy(scope);
    let value = args.get(2).to_rust_string_lossy(scope);
    let Ok(mut u) = url::Url::parse(&href) else {
        throw_type_error(scope, "Invalid URL");
        return;
    };
    match part.as_str() {
        "href" => {
            if q::set_href(&mut u, &value).is_err() {
                throw_type_error(scope, &format!("Invalid URL: {value}"));
                return;
            }
        }
        "protocol" => drop(q::set_protocol(&mut u, &value)),
        "username" => drop(q::set_username(&mut u, &value)),
        "password" => drop(q::set_password(&mut u, &value)),
        "host" => drop(q::set_host(&mut u, &value)),
        "hostname" => drop(q::set_hostname(&mut u, &value)),
        "port" => drop(q::set_port(&mut u, &value)),
        "pathname" => q::set_pathname(&mut u, &value),
        "search" => q::set_search(&mut u, &value),
        "hash" => q::set_hash(&mut u, &value),
        other => {
            throw_type_error(scope, &format!("unknown URL component {other}"));
            return;
        }
    }
    let a = url_parts(scope, &u, None);
    rv.set(a.into());
}

fn web_state<'a>(scope: &'a mut v8::PinScope) -> &'a mut WebState {
    scope
        .get_slot_mut::<WebState>()
        .expect("web state slot is set at start-up")
}

/// `decoderOpen(label, ignoreBOM)` -> [id, canonical name], or undefined for
/// an unknown label (the caller throws RangeError).
fn op_decoder_open(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let label = args.get(0).to_rust_string_lossy(scope);
    let ignore_bom = args.get(1).boolean_value(scope);
    // The "replacement" encoding cannot be chosen by label for a decoder.
    let Some(enc) = encoding_rs::Encoding::for_label(label.trim().as_bytes())
        .filter(|e| *e != encoding_rs::REPLACEMENT)
    else {
        return;
    };
    let decoder = if ignore_bom {
        enc.new_decoder_without_bom_handling()
    } else {
        enc.new_decoder_with_bom_removal()
    };
    let st = web_state(scope);
    if st.decoders.len() >= MAX_DECODERS {
        // A script that starts many streams and never finishes them: drop
        // the oldest-numbered state rather than grow without bound.
        if let Some(k) = st.decoders.keys().min().copied() {
            st.decoders.remove(&k);
        }
    }
    st.next_decoder = st.next_decoder.wrapping_add(1);
    let id = st.next_decoder;
    st.decoders.insert(id, decoder);
    let name = enc.name().to_ascii_lowercase();
    let id = v8::Integer::new_from_unsigned(scope, id);
    let name = string(scope, &name);
    let a = v8::Array::new_with_elements(scope, &[id.into(), name.into()]);
    rv.set(a.into());
}

/// `decode(id, bytes|undefined, stream, fatal, ignoreBOM)` -> the text, or
/// null when `fatal` and the input is malformed. Without `stream` the decoder
/// is finished and reset for the next call.
fn op_decode(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let id = args.get(0).uint32_value(scope).unwrap_or(0);
    let stream = args.get(2).boolean_value(scope);
    let fatal = args.get(3).boolean_value(scope);
    let ignore_bom = args.get(4).boolean_value(scope);
    let input = args.get(1);
    let mut bytes: Vec<u8> = Vec::new();
    if !input.is_undefined()
        && crate::runtime::with_bytes(scope, input, |b| bytes.extend_from_slice(b)).is_none()
    {
        throw_type_error(
            scope,
            "TextDecoder.decode: input must be an ArrayBuffer or a view",
        );
        return;
    }
    let st = web_state(scope);
    let Some(decoder) = st.decoders.get_mut(&id) else {
        throw_type_error(scope, "TextDecoder: decoder state is gone");
        return;
    };
    let last = !stream;
    let mut out = String::with_capacity(
        decoder
            .max_utf8_buffer_length(bytes.len())
            .unwrap_or(bytes.len() * 3 + 16),
    );
    let malformed = if fatal {
        let (result, _) = decoder.decode_to_string_without_replacement(&bytes, &mut out, last);
        matches!(result, encoding_rs::DecoderResult::Malformed(_, _))
    } else {
        let (_, _, had_errors) = decoder.decode_to_string(&bytes, &mut out, last);
        let _ = had_errors;
        false
    };
    if last || malformed {
        // Reset for the next decode() call on the same TextDecoder.
        let enc = decoder.encoding();
        *decoder = if ignore_bom {
            enc.new_decoder_without_bom_handling()
        } else {
            enc.new_decoder_with_bom_removal()
        };
    }
    if malformed {
        rv.set_null();
        return;
    }
    let s = string(scope, &out);
    rv.set(s.into());
}

/// `decoderReset(id, ignoreBOM)`: the next decode starts a fresh stream.
fn op_decoder_reset(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let id = args.get(0).uint32_value(scope).unwrap_or(0);
    let ignore_bom = args.get(1).boolean_value(scope);
    let st = web_state(scope);
    if let Some(d) = st.decoders.get_mut(&id) {
        let enc = d.encoding();
        *d = if ignore_bom {
            enc.new_decoder_without_bom_handling()
        } else {
            enc.new_decoder_with_bom_removal()
        };
    }
}

/// `randomFill(view)`: fills an integer typed array with random bytes.
fn op_random_fill(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let v = args.get(0);
    let Ok(view) = v8::Local::<v8::ArrayBufferView>::try_from(v) else {
        throw_type_error(scope, "expected an integer TypedArray");
        return;
    };
    let len = view.byte_length();
    let offset = view.byte_offset();
    let Some(ab) = view.buffer(scope) else { return };
    let Some(data) = ab.data() else { return };
    if len == 0 {
        return;
    }
    // SAFETY: the view's bytes lie within its buffer, which stays alive and
    // unmoved during this call (no JS runs).
    let bytes =
        unsafe { std::slice::from_raw_parts_mut((data.as_ptr() as *mut u8).add(offset), len) };
    if getrandom::fill(bytes).is_err() {
        throw_type_error(scope, "crypto.getRandomValues: the OS random source failed");
    }
}

fn op_now(
    scope: &mut v8::PinScope,
    _args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let ms = web_state(scope).epoch.elapsed().as_secs_f64() * 1000.0;
    rv.set(v8::Number::new(scope, ms).into());
}

fn op_time_origin(
    scope: &mut v8::PinScope,
    _args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let ms = web_state(scope).time_origin_ms;
    rv.set(v8::Number::new(scope, ms).into());
}

/// This module's ops (named as the JS files call them on `ops`); also the
/// snapshot's external references.
pub(crate) fn ops() -> Vec<(&'static str, v8::FunctionCallback)> {
    vec![
        ("urlParse", op_url_parse.map_fn_to()),
        ("urlSet", op_url_set.map_fn_to()),
        ("urlOrigin", op_url_origin.map_fn_to()),
        ("decoderOpen", op_decoder_open.map_fn_to()),
        ("decode", op_decode.map_fn_to()),
        ("decoderReset", op_decoder_reset.map_fn_to()),
        ("randomFill", op_random_fill.map_fn_to()),
        ("now", op_now.map_fn_to()),
        ("timeOrigin", op_time_origin.map_fn_to()),
        ("utf8EncodeInto", op_utf8_encode_into.map_fn_to()),
    ]
}

/// `utf8EncodeInto(string, view)` -> [read (UTF-16 units), written (bytes)].
fn op_utf8_encode_into(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let s = args.get(0).to_rust_string_lossy(scope);
    let Ok(view) = v8::Local::<v8::Uint8Array>::try_from(args.get(1)) else {
        throw_type_error(
            scope,
            "TextEncoder.encodeInto: destination must be a Uint8Array",
        );
        return;
    };
    let cap = view.byte_length();
    let mut written = 0usize;
    let mut read = 0usize;
    let mut out = Vec::with_capacity(cap.min(s.len()));
    for ch in s.chars() {
        let n = ch.len_utf8();
        if written + n > cap {
            break;
        }
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        written += n;
        read += ch.len_utf16();
    }
    if let (Some(ab), true) = (view.buffer(scope), written > 0) {
        if let Some(data) = ab.data() {
            // SAFETY: `written <= byte_length` bytes at the view's offset.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    out.as_ptr(),
                    (data.as_ptr() as *mut u8).add(view.byte_offset()),
                    written,
                );
            }
        }
    }
    let r = v8::Number::new(scope, read as f64);
    let w = v8::Number::new(scope, written as f64);
    let a = v8::Array::new_with_elements(scope, &[r.into(), w.into()]);
    rv.set(a.into());
}

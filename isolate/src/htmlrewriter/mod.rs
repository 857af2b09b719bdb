//! Native side of `HTMLRewriter` (`js/70_htmlrewriter.js`): the ops that run
//! an [`engine::Engine`] per `transform()` and reach the token a content
//! handler was called with.
//!
//! JS drives the engine: it feeds a chunk (`htmlWrite`), and whenever the
//! parser meets something a handler wants, the op returns that handler's id
//! instead of finishing; JS calls the handler (awaiting it if it returns a
//! promise: the parser stays suspended meanwhile) and then `htmlResume`s.
//! Tokens are reached as `(engine id, generation)`: a token is valid only
//! during the handler call it was made for, as in Workers.

pub(crate) mod engine;

use std::collections::HashMap;

use engine::{Engine, Failure, Kind, Spec, Stacks, Step};
use lol_html::html_content::ContentType;
use v8::MapFnTo;

use crate::runtime::{new_string, throw_type_error, with_bytes};

/// Most memory one transform's parser may buffer (a tag or comment split
/// over many chunks), as workerd allows.
const PARSER_MEMORY: usize = 3 << 20;

/// Transforms in progress (an isolate slot, made on first use).
#[derive(Default)]
struct HtmlState {
    /// By id, with the GC watch on the JS state that drives each.
    engines: HashMap<u32, (Engine, Option<v8::Weak<v8::Object>>)>,
    next: u32,
    stacks: Stacks,
    /// Transforms whose JS side was collected unfinished (a body never
    /// read to its end): dropped at the next op, not inside the GC.
    dead: Vec<u32>,
}

const STALE: &str = "This content token is no longer valid. Content tokens are only valid during the execution of the relevant content handler.";

/// This module's ops.
pub(crate) fn ops() -> Vec<(&'static str, v8::FunctionCallback)> {
    vec![
        ("htmlSelector", op_selector.map_fn_to()),
        ("htmlNew", op_new.map_fn_to()),
        ("htmlWrite", op_write.map_fn_to()),
        ("htmlEnd", op_end.map_fn_to()),
        ("htmlResume", op_resume.map_fn_to()),
        ("htmlTake", op_take.map_fn_to()),
        ("htmlFree", op_free.map_fn_to()),
        ("htmlGet", op_get.map_fn_to()),
        ("htmlSet", op_set.map_fn_to()),
        ("htmlAttr", op_attr.map_fn_to()),
        ("htmlInsert", op_insert.map_fn_to()),
        ("htmlRemove", op_remove.map_fn_to()),
        ("htmlOnEndTag", op_on_end_tag.map_fn_to()),
    ]
}

fn state<'a>(scope: &'a mut v8::PinScope) -> &'a mut HtmlState {
    if scope.get_slot::<HtmlState>().is_none() {
        scope.set_slot(HtmlState::default());
    }
    let st = scope.get_slot_mut::<HtmlState>().expect("just set");
    for id in std::mem::take(&mut st.dead) {
        if let Some((e, _)) = st.engines.remove(&id) {
            e.recycle(&mut st.stacks);
        }
    }
    st
}

fn u32_arg(scope: &mut v8::PinScope, v: v8::Local<v8::Value>) -> u32 {
    v.uint32_value(scope).unwrap_or(0)
}

fn parse_selector(s: &str) -> Result<lol_html::Selector, String> {
    s.parse::<lol_html::Selector>()
        .map_err(|e| format!("Invalid selector \"{s}\": {e}"))
}

/// `htmlSelector(selector)`: throws a TypeError if `on()` got a selector
/// `lol_html` does not support.
fn op_selector(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let s = args.get(0).to_rust_string_lossy(scope);
    if let Err(e) = parse_selector(&s) {
        throw_type_error(scope, &e);
    }
}

fn flat_ids(scope: &mut v8::PinScope, arr: v8::Local<v8::Array>, at: u32) -> u32 {
    arr.get_index(scope, at)
        .and_then(|v| v.uint32_value(scope))
        .unwrap_or(0)
}

/// `htmlNew([selector, element, comments, text, ...], [doctype, comments,
/// text, end, ...], encoding, holder)` -> the engine's id (handler ids: 0 =
/// none). The engine goes with `holder` (the JS state driving it) if that
/// is collected before the transform ends.
fn op_new(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let (Ok(el), Ok(doc)) = (
        v8::Local::<v8::Array>::try_from(args.get(0)),
        v8::Local::<v8::Array>::try_from(args.get(1)),
    ) else {
        return throw_type_error(scope, "htmlNew: bad arguments");
    };
    let label = args.get(2).to_rust_string_lossy(scope);
    let encoding = match encoding_rs::Encoding::for_label(label.trim().as_bytes())
        .and_then(lol_html::AsciiCompatibleEncoding::new)
    {
        Some(e) => e,
        None => {
            return throw_type_error(
                scope,
                &format!(
                    "Parser error: Unsupported encoding \"{label}\" (HTMLRewriter needs an ASCII-compatible one)"
                ),
            );
        }
    };
    let mut spec = Spec {
        encoding: Some(encoding),
        memory_limit: PARSER_MEMORY,
        ..Spec::default()
    };
    let mut i = 0;
    while i + 3 < el.length() {
        let sel = el
            .get_index(scope, i)
            .map(|v| v.to_rust_string_lossy(scope))
            .unwrap_or_default();
        let selector = match parse_selector(&sel) {
            Ok(s) => s,
            Err(e) => return throw_type_error(scope, &e),
        };
        let ids = [
            flat_ids(scope, el, i + 1),
            flat_ids(scope, el, i + 2),
            flat_ids(scope, el, i + 3),
        ];
        spec.element.push((selector, ids));
        i += 4;
    }
    let mut i = 0;
    while i + 3 < doc.length() {
        spec.document.push([
            flat_ids(scope, doc, i),
            flat_ids(scope, doc, i + 1),
            flat_ids(scope, doc, i + 2),
            flat_ids(scope, doc, i + 3),
        ]);
        i += 4;
    }
    let st = state(scope);
    let engine = match Engine::new(spec, &mut st.stacks) {
        Ok(e) => e,
        Err(e) => {
            return throw_type_error(
                scope,
                &format!("HTMLRewriter: no stack for the parser: {e}"),
            );
        }
    };
    st.next = st.next.wrapping_add(1).max(1);
    let id = st.next;
    st.engines.insert(id, (engine, None));
    if let Ok(holder) = v8::Local::<v8::Object>::try_from(args.get(3)) {
        let weak = v8::Weak::with_finalizer(
            scope,
            holder,
            Box::new(move |isolate: &mut v8::Isolate| {
                if let Some(st) = isolate.get_slot_mut::<HtmlState>() {
                    st.dead.push(id);
                }
            }),
        );
        if let Some(e) = state(scope).engines.get_mut(&id) {
            e.1 = Some(weak);
        }
    }
    rv.set(v8::Integer::new_from_unsigned(scope, id).into());
}

/// Answers a step: the handler id to call, 0 (written / ended), or -1 (a
/// handler failed: JS holds the reason). A parser failure throws.
fn answer(scope: &mut v8::PinScope, rv: &mut v8::ReturnValue<v8::Value>, r: Result<Step, Failure>) {
    let n: i32 = match r {
        Ok(Step::Call(id)) => id as i32,
        Ok(Step::Written | Step::Ended) => 0,
        Err(Failure::Handler) => -1,
        Err(f @ Failure::Parser(_)) => return throw_type_error(scope, &f.to_string()),
    };
    rv.set(v8::Integer::new(scope, n).into());
}

fn with_engine<R>(
    scope: &mut v8::PinScope,
    id: u32,
    f: impl FnOnce(&mut Engine) -> R,
) -> Option<R> {
    state(scope).engines.get_mut(&id).map(|(e, _)| f(e))
}

/// `htmlWrite(id, bytes)` -> see [`answer`].
fn op_write(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let id = u32_arg(scope, args.get(0));
    let Some(bytes) = with_bytes(scope, args.get(1), <[u8]>::to_vec) else {
        return throw_type_error(
            scope,
            "This TransformStream is being used as a byte stream, but received an object of non-ArrayBuffer/ArrayBufferView type on its writable side.",
        );
    };
    match with_engine(scope, id, |e| e.write(&bytes)) {
        Some(r) => answer(scope, &mut rv, r),
        None => throw_type_error(scope, "HTMLRewriter: this transform has ended"),
    }
}

/// `htmlEnd(id)` -> see [`answer`]; 0 once the document ended.
fn op_end(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let id = u32_arg(scope, args.get(0));
    match with_engine(scope, id, Engine::end) {
        Some(r) => answer(scope, &mut rv, r),
        None => throw_type_error(scope, "HTMLRewriter: this transform has ended"),
    }
}

/// `htmlResume(id, ok)`: the handler returned (or its promise settled);
/// the parser goes on. -> see [`answer`].
fn op_resume(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let id = u32_arg(scope, args.get(0));
    let ok = args.get(1).is_true();
    match with_engine(scope, id, |e| e.resume(ok)) {
        Some(r) => answer(scope, &mut rv, r),
        None => throw_type_error(scope, "HTMLRewriter: this transform has ended"),
    }
}

/// `htmlTake(id)` -> the output so far as a Uint8Array, or undefined if none.
fn op_take(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let id = u32_arg(scope, args.get(0));
    let out = with_engine(scope, id, Engine::take_output).unwrap_or_default();
    if out.is_empty() {
        return;
    }
    let len = out.len();
    let ab = crate::runtime::array_buffer(scope, out);
    if let Some(view) = v8::Uint8Array::new(scope, ab, 0, len) {
        rv.set(view.into());
    }
}

/// `htmlFree(id)`: the transform is over (done, failed or cancelled); a
/// parser still suspended in a handler is unwound.
fn op_free(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let id = u32_arg(scope, args.get(0));
    let st = state(scope);
    if let Some((e, _)) = st.engines.remove(&id) {
        e.recycle(&mut st.stacks);
    }
}

/// What `htmlGet` reads.
mod what {
    pub(super) const TAG_NAME: u32 = 0;
    pub(super) const NAMESPACE: u32 = 1;
    pub(super) const REMOVED: u32 = 2;
    pub(super) const ATTRIBUTES: u32 = 3;
    pub(super) const TEXT: u32 = 4;
    pub(super) const LAST_IN_TEXT_NODE: u32 = 5;
    pub(super) const NAME: u32 = 6;
    pub(super) const PUBLIC_ID: u32 = 7;
    pub(super) const SYSTEM_ID: u32 = 8;
    pub(super) const SELF_CLOSING: u32 = 9;
    pub(super) const CAN_HAVE_CONTENT: u32 = 10;
}

/// A value read from a token, made into JS after the engine is let go.
enum Got {
    Str(String),
    OptStr(Option<String>),
    Bool(bool),
    Pairs(Vec<(String, String)>),
    Static(&'static str),
}

fn token_args(scope: &mut v8::PinScope, args: &v8::FunctionCallbackArguments) -> (u32, u32) {
    (u32_arg(scope, args.get(0)), u32_arg(scope, args.get(1)))
}

/// `htmlGet(id, generation, what)` -> a property of the current token.
fn op_get(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let (id, g) = token_args(scope, &args);
    let w = u32_arg(scope, args.get(2));
    let got = with_engine(scope, id, |e| -> Option<Got> {
        Some(match (e.current(g)?, w) {
            (Kind::Element, what::TAG_NAME) => Got::Str(e.element(g)?.tag_name()),
            (Kind::Element, what::NAMESPACE) => Got::Static(e.element(g)?.namespace_uri()),
            (Kind::Element, what::REMOVED) => Got::Bool(e.element(g)?.removed()),
            (Kind::Element, what::SELF_CLOSING) => Got::Bool(e.element(g)?.is_self_closing()),
            (Kind::Element, what::CAN_HAVE_CONTENT) => Got::Bool(e.element(g)?.can_have_content()),
            (Kind::Element, what::ATTRIBUTES) => Got::Pairs(
                e.element(g)?
                    .attributes()
                    .iter()
                    .map(|a| (a.name(), a.value()))
                    .collect(),
            ),
            (Kind::EndTag, what::NAME) => Got::Str(e.end_tag(g)?.name()),
            (Kind::EndTag, what::REMOVED) => Got::Bool(e.end_tag(g)?.removed()),
            (Kind::Text, what::TEXT) => Got::Str(e.text(g)?.as_str().to_string()),
            (Kind::Text, what::LAST_IN_TEXT_NODE) => Got::Bool(e.text(g)?.last_in_text_node()),
            (Kind::Text, what::REMOVED) => Got::Bool(e.text(g)?.removed()),
            (Kind::Comment, what::TEXT) => Got::Str(e.comment(g)?.text()),
            (Kind::Comment, what::REMOVED) => Got::Bool(e.comment(g)?.removed()),
            (Kind::Doctype, what::NAME) => Got::OptStr(e.doctype(g)?.name()),
            (Kind::Doctype, what::PUBLIC_ID) => Got::OptStr(e.doctype(g)?.public_id()),
            (Kind::Doctype, what::SYSTEM_ID) => Got::OptStr(e.doctype(g)?.system_id()),
            (Kind::Doctype, what::REMOVED) => Got::Bool(e.doctype(g)?.removed()),
            _ => return None,
        })
    })
    .flatten();
    let v: v8::Local<v8::Value> = match got {
        None => return throw_type_error(scope, STALE),
        Some(Got::Str(s)) => new_string(scope, &s).into(),
        Some(Got::Static(s)) => new_string(scope, s).into(),
        Some(Got::OptStr(Some(s))) => new_string(scope, &s).into(),
        Some(Got::OptStr(None)) => v8::null(scope).into(),
        Some(Got::Bool(b)) => v8::Boolean::new(scope, b).into(),
        Some(Got::Pairs(pairs)) => {
            let flat: Vec<v8::Local<v8::Value>> = pairs
                .iter()
                .flat_map(|(n, v)| [new_string(scope, n).into(), new_string(scope, v).into()])
                .collect();
            v8::Array::new_with_elements(scope, &flat).into()
        }
    };
    rv.set(v);
}

/// `htmlSet(id, generation, what, value)`: element `tagName`, comment
/// `text`, end tag `name`.
fn op_set(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let (id, g) = token_args(scope, &args);
    let w = u32_arg(scope, args.get(2));
    let value = args.get(3).to_rust_string_lossy(scope);
    let r = with_engine(scope, id, |e| -> Result<(), String> {
        match (e.current(g).ok_or(STALE)?, w) {
            (Kind::Element, what::TAG_NAME) => e
                .element(g)
                .ok_or(STALE)?
                .set_tag_name(&value)
                .map_err(|err| format!("Parser error: {err}")),
            (Kind::Comment, what::TEXT) => e
                .comment(g)
                .ok_or(STALE)?
                .set_text(&value)
                .map_err(|err| format!("Parser error: {err}")),
            (Kind::EndTag, what::NAME) => {
                e.end_tag(g).ok_or(STALE)?.set_name_str(value.clone());
                Ok(())
            }
            _ => Err(STALE.to_string()),
        }
    })
    .unwrap_or_else(|| Err(STALE.to_string()));
    if let Err(m) = r {
        throw_type_error(scope, &m);
    }
}

/// `htmlAttr(id, generation, op, name, value)` on the current element:
/// op 0 get (string or null), 1 has, 2 set, 3 remove.
fn op_attr(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let (id, g) = token_args(scope, &args);
    let op = u32_arg(scope, args.get(2));
    let name = args.get(3).to_rust_string_lossy(scope);
    let value = (op == 2).then(|| args.get(4).to_rust_string_lossy(scope));
    let r = with_engine(scope, id, |e| -> Result<Got, String> {
        let el = e.element(g).ok_or(STALE)?;
        Ok(match op {
            0 => Got::OptStr(el.get_attribute(&name)),
            1 => Got::Bool(el.has_attribute(&name)),
            2 => {
                el.set_attribute(&name, value.as_deref().unwrap_or(""))
                    .map_err(|err| format!("Parser error: {err}"))?;
                Got::Bool(true)
            }
            _ => {
                el.remove_attribute(&name);
                Got::Bool(true)
            }
        })
    })
    .unwrap_or_else(|| Err(STALE.to_string()));
    match r {
        Err(m) => throw_type_error(scope, &m),
        Ok(Got::OptStr(Some(s))) => rv.set(new_string(scope, &s).into()),
        Ok(Got::OptStr(None)) => rv.set(v8::null(scope).into()),
        Ok(Got::Bool(b)) => rv.set(v8::Boolean::new(scope, b).into()),
        Ok(_) => {}
    }
}

/// Where `htmlInsert` puts content.
#[derive(Clone, Copy)]
enum Place {
    Before,
    After,
    Prepend,
    Append,
    Replace,
    Inner,
}

/// `htmlInsert(id, generation, place, content, isHtml)`: before (0), after
/// (1), prepend (2), append (3), replace (4), setInnerContent (5).
fn op_insert(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let (id, g) = token_args(scope, &args);
    let place = match u32_arg(scope, args.get(2)) {
        0 => Place::Before,
        1 => Place::After,
        2 => Place::Prepend,
        3 => Place::Append,
        4 => Place::Replace,
        _ => Place::Inner,
    };
    let content = args.get(3).to_rust_string_lossy(scope);
    let ct = if args.get(4).is_true() {
        ContentType::Html
    } else {
        ContentType::Text
    };
    let c = content.as_str();
    let ok = with_engine(scope, id, |e| -> Option<()> {
        match e.current(g)? {
            Kind::Element => {
                let el = e.element(g)?;
                match place {
                    Place::Before => el.before(c, ct),
                    Place::After => el.after(c, ct),
                    Place::Prepend => el.prepend(c, ct),
                    Place::Append => el.append(c, ct),
                    Place::Replace => el.replace(c, ct),
                    Place::Inner => el.set_inner_content(c, ct),
                }
            }
            Kind::EndTag => {
                let t = e.end_tag(g)?;
                match place {
                    Place::Before => t.before(c, ct),
                    Place::After => t.after(c, ct),
                    Place::Replace => t.replace(c, ct),
                    _ => return None,
                }
            }
            Kind::Text => {
                let t = e.text(g)?;
                match place {
                    Place::Before => t.before(c, ct),
                    Place::After => t.after(c, ct),
                    Place::Replace => t.replace(c, ct),
                    _ => return None,
                }
            }
            Kind::Comment => {
                let t = e.comment(g)?;
                match place {
                    Place::Before => t.before(c, ct),
                    Place::After => t.after(c, ct),
                    Place::Replace => t.replace(c, ct),
                    _ => return None,
                }
            }
            Kind::DocumentEnd => match place {
                Place::Append => e.document_end(g)?.append(c, ct),
                _ => return None,
            },
            Kind::Doctype => return None,
        }
        Some(())
    })
    .flatten();
    if ok.is_none() {
        throw_type_error(scope, STALE);
    }
}

/// `htmlRemove(id, generation, keepContent)`.
fn op_remove(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let (id, g) = token_args(scope, &args);
    let keep = args.get(2).is_true();
    let ok = with_engine(scope, id, |e| -> Option<()> {
        match e.current(g)? {
            Kind::Element if keep => e.element(g)?.remove_and_keep_content(),
            Kind::Element => e.element(g)?.remove(),
            Kind::EndTag => e.end_tag(g)?.remove(),
            Kind::Text => e.text(g)?.remove(),
            Kind::Comment => e.comment(g)?.remove(),
            Kind::Doctype => e.doctype(g)?.remove(),
            Kind::DocumentEnd => return None,
        }
        Some(())
    })
    .flatten();
    if ok.is_none() {
        throw_type_error(scope, STALE);
    }
}

/// `htmlOnEndTag(id, generation, handler)`: handler id runs at the current
/// element's end tag.
fn op_on_end_tag(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let (id, g) = token_args(scope, &args);
    let handler = u32_arg(scope, args.get(2));
    let r = with_engine(scope, id, |e| {
        if e.current(g) != Some(Kind::Element) {
            return Err(STALE);
        }
        e.on_end_tag(g, handler)
    })
    .unwrap_or(Err(STALE));
    if let Err(m) = r {
        throw_type_error(scope, m);
    }
}

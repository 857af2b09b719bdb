//! The rewriting engine under `HTMLRewriter`: Cloudflare's `lol_html` run on
//! a stackful coroutine (`corosensei`), so that a content handler may take as
//! long as it likes — a JS handler that returns a promise — while the parser
//! waits for it in the middle of a `write`.
//!
//! `lol_html` calls its handlers synchronously from inside `write()`. Our
//! handlers do not call JS there: each one *suspends the coroutine*, handing
//! the runtime a [`Step::Call`] with the handler's id, and the token
//! (element, text chunk, ...) stays alive on the suspended coroutine's stack.
//! The runtime then calls the JS handler on the shard's own stack (V8 checks
//! its stack limit against the thread's stack, so JS never runs on the
//! coroutine's; workerd runs lol-html on a fiber for the same reason), lets
//! it mutate the token through [`Engine::element`] and friends, and once the
//! handler (and its promise) is done, [`Engine::resume`]s the parser.
//!
//! Nothing here touches V8: unit tests drive it directly.

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult, Yielder};
use lol_html::errors::RewritingError;
use lol_html::html_content::{Comment, Doctype, DocumentEnd, Element, EndTag, TextChunk};
use lol_html::{
    AsciiCompatibleEncoding, DocumentContentHandlers, ElementContentHandlers, HandlerResult,
    HtmlRewriter, MemorySettings, Selector, Settings,
};

/// The coroutine's stack. `lol_html` needs little (workerd gives it 64 KiB);
/// pages are only touched as used.
const STACK_BYTES: usize = 256 << 10;

/// Stacks kept for reuse by the next transform of the isolate.
const STACK_POOL: usize = 4;

/// What a transform rewrites: handler ids per selector and for the document
/// (0: no handler). The ids are the caller's (the JS side's table).
#[derive(Debug, Default)]
pub(crate) struct Spec {
    /// `on(selector, { element, comments, text })`.
    pub(crate) element: Vec<(Selector, [u32; 3])>,
    /// `onDocument({ doctype, comments, text, end })`.
    pub(crate) document: Vec<[u32; 4]>,
    /// The document's encoding (ASCII-compatible, as `lol_html` requires).
    pub(crate) encoding: Option<AsciiCompatibleEncoding>,
    /// Most memory the parser may use for buffering (a tag split over many
    /// chunks, a long comment).
    pub(crate) memory_limit: usize,
}

/// The kind of token a handler was called with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An element's start tag.
    Element,
    /// An end tag (an `onEndTag` handler).
    EndTag,
    /// A text chunk.
    Text,
    /// A comment.
    Comment,
    /// The doctype.
    Doctype,
    /// The end of the document.
    DocumentEnd,
}

/// A token alive on the suspended coroutine's stack.
#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Kind,
    ptr: *mut (),
}

/// What the runtime hands the coroutine.
enum Input {
    Write(Vec<u8>),
    End,
    /// The handler it waited for finished (true) or failed.
    Resume(bool),
}

/// What the coroutine hands back while it is suspended.
enum Yield {
    /// Call handler `id` with `token`; the coroutine's yielder comes along
    /// (end-tag handlers registered from the main side need it).
    Call(u32, Token, *const Yielder<Input, Yield>),
    /// The chunk was written; waiting for the next input.
    Written,
}

/// Why a transform failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Failure {
    /// A handler failed (threw or rejected); the caller has the reason.
    #[error("a content handler failed")]
    Handler,
    /// The parser gave up (an ambiguous document in strict mode, the memory
    /// limit) or the engine was misused.
    #[error("Parser error: {0}")]
    Parser(String),
}

/// The outcome of feeding the engine.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Handler `id` must run now with the current token; then [`Engine::resume`].
    Call(u32),
    /// The input was consumed; the engine waits for more.
    Written,
    /// The document ended (after [`Engine::end`]).
    Ended,
}

/// The handler error `lol_html` carries out of `write` when a JS handler failed.
#[derive(Debug, thiserror::Error)]
#[error("a content handler failed")]
struct HandlerFailed;

type Co = Coroutine<Input, Yield, Result<(), Failure>, DefaultStack>;

/// One transform in progress.
pub(crate) struct Engine {
    co: Option<Co>,
    output: Rc<RefCell<Vec<u8>>>,
    current: Option<Token>,
    /// Counts handler calls: a token is valid only for the call it came with.
    generation: u32,
    /// The coroutine's yielder (for end-tag handlers registered later).
    yielder: *const Yielder<Input, Yield>,
    failed: Option<Failure>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("running", &self.co.is_some())
            .field("generation", &self.generation)
            .finish()
    }
}

/// Suspends the coroutine to have handler `id` run with `token`.
///
/// # Safety
/// `yielder` must be the yielder of the coroutine this runs on.
unsafe fn call(yielder: *const Yielder<Input, Yield>, id: u32, token: Token) -> HandlerResult {
    // SAFETY: the caller's promise: this runs on that coroutine, whose
    // yielder lives as long as the coroutine's body.
    let y = unsafe { &*yielder };
    match y.suspend(Yield::Call(id, token, yielder)) {
        Input::Resume(true) => Ok(()),
        _ => Err(Box::new(HandlerFailed)),
    }
}

fn token<T>(kind: Kind, t: &mut T) -> Token {
    Token {
        kind,
        ptr: t as *mut T as *mut (),
    }
}

fn parser_failure(e: RewritingError) -> Failure {
    match e {
        RewritingError::ContentHandlerError(_) => Failure::Handler,
        other => Failure::Parser(other.to_string()),
    }
}

/// The coroutine's body: builds the rewriter (its handlers suspend the
/// coroutine) and feeds it what the runtime sends.
fn run(
    spec: Spec,
    out: Rc<RefCell<Vec<u8>>>,
    y: &Yielder<Input, Yield>,
    first: Input,
) -> Result<(), Failure> {
    let yp: *const Yielder<Input, Yield> = y;
    // SAFETY (every `call` below): the handlers live in the rewriter, which
    // lives in this body, on this coroutine.
    let mut settings = Settings::new().with_strict(true).with_memory_settings(
        MemorySettings::new().with_max_allowed_memory_usage(spec.memory_limit),
    );
    if let Some(enc) = spec.encoding {
        settings = settings.with_encoding(enc);
    }
    for (selector, [el, comments, text]) in spec.element {
        let mut h = ElementContentHandlers::default();
        if el != 0 {
            h = h.element(move |e: &mut Element| unsafe { call(yp, el, token(Kind::Element, e)) });
        }
        if comments != 0 {
            h = h.comments(move |c: &mut Comment| unsafe {
                call(yp, comments, token(Kind::Comment, c))
            });
        }
        if text != 0 {
            h = h.text(move |t: &mut TextChunk| unsafe { call(yp, text, token(Kind::Text, t)) });
        }
        settings = settings.append_element_content_handler((Cow::Owned(selector), h));
    }
    for [doctype, comments, text, end] in spec.document {
        let mut h = DocumentContentHandlers::default();
        if doctype != 0 {
            h = h.doctype(move |d: &mut Doctype| unsafe {
                call(yp, doctype, token(Kind::Doctype, d))
            });
        }
        if comments != 0 {
            h = h.comments(move |c: &mut Comment| unsafe {
                call(yp, comments, token(Kind::Comment, c))
            });
        }
        if text != 0 {
            h = h.text(move |t: &mut TextChunk| unsafe { call(yp, text, token(Kind::Text, t)) });
        }
        if end != 0 {
            h = h.end(move |d: &mut DocumentEnd| unsafe {
                call(yp, end, token(Kind::DocumentEnd, d))
            });
        }
        settings = settings.append_document_content_handler(h);
    }
    let mut rewriter = HtmlRewriter::new(settings, move |c: &[u8]| {
        out.borrow_mut().extend_from_slice(c)
    });
    let mut input = first;
    loop {
        match input {
            Input::Write(bytes) => {
                rewriter.write(&bytes).map_err(parser_failure)?;
                input = y.suspend(Yield::Written);
            }
            Input::End => return rewriter.end().map_err(parser_failure),
            Input::Resume(_) => {
                return Err(Failure::Parser("resumed while no handler ran".into()));
            }
        }
    }
}

/// Reusable coroutine stacks (per isolate).
#[derive(Default)]
pub(crate) struct Stacks(Vec<DefaultStack>);

impl std::fmt::Debug for Stacks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Stacks({})", self.0.len())
    }
}

impl Engine {
    /// An engine for `spec`, on a stack from `stacks` (or a new one).
    pub(crate) fn new(spec: Spec, stacks: &mut Stacks) -> std::io::Result<Self> {
        let stack = match stacks.0.pop() {
            Some(s) => s,
            None => DefaultStack::new(STACK_BYTES)?,
        };
        let output = Rc::new(RefCell::new(Vec::new()));
        let out = output.clone();
        let co = Coroutine::with_stack(stack, move |y: &Yielder<Input, Yield>, first| {
            run(spec, out, y, first)
        });
        Ok(Self {
            co: Some(co),
            output,
            current: None,
            generation: 0,
            yielder: std::ptr::null(),
            failed: None,
        })
    }

    /// Gives the engine's stack back to `stacks` once it is done.
    pub(crate) fn recycle(mut self, stacks: &mut Stacks) {
        if let Some(co) = self.co.take() {
            if co.done() && stacks.0.len() < STACK_POOL {
                stacks.0.push(co.into_stack());
            }
        }
    }

    /// Feeds `bytes` (copied: the parser may keep them while a handler waits).
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<Step, Failure> {
        self.feed(Input::Write(bytes.to_vec()))
    }

    /// Ends the document (the `end` handlers run).
    pub(crate) fn end(&mut self) -> Result<Step, Failure> {
        self.feed(Input::End)
    }

    /// The handler of the last [`Step::Call`] finished (`ok`) or failed.
    pub(crate) fn resume(&mut self, ok: bool) -> Result<Step, Failure> {
        if self.current.take().is_none() {
            return Err(Failure::Parser("no handler is running".into()));
        }
        self.feed(Input::Resume(ok))
    }

    fn feed(&mut self, input: Input) -> Result<Step, Failure> {
        if let Some(f) = &self.failed {
            return Err(f.clone());
        }
        if self.current.is_some() {
            return Err(Failure::Parser(
                "a content handler is still running (await it before writing more)".into(),
            ));
        }
        let Some(co) = self.co.as_mut().filter(|c| !c.done()) else {
            return Err(Failure::Parser("the document has already ended".into()));
        };
        match co.resume(input) {
            CoroutineResult::Yield(Yield::Call(id, token, yielder)) => {
                self.current = Some(token);
                self.yielder = yielder;
                self.generation = self.generation.wrapping_add(1);
                Ok(Step::Call(id))
            }
            CoroutineResult::Yield(Yield::Written) => Ok(Step::Written),
            CoroutineResult::Return(Ok(())) => Ok(Step::Ended),
            CoroutineResult::Return(Err(f)) => {
                self.failed = Some(f.clone());
                Err(f)
            }
        }
    }

    /// Takes what the rewriter has produced so far.
    pub(crate) fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut *self.output.borrow_mut())
    }

    /// Counts handler calls (a token belongs to one).
    #[cfg(test)]
    pub(crate) fn generation(&self) -> u32 {
        self.generation
    }

    /// The current token's kind, if a handler runs and `generation` is its call.
    pub(crate) fn current(&self, generation: u32) -> Option<Kind> {
        self.current
            .filter(|_| generation == self.generation)
            .map(|t| t.kind)
    }

    fn current_ptr(&self, generation: u32, kind: Kind) -> Option<*mut ()> {
        self.current
            .filter(|t| generation == self.generation && t.kind == kind)
            .map(|t| t.ptr)
    }
}

/// Typed access to the current token. Each returns `None` unless a handler
/// of that kind is running for call `generation`.
///
/// The references are valid while the coroutine stays suspended in that
/// handler: the token lives on its stack, and only [`Engine::resume`] (which
/// needs `&mut Engine`, so no reference from here can be alive) lets the
/// parser go on and drop it.
macro_rules! accessor {
    ($name:ident, $kind:ident, $ty:ty) => {
        pub(crate) fn $name(&mut self, generation: u32) -> Option<&mut $ty> {
            let p = self.current_ptr(generation, Kind::$kind)?;
            // SAFETY: see above; the pointer was made from a `&mut` of this
            // type in the handler that is suspended now.
            Some(unsafe { &mut *(p as *mut $ty) })
        }
    };
}

impl Engine {
    accessor!(element, Element, Element<'static, 'static>);
    accessor!(end_tag, EndTag, EndTag<'static>);
    accessor!(text, Text, TextChunk<'static>);
    accessor!(comment, Comment, Comment<'static>);
    accessor!(doctype, Doctype, Doctype<'static>);
    accessor!(document_end, DocumentEnd, DocumentEnd<'static>);

    /// `element.onEndTag(handler)`: handler `id` runs at the current
    /// element's end tag (instead of one set before, as in Workers). Err if
    /// the element has no end tag (a void element).
    pub(crate) fn on_end_tag(&mut self, generation: u32, id: u32) -> Result<(), &'static str> {
        let yp = self.yielder;
        let el = self.element(generation).ok_or("no element")?;
        let handlers = el
            .end_tag_handlers()
            .ok_or("this element cannot have an end tag")?;
        handlers.clear();
        handlers.push(Box::new(move |end: &mut EndTag| {
            // SAFETY: end-tag handlers run inside the same rewriter, on the
            // same coroutine, as the element handler that registered them.
            unsafe { call(yp, id, token(Kind::EndTag, end)) }
        }));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lol_html::html_content::ContentType;

    fn spec(element: &[(&str, [u32; 3])], document: &[[u32; 4]]) -> Spec {
        Spec {
            element: element
                .iter()
                .map(|(s, ids)| (s.parse().unwrap(), *ids))
                .collect(),
            document: document.to_vec(),
            encoding: None,
            memory_limit: 1 << 20,
        }
    }

    /// Feeds `chunks`, answering every handler call with `on_call`.
    fn run_all(
        engine: &mut Engine,
        chunks: &[&str],
        mut on_call: impl FnMut(&mut Engine, u32) -> bool,
    ) -> Result<String, Failure> {
        let mut out = Vec::new();
        let mut drive = |engine: &mut Engine, mut step: Step| -> Result<(), Failure> {
            while let Step::Call(id) = step {
                let ok = on_call(engine, id);
                step = engine.resume(ok)?;
            }
            Ok(())
        };
        for c in chunks {
            let s = engine.write(c.as_bytes())?;
            drive(engine, s)?;
            out.extend(engine.take_output());
        }
        let s = engine.end()?;
        drive(engine, s)?;
        out.extend(engine.take_output());
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn handlers_run_on_the_main_stack_between_suspensions() {
        let mut stacks = Stacks::default();
        let mut e = Engine::new(
            spec(&[("a[href]", [1, 0, 0]), ("p", [0, 0, 2])], &[]),
            &mut stacks,
        )
        .unwrap();
        let mut texts = String::new();
        let out = run_all(
            &mut e,
            &["<p>hi <a hr", "ef=\"/x\">link</a> there</p>"],
            |e, id| {
                let g = e.generation();
                match id {
                    1 => {
                        let el = e.element(g).unwrap();
                        let href = el.get_attribute("href").unwrap();
                        el.set_attribute("href", &format!("https://h{href}"))
                            .unwrap();
                        el.before("<b>", ContentType::Text);
                    }
                    2 => texts.push_str(e.text(g).unwrap().as_str()),
                    _ => unreachable!(),
                }
                true
            },
        )
        .unwrap();
        assert_eq!(
            out,
            "<p>hi &lt;b&gt;<a href=\"https://h/x\">link</a> there</p>"
        );
        assert_eq!(texts, "hi link there");
        e.recycle(&mut stacks);
        assert_eq!(stacks.0.len(), 1, "the finished engine's stack is kept");
    }

    #[test]
    fn a_failed_handler_fails_the_transform_and_a_stale_token_is_refused() {
        let mut stacks = Stacks::default();
        let mut e = Engine::new(spec(&[("i", [1, 0, 0])], &[]), &mut stacks).unwrap();
        let step = e.write(b"<i>x</i><i>y</i>").unwrap();
        assert_eq!(step, Step::Call(1));
        let g = e.generation();
        assert!(e.element(g).is_some());
        assert!(e.element(g + 1).is_none(), "another call's token");
        assert!(e.text(g).is_none(), "another kind");
        assert_eq!(e.resume(false), Err(Failure::Handler));
        assert!(e.element(g).is_none(), "no handler runs any more");
        assert_eq!(e.write(b"more"), Err(Failure::Handler), "it stays failed");
    }

    #[test]
    fn end_tag_and_document_handlers() {
        let mut stacks = Stacks::default();
        let mut e = Engine::new(spec(&[("div", [1, 0, 0])], &[[2, 3, 0, 4]]), &mut stacks).unwrap();
        let out = run_all(&mut e, &["<!DOCTYPE html><!--c--><div>x</div>"], |e, id| {
            let g = e.generation();
            match id {
                1 => e.on_end_tag(g, 5).unwrap(),
                2 => assert_eq!(e.doctype(g).unwrap().name().as_deref(), Some("html")),
                3 => e.comment(g).unwrap().set_text("d").unwrap(),
                4 => e
                    .document_end(g)
                    .unwrap()
                    .append("<!--end-->", ContentType::Html),
                5 => e.end_tag(g).unwrap().after("!", ContentType::Text),
                _ => unreachable!(),
            }
            true
        })
        .unwrap();
        assert_eq!(out, "<!DOCTYPE html><!--d--><div>x</div>!<!--end-->");
    }

    #[test]
    fn dropping_a_suspended_engine_unwinds_its_parser() {
        let mut stacks = Stacks::default();
        let mut e = Engine::new(spec(&[("b", [1, 0, 0])], &[]), &mut stacks).unwrap();
        assert_eq!(e.write(b"<b>").unwrap(), Step::Call(1));
        drop(e);
        // A void element has no end tag to hook.
        let mut e = Engine::new(spec(&[("br", [1, 0, 0])], &[]), &mut stacks).unwrap();
        assert_eq!(e.write(b"<br>").unwrap(), Step::Call(1));
        let g = e.generation();
        assert!(e.on_end_tag(g, 2).is_err());
        assert_eq!(e.resume(true).unwrap(), Step::Written);
    }

    #[test]
    fn an_ambiguous_document_is_a_parser_error() {
        let mut stacks = Stacks::default();
        let mut e = Engine::new(spec(&[("p", [0, 0, 1])], &[]), &mut stacks).unwrap();
        // Text after <select><script> cannot be classified in strict mode.
        let r = run_all(
            &mut e,
            &["<select><xmp><script>x</script></select>"],
            |_, _| true,
        );
        assert!(matches!(r, Err(Failure::Parser(_))), "{r:?}");
    }
}

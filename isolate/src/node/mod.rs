//! nodejs_compat's native side (the JS is `js/90_node.js`): which modules
//! the flag makes importable, and the async context that
//! `AsyncLocalStorage` keeps in V8's continuation-preserved embedder data.
//!
//! That slot already carries the request (or actor) a continuation runs for
//! (see `runtime::current_owner`): a plain owner id, or, once a store was
//! entered, `[owner, Map]`. V8 carries it through promise reactions; the
//! runtime carries it through timers.

use v8::MapFnTo;

mod crypto;

/// Node's built-in modules that nodejs_compat offers, by bare name; each is
/// imported as `node:NAME` or `NAME`.
pub(crate) const MODULES: &[&str] = &[
    "buffer",
    "events",
    "async_hooks",
    "util",
    "process",
    "crypto",
];

/// The compatibility flags that turn Node's modules on, and which.
pub(crate) fn enabled_modules(flags: &[String]) -> &'static [&'static str] {
    if flags
        .iter()
        .any(|f| f == "nodejs_compat" || f == "nodejs_compat_v2")
    {
        MODULES
    } else if flags.iter().any(|f| f == "nodejs_als") {
        &["async_hooks"]
    } else {
        &[]
    }
}

/// The `node:` name `specifier` stands for, if it names one of `enabled`.
pub(crate) fn module_name(specifier: &str, enabled: &[&str]) -> Option<String> {
    let bare = specifier.strip_prefix("node:").unwrap_or(specifier);
    enabled.contains(&bare).then(|| format!("node:{bare}"))
}

/// Whether `specifier` names a Node module at all (for the error that says
/// which flag it needs).
pub(crate) fn is_node_specifier(specifier: &str) -> bool {
    match specifier.strip_prefix("node:") {
        Some(_) => true,
        None => MODULES.contains(&specifier),
    }
}

/// This module's ops.
pub(crate) fn ops() -> Vec<(&'static str, v8::FunctionCallback)> {
    let mut v: Vec<(&'static str, v8::FunctionCallback)> = vec![
        ("asyncContextGet", op_context_get.map_fn_to()),
        ("asyncContextSet", op_context_set.map_fn_to()),
    ];
    v.extend(crypto::ops());
    v
}

/// `asyncContextGet()` -> the current async context (owner id, `[owner,
/// stores]`, or undefined).
fn op_context_get(
    scope: &mut v8::PinScope,
    _args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let v = scope.get_continuation_preserved_embedder_data();
    rv.set(v);
}

/// `asyncContextSet(frame)`: what continuations made from now on carry.
fn op_context_set(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    scope.set_continuation_preserved_embedder_data(args.get(0));
}

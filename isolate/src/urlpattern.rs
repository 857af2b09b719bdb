//! The native side of `URLPattern` (`js/27_urlpattern.js`): parsing and
//! canonicalizing patterns and inputs with the `urlpattern` crate (the one
//! Deno uses). Patterns compile to ECMAScript regular expressions, which JS
//! runs with its own `RegExp`, so matching follows the standard exactly.

use urlpattern::quirks::{self, StringOrInit, UrlPatternInit};
use urlpattern::{RegexSyntax, UrlPatternOptions};
use v8::MapFnTo;

use crate::runtime::{new_string, throw_type_error};

/// This module's ops (named as the JS files call them on `ops`).
pub(crate) fn ops() -> Vec<(&'static str, v8::FunctionCallback)> {
    vec![
        ("urlPatternParse", op_url_pattern_parse.map_fn_to()),
        ("urlPatternInput", op_url_pattern_input.map_fn_to()),
    ]
}

const FIELDS: [&str; 8] = [
    "protocol", "username", "password", "hostname", "port", "pathname", "search", "hash",
];

/// A string, or a `URLPatternInit` dictionary read field by field.
fn string_or_init(
    scope: &mut v8::PinScope,
    v: v8::Local<v8::Value>,
) -> Result<StringOrInit<'static>, String> {
    if v.is_string() {
        return Ok(StringOrInit::String(v.to_rust_string_lossy(scope).into()));
    }
    if v.is_null_or_undefined() {
        return Ok(StringOrInit::Init(UrlPatternInit::default()));
    }
    let Ok(obj) = v8::Local::<v8::Object>::try_from(v) else {
        return Ok(StringOrInit::String(v.to_rust_string_lossy(scope).into()));
    };
    let mut init = UrlPatternInit::default();
    let get = |scope: &mut v8::PinScope, name: &str| -> Result<Option<String>, String> {
        let k = new_string(scope, name);
        let v = obj
            .get(scope, k.into())
            .ok_or_else(|| format!("reading {name} failed"))?;
        if v.is_undefined() {
            return Ok(None);
        }
        let s = v
            .to_string(scope)
            .ok_or_else(|| format!("{name} is not a string"))?;
        Ok(Some(s.to_rust_string_lossy(scope)))
    };
    init.protocol = get(scope, "protocol")?;
    init.username = get(scope, "username")?;
    init.password = get(scope, "password")?;
    init.hostname = get(scope, "hostname")?;
    init.port = get(scope, "port")?;
    init.pathname = get(scope, "pathname")?;
    init.search = get(scope, "search")?;
    init.hash = get(scope, "hash")?;
    init.base_url = get(scope, "baseURL")?;
    Ok(StringOrInit::Init(init))
}

fn base_url(scope: &mut v8::PinScope, v: v8::Local<v8::Value>) -> Option<String> {
    (!v.is_undefined()).then(|| v.to_rust_string_lossy(scope))
}

/// `urlPatternParse(input, baseURL | undefined, ignoreCase)` ->
/// `[pattern, regexp, [group names], ...]` for the eight components in
/// order, then `hasRegExpGroups`. Throws a TypeError for a bad pattern.
fn op_url_pattern_parse(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let parsed = string_or_init(scope, args.get(0)).and_then(|input| {
        let base = base_url(scope, args.get(1));
        let init = quirks::process_construct_pattern_input(input, base.as_deref())
            .map_err(|e| e.to_string())?;
        let options = UrlPatternOptions {
            regex_syntax: RegexSyntax::EcmaScript,
            ignore_case: args.get(2).is_true(),
        };
        quirks::parse_pattern::<quirks::EcmaRegexp>(init, options).map_err(|e| e.to_string())
    });
    let pattern = match parsed {
        Ok(p) => p,
        Err(e) => return throw_type_error(scope, &format!("URLPattern: {e}")),
    };
    let mut out: Vec<v8::Local<v8::Value>> = Vec::with_capacity(FIELDS.len() * 3 + 1);
    for c in [
        &pattern.protocol,
        &pattern.username,
        &pattern.password,
        &pattern.hostname,
        &pattern.port,
        &pattern.pathname,
        &pattern.search,
        &pattern.hash,
    ] {
        out.push(new_string(scope, &c.pattern_string).into());
        out.push(new_string(scope, &c.regexp_string).into());
        let groups: Vec<v8::Local<v8::Value>> = c
            .group_name_list
            .iter()
            .map(|g| new_string(scope, g).into())
            .collect();
        out.push(v8::Array::new_with_elements(scope, &groups).into());
    }
    out.push(v8::Boolean::new(scope, pattern.has_regexp_groups).into());
    rv.set(v8::Array::new_with_elements(scope, &out).into());
}

/// `urlPatternInput(input, baseURL | undefined)` -> the eight components
/// of the input to match, or null when it cannot match (an invalid URL).
/// Throws a TypeError for an init dictionary given with a base URL.
fn op_url_pattern_input(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let input = match string_or_init(scope, args.get(0)) {
        Ok(i) => i,
        Err(e) => return throw_type_error(scope, &format!("URLPattern: {e}")),
    };
    let base = base_url(scope, args.get(1));
    let matched = match quirks::process_match_input(input, base.as_deref()) {
        Ok(m) => m,
        Err(e) => return throw_type_error(scope, &format!("URLPattern: {e}")),
    };
    let Some(i) = matched.and_then(|(input, _)| quirks::parse_match_input(input)) else {
        rv.set(v8::null(scope).into());
        return;
    };
    let parts: Vec<v8::Local<v8::Value>> = [
        &i.protocol,
        &i.username,
        &i.password,
        &i.hostname,
        &i.port,
        &i.pathname,
        &i.search,
        &i.hash,
    ]
    .into_iter()
    .map(|s| new_string(scope, s).into())
    .collect();
    rv.set(v8::Array::new_with_elements(scope, &parts).into());
}

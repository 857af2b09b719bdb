//! ES module loading from disk: the main module and its relative imports are
//! read, compiled, linked and evaluated; errors name file, line and column.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::ScriptError;

/// Compiled modules of one context, by canonical path (kept in an isolate
/// slot so V8's resolve callback can reach it).
#[derive(Default)]
pub(crate) struct ModuleMap {
    /// Node's modules the script may import (nodejs_compat).
    node: &'static [&'static str],
    by_path: HashMap<PathBuf, v8::Global<v8::Module>>,
    /// identity hash -> (module, path); a hash may be shared, so a list.
    by_hash: HashMap<i32, Vec<(v8::Global<v8::Module>, PathBuf)>>,
}

impl ModuleMap {
    fn path_of(&self, scope: &v8::PinScope, module: v8::Local<v8::Module>) -> Option<PathBuf> {
        let hash = module.get_identity_hash().get();
        self.by_hash.get(&hash)?.iter().find_map(|(g, p)| {
            let l = v8::Local::new(scope, g);
            (l == module).then(|| p.clone())
        })
    }
}

fn canonical(path: &Path) -> Result<PathBuf, ScriptError> {
    std::fs::canonicalize(path).map_err(|source| ScriptError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Built-in modules and their named exports. Each is a small source module
/// that takes its exports from the runtime (`js/50_sockets.js` publishes them).
const BUILTINS: &[(&str, &[&str])] = &[
    ("cloudflare:sockets", &["connect"]),
    (
        "cloudflare:workers",
        &[
            "DurableObject",
            "WorkerEntrypoint",
            "RpcTarget",
            "WebSocketRequestResponsePair",
        ],
    ),
];

/// The key a built-in module is mapped under (never a real path).
fn builtin_key(specifier: &str) -> Option<PathBuf> {
    BUILTINS
        .iter()
        .any(|(name, _)| *name == specifier)
        .then(|| PathBuf::from(format!("<builtin>/{specifier}")))
}

/// The names a built-in module object the runtime publishes has (its
/// named exports): the identifiers among its own enumerable keys.
fn published_exports(scope: &mut v8::PinScope, name: &str) -> Vec<String> {
    let global = scope.get_current_context().global(scope);
    let k = v8::String::new(scope, "ringworker.builtin").unwrap();
    let sym = v8::Symbol::for_key(scope, k);
    let Some(getter) = global
        .get(scope, sym.into())
        .and_then(|f| v8::Local::<v8::Function>::try_from(f).ok())
    else {
        return Vec::new();
    };
    let arg = v8::String::new(scope, name).unwrap();
    let Some(m) = getter
        .call(scope, global.into(), &[arg.into()])
        .and_then(|m| v8::Local::<v8::Object>::try_from(m).ok())
    else {
        return Vec::new();
    };
    let Some(keys) = m.get_own_property_names(scope, Default::default()) else {
        return Vec::new();
    };
    (0..keys.length())
        .filter_map(|i| keys.get_index(scope, i))
        .map(|k| k.to_rust_string_lossy(scope))
        .filter(|k| {
            k != "default"
                && k.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        })
        .collect()
}

/// The source of built-in module `key` (see [`builtin_key`]).
fn builtin_source(scope: &mut v8::PinScope, key: &Path) -> Option<String> {
    let name = key.to_str()?.strip_prefix("<builtin>/")?;
    if name.starts_with("node:") {
        let mut src = format!(
            "const m = globalThis[Symbol.for(\"ringworker.builtin\")](\"{name}\");\nexport default m;\n"
        );
        for e in published_exports(scope, name) {
            src.push_str(&format!("export const {e} = m.{e};\n"));
        }
        return Some(src);
    }
    let (_, exports) = BUILTINS.iter().find(|(n, _)| *n == name)?;
    let mut src = format!(
        "const m = globalThis[Symbol.for(\"ringworker.builtin\")](\"{name}\");\nexport default m;\n"
    );
    for e in *exports {
        src.push_str(&format!("export const {e} = m.{e};\n"));
    }
    Some(src)
}

/// Resolves `specifier` imported by the module at `referrer`; `node` are
/// the Node modules the script may import (nodejs_compat).
fn resolve_path(referrer: &Path, specifier: &str, node: &[&str]) -> Result<PathBuf, ScriptError> {
    if let Some(key) = builtin_key(specifier) {
        return Ok(key);
    }
    let err = |reason: &str| ScriptError::Resolve {
        referrer: referrer.display().to_string(),
        specifier: specifier.to_string(),
        reason: reason.to_string(),
    };
    if let Some(name) = crate::node::module_name(specifier, node) {
        return Ok(PathBuf::from(format!("<builtin>/{name}")));
    }
    if crate::node::is_node_specifier(specifier) {
        return Err(err(if specifier.starts_with("node:") && node.is_empty() {
            "Node's modules need the nodejs_compat compatibility flag (wrangler.toml: compatibility_flags = [\"nodejs_compat\"], or --compat-flag nodejs_compat)"
        } else if node.is_empty() {
            "not a file; with the nodejs_compat compatibility flag it would be Node's module"
        } else {
            "this Node module is not offered (nodejs_compat has: buffer, events, async_hooks, util, process, crypto)"
        }));
    }
    if !(specifier.starts_with("./") || specifier.starts_with("../") || specifier.starts_with('/'))
    {
        return Err(err(
            "only relative (./, ../) and absolute imports and the built-in modules (cloudflare:sockets, cloudflare:workers) are supported",
        ));
    }
    let base = referrer.parent().unwrap_or(Path::new("/"));
    let p = base.join(specifier);
    std::fs::canonicalize(&p).map_err(|e| err(&format!("{}: {e}", p.display())))
}

/// The 1-based position and text of the exception caught by `tc`.
pub(crate) fn describe_exception(
    tc: &mut v8::PinnedRef<v8::TryCatch<v8::HandleScope>>,
    fallback_file: &str,
) -> (String, usize, usize, String) {
    let message = tc
        .exception()
        .map(|e| e.to_rust_string_lossy(tc))
        .unwrap_or_else(|| "unknown error".into());
    match tc.message() {
        Some(m) => {
            let file = m
                .get_script_resource_name(tc)
                .map(|n| n.to_rust_string_lossy(tc))
                .filter(|s| !s.is_empty() && s != "undefined")
                .unwrap_or_else(|| fallback_file.to_string());
            let line = m.get_line_number(tc).unwrap_or(0);
            let column = m.get_start_column() + 1;
            (file, line, column, message)
        }
        None => (fallback_file.to_string(), 0, 0, message),
    }
}

/// The origin V8 reports in stack traces and syntax errors: just the name.
pub(crate) fn script_origin<'s>(
    scope: &v8::PinScope<'s, '_>,
    name: &str,
    is_module: bool,
) -> v8::ScriptOrigin<'s> {
    let resource = v8::String::new(scope, name).unwrap_or_else(|| v8::String::empty(scope));
    v8::ScriptOrigin::new(
        scope,
        resource.into(),
        0,
        0,
        false,
        0,
        None,
        false,
        false,
        is_module,
        None,
    )
}

fn compile<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    path: &Path,
) -> Result<v8::Local<'s, v8::Module>, ScriptError> {
    let text = match builtin_source(scope, path) {
        Some(src) => src,
        None => std::fs::read_to_string(path).map_err(|source| ScriptError::Read {
            path: path.to_path_buf(),
            source,
        })?,
    };
    let name = path.display().to_string();
    v8::tc_scope!(let tc, scope);
    let source = v8::String::new(tc, &text)
        .ok_or_else(|| ScriptError::Evaluate(format!("{name}: source too large")))?;
    let origin = script_origin(tc, &name, true);
    let mut src = v8::script_compiler::Source::new(source, Some(&origin));
    match v8::script_compiler::compile_module(tc, &mut src) {
        Some(m) => Ok(v8::Local::new(tc, m)),
        None => {
            let (file, line, column, message) = describe_exception(tc, &name);
            Err(ScriptError::Compile {
                file,
                line,
                column,
                message,
            })
        }
    }
}

fn resolve_callback<'s>(
    context: v8::Local<'s, v8::Context>,
    specifier: v8::Local<'s, v8::String>,
    _attributes: v8::Local<'s, v8::FixedArray>,
    referrer: v8::Local<'s, v8::Module>,
) -> Option<v8::Local<'s, v8::Module>> {
    v8::callback_scope!(unsafe scope, context);
    let spec = specifier.to_rust_string_lossy(scope);
    let found = {
        let map = scope.get_slot::<ModuleMap>()?;
        let from = map.path_of(scope, referrer)?;
        resolve_path(&from, &spec, map.node)
            .ok()
            .and_then(|p| map.by_path.get(&p).cloned())
    };
    match found {
        Some(g) => Some(v8::Local::new(scope, g)),
        None => {
            let msg = v8::String::new(scope, &format!("cannot resolve module \"{spec}\"")).unwrap();
            let exc = v8::Exception::type_error(scope, msg);
            scope.throw_exception(exc);
            None
        }
    }
}

/// Loads, links and evaluates the module graph rooted at `main`; returns the
/// main module's namespace object.
pub(crate) fn load_main<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    main: &Path,
    node: &'static [&'static str],
) -> Result<v8::Local<'s, v8::Object>, ScriptError> {
    let main = canonical(main)?;
    let mut map = scope.remove_slot::<ModuleMap>().unwrap_or_default();
    map.node = node;
    let root = compile(scope, &main)?;
    // Compile the whole graph before linking: V8's resolve callback must only look up.
    let mut stack = vec![(root, main.clone())];
    map.by_path
        .insert(main.clone(), v8::Global::new(scope, root));
    while let Some((m, path)) = stack.pop() {
        let hash = m.get_identity_hash().get();
        map.by_hash
            .entry(hash)
            .or_default()
            .push((v8::Global::new(scope, m), path.clone()));
        let requests = m.get_module_requests();
        for i in 0..requests.length() {
            let Some(req) = requests.get(scope, i) else {
                continue;
            };
            let Ok(req) = v8::Local::<v8::ModuleRequest>::try_from(req) else {
                continue;
            };
            let spec = req.get_specifier().to_rust_string_lossy(scope);
            let dep = resolve_path(&path, &spec, map.node)?;
            if !map.by_path.contains_key(&dep) {
                let dm = compile(scope, &dep)?;
                map.by_path.insert(dep.clone(), v8::Global::new(scope, dm));
                stack.push((dm, dep));
            }
        }
    }
    scope.set_slot(map);
    let name = main.display().to_string();
    v8::tc_scope!(let tc, scope);
    if root.instantiate_module(tc, resolve_callback) != Some(true) {
        let (file, line, column, message) = describe_exception(tc, &name);
        return Err(ScriptError::Compile {
            file,
            line,
            column,
            message,
        });
    }
    let result = root.evaluate(tc);
    if result.is_none() || tc.has_caught() {
        let (file, line, column, message) = describe_exception(tc, &name);
        return Err(ScriptError::Evaluate(format!(
            "{file}:{line}:{column}: {message}"
        )));
    }
    tc.perform_microtask_checkpoint();
    if root.get_status() == v8::ModuleStatus::Errored {
        let exc = root.get_exception();
        let msg = exc.to_rust_string_lossy(tc);
        return Err(ScriptError::Evaluate(format!("{name}: {msg}")));
    }
    if root.get_status() != v8::ModuleStatus::Evaluated {
        return Err(ScriptError::Evaluate(format!(
            "{name}: top-level await did not settle during start-up"
        )));
    }
    let ns = root.get_module_namespace();
    let ns = v8::Local::<v8::Object>::try_from(ns)
        .map_err(|_| ScriptError::Evaluate(format!("{name}: no module namespace")))?;
    Ok(v8::Local::new(tc, ns))
}

//! From `perf script` output to folded stacks, a flame graph, and the
//! functions with the most self time by origin.

use std::collections::HashMap;
use std::io::{BufRead, Write};

use inferno::collapse::Collapse;
use inferno::collapse::perf::{Folder, Options as FoldOptions};
use inferno::flamegraph::color::{MultiPalette, Palette};
use inferno::flamegraph::{self, Options as FlameOptions};
use serde::{Deserialize, Serialize};

/// Where a frame's code comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// JIT-compiled or interpreted JavaScript (named through V8's perf map).
    Js,
    /// V8 itself: builtins, the interpreter, the compiler, the GC.
    V8,
    /// The kernel.
    Kernel,
    /// ringworker, glommio, the Rust standard library, libc.
    Runtime,
}

/// Classifies a folded frame (`_[k]`: kernel, `_[j]`: perf-map JIT code).
pub fn origin(frame: &str) -> Origin {
    if frame.ends_with("_[k]") {
        Origin::Kernel
    } else if frame.ends_with("_[j]") {
        // V8's perf map names JS functions "JS:..."; its other JIT code
        // (stubs, handlers, regexps) is V8's.
        if frame.starts_with("JS:") {
            Origin::Js
        } else {
            Origin::V8
        }
    } else if frame.starts_with("Builtins_")
        || frame.starts_with("v8::")
        || frame.starts_with("v8_")
        || frame.contains("v8::internal")
        || frame.starts_with("cppgc::")
        || frame.starts_with("heap::base::")
    {
        Origin::V8
    } else {
        Origin::Runtime
    }
}

/// Folds `perf script` output (annotating kernel and JIT frames).
pub fn fold(perf_script: impl BufRead, out: impl Write) -> std::io::Result<()> {
    let mut opts = FoldOptions::default();
    opts.annotate_jit = true;
    opts.annotate_kernel = true;
    Folder::from(opts).collapse(perf_script, out)
}

/// Renders folded stacks as a flame graph: JS green/aqua, runtime and V8
/// C++ yellow, builtins red, kernel orange (inferno's JS palette).
pub fn flamegraph(folded: &str, title: &str, out: impl Write) -> std::io::Result<()> {
    let mut opts = FlameOptions::default();
    opts.colors = Palette::Multi(MultiPalette::Js);
    opts.title = title.to_string();
    opts.count_name = "samples".into();
    flamegraph::from_lines(&mut opts, folded.lines(), out)
}

/// A function and the samples in which it was the leaf.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SelfTime {
    pub function: String,
    pub origin: Origin,
    pub samples: u64,
    pub percent: f64,
}

/// What the folded stacks say.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Breakdown {
    pub samples: u64,
    /// Share of samples whose leaf is of each origin, in percent.
    pub by_origin: HashMap<String, f64>,
    /// The functions with the most self time.
    pub top: Vec<SelfTime>,
}

/// Self time per leaf function from folded stacks (`a;b;c 12` lines).
pub fn breakdown(folded: &str, top_n: usize) -> Breakdown {
    let mut leaves: HashMap<&str, u64> = HashMap::new();
    let mut total = 0u64;
    for line in folded.lines() {
        let Some((stack, n)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(n) = n.trim().parse::<u64>() else {
            continue;
        };
        let leaf = stack.rsplit(';').next().unwrap_or(stack);
        *leaves.entry(leaf).or_default() += n;
        total += n;
    }
    let pct = |n: u64| {
        if total == 0 {
            0.0
        } else {
            (n as f64 * 10_000.0 / total as f64).round() / 100.0
        }
    };
    let mut by_origin: HashMap<String, u64> = HashMap::new();
    for (f, n) in &leaves {
        let key = serde_json::to_value(origin(f))
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        *by_origin.entry(key).or_default() += n;
    }
    let mut top: Vec<SelfTime> = leaves
        .into_iter()
        .map(|(f, n)| SelfTime {
            function: f.to_string(),
            origin: origin(f),
            samples: n,
            percent: pct(n),
        })
        .collect();
    top.sort_by(|a, b| b.samples.cmp(&a.samples).then(a.function.cmp(&b.function)));
    top.truncate(top_n);
    Breakdown {
        samples: total,
        by_origin: by_origin.into_iter().map(|(k, n)| (k, pct(n))).collect(),
        top,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert_eq!(origin("tcp_sendmsg_[k]"), Origin::Kernel);
        assert_eq!(origin("JS:*fetch /w/hello.js:3:8_[j]"), Origin::Js);
        assert_eq!(origin("Builtins_CallFunction"), Origin::V8);
        assert_eq!(origin("v8::internal::Heap::Scavenge"), Origin::V8);
        assert_eq!(
            origin("ringworker_io::uring::NetRing::pump"),
            Origin::Runtime
        );
        assert_eq!(origin("Stub:CEntry_[j]"), Origin::V8);
    }

    #[test]
    fn self_time_by_leaf() {
        let folded = "main;a;JS:~fetch /x.js:1:1_[j] 6\nmain;b;tcp_sendmsg_[k] 3\nmain;a 1\n";
        let b = breakdown(folded, 2);
        assert_eq!(b.samples, 10);
        assert_eq!(b.top.len(), 2);
        assert_eq!(b.top[0].function, "JS:~fetch /x.js:1:1_[j]");
        assert_eq!(b.top[0].percent, 60.0);
        assert_eq!(b.by_origin["kernel"], 30.0);
        assert_eq!(b.by_origin["runtime"], 10.0);
    }
}

//! Errors of loading and running scripts.

use std::path::PathBuf;

/// A script could not be loaded or started.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// A module file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A module failed to compile (syntax error) or to link.
    #[error("{file}:{line}:{column}: {message}")]
    Compile {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// V8's message.
        message: String,
    },
    /// An import could not be resolved.
    #[error("{referrer}: cannot resolve import \"{specifier}\": {reason}")]
    Resolve {
        /// The importing module.
        referrer: String,
        /// What it imports.
        specifier: String,
        /// Why it failed.
        reason: String,
    },
    /// The module threw while it was evaluated.
    #[error("{0}")]
    Evaluate(String),
    /// The module has no usable handler.
    #[error("{file}: {message}")]
    NoHandler {
        /// The main module.
        file: String,
        /// What is missing.
        message: String,
    },
}

//! A Workers project's `wrangler.toml`, as `ringworker serve --config`
//! reads it: `main`, `[vars]`, `[[durable_objects.bindings]]`,
//! `compatibility_flags`, `[triggers] crons` and `name` (what logs, metrics
//! and the tail call the worker) apply; `compatibility_date` and
//! `[[migrations]]` are accepted and not needed;
//! any other key (or compatibility flag) is reported and ignored.
//!
//! Parsing is a pure function of the text ([`Project::parse`]), so it can
//! be fuzzed: whatever the file holds, the answer is a project or an error
//! that names the file and the key, never a panic.

use std::path::{Path, PathBuf};

use ringworker_isolate::ActorBinding;

/// Why a `wrangler.toml` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum WranglerError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// What reading it said.
        source: std::io::Error,
    },
    /// The text is not TOML.
    #[error("{path} is not valid TOML: {message}")]
    NotToml {
        /// The file.
        path: String,
        /// The TOML parser's message (with line and column).
        message: String,
    },
    /// A key ringworker reads holds something it cannot use.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// Which key, and what it should hold.
        message: String,
    },
}

/// What a `wrangler.toml` contributes to `serve`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Project {
    /// The worker's name (`name`): what logs, metrics and the tail call it.
    pub name: Option<String>,
    /// The main module (`main`), relative to the file's folder.
    pub main: Option<PathBuf>,
    /// `[vars]`, in file order; a value that is not a string is its TOML text.
    pub vars: Vec<(String, String)>,
    /// `[[durable_objects.bindings]]`.
    pub actors: Vec<ActorBinding>,
    /// `[triggers] crons`, each already checked to parse.
    pub crons: Vec<String>,
    /// `compatibility_flags`, all of them (the known ones change behaviour).
    pub compat_flags: Vec<String>,
    /// Top-level keys that are not supported (ignored).
    pub ignored: Vec<String>,
    /// Compatibility flags that change nothing here (ignored).
    pub ignored_flags: Vec<String>,
}

/// Top-level keys accepted without effect.
const KNOWN_KEYS: &[&str] = &[
    "name",
    "main",
    "vars",
    "compatibility_date",
    "compatibility_flags",
    "migrations",
    "triggers",
];

/// Compatibility flags that change what ringworker does.
const KNOWN_FLAGS: &[&str] = &["nodejs_compat", "nodejs_compat_v2", "nodejs_als"];

/// The 1-based line of `text` where the string `value` is written (for
/// errors that name the line of an entry), or 0.
fn line_of(text: &str, value: &str) -> usize {
    let quoted = [format!("\"{value}\""), format!("'{value}'")];
    text.lines()
        .position(|l| quoted.iter().any(|q| l.contains(q.as_str())))
        .map_or(0, |i| i + 1)
}

impl Project {
    /// Reads and parses the file at `path` (see [`Project::parse`]); what
    /// it ignores is logged.
    ///
    /// # Errors
    /// [`WranglerError`]: unreadable, not TOML, or a key ringworker reads
    /// holding the wrong thing.
    pub fn read(path: &Path) -> Result<Project, WranglerError> {
        let text = std::fs::read_to_string(path).map_err(|source| WranglerError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let project = Project::parse(&text, &path.display().to_string(), dir)?;
        for key in &project.ignored {
            tracing::warn!(
                "{}: `{key}` is not supported and is ignored",
                path.display()
            );
        }
        for flag in &project.ignored_flags {
            tracing::warn!(
                "{}: compatibility flag `{flag}` is not supported and is ignored",
                path.display()
            );
        }
        Ok(project)
    }

    /// Parses the text of a `wrangler.toml` named `name` (for messages)
    /// whose folder is `dir` (`main` is relative to it).
    ///
    /// # Errors
    /// [`WranglerError::NotToml`] or [`WranglerError::Invalid`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ringworker::wrangler::Project;
    /// use std::path::Path;
    ///
    /// let p = Project::parse("main = \"src/index.js\"\n[vars]\nA = \"1\"\n", "wrangler.toml", Path::new("app")).unwrap();
    /// assert_eq!(p.main.as_deref(), Some(Path::new("app/src/index.js")));
    /// assert_eq!(p.vars, vec![("A".to_string(), "1".to_string())]);
    /// ```
    pub fn parse(text: &str, name: &str, dir: &Path) -> Result<Project, WranglerError> {
        let invalid = |message: String| WranglerError::Invalid {
            path: name.to_string(),
            message,
        };
        let table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| WranglerError::NotToml {
                    path: name.to_string(),
                    message: e.to_string(),
                })?;
        let mut project = Project::default();
        for (key, value) in &table {
            match key.as_str() {
                "name" => {
                    let n = value
                        .as_str()
                        .ok_or_else(|| invalid("`name` must be a string".into()))?;
                    project.name = Some(n.to_string());
                }
                "main" => {
                    let main = value
                        .as_str()
                        .ok_or_else(|| invalid("`main` must be a string".into()))?;
                    project.main = Some(dir.join(main));
                }
                "vars" => {
                    let vars = value
                        .as_table()
                        .ok_or_else(|| invalid("`[vars]` must be a table".into()))?;
                    for (k, v) in vars {
                        // Workers passes non-string vars as JSON values; as text here.
                        let v = match v {
                            toml::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        project.vars.push((k.clone(), v));
                    }
                }
                "durable_objects" => {
                    let bindings = value.get("bindings").and_then(|b| b.as_array()).ok_or_else(|| {
                        invalid(
                            "`[durable_objects]` must have `bindings` ([[durable_objects.bindings]])"
                                .into(),
                        )
                    })?;
                    for b in bindings {
                        let field = |k: &str| {
                            b.get(k).and_then(|v| v.as_str()).ok_or_else(|| {
                                invalid(format!(
                                    "each [[durable_objects.bindings]] needs a string `{k}`"
                                ))
                            })
                        };
                        if b.get("script_name").is_some() {
                            return Err(invalid(format!(
                                "binding {}: classes of other scripts (`script_name`) are not supported; export the class from this worker",
                                field("name")?
                            )));
                        }
                        project.actors.push(ActorBinding {
                            binding: field("name")?.to_string(),
                            class: field("class_name")?.to_string(),
                        });
                    }
                }
                "compatibility_flags" => {
                    let flags = value.as_array().ok_or_else(|| {
                        invalid("`compatibility_flags` must be an array of strings".into())
                    })?;
                    for f in flags {
                        let f = f.as_str().ok_or_else(|| {
                            invalid("each compatibility flag must be a string".into())
                        })?;
                        if !KNOWN_FLAGS.contains(&f) {
                            project.ignored_flags.push(f.to_string());
                        }
                        project.compat_flags.push(f.to_string());
                    }
                }
                "triggers" => {
                    let crons = value
                        .get("crons")
                        .and_then(|c| c.as_array())
                        .ok_or_else(|| {
                            invalid("`[triggers]` must have `crons = [\"...\"]`".into())
                        })?;
                    for c in crons {
                        let pattern = c.as_str().ok_or_else(|| {
                            invalid("each cron in `[triggers] crons` must be a string".into())
                        })?;
                        if let Err(e) = ringworker_isolate::parse_cron(pattern) {
                            return Err(WranglerError::Invalid {
                                path: format!("{name}:{}", line_of(text, pattern)),
                                message: e.to_string(),
                            });
                        }
                        project.crons.push(pattern.to_string());
                    }
                }
                k if KNOWN_KEYS.contains(&k) => {}
                other => project.ignored.push(other.to_string()),
            }
        }
        Ok(project)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_project_and_its_errors() {
        let p = Project::parse(
            "name = \"x\"\nmain = \"w.js\"\nextra = 1\n[vars]\nA = \"a\"\nN = 2\n\
             [[durable_objects.bindings]]\nname = \"ROOM\"\nclass_name = \"Room\"\n",
            "w.toml",
            Path::new("/p"),
        )
        .unwrap();
        assert_eq!(p.main.as_deref(), Some(Path::new("/p/w.js")));
        assert_eq!(p.name.as_deref(), Some("x"));
        assert_eq!(
            p.vars,
            vec![("A".into(), "a".into()), ("N".into(), "2".into())]
        );
        assert_eq!(
            (p.actors[0].binding.as_str(), p.actors[0].class.as_str()),
            ("ROOM", "Room")
        );
        assert_eq!(p.ignored, vec!["extra".to_string()]);
        let p = Project::parse(
            "compatibility_flags = [\"nodejs_compat\", \"odd\"]\n[triggers]\ncrons = [\"*/5 * * * *\"]\n",
            "w.toml",
            Path::new("."),
        )
        .unwrap();
        assert_eq!(p.compat_flags, vec!["nodejs_compat", "odd"]);
        assert_eq!(p.ignored_flags, vec!["odd"]);
        assert_eq!(p.crons, vec!["*/5 * * * *"]);
        let e = Project::parse(
            "name = \"x\"\n[triggers]\ncrons = [\"61 * * * *\"]\n",
            "w.toml",
            Path::new("."),
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("w.toml:3: "), "{e}");
        for (text, says) in [
            ("main = 1", "`main` must be a string"),
            ("name = 1", "`name` must be a string"),
            ("vars = 1", "`[vars]` must be a table"),
            ("[durable_objects]\nx = 1", "must have `bindings`"),
            (
                "[[durable_objects.bindings]]\nname = \"A\"",
                "needs a string `class_name`",
            ),
            (
                "[[durable_objects.bindings]]\nname = \"A\"\nclass_name = \"B\"\nscript_name = \"o\"",
                "script_name",
            ),
            ("main = ", "not valid TOML"),
            ("compatibility_flags = \"x\"", "must be an array"),
            ("[triggers]\nx = 1", "must have `crons"),
            ("[triggers]\ncrons = [1]", "must be a string"),
        ] {
            let e = Project::parse(text, "w.toml", Path::new("."))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("w.toml") && e.contains(says), "{text:?}: {e}");
        }
    }
}

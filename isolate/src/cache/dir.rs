//! The cache directory (`--cache-dir`) at start-up: taking it for this
//! process, giving each partition its subdirectory, moving entries whose
//! key now belongs to another partition, and reading what is there.
//!
//! ```text
//! DIR/lock             flock'ed while a process uses DIR (a second one refuses to start)
//! DIR/shard-N/         partition N's entries, touched only by shard N
//!   <hash>.entry       one entry (cache/format.rs); <hash> is the key's FNV-1a
//!   <hash>.<gen>.tmp   a write in progress (renamed over the .entry when complete)
//! ```
//!
//! All of this runs once, before the shards serve ([`CacheDir::open`], from
//! `serve_worker`), with plain blocking file calls: nothing here is on a
//! request path. A key's partition is its hash modulo the partition count,
//! and the hash is in the file's name, so when the shard count changes
//! between runs every misplaced entry is **re-homed**: renamed into its new
//! partition's directory (a rename in one file system, atomic; no body is
//! read). Each partition is then scanned: only each file's header and key
//! are read (the checksum is checked when the entry is served), and an
//! entry that is cut short, corrupt, expired or misnamed is removed with a
//! warning; a file that is not ours is left alone with a warning.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::format::{self, FileKind, HEADER_LEN, Header};

/// Why the cache directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CacheDirError {
    /// Creating, locking or reading it failed.
    #[error("cannot use the cache directory {path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Another process holds it.
    #[error("the cache directory {path} is in use by another process")]
    InUse {
        /// The directory.
        path: PathBuf,
    },
}

/// An on-disk store for the Cache API (`--cache-dir DIR`): entries survive
/// a restart with the same directory. Part of [`super::CacheOptions`].
///
/// Made with [`CacheDir::new`]; `serve_worker` calls [`CacheDir::open`]
/// with its shard count before the shards start (an embedder that builds
/// handlers itself calls it too, or each shard reads its own partition
/// when it starts, without the lock).
#[derive(Clone)]
pub struct CacheDir {
    /// The directory (created if missing).
    pub path: PathBuf,
    /// Its byte budget for the whole process (split evenly between the
    /// partitions): files beyond it are evicted, least recently used first.
    pub budget_bytes: u64,
    opened: Option<Arc<Opened>>,
}

impl std::fmt::Debug for CacheDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheDir")
            .field("path", &self.path)
            .field("budget_bytes", &self.budget_bytes)
            .field("opened", &self.opened.is_some())
            .finish()
    }
}

/// The directory, taken: its lock and each partition's entries until its
/// shard takes them.
pub(crate) struct Opened {
    partitions: usize,
    report: OpenReport,
    loaded: Vec<Mutex<Option<Partition>>>,
    /// Held (flock'ed) while any shard's partition lives.
    _lock: File,
}

/// An entry file found at start-up.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    /// Its key's hash (its name).
    pub(crate) hash: u64,
    /// Its key.
    pub(crate) key: String,
    /// The file's length.
    pub(crate) size: u64,
    /// When it goes stale, Unix ms.
    pub(crate) expires_ms: u64,
}

/// One partition's directory and what it held at start-up.
pub(crate) struct Partition {
    /// `DIR/shard-N`.
    pub(crate) dir: PathBuf,
    /// Its share of the budget.
    pub(crate) budget: u64,
    /// Its entries, least recently written first (the LRU order to start
    /// from: reads are not recorded on disk).
    pub(crate) entries: Vec<Found>,
    /// Keeps the directory's lock while the partition lives.
    pub(crate) hold: Option<Arc<Opened>>,
}

impl std::fmt::Debug for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partition")
            .field("dir", &self.dir)
            .field("budget", &self.budget)
            .field("entries", &self.entries.len())
            .finish()
    }
}

/// What [`CacheDir::open`] found and did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OpenReport {
    /// Entries kept.
    pub entries: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Entries moved to another partition (the shard count changed).
    pub rehomed: usize,
    /// Entry files removed as cut short or corrupt.
    pub corrupt: usize,
    /// Entries removed as expired.
    pub expired: usize,
    /// Entries removed to fit the budget.
    pub evicted: usize,
    /// Temporary files of writes cut short, removed.
    pub unfinished: usize,
    /// Files that are not ours, left alone.
    pub foreign: usize,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CacheDirError + '_ {
    move |source| CacheDirError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Now, Unix ms.
pub(crate) fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl CacheDir {
    /// A cache directory at `path` with a budget of `budget_bytes` for the
    /// whole process. Nothing is touched until [`CacheDir::open`].
    pub fn new(path: impl Into<PathBuf>, budget_bytes: u64) -> Self {
        Self {
            path: path.into(),
            budget_bytes,
            opened: None,
        }
    }

    /// Takes the directory for this process and `partitions` partitions
    /// (one per shard): creates it, locks it (a second process using it
    /// gets [`CacheDirError::InUse`]), re-homes entries to the partition
    /// their key now belongs to, and reads what each partition holds.
    /// Blocking file I/O: call before the shards serve. Opening it again
    /// for the same count changes nothing (and gives the same report).
    pub fn open(&mut self, partitions: usize) -> Result<OpenReport, CacheDirError> {
        let partitions = partitions.max(1);
        match self.opened.take() {
            Some(o) if o.partitions == partitions => {
                let report = o.report;
                self.opened = Some(o);
                return Ok(report);
            }
            // (Another count: this handle lets go of the lock first.)
            _ => {}
        }
        let root = self.path.clone();
        fs::create_dir_all(&root).map_err(io_err(&root))?;
        let lock_path = root.join("lock");
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::WouldBlock {
                return Err(CacheDirError::InUse { path: root });
            }
            return Err(io_err(&lock_path)(e));
        }
        let mut report = OpenReport::default();
        let dirs: Vec<PathBuf> = (0..partitions)
            .map(|i| root.join(format!("shard-{i}")))
            .collect();
        for d in &dirs {
            fs::create_dir_all(d).map_err(io_err(d))?;
        }
        rehome(&root, &dirs, &mut report)?;
        let budget = self.budget_bytes / partitions as u64;
        let now = unix_ms_now();
        let mut loaded = Vec::with_capacity(partitions);
        for d in dirs {
            let p = scan(&d, budget, now, &mut report).map_err(io_err(&d))?;
            loaded.push(Mutex::new(Some(p)));
        }
        tracing::info!(
            dir = %root.display(),
            partitions,
            entries = report.entries,
            bytes = report.bytes,
            rehomed = report.rehomed,
            corrupt = report.corrupt,
            expired = report.expired,
            evicted = report.evicted,
            unfinished = report.unfinished,
            foreign = report.foreign,
            "cache directory opened"
        );
        self.opened = Some(Arc::new(Opened {
            partitions,
            report,
            loaded,
            _lock: lock,
        }));
        Ok(report)
    }

    /// Partition `i` of `partitions` for its shard: what [`CacheDir::open`]
    /// read, or (not opened) its directory read now. `None` if it cannot
    /// be had (already taken, or another partition count than opened, or
    /// the directory unusable): that shard then keeps its cache in memory.
    pub(crate) fn partition(&self, i: usize, partitions: usize) -> Option<Partition> {
        let partitions = partitions.max(1);
        if let Some(o) = &self.opened {
            if o.partitions != partitions {
                tracing::error!(
                    dir = %self.path.display(),
                    "cache directory opened for {} partitions, asked for {partitions}: not used",
                    o.partitions
                );
                return None;
            }
            let mut p = o.loaded.get(i)?.lock().ok()?.take();
            if p.is_none() {
                tracing::error!(dir = %self.path.display(), "cache partition {i} is already in use");
            }
            if let Some(p) = p.as_mut() {
                p.hold = Some(o.clone());
            }
            return p;
        }
        let d = self.path.join(format!("shard-{i}"));
        let mut report = OpenReport::default();
        let scanned = fs::create_dir_all(&d).and_then(|()| {
            scan(
                &d,
                self.budget_bytes / partitions as u64,
                unix_ms_now(),
                &mut report,
            )
        });
        match scanned {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::error!(dir = %d.display(), "cache partition not usable, kept in memory only: {e}");
                None
            }
        }
    }
}

/// Moves every entry file that is not in its key's partition there, and
/// removes leftover temporary files and partition directories beyond the
/// count.
fn rehome(root: &Path, dirs: &[PathBuf], report: &mut OpenReport) -> Result<(), CacheDirError> {
    for item in fs::read_dir(root).map_err(io_err(root))? {
        let item = item.map_err(io_err(root))?;
        let name = item.file_name();
        let name = name.to_string_lossy();
        let path = item.path();
        let Some(k) = name
            .strip_prefix("shard-")
            .and_then(|k| k.parse::<usize>().ok())
            .filter(|_| path.is_dir())
        else {
            if name != "lock" {
                report.foreign += 1;
                tracing::warn!(path = %path.display(), "not a cache partition; left alone");
            }
            continue;
        };
        for file in fs::read_dir(&path).map_err(io_err(&path))? {
            let file = file.map_err(io_err(&path))?;
            let fname = file.file_name();
            let fname = fname.to_string_lossy();
            let fpath = file.path();
            match format::kind_of(&fname) {
                FileKind::Entry(hash) => {
                    let owner = (hash % dirs.len() as u64) as usize;
                    if owner == k {
                        continue;
                    }
                    let to = dirs[owner].join(&*fname);
                    // (Only one copy of a key's file exists, as only its
                    // owner writes it; should both, the newer wins.)
                    if to.exists() && modified(&to) >= modified(&fpath) {
                        let _ = fs::remove_file(&fpath);
                        continue;
                    }
                    match fs::rename(&fpath, &to) {
                        Ok(()) => report.rehomed += 1,
                        Err(e) => {
                            tracing::warn!(from = %fpath.display(), to = %to.display(), "cannot re-home a cache entry, dropped: {e}");
                            let _ = fs::remove_file(&fpath);
                        }
                    }
                }
                FileKind::Temp => {
                    report.unfinished += 1;
                    let _ = fs::remove_file(&fpath);
                }
                // Counted and reported by the partition's scan.
                FileKind::Foreign if k < dirs.len() => {}
                FileKind::Foreign => {
                    report.foreign += 1;
                    tracing::warn!(path = %fpath.display(), "not a cache entry; left alone");
                }
            }
        }
        if k >= dirs.len() {
            // (Fails, harmlessly, if something foreign is left in it.)
            let _ = fs::remove_dir(&path);
        }
    }
    Ok(())
}

fn modified(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Reads an entry file's header and key, and checks that its length is the
/// one the header gives (a write cut short is refused here).
fn read_head(path: &Path) -> io::Result<Result<(Header, String), format::FormatError>> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    let mut head = [0u8; HEADER_LEN];
    let got = read_full(&mut f, &mut head)?;
    let h = match Header::parse(&head[..got]) {
        Ok(h) => h,
        Err(e) => return Ok(Err(e)),
    };
    if h.file_len() != len {
        return Ok(Err(format::FormatError::Length {
            expected: h.file_len(),
            got: len,
        }));
    }
    let mut key = vec![0u8; h.key_len as usize];
    f.read_exact(&mut key)?;
    Ok(String::from_utf8(key)
        .map(|k| (h, k))
        .map_err(|_| format::FormatError::Malformed("key not UTF-8")))
}

/// Reads until `buf` is full or the file ends; how much it read.
fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads partition directory `dir`: its valid, fresh entries within
/// `budget` (the least recently written evicted first when over it).
fn scan(dir: &Path, budget: u64, now_ms: u64, report: &mut OpenReport) -> io::Result<Partition> {
    let mut found: Vec<(Option<SystemTime>, Found)> = Vec::new();
    for file in fs::read_dir(dir)? {
        let file = file?;
        let name = file.file_name();
        let name = name.to_string_lossy();
        let path = file.path();
        let hash = match format::kind_of(&name) {
            FileKind::Entry(h) => h,
            FileKind::Temp => {
                report.unfinished += 1;
                let _ = fs::remove_file(&path);
                continue;
            }
            FileKind::Foreign => {
                report.foreign += 1;
                tracing::warn!(path = %path.display(), "not a cache entry; left alone");
                continue;
            }
        };
        let checked = match read_head(&path) {
            Ok(Ok((_, key))) if format::key_hash(&key) != hash => {
                Err(format!("holds key {key:?}, not one of hash {hash:016x}"))
            }
            Ok(Ok(hk)) => Ok(hk),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match checked {
            Ok((h, _)) if h.expires_ms <= now_ms => {
                report.expired += 1;
                let _ = fs::remove_file(&path);
            }
            Ok((h, key)) => found.push((
                modified(&path),
                Found {
                    hash,
                    key,
                    size: h.file_len(),
                    expires_ms: h.expires_ms,
                },
            )),
            Err(why) => {
                report.corrupt += 1;
                tracing::warn!(path = %path.display(), "cache entry skipped and removed: {why}");
                let _ = fs::remove_file(&path);
            }
        }
    }
    found.sort_by_key(|(t, _)| *t);
    let mut entries: Vec<Found> = found.into_iter().map(|(_, f)| f).collect();
    let mut bytes: u64 = entries.iter().map(|f| f.size).sum();
    let mut first = 0;
    while bytes > budget && first < entries.len() {
        let f = &entries[first];
        bytes -= f.size;
        report.evicted += 1;
        let _ = fs::remove_file(dir.join(format::file_name(f.hash)));
        first += 1;
    }
    entries.drain(..first);
    report.entries += entries.len();
    report.bytes += bytes;
    Ok(Partition {
        dir: dir.to_path_buf(),
        budget,
        entries,
        hold: None,
    })
}

//! One shard's on-disk tier of the cache (`--cache-dir`): an index of the
//! entry files in its partition directory (key, size, expiry, LRU order)
//! held in memory, the bodies on disk, least recently used files evicted to
//! stay within the partition's byte budget. The in-memory [`super::store`]
//! stays in front of it as the hot tier.
//!
//! File I/O runs on glommio's blocking pool (`executor().spawn_blocking`,
//! as WebCrypto and DNS do), with plain `std::fs` calls, not on the shard's
//! ring: a crash-safe write is create + write + rename, and glommio has no
//! ring operation for rename (its `io::rename` is itself a blocking-pool
//! call); its DMA files need `O_DIRECT` (refused by tmpfs and some overlay
//! file systems) and aligned buffers, a copy of every body. On the pool
//! the shard pays one hand-off per operation; the syscalls, the copy into
//! the page cache and the checksum run on the pool's thread.
//!
//! Ordering: every change to the index happens at once, on the shard, in
//! the order the operations arrive; the file work they imply (write,
//! remove) goes through one queue per partition, run one job at a time, so
//! the directory ends as the index says. A `put` being written is served
//! from the entry it holds until its file is complete; a read started
//! before a newer `put` or a `delete` of its key is dropped (a miss) rather
//! than served or promoted.
//!
//! Crash safety: an entry is written to `<hash>.<gen>.tmp` and renamed over
//! `<hash>.entry` only when complete, so a killed process leaves a whole
//! old file, a whole new one, or a temporary file start-up removes. Files
//! are not fsync'ed (a cache may lose its latest entries in a power cut);
//! a torn file then fails its length or checksum and is never served.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::{self, File};
use std::future::Future;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::dir::{Opened, Partition};
use super::format::{self, FormatError};
use super::store::Entry;

/// An entry of the index.
#[derive(Debug)]
struct Slot {
    /// Its key (a file is named by the key's hash; two keys may share one).
    key: String,
    /// Its file's length.
    size: u64,
    /// When it goes stale, Unix ms.
    expires_ms: u64,
    /// Its last use (LRU order).
    tick: u64,
    /// The `put` that made it (a read or write of an older one is ignored).
    generation: u64,
    /// The entry, while its file is being written.
    pending: Option<Entry>,
}

/// The partition's index: slots by key hash, and their LRU order.
#[derive(Debug, Default)]
struct Index {
    slots: HashMap<u64, Slot>,
    /// last use -> key hash.
    order: BTreeMap<u64, u64>,
    tick: u64,
    used: u64,
    evictions: u64,
}

impl Index {
    fn insert(&mut self, hash: u64, mut slot: Slot) {
        self.tick += 1;
        slot.tick = self.tick;
        self.order.insert(slot.tick, hash);
        self.used += slot.size;
        self.slots.insert(hash, slot);
    }

    fn remove(&mut self, hash: u64) -> Option<Slot> {
        let s = self.slots.remove(&hash)?;
        self.order.remove(&s.tick);
        self.used -= s.size;
        Some(s)
    }

    fn touch(&mut self, hash: u64) {
        self.tick += 1;
        let t = self.tick;
        if let Some(s) = self.slots.get_mut(&hash) {
            self.order.remove(&s.tick);
            s.tick = t;
            self.order.insert(t, hash);
        }
    }
}

/// File work, in the order the index changed.
#[derive(Debug)]
enum Work {
    Write {
        hash: u64,
        generation: u64,
        key: String,
        entry: Entry,
        expires_ms: u64,
    },
    Remove {
        hash: u64,
    },
}

#[derive(Debug)]
struct Job {
    work: Work,
    done: Rc<Done>,
}

/// Settles when a job's file work is done: whether it succeeded.
#[derive(Debug, Default)]
pub(crate) struct Done {
    ok: Cell<Option<bool>>,
    waker: RefCell<Option<Waker>>,
}

impl Done {
    fn finish(&self, ok: bool) {
        self.ok.set(Some(ok));
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    /// Waits for the job.
    pub(crate) async fn wait(self: Rc<Self>) -> bool {
        std::future::poll_fn(|cx| match self.ok.get() {
            Some(ok) => Poll::Ready(ok),
            None => {
                *self.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

/// What the disk has for a key.
pub(crate) enum Lookup {
    /// Nothing (fresh).
    Miss,
    /// The entry, at once (its file is still being written).
    Now(Entry),
    /// The entry once its file is read (`None` if it turns out unusable or
    /// was replaced or deleted meanwhile).
    Read(Pin<Box<dyn Future<Output = Option<Entry>>>>),
}

/// The disk tier's counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DiskStats {
    pub(crate) entries: usize,
    pub(crate) bytes: u64,
    pub(crate) evictions: u64,
}

/// One shard's on-disk tier.
pub(crate) struct DiskTier {
    dir: PathBuf,
    budget: u64,
    index: RefCell<Index>,
    jobs: RefCell<VecDeque<Job>>,
    running: Cell<bool>,
    next_generation: Cell<u64>,
    /// Keeps the directory locked for this process.
    _hold: Option<Arc<Opened>>,
}

impl std::fmt::Debug for DiskTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskTier")
            .field("dir", &self.dir)
            .field("stats", &self.stats())
            .finish()
    }
}

/// Runs `f` on the shard's blocking pool; a panic there is an error here
/// (the pool would otherwise never answer).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    glommio::executor()
        .spawn_blocking(move || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
                .unwrap_or_else(|_| Err(io::Error::other("the cache's file work panicked")))
        })
        .await
}

/// An `Instant` for a Unix-ms expiry.
pub(crate) fn instant_of(expires_ms: u64, now_ms: u64) -> Instant {
    Instant::now() + Duration::from_millis(expires_ms.saturating_sub(now_ms))
}

/// A Unix-ms expiry for an `Instant`.
pub(crate) fn unix_ms_of(expires: Instant, now_ms: u64) -> u64 {
    now_ms
        + expires
            .saturating_duration_since(Instant::now())
            .as_millis() as u64
}

impl DiskTier {
    /// The tier over `partition` (as read at start-up).
    pub(crate) fn new(partition: Partition) -> Rc<Self> {
        let mut index = Index::default();
        let mut generation = 0;
        for f in partition.entries {
            generation += 1;
            index.insert(
                f.hash,
                Slot {
                    key: f.key,
                    size: f.size,
                    expires_ms: f.expires_ms,
                    tick: 0,
                    generation,
                    pending: None,
                },
            );
        }
        Rc::new(Self {
            dir: partition.dir,
            budget: partition.budget,
            index: RefCell::new(index),
            jobs: RefCell::new(VecDeque::new()),
            running: Cell::new(false),
            next_generation: Cell::new(generation),
            _hold: partition.hold,
        })
    }

    fn enqueue(self: &Rc<Self>, work: Work) -> Rc<Done> {
        let done = Rc::new(Done::default());
        self.jobs.borrow_mut().push_back(Job {
            work,
            done: done.clone(),
        });
        if !self.running.replace(true) {
            let me = self.clone();
            glommio::spawn_local(async move { me.run_jobs().await }).detach();
        }
        done
    }

    /// Runs the queued file work, one job at a time, until none is left.
    async fn run_jobs(self: Rc<Self>) {
        loop {
            let job = self.jobs.borrow_mut().pop_front();
            let Some(job) = job else {
                self.running.set(false);
                return;
            };
            let ok = match job.work {
                Work::Write {
                    hash,
                    generation,
                    key,
                    entry,
                    expires_ms,
                } => {
                    let dir = self.dir.clone();
                    let r = blocking(move || {
                        write_entry(&dir, hash, generation, &key, &entry, expires_ms)
                    })
                    .await;
                    self.written(hash, generation, r)
                }
                Work::Remove { hash } => {
                    let path = self.dir.join(format::file_name(hash));
                    match blocking(move || match fs::remove_file(&path) {
                        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                        r => r,
                    })
                    .await
                    {
                        Ok(()) => true,
                        Err(e) => {
                            tracing::warn!(dir = %self.dir.display(), "cannot remove a cache entry file: {e}");
                            false
                        }
                    }
                }
            };
            job.done.finish(ok);
        }
    }

    /// A write ended: the slot it was for (if still current) is now served
    /// from its file, or (failed) is gone.
    fn written(&self, hash: u64, generation: u64, r: io::Result<()>) -> bool {
        let mut ix = self.index.borrow_mut();
        let current = ix
            .slots
            .get(&hash)
            .is_some_and(|s| s.generation == generation);
        match r {
            Ok(()) => {
                if current {
                    if let Some(s) = ix.slots.get_mut(&hash) {
                        s.pending = None;
                    }
                }
                true
            }
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), "cannot write a cache entry to disk: {e}");
                if current {
                    ix.remove(hash);
                }
                false
            }
        }
    }

    /// Stores `entry` under `key`, replacing what was there and evicting
    /// the least recently used files to stay within budget: the write's
    /// [`Done`], or `None` if it is larger than the whole budget (then the
    /// old entry is gone and nothing is stored).
    pub(crate) fn put(self: &Rc<Self>, key: &str, entry: &Entry, now_ms: u64) -> Option<Rc<Done>> {
        let hash = format::key_hash(key);
        let size = format::encoded_len(key, entry);
        let mut ix = self.index.borrow_mut();
        let had = ix.remove(hash).is_some();
        if size > self.budget {
            drop(ix);
            if had {
                self.enqueue(Work::Remove { hash });
            }
            return None;
        }
        let mut victims = Vec::new();
        while ix.used + size > self.budget {
            let Some((_, victim)) = ix.order.pop_first() else {
                break;
            };
            if let Some(s) = ix.slots.remove(&victim) {
                ix.used -= s.size;
                ix.evictions += 1;
                victims.push(victim);
            }
        }
        let generation = self.next_generation.get() + 1;
        self.next_generation.set(generation);
        let expires_ms = unix_ms_of(entry.expires, now_ms);
        ix.insert(
            hash,
            Slot {
                key: key.to_string(),
                size,
                expires_ms,
                tick: 0,
                generation,
                pending: Some(entry.clone()),
            },
        );
        drop(ix);
        for hash in victims {
            self.enqueue(Work::Remove { hash });
        }
        Some(self.enqueue(Work::Write {
            hash,
            generation,
            key: key.to_string(),
            entry: entry.clone(),
            expires_ms,
        }))
    }

    /// The entry under `key`, fresh at `now_ms` (it becomes the most
    /// recently used); a stale one is removed.
    pub(crate) fn lookup(self: &Rc<Self>, key: &str, now_ms: u64) -> Lookup {
        let hash = format::key_hash(key);
        let mut ix = self.index.borrow_mut();
        let Some(slot) = ix.slots.get(&hash).filter(|s| s.key == key) else {
            return Lookup::Miss;
        };
        if slot.expires_ms <= now_ms {
            ix.remove(hash);
            drop(ix);
            self.enqueue(Work::Remove { hash });
            return Lookup::Miss;
        }
        ix.touch(hash);
        let slot = &ix.slots[&hash];
        if let Some(e) = &slot.pending {
            return Lookup::Now(e.clone());
        }
        let generation = slot.generation;
        let path = self.dir.join(format::file_name(hash));
        let me = self.clone();
        let key = key.to_string();
        Lookup::Read(Box::pin(async move {
            let r = blocking(move || read_entry(&path)).await;
            me.read(hash, generation, &key, r)
        }))
    }

    /// A read ended: the entry if it is whole, its key's, and still the
    /// current one; an unusable file is removed with a warning.
    fn read(
        self: &Rc<Self>,
        hash: u64,
        generation: u64,
        key: &str,
        r: io::Result<Result<format::Decoded, FormatError>>,
    ) -> Option<Entry> {
        let mut ix = self.index.borrow_mut();
        if ix
            .slots
            .get(&hash)
            .is_none_or(|s| s.generation != generation)
        {
            return None;
        }
        let why = match r {
            Ok(Ok(d)) if d.key == key => {
                let now_ms = super::dir::unix_ms_now();
                return Some(Entry {
                    status: d.status,
                    headers: d.headers,
                    body: d.body,
                    vary: d.vary,
                    expires: instant_of(d.expires_ms, now_ms),
                });
            }
            Ok(Ok(d)) => format!("holds key {:?}", d.key),
            Ok(Err(e)) => e.to_string(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => "the file is gone".to_string(),
            Err(e) => e.to_string(),
        };
        tracing::warn!(
            path = %self.dir.join(format::file_name(hash)).display(),
            "cache entry not served and removed: {why}"
        );
        ix.remove(hash);
        drop(ix);
        self.enqueue(Work::Remove { hash });
        None
    }

    /// Drops `key`'s entry: whether it was fresh at `now_ms`, and the
    /// removal of its file; `None` if there was none.
    pub(crate) fn delete(self: &Rc<Self>, key: &str, now_ms: u64) -> Option<(bool, Rc<Done>)> {
        let hash = format::key_hash(key);
        let mut ix = self.index.borrow_mut();
        if ix.slots.get(&hash).is_none_or(|s| s.key != key) {
            return None;
        }
        let s = ix.remove(hash)?;
        drop(ix);
        Some((s.expires_ms > now_ms, self.enqueue(Work::Remove { hash })))
    }

    /// Its counters.
    pub(crate) fn stats(&self) -> DiskStats {
        let ix = self.index.borrow();
        DiskStats {
            entries: ix.slots.len(),
            bytes: ix.used,
            evictions: ix.evictions,
        }
    }
}

/// Writes `entry`'s file: a temporary file, renamed over the entry's name
/// once complete. On failure neither is left (the older entry the write
/// was replacing is superseded, so it goes too).
fn write_entry(
    dir: &Path,
    hash: u64,
    generation: u64,
    key: &str,
    entry: &Entry,
    expires_ms: u64,
) -> io::Result<()> {
    let prefix = format::encode_prefix(key, entry, expires_ms);
    let tmp = dir.join(format::temp_name(hash, generation));
    let path = dir.join(format::file_name(hash));
    let r = (|| {
        let mut f = match File::create(&tmp) {
            // (The directory was removed under us: make it again.)
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(dir)?;
                File::create(&tmp)?
            }
            r => r?,
        };
        f.write_all(&prefix)?;
        f.write_all(&entry.body)?;
        drop(f);
        fs::rename(&tmp, &path)
    })();
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
        let _ = fs::remove_file(&path);
    }
    r
}

/// Reads and checks a whole entry file.
fn read_entry(path: &Path) -> io::Result<Result<format::Decoded, FormatError>> {
    let bytes = fs::read(path)?;
    Ok(format::decode(Bytes::from(bytes)))
}

//! The V8 platform: initialized once per process, before any isolate.
//!
//! V8 hands an isolate's foreground tasks to the platform (finishing an
//! asynchronous `WebAssembly.compile`/`instantiate`, FinalizationRegistry
//! callbacks, GC jobs), often from its background threads, and expects
//! them run on the isolate's thread. Each shard's isolate registers an inbox
//! ([`IsolateTasks`]); a posted task goes there and rings the inbox's
//! doorbell, which the shard waits on in its own ring.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::{Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

use ringworker_core::mesh::Mesh;

/// A foreground task V8 posted, with when it may run.
pub(crate) struct Posted {
    pub(crate) task: v8::Task,
    pub(crate) due: Option<Instant>,
}

/// Inboxes by isolate address.
fn inboxes() -> &'static Mutex<HashMap<usize, Mesh<Posted>>> {
    static INBOXES: OnceLock<Mutex<HashMap<usize, Mesh<Posted>>>> = OnceLock::new();
    INBOXES.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Routes V8's foreground tasks to their isolate's inbox.
struct Foreground;

impl Foreground {
    fn route(isolate: *mut std::ffi::c_void, task: v8::Task, delay: Option<f64>) {
        let due = delay
            .filter(|d| *d > 0.0)
            .map(|d| Instant::now() + Duration::from_secs_f64(d.min(1e6)));
        let inbox = inboxes()
            .lock()
            .ok()
            .and_then(|m| m.get(&(isolate as usize)).cloned());
        match inbox {
            Some(inbox) => {
                // (A gone shard's task is dropped with the inbox.)
                let _ = inbox.send(0, Posted { task, due });
            }
            // An isolate nobody runs tasks for (the snapshot maker, one
            // being torn down): the task is dropped unrun.
            None => drop(task),
        }
    }
}

impl v8::PlatformImpl for Foreground {
    fn post_task(&self, isolate: *mut std::ffi::c_void, task: v8::Task) {
        Self::route(isolate, task, None);
    }
    fn post_non_nestable_task(&self, isolate: *mut std::ffi::c_void, task: v8::Task) {
        Self::route(isolate, task, None);
    }
    fn post_delayed_task(&self, isolate: *mut std::ffi::c_void, task: v8::Task, delay: f64) {
        Self::route(isolate, task, Some(delay));
    }
    fn post_non_nestable_delayed_task(
        &self,
        isolate: *mut std::ffi::c_void,
        task: v8::Task,
        delay: f64,
    ) {
        Self::route(isolate, task, Some(delay));
    }
    fn post_idle_task(&self, _isolate: *mut std::ffi::c_void, task: v8::IdleTask) {
        // (Idle tasks are off: V8 does not post any.)
        drop(task);
    }
}

/// An isolate's registration for its foreground tasks. Dropped before the
/// isolate: tasks still queued are destroyed while it exists.
pub(crate) struct IsolateTasks {
    key: usize,
    inbox: Mesh<Posted>,
    /// Posted with a delay that has not passed yet.
    pub(crate) delayed: std::cell::RefCell<Vec<(Instant, v8::Task)>>,
}

impl IsolateTasks {
    /// Registers `isolate`; also returns the inbox's doorbell (readable when
    /// a task was posted) for the shard to wait on.
    pub(crate) fn register(isolate: &v8::Isolate) -> Option<(Self, OwnedFd)> {
        // SAFETY: UnsafeRawIsolatePtr is a transparent wrapper of the
        // isolate's address, used here only as a key.
        let key = unsafe {
            std::mem::transmute::<v8::UnsafeRawIsolatePtr, *mut std::ffi::c_void>(
                isolate.as_raw_isolate_ptr(),
            )
        } as usize;
        let inbox = Mesh::new(1).ok()?;
        let bell = inbox.take_doorbell(0)?;
        inboxes().lock().ok()?.insert(key, inbox.clone());
        Some((
            Self {
                key,
                inbox,
                delayed: std::cell::RefCell::new(Vec::new()),
            },
            bell,
        ))
    }

    /// Takes what was posted since the last call.
    pub(crate) fn drain(&self, f: impl FnMut(Posted)) {
        self.inbox.drain(0, f);
    }
}

impl Drop for IsolateTasks {
    fn drop(&mut self) {
        if let Ok(mut m) = inboxes().lock() {
            m.remove(&self.key);
        }
        self.inbox.drain(0, drop);
        self.delayed.borrow_mut().clear();
    }
}

/// Initializes V8 (idempotent; safe to call from every shard).
pub fn init_v8() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // Extra V8 flags for diagnosis, e.g. RINGWORKER_V8_FLAGS="--trace-gc".
        if let Ok(flags) = std::env::var("RINGWORKER_V8_FLAGS") {
            v8::V8::set_flags_from_string(&flags);
        }
        // One worker thread for V8's background jobs (GC, compilation): shards
        // own the cores, so V8 gets as little as it needs.
        let before = threads();
        let platform = v8::new_custom_platform(1, false, false, Foreground).make_shared();
        v8::V8::initialize_platform(platform);
        v8::V8::initialize();
        let workers: Vec<i32> = threads()
            .into_iter()
            .filter(|t| !before.contains(t))
            .collect();
        demote(&workers);
    });
}

/// Lets the calling thread run on any core of the process (a thread spawned
/// from a pinned shard inherits its pin; the watchdog must not sit on one
/// shard's core).
pub(crate) fn unpin_current_thread() {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; getpid/gettid have no
    // preconditions, and the set passed is valid for the size given.
    unsafe {
        let mut mask: libc::cpu_set_t = std::mem::zeroed();
        let size = std::mem::size_of::<libc::cpu_set_t>();
        if libc::sched_getaffinity(libc::getpid(), size, &mut mask) == 0 {
            libc::sched_setaffinity(0, size, &mask);
        }
    }
}

/// This process's thread ids.
fn threads() -> Vec<i32> {
    std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.flatten()
                .filter_map(|t| t.file_name().to_str().and_then(|s| s.parse().ok()))
                .collect()
        })
        .unwrap_or_default()
}

/// Makes V8's worker threads yield to the shards: nice 19, so the scheduler
/// never preempts a shard for a background compile or GC step (measured: a
/// 4 ms compile job on the shard's core was the whole tail of the disconnect
/// benchmark), and free to run on any core of the process — a worker
/// created from a pinned shard thread would otherwise inherit its pin.
fn demote(workers: &[i32]) {
    // The process's main thread keeps the affinity the process started with.
    // SAFETY: a zeroed cpu_set_t is a valid empty set; getpid has no preconditions.
    let mut mask: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::getpid() };
    // SAFETY: `mask` is a valid cpu_set_t of the size passed.
    let have_mask =
        unsafe { libc::sched_getaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &mut mask) }
            == 0;
    for &tid in workers {
        // SAFETY: plain syscalls on a thread of this process.
        unsafe {
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 19);
            if have_mask {
                libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &mask);
            }
        }
    }
}

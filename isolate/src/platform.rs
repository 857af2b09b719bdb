//! The V8 platform: initialized once per process, before any isolate.

use std::sync::Once;

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
        let platform = v8::new_default_platform(1, false).make_shared();
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

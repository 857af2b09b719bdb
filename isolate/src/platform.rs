//! The V8 platform: initialized once per process, before any isolate.

use std::sync::Once;

/// Initializes V8 (idempotent; safe to call from every shard).
pub fn init_v8() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // One worker thread for V8's background jobs (GC, compilation): shards
        // own the cores, so V8 gets as little as it needs.
        let platform = v8::new_default_platform(1, false).make_shared();
        v8::V8::initialize_platform(platform);
        v8::V8::initialize();
    });
}

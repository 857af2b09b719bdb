//! Entry points for the fuzz targets in `fuzz/` (compiled only with
//! `--cfg fuzzing`, which the fuzz build sets): what an actor's stored
//! value turns into when it is read back.

use std::cell::RefCell;

thread_local! {
    /// One isolate and context for every input (a new isolate per input
    /// would make each run cost milliseconds).
    static ISOLATE: RefCell<Option<(v8::OwnedIsolate, v8::Global<v8::Context>)>> =
        const { RefCell::new(None) };
}

/// Reads `bytes` as a stored actor value (V8's structured-clone wire
/// format, as `ctx.storage` keeps it) the way storage reads it back. A value
/// that reads must store again, and what it stores must read. Returns
/// whether `bytes` held a value; a panic or a crash is a finding.
pub fn stored_value_round_trip(bytes: &[u8]) -> bool {
    ISOLATE.with(|cell| {
        let mut cell = cell.borrow_mut();
        let (isolate, context) = cell.get_or_insert_with(|| {
            crate::platform::init_v8();
            let mut isolate =
                v8::Isolate::new(v8::CreateParams::default().heap_limits(0, 256 << 20));
            // What a shard's isolate has before storage is read: the
            // deserializer makes CryptoKeys (a stored key) through it.
            crate::crypto::ops::install(&mut isolate);
            let context = {
                v8::scope!(let scope, &mut isolate);
                let c = v8::Context::new(scope, Default::default());
                v8::Global::new(scope, c)
            };
            (isolate, context)
        });
        v8::scope!(let scope, isolate);
        let context = v8::Local::new(scope, &*context);
        let scope = &mut v8::ContextScope::new(scope, context);
        v8::tc_scope!(let tc, scope);
        let Some(value) = crate::actor::deserialize(tc, bytes) else {
            return false;
        };
        let again = crate::actor::serialize(tc, value)
            .expect("a value read from storage can be stored again");
        assert!(
            crate::actor::deserialize(tc, &again).is_some(),
            "a value stored again cannot be read back"
        );
        true
    })
}

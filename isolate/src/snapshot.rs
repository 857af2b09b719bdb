//! The startup snapshot: the Workers API surface (natives, ops and every JS
//! file of `js/`) built once per process into a V8 snapshot, so each new
//! isolate — one per shard, and every replacement — deserializes it instead of
//! compiling and running thousands of lines of JS.
//!
//! Making it takes ~30 ms, most of a cold start, so a program can make it at
//! build time instead ([`make_startup_snapshot`] in a build script) and hand it
//! over at start ([`use_startup_snapshot`]); the `ringworker` crate does. A
//! handed-over snapshot carries a fingerprint of what it was made from (the V8
//! version, the natives and the JS), and one that does not match this build,
//! or any snapshot while `RINGWORKER_V8_FLAGS` changes V8's flags, is set
//! aside and the snapshot made here as before.
//!
//! If the snapshot cannot be made, isolates build the surface themselves
//! (slower to start, same behaviour).

use std::sync::OnceLock;

use crate::platform::init_v8;
use crate::runtime::{install_surface, native_functions, set_slots};

struct Refs(Vec<v8::ExternalReference>);

// SAFETY: the entries are plain function pointers, written once at
// initialization and only read afterwards.
unsafe impl Send for Refs {}
// SAFETY: as above.
unsafe impl Sync for Refs {}

/// The native functions the snapshot refers to, in a fixed order.
pub(crate) fn external_references() -> &'static [v8::ExternalReference] {
    static REFS: OnceLock<Refs> = OnceLock::new();
    &REFS
        .get_or_init(|| {
            Refs(
                native_functions()
                    .into_iter()
                    .map(|f| v8::ExternalReference { function: f })
                    .collect(),
            )
        })
        .0
}

/// A snapshot made ahead of time, accepted by [`use_startup_snapshot`].
static PREBUILT: OnceLock<&'static [u8]> = OnceLock::new();

/// Fingerprint of everything a snapshot depends on: V8's version, the native
/// functions (a snapshot names them by index) and the API surface's JS.
fn fingerprint() -> u64 {
    // FNV-1a: stable across builds and platforms (std's hashers are not).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes.iter().chain(&[0xff]) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(v8::V8::get_version().as_bytes());
    eat(&native_functions().len().to_le_bytes());
    for (name, _) in crate::runtime::all_ops() {
        eat(name.as_bytes());
    }
    for (name, source) in crate::runtime::BOOTSTRAP {
        eat(name.as_bytes());
        eat(source.as_bytes());
    }
    h
}

/// Makes the startup snapshot, for a build script to embed: the result is for
/// [`use_startup_snapshot`] in a program built with this same crate, and made
/// with V8's default flags (it refuses while `RINGWORKER_V8_FLAGS` is set).
/// Call it in a process that runs no isolate (a build script): V8 may crash
/// making a snapshot while other isolates run.
pub fn make_startup_snapshot() -> Result<Vec<u8>, String> {
    if std::env::var_os("RINGWORKER_V8_FLAGS").is_some() {
        return Err(
            "RINGWORKER_V8_FLAGS is set: a snapshot made with extra flags \
                    would not load in a process without them"
                .into(),
        );
    }
    let made = std::thread::Builder::new()
        .name("v8-snapshot".into())
        .spawn(make)
        .map_err(|e| e.to_string())?
        .join()
        .map_err(|_| "the snapshot maker panicked".to_string())??;
    let mut out = made.into_vec();
    out.extend_from_slice(&fingerprint().to_le_bytes());
    Ok(out)
}

/// Hands over a snapshot from [`make_startup_snapshot`] (embedded at build
/// time), so no isolate of this process waits for one to be made. Returns
/// whether it was accepted: not if it was made by another build (its
/// fingerprint differs), nor while `RINGWORKER_V8_FLAGS` is set (V8 would
/// refuse a snapshot made with other flags). Call it before the first
/// isolate: once a snapshot is in use, a later call changes nothing.
pub fn use_startup_snapshot(snapshot: &'static [u8]) -> bool {
    if std::env::var_os("RINGWORKER_V8_FLAGS").is_some() || snapshot.len() <= 8 {
        return false;
    }
    let (blob, tail) = snapshot.split_at(snapshot.len() - 8);
    let stamped = u64::from_le_bytes(tail.try_into().expect("8 bytes"));
    if stamped != fingerprint() {
        tracing::warn!(
            "the embedded startup snapshot is from another build of ringworker-isolate; \
             making one at start instead"
        );
        return false;
    }
    PREBUILT.set(blob).is_ok() || PREBUILT.get() == Some(&blob)
}

/// The snapshot blob: the one handed over, or else made on first use; None if
/// it could not be made.
pub(crate) fn blob() -> Option<&'static [u8]> {
    static BLOB: OnceLock<Option<&'static [u8]>> = OnceLock::new();
    *BLOB.get_or_init(|| {
        if let Some(prebuilt) = PREBUILT.get() {
            return Some(*prebuilt);
        }
        // Made on a thread of its own: a snapshot creator is an isolate, and
        // a thread's isolates must be dropped in reverse creation order.
        let made = std::thread::Builder::new()
            .name("v8-snapshot".into())
            .spawn(make)
            .ok()?
            .join()
            .ok()?;
        match made {
            Ok(bytes) => Some(Box::leak(bytes)),
            Err(e) => {
                tracing::warn!(
                    "no startup snapshot ({e}); isolates will build the API surface themselves"
                );
                None
            }
        }
    })
}

fn make() -> Result<Box<[u8]>, String> {
    init_v8();
    let refs = std::borrow::Cow::Borrowed(external_references());
    let mut creator = v8::Isolate::snapshot_creator(Some(refs), None);
    let _host = set_slots(&mut creator, usize::MAX);
    let installed = {
        v8::scope!(let scope, &mut creator);
        let context = v8::Context::new(scope, Default::default());
        let scope = &mut v8::ContextScope::new(scope, context);
        let installed = install_surface(scope, context).map(|_| ());
        // The context's slot annex holds a global handle to the context,
        // which a snapshot cannot contain.
        context.clear_all_slots();
        scope.set_default_context(context);
        installed
    };
    // Slots hold Rust values that must not outlive the creator's context.
    drop(creator.remove_slot::<crate::runtime::HostRef>());
    drop(creator.remove_slot::<crate::web::WebState>());
    // (A snapshot creator must make its blob before it is dropped, also
    // when the surface failed to install: that error is the one to report.)
    let blob = creator.create_blob(v8::FunctionCodeHandling::Keep);
    installed.map_err(|e| e.to_string())?;
    let blob = blob.ok_or_else(|| "V8 could not serialize the context".to_string())?;
    Ok(blob.to_vec().into_boxed_slice())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_api_surface_snapshots() {
        let blob = super::blob().expect("the startup snapshot is made");
        assert!(blob.len() > 100_000, "snapshot of {} bytes", blob.len());
    }

    #[test]
    fn a_snapshot_from_another_build_is_refused() {
        // (make_startup_snapshot is for a process with no other isolate, not
        // for a test binary whose tests run isolates in parallel.)
        let mut made = super::blob().expect("made").to_vec();
        // Another build: a fingerprint that is not ours.
        made.extend_from_slice(&(super::fingerprint() ^ 0x5a).to_le_bytes());
        let other: &'static [u8] = Box::leak(made.into_boxed_slice());
        assert!(!super::use_startup_snapshot(other));
        assert!(!super::use_startup_snapshot(&[]));
        assert!(!super::use_startup_snapshot(&[0; 16]));
        assert!(super::PREBUILT.get().is_none());
    }
}

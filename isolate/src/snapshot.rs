//! The startup snapshot: the Workers API surface (natives, ops and every JS
//! file of `js/`) built once per process into a V8 snapshot, so each new
//! isolate — one per shard, and every replacement — deserializes it instead of
//! compiling and running thousands of lines of JS.
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

/// The snapshot blob, made on first use; None if it could not be made.
pub(crate) fn blob() -> Option<&'static [u8]> {
    static BLOB: OnceLock<Option<&'static [u8]>> = OnceLock::new();
    *BLOB.get_or_init(|| {
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
    {
        v8::scope!(let scope, &mut creator);
        let context = v8::Context::new(scope, Default::default());
        let scope = &mut v8::ContextScope::new(scope, context);
        install_surface(scope, context).map_err(|e| e.to_string())?;
        // The context's slot annex holds a global handle to the context,
        // which a snapshot cannot contain.
        context.clear_all_slots();
        scope.set_default_context(context);
    }
    // Slots hold Rust values that must not outlive the creator's context.
    drop(creator.remove_slot::<crate::runtime::HostRef>());
    drop(creator.remove_slot::<crate::web::WebState>());
    let blob = creator
        .create_blob(v8::FunctionCodeHandling::Keep)
        .ok_or_else(|| "V8 could not serialize the context".to_string())?;
    Ok(blob.to_vec().into_boxed_slice())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_api_surface_snapshots() {
        let blob = super::blob().expect("the startup snapshot is made");
        assert!(blob.len() > 100_000, "snapshot of {} bytes", blob.len());
    }
}

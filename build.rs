//! Makes the V8 startup snapshot (the Workers API surface) at build time, so a
//! process does not spend ~30 ms making it before its first isolate
//! (`ringworker_isolate::make_startup_snapshot`). If it cannot be made here,
//! an empty file is written and the process makes the snapshot at start, as
//! it would without this.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("startup.snap");
    // A diagnostic flag set for the build would make a snapshot no process
    // without that flag could load.
    // SAFETY: nothing else runs in this build script yet.
    unsafe { std::env::remove_var("RINGWORKER_V8_FLAGS") };
    let blob = match ringworker_isolate::make_startup_snapshot() {
        Ok(blob) => blob,
        Err(e) => {
            println!(
                "cargo:warning=no build-time startup snapshot ({e}); it will be made at start"
            );
            Vec::new()
        }
    };
    std::fs::write(&out, blob).expect("write the startup snapshot");
}

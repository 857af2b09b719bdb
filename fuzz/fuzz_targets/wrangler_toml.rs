//! Loading a `wrangler.toml` (`ringworker::wrangler`): any text gives a
//! project or an error naming the file, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringworker::wrangler::Project;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Project::parse(text, "wrangler.toml", Path::new("/p")) {
        Ok(p) => {
            if let Some(main) = &p.main {
                assert!(main.starts_with("/p") || main.is_absolute());
            }
            for b in &p.actors {
                let _ = (&b.binding, &b.class);
            }
        }
        Err(e) => assert!(e.to_string().starts_with("wrangler.toml")),
    }
});

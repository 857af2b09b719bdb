//! The `ringworker` binary as a child process, and scripts written for a test.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

use super::{Spawned, spawn_listening};

/// A script file `name` with `body`, in this test process's own temp directory.
pub fn write_script(name: &str, body: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringworker-js-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

/// The `ringworker` binary cargo built for these tests.
pub fn ringworker_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ringworker"))
}

/// `ringworker serve ARGS --listen 127.0.0.1:0` as a child process, up and
/// accepting (killed on drop); `stop()` ends it and returns what it logged.
pub struct Cli {
    pub child: Spawned,
    pub addr: SocketAddr,
}

impl Cli {
    pub fn start(args: &[&std::ffi::OsStr]) -> Cli {
        Self::start_shards(args, 1)
    }

    /// [`Cli::start`] with `shards` shards.
    pub fn start_shards(args: &[&std::ffi::OsStr], shards: usize) -> Cli {
        let mut cmd = Command::new(ringworker_bin());
        cmd.arg("serve")
            .args(args)
            .args(["--listen", "127.0.0.1:0", "--no-pin"])
            .args(["--shards", &shards.to_string()]);
        let child = spawn_listening(cmd);
        let addr = child.addr;
        Cli { child, addr }
    }

    pub fn stop(self) -> String {
        self.child.stop()
    }
}

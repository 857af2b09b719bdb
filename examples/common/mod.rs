//! Command-line options shared by the Rust examples.

use std::net::SocketAddr;

use clap::Parser;

/// Where and how to serve.
#[derive(Debug, Parser)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Number of shards (default: one per available core).
    #[arg(long)]
    pub shards: Option<usize>,
    /// Do not pin shards to cores.
    #[arg(long)]
    pub no_pin: bool,
    /// On SIGINT/SIGTERM, write the shards' metrics here as JSON first
    /// (read by `ringworker perf`).
    #[arg(long)]
    pub stats_out: Option<std::path::PathBuf>,
}

impl ServeArgs {
    /// The server configuration these options describe.
    pub fn config(&self) -> ringworker::Config {
        let mut config = ringworker::Config::new(self.listen);
        if let Some(n) = self.shards {
            config.shards = n;
        }
        config.pin_shards = !self.no_pin;
        config
    }
}

//! Responds `Hello World` to every request: the Rust-only ceiling that the
//! JS path is measured against.
//!
//! `cargo run --release --example hello -- --listen 127.0.0.1:8080 --shards 2`

mod common;

use clap::Parser;
use ringworker::{Request, Response};

fn main() -> anyhow::Result<()> {
    ringworker::init_logging();
    let args = common::ServeArgs::parse();
    let server = ringworker::serve(args.config(), |_shard| {
        |_req: Request| async { Response::text(200, "Hello World") }
    })?;
    eprintln!(
        "hello: listening on http://{} with {} shards",
        server.local_addr(),
        server.shards()
    );
    server.run_until_signal_with_stats(args.stats_out.clone())?;
    Ok(())
}

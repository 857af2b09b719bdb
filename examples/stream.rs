//! Streams `--chunks` chunks of `--chunk-size` bytes (chunked encoding),
//! optionally `--interval-ms` apart. `?chunks=N&size=S` overrides per request.
//! The producer stops as soon as the client goes away.
//!
//! `cargo run --release --example stream -- --listen 127.0.0.1:8080 --chunks 64 --chunk-size 1024`

mod common;

use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use ringworker::{Request, Response, ResponseBody};

#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    serve: common::ServeArgs,
    /// Chunks per response.
    #[arg(long, default_value_t = 64)]
    chunks: usize,
    /// Bytes per chunk.
    #[arg(long, default_value_t = 1024)]
    chunk_size: usize,
    /// Pause between chunks, in milliseconds.
    #[arg(long, default_value_t = 0)]
    interval_ms: u64,
}

fn query_param(req: &Request, key: &str) -> Option<usize> {
    req.query()?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
}

fn main() -> anyhow::Result<()> {
    ringworker::init_logging();
    let args = Args::parse();
    let (chunks, size, interval) = (
        args.chunks,
        args.chunk_size,
        Duration::from_millis(args.interval_ms),
    );
    let server = ringworker::serve(args.serve.config(), move |_shard| {
        move |req: Request| async move {
            let chunks = query_param(&req, "chunks").unwrap_or(chunks);
            let size = query_param(&req, "size").unwrap_or(size);
            let chunk = Bytes::from(vec![b'x'; size]);
            let (tx, body) = ResponseBody::channel(4, None);
            let cancel = req.cancel_flag().clone();
            glommio::spawn_local(async move {
                for _ in 0..chunks {
                    if tx.send(chunk.clone()).await.is_err() {
                        tracing::info!("client left: {:?}", cancel.reason());
                        return;
                    }
                    if !interval.is_zero() {
                        glommio::timer::sleep(interval).await;
                    }
                }
            })
            .detach();
            Response::new(200)
                .header("content-type", "application/octet-stream")
                .body(body)
        }
    })?;
    eprintln!(
        "stream: listening on http://{} with {} shards",
        server.local_addr(),
        server.shards()
    );
    server.run_until_signal_with_stats(args.serve.stats_out.clone())?;
    Ok(())
}

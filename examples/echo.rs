//! Streams the request body back as the response body, chunk by chunk, with
//! backpressure both ways (the request is read only as fast as the client
//! takes the response).
//!
//! `cargo run --release --example echo -- --listen 127.0.0.1:8080 --shards 2`

mod common;

use clap::Parser;
use ringworker::{Request, Response, ResponseBody};

fn main() -> anyhow::Result<()> {
    ringworker::init_logging();
    let args = common::ServeArgs::parse();
    let server = ringworker::serve(args.config(), |_shard| {
        |mut req: Request| async move {
            let body = req.take_body();
            // Same framing as the request: a known length is echoed with
            // Content-Length, a chunked body comes back chunked.
            let length = body.content_length();
            let mut resp = Response::new(200).body(ResponseBody::stream(length, body));
            if let Some(ct) = req.header("content-type") {
                resp = resp.header("content-type", bytes::Bytes::copy_from_slice(ct));
            }
            resp
        }
    })?;
    eprintln!(
        "echo: listening on http://{} with {} shards",
        server.local_addr(),
        server.shards()
    );
    server.run_until_signal_with_stats(args.stats_out.clone())?;
    Ok(())
}

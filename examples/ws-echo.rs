//! A WebSocket echo server in Rust: the ceiling the JS echo path is measured
//! against (`ringworker-bench ws`), over the same handshake, framing and
//! session code.
//!
//! `cargo run --release --example ws-echo -- --listen 127.0.0.1:8080 --shards 1`

mod common;

use clap::Parser;
use ringworker::ws::{WebSocket, WsEvent};
use ringworker::{Request, Response};

fn main() -> anyhow::Result<()> {
    ringworker::init_logging();
    let args = common::ServeArgs::parse();
    let server = ringworker::serve(args.config(), |_shard| {
        |_req: Request| async {
            let ws = WebSocket::new();
            let peer = ws.clone();
            glommio::spawn_local(async move {
                while let Some(ev) = peer.next_event().await {
                    if let WsEvent::Message(m) = ev {
                        let _ = peer.send(m);
                    }
                }
            })
            .detach();
            Response::websocket(ws)
        }
    })?;
    eprintln!(
        "ws-echo: listening on ws://{} with {} shards",
        server.local_addr(),
        server.shards()
    );
    server.run_until_signal()?;
    Ok(())
}

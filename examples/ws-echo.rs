//! A WebSocket echo server in Rust: the ceiling the JS echo path is measured
//! against (`ringworker-bench ws`), over the same handshake, framing and
//! session code, with the same event delivery (a listener called on the
//! connection's task).
//!
//! `cargo run --release --example ws-echo -- --listen 127.0.0.1:8080 --shards 1`

mod common;

use std::rc::Rc;

use clap::Parser;
use ringworker::ws::{WebSocket, WsEvent};
use ringworker::{Request, Response};

fn main() -> anyhow::Result<()> {
    ringworker::init_logging();
    let args = common::ServeArgs::parse();
    let server = ringworker::serve(args.config(), |_shard| {
        |_req: Request| async {
            let ws = WebSocket::new();
            ws.set_listener(Rc::new(
                |ws: &WebSocket, events: &mut dyn Iterator<Item = WsEvent>| {
                    for ev in events {
                        if let WsEvent::Message(m) = ev {
                            let _ = ws.send(m);
                        }
                    }
                },
            ));
            Response::websocket(ws)
        }
    })?;
    eprintln!(
        "ws-echo: listening on ws://{} with {} shards",
        server.local_addr(),
        server.shards()
    );
    server.run_until_signal_with_stats(args.stats_out.clone())?;
    Ok(())
}

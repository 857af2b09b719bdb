//! `GET /tail` (a WebSocket): the admin shard that accepted the client
//! attaches a [`TailSubscription`] to every shard and forwards its events,
//! one text message (a JSON object) each.
//!
//! The first message is `{"kind":"attached","shards":N}`, sent once every
//! shard sends events: a request made after it is seen. A client that
//! falls behind is dropped, never waited for: when a shard finds its queue
//! full (`AdminConfig::tail_queue`), or when more than
//! `AdminConfig::tail_max_buffered_bytes` wait to be written to its socket,
//! it is closed with 1008 "tail client too slow".

use std::future::poll_fn;
use std::task::Poll;

use ringworker_core::{AdminConfig, ShardController, TailFilter, TailSubscription};
use ringworker_io::ws::{WebSocket, WsEvent};
use ringworker_io::{Request, Response};

/// Answers a `/tail` upgrade: 400 for filters it cannot parse, else the
/// WebSocket, served by a task on this shard.
pub(crate) fn upgrade(req: &Request, controller: &ShardController, cfg: &AdminConfig) -> Response {
    let filter = match TailFilter::parse_query(req.query().unwrap_or("")) {
        Ok(f) => f,
        Err(e) => return Response::text(400, format!("{e}\n")),
    };
    let ws = WebSocket::new();
    let sub = TailSubscription::new(filter, cfg.tail_queue);
    glommio::spawn_local(forward(
        ws.clone(),
        sub,
        controller.clone(),
        cfg.tail_max_buffered_bytes,
    ))
    .detach();
    Response::websocket(ws)
}

enum Next {
    Client(Option<WsEvent>),
    Event(Option<std::sync::Arc<str>>),
}

async fn forward(
    ws: WebSocket,
    mut sub: TailSubscription,
    controller: ShardController,
    max_buffered: usize,
) {
    let shards = controller.tail(&sub).await;
    let _ = ws.send_text(format!("{{\"kind\":\"attached\",\"shards\":{shards}}}"));
    loop {
        let next = poll_fn(|cx| {
            if let Poll::Ready(e) = ws.poll_event(cx) {
                return Poll::Ready(Next::Client(e));
            }
            sub.poll_next(cx).map(Next::Event)
        })
        .await;
        match next {
            Next::Client(Some(WsEvent::Message(_))) => {}
            Next::Client(_) => break,
            Next::Event(Some(json)) => {
                if ws.buffered_amount() + json.len() > max_buffered {
                    tracing::info!(
                        "dropping a tail client that does not keep up (unsent bytes over the limit)"
                    );
                    let _ = ws.close(Some(1008), "tail client too slow");
                    break;
                }
                let _ = ws.send_text(&*json);
            }
            Next::Event(None) => {
                tracing::info!(
                    "dropping a tail client that does not keep up (its event queue filled)"
                );
                let _ = ws.close(Some(1008), "tail client too slow");
                break;
            }
        }
    }
    controller.untail(sub.id());
}

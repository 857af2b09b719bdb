//! The admin listener (`--admin ADDR`, [`Config::admin`](crate::Config)):
//! what an operator or a load balancer asks a running server.
//!
//! Every shard serves it on its own socket (`SO_REUSEPORT`), beside the
//! main listener and apart from it ([`ringworker_io::SideListener`]): its
//! requests are not counted in the shard's metrics, and a request to it
//! reaches the other shards only by message (one per shard per scrape).
//!
//! | route | answer |
//! |---|---|
//! | `GET /metrics` | Prometheus text format ([`metrics`]) |
//! | `GET /healthz` | 200 while the process is up |
//! | `GET /readyz` | 200 while every shard serves; 503 while starting or draining |
//! | `GET /stats` | the same figures as JSON ([`stats::StatsDocument`]) |
//! | `GET /` | a live dashboard (HTML and a vendored chart library, [`page`]) |
//! | `GET /tail` | a WebSocket of finished requests ([`tail`]), filtered by query |

pub mod metrics;
pub mod page;
pub mod stats;
mod tail;

use std::time::Instant;

use ringworker_core::{AdminConfig, Readiness, ShardController};
use ringworker_io::{Handler, Request, Response};

pub use stats::StatsDocument;

/// Answers the admin routes on one shard.
#[derive(Debug)]
pub struct AdminHandler {
    controller: ShardController,
    config: AdminConfig,
    started: Instant,
}

impl AdminHandler {
    /// A handler that reaches the shards through `controller`; `started`
    /// is when the server started (for its uptime).
    pub fn new(controller: ShardController, config: AdminConfig, started: Instant) -> Self {
        Self {
            controller,
            config,
            started,
        }
    }

    async fn stats(&self) -> Response {
        let shards = self.controller.stats_async().await;
        let doc = StatsDocument::new(&shards, self.controller.readiness(), self.started.elapsed());
        json(doc.to_json())
    }
}

fn json(body: String) -> Response {
    Response::bytes(200, body)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
}

impl Handler for AdminHandler {
    async fn call(&self, req: Request) -> Response {
        if req.method() != "GET" && req.method() != "HEAD" {
            return Response::text(405, "method not allowed: the admin listener only reads\n")
                .header("allow", "GET, HEAD");
        }
        match req.path() {
            "/healthz" => Response::text(200, "ok\n"),
            "/readyz" => match self.controller.readiness() {
                Readiness::Ready => Response::text(200, "ready\n"),
                Readiness::Starting => Response::text(503, "starting\n"),
                Readiness::Draining => Response::text(503, "draining\n"),
            },
            "/metrics" => {
                let shards = self.controller.stats_async().await;
                Response::bytes(200, metrics::encode(shards, self.controller.readiness()))
                    .header("content-type", metrics::CONTENT_TYPE)
            }
            "/stats" => self.stats().await,
            "/tail" if req.header("upgrade").is_some() => {
                tail::upgrade(&req, &self.controller, &self.config)
            }
            "/tail" => Response::text(
                426,
                "/tail is a WebSocket: `ringworker tail ADDR`, or connect with a WebSocket client\n",
            )
            .header("upgrade", "websocket"),
            path => match page::asset(path) {
                Some((content_type, body)) => Response::bytes(200, body)
                    .header("content-type", content_type)
                    .header("cache-control", "no-store"),
                None => Response::text(404, "not found: try /, /metrics, /stats, /healthz, /readyz or /tail\n"),
            },
        }
    }
}

//! `ringworker tail ADDR`: follows a running server's finished requests
//! through its admin listener's `/tail` WebSocket and prints them, one line
//! per request and its console lines and exceptions under it (`--format
//! pretty`), or the events as they come, one JSON object per line (`--format
//! json`), as `wrangler tail` does.

use std::io::Write;

use anyhow::{Context, bail};
use serde_json::Value;
use tungstenite::Message;

/// `ringworker tail` arguments.
#[derive(Debug, clap::Args)]
pub struct TailArgs {
    /// The server's admin listener (`--admin`): `HOST:PORT`, or a URL.
    addr: String,
    /// `pretty`: a line per request, its console lines and exceptions
    /// indented under it; `json`: each event as received, one per line.
    #[arg(long, default_value = "pretty", value_parser = ["pretty", "json"])]
    format: String,
    /// Only requests with this status: `ok`, `error` (4xx/5xx or an
    /// exception or limit), a class (`5xx`) or a code (`404`). Repeatable.
    #[arg(long)]
    status: Vec<String>,
    /// Only requests with this outcome: ok, exception, cpu_limit,
    /// heap_limit, client_disconnected. Repeatable.
    #[arg(long)]
    outcome: Vec<String>,
    /// Only requests with this method. Repeatable.
    #[arg(long)]
    method: Vec<String>,
    /// Send only this share of the matching requests (0 to 1).
    #[arg(long)]
    sampling_rate: Option<f64>,
}

impl TailArgs {
    /// The WebSocket URL with the filters as its query.
    fn url(&self) -> anyhow::Result<String> {
        let base = self
            .addr
            .trim_start_matches("http://")
            .trim_start_matches("ws://")
            .trim_end_matches('/');
        if base.contains("://") {
            bail!(
                "{}: expected HOST:PORT or an http:// or ws:// URL",
                self.addr
            );
        }
        let base = base.strip_suffix("/tail").unwrap_or(base);
        let mut query: Vec<String> = Vec::new();
        for (key, values) in [
            ("status", &self.status),
            ("outcome", &self.outcome),
            ("method", &self.method),
        ] {
            for v in values {
                if !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    bail!("--{key} {v:?}: expected a word or a number");
                }
                query.push(format!("{key}={v}"));
            }
        }
        if let Some(r) = self.sampling_rate {
            if !(0.0..=1.0).contains(&r) {
                bail!("--sampling-rate {r}: expected a rate from 0 to 1");
            }
            query.push(format!("sampling={r}"));
        }
        let q = if query.is_empty() {
            String::new()
        } else {
            format!("?{}", query.join("&"))
        };
        Ok(format!("ws://{base}/tail{q}"))
    }
}

/// Connects and prints until the server closes the tail (or the process is
/// interrupted).
pub fn run(args: TailArgs) -> anyhow::Result<()> {
    let url = args.url()?;
    let (mut ws, _) =
        tungstenite::connect(url.as_str()).with_context(|| format!("cannot connect to {url}"))?;
    let stdout = std::io::stdout();
    loop {
        let msg = match ws.read() {
            Ok(m) => m,
            Err(tungstenite::Error::ConnectionClosed) => return Ok(()),
            Err(e) => bail!("tail ended: {e}"),
        };
        let text = match msg {
            Message::Text(t) => t,
            Message::Close(frame) => {
                return match frame {
                    Some(f)
                        if f.code != tungstenite::protocol::frame::coding::CloseCode::Normal =>
                    {
                        bail!(
                            "the server ended the tail: {} {}",
                            u16::from(f.code),
                            f.reason
                        )
                    }
                    _ => Ok(()),
                };
            }
            _ => continue,
        };
        let event: Value = match serde_json::from_str(text.as_str()) {
            Ok(v) => v,
            Err(_) => continue,
        };
        if event["kind"] == "attached" {
            eprintln!(
                "Connected to {} ({} shards); waiting for requests…",
                args.addr, event["shards"]
            );
            continue;
        }
        let mut out = stdout.lock();
        let line = if args.format == "json" {
            text.as_str().to_string()
        } else {
            pretty(&event)
        };
        // A closed stdout (`| head`) ends the tail quietly.
        if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
            return Ok(());
        }
    }
}

/// `HH:MM:SS.mmm` (UTC) of a Unix time in milliseconds.
fn clock(ms: u64) -> String {
    let day = ms % 86_400_000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        day / 3_600_000,
        day / 60_000 % 60,
        day / 1000 % 60,
        day % 1000
    )
}

/// One request as lines: its summary, then its console lines and
/// exceptions in the order they happened.
pub fn pretty(e: &Value) -> String {
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    let mut out = format!(
        "{} {} {} {} {} {:.2} ms (cpu {:.2} ms) [{} shard {} {}]",
        clock(e["timestamp_ms"].as_u64().unwrap_or(0)),
        e["method"].as_str().unwrap_or("?"),
        e["url"].as_str().unwrap_or("?"),
        e["status"],
        e["outcome"].as_str().unwrap_or("?"),
        f(&e["wall_ms"]),
        f(&e["cpu_ms"]),
        e["worker"].as_str().unwrap_or("-"),
        e["shard"],
        e["request_id"].as_str().unwrap_or("-"),
    );
    let mut lines: Vec<(f64, String)> = Vec::new();
    for l in e["logs"].as_array().into_iter().flatten() {
        lines.push((
            f(&l["at_ms"]),
            format!(
                "  ({}) {}",
                l["level"].as_str().unwrap_or("log"),
                l["message"].as_str().unwrap_or("")
            ),
        ));
    }
    for x in e["exceptions"].as_array().into_iter().flatten() {
        lines.push((
            f(&x["at_ms"]),
            format!(
                "  ✘ {}",
                x["message"].as_str().unwrap_or("").replace('\n', "\n    ")
            ),
        ));
    }
    // Stable: lines at the same instant keep their kind's order.
    lines.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (_, l) in lines {
        out.push('\n');
        out.push_str(&l);
    }
    if e["dropped_entries"].as_u64().unwrap_or(0) > 0 {
        out.push_str(&format!(
            "\n  … {} more lines not kept",
            e["dropped_entries"]
        ));
    }
    out
}

//! `hyper-hello`: the baseline a typical Rust user would deploy — tokio +
//! hyper 1.x HTTP/1.1, answering `Hello World` to every request.
//!
//! ```text
//! hyper-hello --listen 127.0.0.1:8081 --threads 1
//! ```
//! `--threads 1` runs a tokio current_thread runtime; `--threads N` a
//! multi_thread runtime with N workers. Keep-alive is on, pipelined
//! responses are flushed together, and accepted sockets get TCP_NODELAY.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use clap::Parser;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

#[derive(Parser)]
#[command(
    name = "hyper-hello",
    about = "tokio + hyper hello-world baseline server"
)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// Runtime threads: 1 = current_thread runtime, N > 1 = multi_thread.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

static BODY: &[u8] = b"Hello World";

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut resp = Response::new(Full::new(Bytes::from_static(BODY)));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(resp)
}

async fn serve(addr: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    let mut http = http1::Builder::new();
    http.keep_alive(true).pipeline_flush(true);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            // e.g. EMFILE: keep serving the connections we have.
            Err(_) => continue,
        };
        let _ = stream.set_nodelay(true);
        let conn = http.serve_connection(TokioIo::new(stream), service_fn(hello));
        tokio::spawn(async move {
            // Client resets and aborted connections are normal in benchmarks.
            let _ = conn.await;
        });
    }
}

fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    let rt = if cli.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cli.threads)
            .enable_io()
            .build()?
    };
    rt.block_on(serve(cli.listen))
}

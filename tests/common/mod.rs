//! Shared helpers for the end-to-end tests: an in-process server on an
//! ephemeral loopback port, and a small raw HTTP/1.1 client over std sockets.
#![allow(dead_code)]

pub mod cli;
pub mod upstream;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ringworker::{Config, Handler, Server, ShardId};

/// A test configuration: loopback, port 0, one unpinned shard.
pub fn test_config() -> Config {
    let mut c = Config::new("127.0.0.1:0".parse().unwrap());
    c.shards = 1;
    c.pin_shards = false;
    c
}

/// Starts a server with `handler` built on each shard.
pub fn start<F, H>(config: Config, factory: F) -> Server
where
    F: Fn(ShardId) -> H + Send + Sync + Clone + 'static,
    H: Handler,
{
    ringworker::serve(config, factory).expect("server starts")
}

/// Connects with generous timeouts so a bug fails the test instead of hanging it.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// A parsed response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads responses from a connection, keeping bytes that belong to the next one.
pub struct Reader {
    pub stream: TcpStream,
    buf: Vec<u8>,
    /// How long [`Reader::is_closed`] and [`Reader::assert_closed`] wait
    /// for the close ([`CLOSE_WAIT`] unless a test changes it).
    pub close_wait: Duration,
}

impl Reader {
    pub fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            buf: Vec::new(),
            close_wait: CLOSE_WAIT,
        }
    }

    fn fill(&mut self) -> io::Result<usize> {
        let mut tmp = [0u8; 65536];
        let n = self.stream.read(&mut tmp)?;
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(n)
    }

    /// Reads one response; `head_request` means no body follows the head.
    pub fn response(&mut self, head_request: bool) -> io::Result<Resp> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut r = httparse::Response::new(&mut headers);
            match r.parse(&self.buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let status = r.code.unwrap();
                    let hs: Vec<(String, String)> = r
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_string(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect();
                    self.buf.drain(..len);
                    let mut resp = Resp {
                        status,
                        headers: hs,
                        body: Vec::new(),
                    };
                    if status < 200 {
                        return Ok(resp); // 1xx: the caller reads again
                    }
                    if head_request || status == 204 || status == 304 {
                        return Ok(resp);
                    }
                    if let Some(cl) = resp.header("content-length") {
                        let cl: usize = cl.trim().parse().unwrap();
                        while self.buf.len() < cl {
                            if self.fill()? == 0 {
                                return Err(io::ErrorKind::UnexpectedEof.into());
                            }
                        }
                        resp.body = self.buf.drain(..cl).collect();
                    } else if resp
                        .header("transfer-encoding")
                        .is_some_and(|v| v.contains("chunked"))
                    {
                        resp.body = self.chunked()?;
                    } else {
                        while self.fill()? > 0 {}
                        resp.body = std::mem::take(&mut self.buf);
                    }
                    return Ok(resp);
                }
                Ok(httparse::Status::Partial) => {
                    if self.fill()? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
        }
    }

    fn line(&mut self) -> io::Result<String> {
        loop {
            if let Some(p) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let l = String::from_utf8_lossy(&self.buf[..p]).into_owned();
                self.buf.drain(..p + 2);
                return Ok(l);
            }
            if self.fill()? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    fn chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let line = self.line()?;
            let size = usize::from_str_radix(line.split(';').next().unwrap().trim(), 16)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if size == 0 {
                while !self.line()?.is_empty() {}
                return Ok(out);
            }
            while self.buf.len() < size + 2 {
                if self.fill()? == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
            }
            out.extend_from_slice(&self.buf[..size]);
            assert_eq!(
                &self.buf[size..size + 2],
                b"\r\n",
                "chunk data must end in CRLF"
            );
            self.buf.drain(..size + 2);
        }
    }

    /// What the connection does next, waiting at most `wait`: the server
    /// closes it (EOF or a reset), sends more bytes (including any already
    /// read past the last response), or keeps it open.
    pub fn ending(&mut self, wait: Duration) -> Ending {
        if !self.buf.is_empty() {
            return Ending::Bytes(String::from_utf8_lossy(&std::mem::take(&mut self.buf)).into());
        }
        let before = self.stream.read_timeout().unwrap();
        self.stream.set_read_timeout(Some(wait)).unwrap();
        let mut tmp = [0u8; 4096];
        let r = self.stream.read(&mut tmp);
        self.stream.set_read_timeout(before).unwrap();
        match r {
            Ok(0) => Ending::Eof,
            Ok(n) => Ending::Bytes(String::from_utf8_lossy(&tmp[..n]).into()),
            Err(e) => match e.kind() {
                io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => Ending::Reset,
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Ending::Open(wait),
                kind => Ending::Failed(kind),
            },
        }
    }

    /// Whether the server closes the connection (EOF or a reset) within
    /// `close_wait` ([`CLOSE_WAIT`]). Bytes, an open connection at the
    /// deadline, or any other error are not a close.
    pub fn is_closed(&mut self) -> bool {
        matches!(self.ending(self.close_wait), Ending::Eof | Ending::Reset)
    }

    /// Panics, saying what happened instead, unless the server closes the
    /// connection (EOF or a reset) within `close_wait` ([`CLOSE_WAIT`]).
    #[track_caller]
    pub fn assert_closed(&mut self) {
        match self.ending(self.close_wait) {
            Ending::Eof | Ending::Reset => {}
            other => panic!("the server must close the connection; instead: {other:?}"),
        }
    }
}

/// How long a test waits for the server to close a connection it must close.
/// A close comes at once, so this only bounds a failing test; it stays well
/// under the server's own timers (a 10 s head timeout, a 75 s keep-alive by
/// default), so the close a test sees is the one it checks, not a timer's.
pub const CLOSE_WAIT: Duration = Duration::from_secs(3);

/// What a connection did when a test waited for it to close ([`Reader::ending`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The server closed it cleanly.
    Eof,
    /// The server reset (or aborted) it.
    Reset,
    /// More bytes came first (lossy text of them).
    Bytes(String),
    /// Still open when the wait ran out. Never a close: a timeout is a failure.
    Open(Duration),
    /// Some other socket error.
    Failed(io::ErrorKind),
}

/// Sends `raw` on a fresh connection and reads one response.
pub fn roundtrip(addr: SocketAddr, raw: &[u8]) -> Resp {
    let mut s = connect(addr);
    s.write_all(raw).unwrap();
    Reader::new(s).response(false).expect("a response")
}

/// `GET target` on a new connection (`Connection: close`).
pub fn get(addr: SocketAddr, target: &str) -> Resp {
    roundtrip(
        addr,
        format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

/// [`get`], with the body parsed as JSON (a failure names the target, the
/// status and the body).
pub fn get_json(addr: SocketAddr, target: &str) -> serde_json::Value {
    let r = get(addr, target);
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|_| panic!("{target}: {} {:?}", r.status, r.text()))
}

/// Polls `f` every 5 ms until it gives `Some`, and returns that. Panics,
/// naming `what`, when `limit` passes first: a timeout is a failure, never a
/// pass. Use it instead of a fixed sleep followed by one check.
#[track_caller]
pub fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        if start.elapsed() >= limit {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Polls `value` until it has not changed for `quiet` (so at least `quiet`
/// from the start) and returns it: where a writer that the other side
/// stopped reading comes to rest. Panics, naming `what`, if it still moves
/// when `limit` passes.
#[track_caller]
pub fn settled<T: PartialEq + std::fmt::Debug>(
    quiet: Duration,
    limit: Duration,
    what: &str,
    mut value: impl FnMut() -> T,
) -> T {
    let start = Instant::now();
    let mut last = value();
    let mut since = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(10));
        let now = value();
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            return last;
        }
        if start.elapsed() >= limit {
            panic!("{what} still changing after {limit:?} (last {last:?})");
        }
    }
}

/// A server child process that reported the address it listens on; killed
/// and reaped on drop. Its stderr is collected (see [`Spawned::stop`]).
pub struct Spawned {
    pub child: Child,
    /// The address it reported, with port 0 resolved.
    pub addr: SocketAddr,
    log: Arc<Mutex<String>>,
    drain: Option<std::thread::JoinHandle<()>>,
}

/// How long a child server may take to report its address (a JS runtime
/// starting on a loaded 2-core box).
pub const SPAWN_WAIT: Duration = Duration::from_secs(30);

/// Starts `cmd`, a server told to listen on `127.0.0.1:0`, and waits for it
/// to log the address it bound (`... listening on http://ADDR ...` or `...
/// serving on http://ADDR ...`, as the CLI and the examples do). No port is
/// picked in advance, so no other process can hold it, and a child that
/// exits or stays silent fails the test with what it logged.
#[track_caller]
pub fn spawn_listening(cmd: Command) -> Spawned {
    spawn_listening_within(cmd, SPAWN_WAIT)
}

/// [`spawn_listening`], waiting at most `wait` for the address.
#[track_caller]
pub fn spawn_listening_within(mut cmd: Command, wait: Duration) -> Spawned {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {cmd:?}: {e}"));
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    // One thread reads stderr to the end, so the child never blocks on a
    // full pipe, and hands over the first address it sees.
    let drain = {
        let log = log.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = reported_addr(&line) {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(addr);
                    }
                }
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        })
    };
    let mut spawned = Spawned {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        log,
        drain: Some(drain),
    };
    match rx.recv_timeout(wait) {
        Ok(addr) => spawned.addr = addr,
        Err(e) => {
            let status = spawned.child.try_wait().ok().flatten();
            let why = match e {
                std::sync::mpsc::RecvTimeoutError::Timeout => format!("no address within {wait:?}"),
                std::sync::mpsc::RecvTimeoutError::Disconnected => {
                    format!("it exited ({status:?})")
                }
            };
            let _ = spawned.child.kill();
            let _ = spawned.child.wait();
            let log = spawned.log.lock().unwrap().clone();
            panic!("{cmd:?} did not come up: {why}; it logged:\n{log}");
        }
    }
    spawned
}

/// The address in a line like `echo: listening on http://127.0.0.1:4000 with 2 shards`.
fn reported_addr(line: &str) -> Option<SocketAddr> {
    let at = line
        .find("listening on ")
        .or_else(|| line.find("serving on "))?;
    let rest = &line[at..];
    let url = &rest[rest.find("://")? + 3..];
    url.split(|c: char| c.is_whitespace() || c == '/')
        .next()?
        .parse()
        .ok()
}

impl Spawned {
    /// Whether the child is still running.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// What the child has logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the child's log contains `text` (failing the test after
    /// `limit`, with the log), for what a child reports asynchronously.
    #[track_caller]
    pub fn wait_for_log(&self, text: &str, limit: Duration) {
        let start = Instant::now();
        while !self.log().contains(text) {
            if start.elapsed() >= limit {
                panic!(
                    "{text:?} not logged within {limit:?}; the log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Kills the child (if still running) and returns everything it logged.
    pub fn stop(mut self) -> String {
        self.end();
        self.log.lock().unwrap().clone()
    }

    fn end(&mut self) {
        // SIGKILL: no shutdown, no flush (the tests that need a graceful
        // stop send their own signal first).
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(drain) = self.drain.take() {
            let _ = drain.join();
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.end();
    }
}

/// A loopback port that was free a moment ago. Prefer listening on port 0
/// and reading the bound address ([`spawn_listening`]): another process may
/// take this port before the caller binds it.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The path of a built example binary. A plain `cargo test` builds the
/// examples; a filtered run (`cargo test --test x`) does not, so build it then.
pub fn example_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir.join("examples").join(name);
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "--example", name])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo to build the example");
        assert!(status.success(), "building example {name} failed");
    }
    bin
}

/// Raises the open-file limit to its hard maximum (for many-connection tests).
pub fn raise_nofile() {
    // SAFETY: plain getrlimit/setrlimit on this process.
    unsafe {
        let mut rl = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) == 0 {
            rl.rlim_cur = rl.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
        }
    }
}

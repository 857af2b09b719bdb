//! Actors (Durable Objects) end to end: the real server runs
//! `tests/scripts/actors.js` with its classes bound, and the tests talk to
//! it over real sockets (raw HTTP, tungstenite WebSockets), with shortened
//! eviction, hibernation and alarm windows.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::upstream::*;
use common::*;
use ringworker::{ActorBinding, ActorOptions, Config, WorkerOptions};
use serde_json::Value;
use tungstenite::Message;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/actors.js")
}

/// A fresh storage folder for one test.
fn state_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "ringworker-actors-{name}-{}-{:?}",
        std::process::id(),
        Instant::now()
    ));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn bindings() -> Vec<ActorBinding> {
    [
        ("COUNTER", "Counter"),
        ("LEGACY", "Legacy"),
        ("STORE", "Store"),
        ("DURABLE", "Durable"),
        ("ALARMED", "Alarmed"),
        ("ROOM", "Room"),
        ("PINNED", "Pinned"),
        ("LEDGER", "Ledger"),
    ]
    .into_iter()
    .map(|(b, c)| ActorBinding {
        binding: b.into(),
        class: c.into(),
    })
    .collect()
}

fn options(storage: Option<PathBuf>) -> ActorOptions {
    ActorOptions {
        bindings: bindings(),
        storage_dir: storage,
        evict_after: (Duration::from_secs(60), Duration::from_secs(60)),
        hibernate_after: Duration::from_secs(60),
        alarm_retry_base: Duration::from_millis(20),
        ..ActorOptions::default()
    }
}

fn server(actors: ActorOptions, tweak: impl FnOnce(&mut Config)) -> ringworker::Server {
    let mut cfg = test_config();
    tweak(&mut cfg);
    let mut o = WorkerOptions::new(script());
    o.vars.push(("GREETING".into(), "hi".into()));
    o.actors = actors;
    ringworker::serve_worker(cfg, o).expect("script loads")
}

/// Polls `cond` every 10 ms until it holds or `limit` passes.
fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn actor_stats(srv: &ringworker::Server) -> ringworker::ActorCounters {
    srv.stats()[0].actors
}

#[test]
fn ids_are_stable_per_class_and_name_and_both_class_forms_work() {
    let srv = server(options(None), |_| {});
    let ids = get_json(srv.local_addr(), "/ids/x");
    assert_eq!(ids["same"], true, "{ids}");
    assert_eq!(ids["hex"], true);
    assert_eq!(ids["name"], "x");
    assert_eq!(ids["uniqueDiffers"], true);
    assert_eq!(ids["roundTrip"], true);
    assert_eq!(ids["otherClass"], true);
    assert_eq!(ids["errors"][0], true, "{ids}");
    assert!(
        ids["errors"][1]
            .as_str()
            .unwrap()
            .contains("64 lowercase hex"),
        "{ids}"
    );
    let r = get(srv.local_addr(), "/legacy/one");
    assert_eq!(r.status, 200);
    let text = r.text();
    let parts: Vec<&str> = text.split(' ').collect();
    assert_eq!(parts[0], "legacy");
    assert_eq!(parts[1].len(), 64, "{text}");
    assert_eq!(parts[2], "hi", "env reaches the actor: {text}");
    // The same name is the same actor: constructed once.
    get(srv.local_addr(), "/legacy/one");
    get(srv.local_addr(), "/legacy/two");
    let c = get_json(srv.local_addr(), "/constructions");
    assert_eq!(c["Legacy"], 2, "{c}");
    srv.shutdown();
    srv.join().unwrap();
}

/// `conns` keep-alive connections each sending `per_conn` GETs of `path`
/// back to back: every response's body as a number.
fn concurrent_gets(
    addr: SocketAddr,
    path: &'static str,
    conns: usize,
    per_conn: usize,
) -> Vec<u32> {
    let threads: Vec<_> = (0..conns)
        .map(|_| {
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                let mut reader = Reader::new(connect(addr));
                for _ in 0..per_conn {
                    use std::io::Write;
                    reader
                        .stream
                        .write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
                        .unwrap();
                    let r = reader.response(false).unwrap();
                    assert_eq!(r.status, 200, "{}", r.text());
                    seen.push(r.text().parse::<u32>().unwrap());
                }
                seen
            })
        })
        .collect();
    let mut all: Vec<u32> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    all.sort_unstable();
    all
}

#[test]
fn input_gate_keeps_a_thousand_concurrent_increments_exact() {
    raise_nofile();
    let srv = server(options(Some(state_dir("gate"))), |_| {});
    let addr = srv.local_addr();
    let all = concurrent_gets(addr, "/counter/c/inc", 50, 20);
    // Every increment saw a distinct value: no two read-modify-writes
    // interleaved.
    assert_eq!(all, (1..=1000).collect::<Vec<_>>());
    assert_eq!(get(addr, "/counter/c").text(), "1000");
    assert_eq!(get_json(addr, "/constructions")["Counter"], 1);
    srv.shutdown();
    srv.join().unwrap();
}

#[test]
fn rpc_methods_clone_arguments_and_results_and_carry_errors() {
    let srv = server(options(None), |_| {});
    let r = get_json(srv.local_addr(), "/rpc/r?by=5");
    assert_eq!(r["value"], 5, "{r}");
    assert_eq!(r["name"], "r");
    assert_eq!(r["id"].as_str().unwrap().len(), 64);
    assert_eq!(r["error"], "RangeError: deliberate", "{r}");
    assert!(
        r["missing"]
            .as_str()
            .unwrap()
            .contains("does not implement the method \"nope\""),
        "{r}"
    );
    let r = get_json(srv.local_addr(), "/rpc/r?by=7");
    assert_eq!(r["value"], 12, "{r}");
    srv.shutdown();
    srv.join().unwrap();
}

#[test]
fn an_actor_that_runs_past_the_cpu_limit_is_reset_and_serves_again() {
    let srv = server(options(Some(state_dir("spin"))), |_| {});
    let addr = srv.local_addr();
    assert_eq!(get(addr, "/counter/s/inc").text(), "1");
    let r = get(addr, "/spin/s");
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(
        eventually(Duration::from_secs(2), || actor_stats(&srv).aborted == 1),
        "{:?}",
        actor_stats(&srv)
    );
    // A new instance, with the storage the old one wrote.
    assert_eq!(get(addr, "/counter/s/inc").text(), "2");
    assert_eq!(get_json(addr, "/constructions")["Counter"], 2);
    srv.shutdown();
    srv.join().unwrap();
}

#[test]
fn storage_kv_list_transactions_and_sql() {
    let srv = server(options(Some(state_dir("store"))), |_| {});
    let out = get_json(srv.local_addr(), "/store/s");
    assert_eq!(
        out["a"],
        serde_json::json!([[1, 2, 3], 0, "12345678901234567890", [7, 8]]),
        "structured clone round trip: {out}"
    );
    assert_eq!(out["many"], serde_json::json!({"b": 2, "c": "three"}));
    assert_eq!(out["missing"], true);
    assert_eq!(
        out["list"],
        serde_json::json!(["a", "b", "c", "pre:1", "pre:2", "pre:3", "é"])
    );
    assert_eq!(out["prefix"], serde_json::json!(["pre:3", "pre:2"]));
    assert_eq!(out["range"], serde_json::json!(["b", "c", "pre:1"]));
    assert_eq!(out["startAfter"], serde_json::json!(["pre:2", "pre:3"]));
    assert_eq!(out["deleted"], serde_json::json!([true, false, 2]));
    assert_eq!(out["txnError"], "abort txn");
    assert_eq!(out["txn"], serde_json::json!([1, null, null]), "{out}");
    assert_eq!(
        out["columns"],
        serde_json::json!(["id", "body", "score", "raw"])
    );
    assert_eq!(
        out["rows"],
        serde_json::json!([[1, "hello", 1.5, [1, 2]], [2, "world", 2, null]])
    );
    assert_eq!(out["one"], 2);
    assert_eq!(out["raw"], serde_json::json!([["hello"], ["world"]]));
    assert_eq!(out["written"], 2);
    assert!(
        out["SELECT * FROM _rw_kv"]
            .as_str()
            .unwrap()
            .contains("not allowed"),
        "{out}"
    );
    assert!(
        out["SELECT * FROM nosuch"]
            .as_str()
            .unwrap()
            .contains("no such table"),
        "{out}"
    );
    assert_eq!(out["size"], true);
    assert_eq!(out["sync"], 3);
    assert_eq!(out["afterDeleteAll"], serde_json::json!([0, 0]), "{out}");
    srv.shutdown();
    srv.join().unwrap();
}

#[test]
fn alarms_fire_retry_with_backoff_and_can_be_deleted() {
    // alarm_retry_base is 20 ms (options()): retries after 20, 40, 80 ms.
    let srv = server(options(Some(state_dir("alarms"))), |_| {});
    let addr = srv.local_addr();
    let set = get_json(addr, "/alarmed/a/set?fail=3&in=30");
    assert!(set["alarm"].as_f64().unwrap() > 0.0, "{set}");
    assert!(
        eventually(Duration::from_secs(5), || {
            get_json(addr, "/alarmed/a")["runs"] == serde_json::json!([0, 1, 2, 3])
        }),
        "the alarm ran, failed three times and was retried: {}",
        get_json(addr, "/alarmed/a")
    );
    // With backoff: each gap between runs at least the doubled delay (a
    // fixed delay would fail the later ones), and none stuck far past it.
    let a = get_json(addr, "/alarmed/a");
    let times: Vec<f64> = a["times"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_f64().unwrap())
        .collect();
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    for (gap, backoff) in gaps.iter().zip([20.0, 40.0, 80.0]) {
        assert!(
            *gap >= backoff && *gap < backoff + 1000.0,
            "gaps {gaps:?} ms for backoffs of 20, 40, 80 ms"
        );
    }
    assert!(
        eventually(Duration::from_secs(2), || {
            get_json(addr, "/alarmed/a")["alarm"].is_null()
        }),
        "a fired alarm is cleared"
    );
    let s = actor_stats(&srv);
    assert!(s.alarms_fired >= 4 && s.alarm_retries >= 3, "{s:?}");

    // A deleted alarm never runs. A control alarm set at the same moment
    // for the same time shows when it would have: once the control has run,
    // the deleted one would have too.
    get_json(addr, "/alarmed/b/set?in=300");
    get_json(addr, "/alarmed/c/set?in=300");
    let d = get_json(addr, "/alarmed/b/delete");
    assert!(d["alarm"].is_null(), "{d}");
    assert!(
        eventually(Duration::from_secs(5), || {
            get_json(addr, "/alarmed/c")["runs"] == serde_json::json!([0])
        }),
        "the control alarm ran: {}",
        get_json(addr, "/alarmed/c")
    );
    std::thread::sleep(Duration::from_millis(50)); // a margin past the control
    assert_eq!(get_json(addr, "/alarmed/b")["runs"], serde_json::json!([]));
    srv.shutdown();
    srv.join().unwrap();
}

/// A `ringworker serve` child process on port 0 (killed with SIGKILL when
/// dropped, also on a failed assertion).
fn spawn_cli(state: &std::path::Path) -> Spawned {
    let mut args: Vec<String> = vec![
        "serve".into(),
        script().display().to_string(),
        "--shards".into(),
        "1".into(),
        "--no-pin".into(),
        "--actor-storage".into(),
        state.display().to_string(),
        "--var".into(),
        "GREETING=hi".into(),
    ];
    for b in bindings() {
        args.push("--actor".into());
        args.push(format!("{}={}", b.binding, b.class));
    }
    spawn_server(&args)
}

/// Starts `ringworker` with `args` on `127.0.0.1:0`; up once it reports its address.
fn spawn_server(args: &[String]) -> Spawned {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ringworker"));
    cmd.args(args).args(["--listen", "127.0.0.1:0"]);
    spawn_listening(cmd)
}

#[test]
fn storage_and_alarms_survive_kill_9_and_restart() {
    let state = state_dir("kill9");
    let child = spawn_cli(&state);
    let r = get(child.addr, "/durable/d/write?n=200&alarm_ms=1500");
    assert_eq!(r.text(), "written");
    // SIGKILL at once: no shutdown, no flush.
    drop(child);

    let child = spawn_cli(&state);
    let addr = child.addr;
    let read = get_json(addr, "/durable/d/read");
    assert_eq!(read["count"], 200, "{read}");
    assert!(
        read["alarm"].as_f64().is_some(),
        "the alarm is still set: {read}"
    );
    // The alarm fires in the new process, scheduled from the index even
    // though the read above is the only thing that touched the actor.
    assert!(
        eventually(Duration::from_secs(5), || get_json(addr, "/durable/d/read")
            ["fired"]
            == 1),
        "{}",
        get_json(addr, "/durable/d/read")
    );
    drop(child);
    let _ = std::fs::remove_dir_all(&state);
}

type Ws = tungstenite::WebSocket<TcpStream>;

fn ws_connect(addr: SocketAddr, path: &str) -> Ws {
    let stream = connect(addr);
    let (ws, resp) = tungstenite::client(format!("ws://{addr}{path}"), stream).expect("handshake");
    assert_eq!(resp.status(), 101);
    ws
}

fn send_recv(ws: &mut Ws, text: &str) -> String {
    ws.send(Message::text(text)).unwrap();
    recv_text(ws)
}

fn recv_text(ws: &mut Ws) -> String {
    loop {
        match ws.read().expect("a message") {
            Message::Text(t) => return t.to_string(),
            Message::Close(f) => panic!("closed: {f:?}"),
            _ => {}
        }
    }
}

fn dormant(srv: &ringworker::Server) -> ringworker::DormantCounters {
    srv.stats()[0].dormant
}

/// Reads for `d`, answering pings (tungstenite queues the pong and sends it
/// on the next read); returns the pings seen. Panics on anything but pings.
fn answer_pings_for(ws: &mut Ws, d: Duration) -> usize {
    ws.get_mut()
        .set_read_timeout(Some(Duration::from_millis(10)))
        .unwrap();
    let end = Instant::now() + d;
    let mut pings = 0;
    while Instant::now() < end {
        match ws.read() {
            Ok(Message::Ping(_)) => pings += 1,
            Ok(m) => panic!("unexpected {m:?}"),
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("{e}"),
        }
    }
    ws.get_mut()
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    pings
}

/// A hibernatable socket has no task while it is idle (awake actor or
/// not): it is *dormant*, and messages, the actor's sends, heartbeats,
/// fragments, closes and shutdown all still work.
#[test]
fn idle_hibernatable_sockets_go_dormant_and_keep_every_websocket_behaviour() {
    let srv = server(options(None), |_| {});
    let addr = srv.local_addr();
    let mut socks: Vec<Ws> = (0..40)
        .map(|i| ws_connect(addr, &format!("/room/d?user=u{i}")))
        .collect();
    for (i, ws) in socks.iter_mut().enumerate() {
        assert_eq!(send_recv(ws, "ping"), format!("pong u{i}"));
    }
    assert!(
        eventually(Duration::from_secs(3), || dormant(&srv).now == 40),
        "{:?}",
        dormant(&srv)
    );
    let resumed = dormant(&srv).resumed;

    // A broadcast from the (awake) actor reaches every dormant socket, and
    // none needs a task for it.
    socks[0].send(Message::text("hello all")).unwrap();
    for ws in socks.iter_mut() {
        assert_eq!(recv_text(ws), "u0: hello all");
    }
    assert_eq!(dormant(&srv).resumed, resumed, "{:?}", dormant(&srv));
    assert!(dormant(&srv).steps >= 80, "{:?}", dormant(&srv));

    // A fragmented message needs more than one step: the socket gets its
    // task back, then goes dormant again.
    {
        use tungstenite::protocol::frame::{Frame, coding::Data, coding::OpCode};
        let ws = &mut socks[1];
        let mut first = Frame::message(b"frag".to_vec(), OpCode::Data(Data::Text), false);
        first.header_mut().is_final = false;
        ws.write(Message::Frame(first)).unwrap();
        ws.flush().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let rest = Frame::message(b"ments".to_vec(), OpCode::Data(Data::Continue), true);
        ws.write(Message::Frame(rest)).unwrap();
        ws.flush().unwrap();
    }
    for ws in socks.iter_mut() {
        assert_eq!(recv_text(ws), "u1: fragments");
    }
    assert!(dormant(&srv).resumed > resumed, "{:?}", dormant(&srv));
    assert!(eventually(Duration::from_secs(2), || dormant(&srv).now == 40));

    // A client's close handshake completes from dormancy, code echoed.
    let mut leaving = socks.pop().unwrap();
    leaving
        .close(Some(tungstenite::protocol::CloseFrame {
            code: 4001.into(),
            reason: "done".into(),
        }))
        .unwrap();
    let echoed = loop {
        match leaving.read() {
            Ok(Message::Close(f)) => break f,
            Ok(_) => {}
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(u16::from(echoed.expect("a code").code), 4001);

    // Shutdown: every dormant socket gets 1001.
    srv.shutdown();
    for ws in socks.iter_mut().take(5) {
        let f = loop {
            match ws.read() {
                Ok(Message::Close(f)) => break f,
                Ok(_) => {}
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(u16::from(f.expect("a code").code), 1001);
    }
    drop(socks);
    srv.join().unwrap();
}

/// Heartbeats go on while a socket is dormant: a client that answers is
/// pinged and kept; one that stops answering is dropped after the pong
/// timeout.
#[test]
fn dormant_sockets_are_pinged_and_dropped_when_they_stop_answering() {
    let srv = server(options(None), |c| {
        c.ws.ping_interval = Some(Duration::from_millis(40));
        c.ws.pong_timeout = Duration::from_millis(150);
    });
    let addr = srv.local_addr();
    let mut live = ws_connect(addr, "/room/h?user=live");
    let mut silent = ws_connect(addr, "/room/h?user=silent");
    assert_eq!(send_recv(&mut live, "ping"), "pong live");
    assert_eq!(send_recv(&mut silent, "ping"), "pong silent");
    let open = srv.stats()[0].open_connections;
    let pings = answer_pings_for(&mut live, Duration::from_millis(500));
    assert!(
        pings >= 5,
        "only {pings} pings in 500 ms at a 40 ms interval"
    );
    // The silent one was dropped meanwhile (40 + 150 ms, plus a tick).
    assert!(
        eventually(Duration::from_secs(3), || srv.stats()[0].open_connections
            < open),
        "a peer that stopped answering pings was not dropped"
    );
    assert_eq!(dormant(&srv).now, 1, "{:?}", dormant(&srv));
    silent
        .get_mut()
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut saw_ping = false;
    loop {
        match silent.read() {
            Ok(Message::Ping(_)) => saw_ping = true,
            Ok(m) => panic!("unexpected {m:?}"),
            Err(_) => break,
        }
    }
    assert!(saw_ping, "the silent peer was never pinged");
    // The live one still talks to its actor.
    assert_eq!(send_recv(&mut live, "ping"), "pong live");
    srv.shutdown();
    srv.join().unwrap();
}

#[test]
fn hibernation_keeps_sockets_open_wakes_the_actor_and_replies_reach_the_client() {
    let mut opts = options(None);
    opts.hibernate_after = Duration::from_millis(100);
    let srv = server(opts, |_| {});
    let addr = srv.local_addr();
    let mut alice = ws_connect(addr, "/room/r?user=alice");
    assert_eq!(send_recv(&mut alice, "ping"), "pong alice");
    assert_eq!(send_recv(&mut alice, "heartbeat"), "beat alice");
    assert_eq!(send_recv(&mut alice, "tags"), "tags room,user:alice");
    assert_eq!(send_recv(&mut alice, "constructions"), "constructions 1");

    // Idle past the window: the actor hibernates, the socket stays open.
    assert!(
        eventually(Duration::from_secs(3), || {
            let s = actor_stats(&srv);
            s.hibernated >= 1 && s.live == 0
        }),
        "{:?}",
        actor_stats(&srv)
    );
    assert_eq!(actor_stats(&srv).hibernated_sockets, 1);
    // The auto-response answers without waking it.
    let before = actor_stats(&srv).activations;
    assert_eq!(send_recv(&mut alice, "auto-ping"), "auto-pong");
    std::thread::sleep(Duration::from_millis(30));
    let s = actor_stats(&srv);
    assert_eq!(s.activations, before, "auto-response woke the actor: {s:?}");
    assert_eq!(s.live, 0);
    assert!(s.auto_responses >= 1);

    // A message wakes it: constructed again, and its reply (with the
    // attachment's data) reaches the client.
    assert_eq!(send_recv(&mut alice, "ping"), "pong alice");
    assert_eq!(send_recv(&mut alice, "constructions"), "constructions 2");
    assert_eq!(send_recv(&mut alice, "heartbeat"), "beat alice");
    let ts = send_recv(&mut alice, "auto-ts");
    assert!(
        ts.strip_prefix("auto-ts ")
            .and_then(|t| t.parse::<f64>().ok())
            .is_some(),
        "{ts}"
    );
    assert_eq!(send_recv(&mut alice, "hello room"), "alice: hello room");

    // Bob joins and goes quiet; Alice keeps her heartbeat fresh. Both
    // hibernate, then Alice asks for a stale check: the alarm closes Bob.
    let mut bob = ws_connect(addr, "/room/r?user=bob");
    assert_eq!(send_recv(&mut bob, "ping"), "pong bob");
    assert!(eventually(Duration::from_secs(3), || actor_stats(&srv)
        .live
        == 0));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(send_recv(&mut alice, "heartbeat"), "beat alice");
    assert_eq!(
        send_recv(&mut alice, "stale-check 150"),
        "stale-check armed"
    );
    let closed = loop {
        match bob.read() {
            Ok(Message::Close(f)) => break f,
            Ok(_) => {}
            Err(e) => panic!("bob: {e}"),
        }
    };
    let f = closed.expect("a close frame");
    assert_eq!(u16::from(f.code), 4000);
    assert_eq!(f.reason.as_str(), "stale heartbeat");
    // Alice is still there.
    assert_eq!(send_recv(&mut alice, "ping"), "pong alice");
    alice.close(None).unwrap();
    srv.shutdown();
    srv.join().unwrap();
}

/// An actor whose only hold is an outbound connection of `mode` stays
/// resident until the keepalive cap, then is evicted; a streaming fetch()
/// holds nothing.
fn pinned_case(mode: &str, target: String) -> (bool, Duration, String) {
    let mut opts = options(None);
    opts.evict_after = (Duration::from_millis(100), Duration::from_millis(100));
    let srv = server(opts, |c| {
        c.outbound.keepalive_cap = Duration::from_millis(600)
    });
    let addr = srv.local_addr();
    let t0 = Instant::now();
    let r = get(addr, &format!("/pinned/p?mode={mode}&target={target}"));
    assert_eq!(r.text(), format!("pinned {mode}"));
    std::thread::sleep(Duration::from_millis(350));
    let resident_at_350ms = actor_stats(&srv).live == 1;
    // The stats say what holds it.
    let why = srv.stats()[0]
        .actor_report
        .resident
        .first()
        .map(|r| r.why.clone())
        .unwrap_or_default();
    assert!(
        eventually(Duration::from_secs(5), || actor_stats(&srv).evicted_idle
            == 1),
        "{mode}: never evicted: {:?}",
        actor_stats(&srv)
    );
    let evicted_after = t0.elapsed();
    let evicted = srv.stats()[0].actor_report.evicted.clone();
    assert_eq!(evicted.len(), 1, "{evicted:?}");
    assert!(evicted[0].actor.starts_with("Pinned:"), "{evicted:?}");
    assert_eq!(evicted[0].why, "idle");
    // The same in the stats JSON (what `--stats-out` writes).
    let json: Value = serde_json::from_str(&srv.stats_json()).unwrap();
    let shard = &json["shards"][0];
    assert_eq!(shard["actor_report"]["evicted"][0]["why"], "idle", "{json}");
    assert_eq!(shard["actors"]["evicted_idle"], 1, "{json}");
    srv.shutdown();
    srv.join().unwrap();
    (resident_at_350ms, evicted_after, why)
}

#[test]
fn outbound_websocket_and_tcp_keep_an_actor_until_the_cap_and_fetch_does_not() {
    let ws = WsUpstream::start();
    let (resident, after, why) = pinned_case("ws", ws.url("/"));
    assert_eq!(why, "1 keepalive token(s)");
    assert!(
        resident,
        "an outbound WebSocket holds the actor past its window"
    );
    assert!(after >= Duration::from_millis(600), "{after:?}");

    let ca = TestCa::new();
    let tcp = TcpEchoUpstream::start(&ca);
    let (resident, after, why) = pinned_case("tcp", format!("http://127.0.0.1:{}", tcp.port()));
    assert_eq!(why, "1 keepalive token(s)");
    assert!(resident, "a TCP socket holds the actor past its window");
    assert!(after >= Duration::from_millis(600), "{after:?}");

    let up = HttpUpstream::start();
    let (resident, after, _) = pinned_case("fetch", up.url("/hold"));
    assert!(!resident, "a streaming fetch() does not hold the actor");
    assert!(after < Duration::from_millis(600), "{after:?}");
}

#[test]
fn with_two_shards_every_request_reaches_the_one_instance_on_its_home_shard() {
    raise_nofile();
    let mut opts = options(Some(state_dir("shards")));
    opts.hibernate_after = Duration::from_millis(100);
    let srv = server(opts, |c| c.shards = 2);
    let addr = srv.local_addr();
    // Many connections: SO_REUSEPORT spreads them over both shards.
    let all = concurrent_gets(addr, "/counter/shared/inc", 40, 5);
    assert_eq!(all, (1..=200).collect::<Vec<_>>());
    let stats = srv.stats();
    assert!(
        stats.iter().all(|s| s.requests > 0),
        "both shards took requests: {:?}",
        stats.iter().map(|s| s.requests).collect::<Vec<_>>()
    );
    let activations: u64 = stats.iter().map(|s| s.actors.activations).sum();
    assert_eq!(activations, 1, "one instance, on its home shard");

    // RPC from both shards.
    for _ in 0..10 {
        let r = get_json(addr, "/rpc/shared-rpc?by=1");
        assert_eq!(r["error"], "RangeError: deliberate", "{r}");
    }
    assert_eq!(get_json(addr, "/rpc/shared-rpc?by=0")["value"], 10);

    // WebSockets from clients on both shards join one room, through
    // hibernation.
    let mut clients: Vec<Ws> = (0..8)
        .map(|i| ws_connect(addr, &format!("/room/big?user=u{i}")))
        .collect();
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(send_recv(c, "ping"), format!("pong u{i}"));
    }
    assert!(
        eventually(Duration::from_secs(3), || {
            srv.stats().iter().map(|s| s.actors.hibernated).sum::<u64>() >= 1
                && srv
                    .stats()
                    .iter()
                    .map(|s| s.actors.hibernated_sockets)
                    .sum::<u64>()
                    == 8
        }),
        "the room hibernates"
    );
    clients[3].send(Message::text("hello all")).unwrap();
    for c in clients.iter_mut() {
        assert_eq!(recv_text(c), "u3: hello all");
    }
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(send_recv(c, "ping"), format!("pong u{i}"));
    }
    for mut c in clients {
        c.close(None).unwrap();
        loop {
            match c.read() {
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
    srv.shutdown();
    srv.join().unwrap();
}

/// `ringworker serve --config <wrangler.toml>` in a child process.
/// `ringworker serve --config CONFIG` on two shards, a free port and a
/// fresh state directory: the child, its address and that directory.
fn spawn_project(name: &str, config: &str) -> (Spawned, SocketAddr, PathBuf) {
    let state = state_dir(name);
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(config);
    let args: Vec<String> = vec![
        "serve".into(),
        "--config".into(),
        config.display().to_string(),
        "--shards".into(),
        "2".into(),
        "--no-pin".into(),
        "--actor-storage".into(),
        state.display().to_string(),
    ];
    let child = spawn_server(&args);
    let addr = child.addr;
    (child, addr, state)
}

fn request(addr: SocketAddr, method: &str, target: &str) -> Resp {
    roundtrip(
        addr,
        format!("{method} {target} HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
}

#[test]
fn the_counter_example_runs_from_its_wrangler_toml_on_two_shards() {
    let (child, addr, state) = spawn_project("counter-example", "examples/counter/wrangler.toml");
    for i in 1..=20 {
        assert_eq!(request(addr, "POST", "/visits").text(), format!("{i}\n"));
    }
    assert_eq!(request(addr, "GET", "/visits").text(), "20\n");
    assert_eq!(request(addr, "GET", "/other").text(), "0\n");
    assert_eq!(request(addr, "DELETE", "/visits").text(), "reset\n");
    assert_eq!(request(addr, "GET", "/visits").text(), "0\n");
    drop(child);
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn the_chat_room_example_keeps_history_and_broadcasts() {
    let (child, addr, state) = spawn_project("chat-example", "examples/chat-room/wrangler.toml");
    let mut ada = ws_connect(addr, "/rooms/lobby?name=ada");
    let joined: Value = serde_json::from_str(&recv_text(&mut ada)).unwrap();
    assert_eq!(joined["text"], "ada joined");
    assert_eq!(send_recv(&mut ada, "ping"), "pong", "auto-response");
    ada.send(Message::text("hello")).unwrap();
    let m: Value = serde_json::from_str(&recv_text(&mut ada)).unwrap();
    assert_eq!(
        (m["name"].as_str(), m["text"].as_str()),
        (Some("ada"), Some("hello"))
    );
    // A newcomer gets the history, then everyone hears it join.
    let mut bob = ws_connect(addr, "/rooms/lobby?name=bob");
    let first: Value = serde_json::from_str(&recv_text(&mut bob)).unwrap();
    assert_eq!(first["text"], "hello", "the history comes first");
    let second: Value = serde_json::from_str(&recv_text(&mut bob)).unwrap();
    assert_eq!(second["text"], "bob joined");
    let j: Value = serde_json::from_str(&recv_text(&mut ada)).unwrap();
    assert_eq!(j["text"], "bob joined");
    bob.send(Message::text("hi ada")).unwrap();
    let m: Value = serde_json::from_str(&recv_text(&mut ada)).unwrap();
    assert_eq!(
        (m["name"].as_str(), m["text"].as_str()),
        (Some("bob"), Some("hi ada"))
    );
    let history = get_json(addr, "/rooms/lobby/history");
    let texts: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        ["hello", "hi ada"],
        "messages are stored, joins are not"
    );
    drop(child);
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn a_transaction_is_isolated_and_never_takes_acknowledged_writes_down_with_it() {
    let srv = server(options(Some(state_dir("txn"))), |_| {});
    let addr = srv.local_addr();
    for i in 1..=10 {
        assert_eq!(get(addr, "/ledger/l/inc").text(), i.to_string());
    }
    // An event already running, which writes while the transaction is open.
    let late = std::thread::spawn(move || get(addr, "/ledger/l/late-write?ms=300").text());
    std::thread::sleep(Duration::from_millis(50));
    // A slow transaction that adds 100, then throws after 600 ms.
    let slow = std::thread::spawn(move || get(addr, "/ledger/l/slow-fail?ms=600").text());
    std::thread::sleep(Duration::from_millis(100));
    // Five increments sent while it is open: each is acknowledged, none sees
    // the transaction's uncommitted value, and none is rolled back with it.
    let incs: Vec<_> = (0..5)
        .map(|_| std::thread::spawn(move || get(addr, "/ledger/l/inc").text()))
        .collect();
    let mut seen: Vec<u32> = incs
        .into_iter()
        .map(|t| t.join().unwrap().parse().unwrap())
        .collect();
    seen.sort_unstable();
    assert_eq!(slow.join().unwrap(), "rolled back: changed my mind");
    assert_eq!(late.join().unwrap(), "late write acknowledged");
    assert_eq!(
        seen,
        vec![11, 12, 13, 14, 15],
        "increments saw the transaction's writes"
    );
    assert_eq!(get(addr, "/ledger/l?key=n").text(), "15");
    assert_eq!(get(addr, "/ledger/l?key=late").text(), "kept");

    let api = get_json(addr, "/ledger/api/txn-api");
    assert_eq!(
        api["inside"],
        serde_json::json!({"a": 1, "b": 20, "d": 4}),
        "{api}"
    );
    assert_eq!(api["get"], serde_json::json!([20, null, 4]), "{api}");
    assert_eq!(api["many"], serde_json::json!({"a": 1, "b": 20}), "{api}");
    assert_eq!(api["outsideDuring"], 2, "{api}");
    assert_eq!(api["reversed"], serde_json::json!(["d", "b"]), "{api}");
    assert_eq!(
        api["after"],
        serde_json::json!({"a": 1, "b": 20, "d": 4}),
        "{api}"
    );
    assert!(
        api["afterRollback"]
            .as_str()
            .unwrap()
            .contains("rolled back"),
        "{api}"
    );
    assert_eq!(api["rolledBack"], serde_json::json!([null, null]), "{api}");
    srv.shutdown();
    srv.join().unwrap();
}

#[test]
fn eviction_closes_the_actors_outbound_websockets_with_1001() {
    let up = WsUpstream::start();
    let mut opts = options(None);
    opts.evict_after = (Duration::from_millis(100), Duration::from_millis(100));
    let srv = server(opts, |c| {
        c.outbound.keepalive_cap = Duration::from_millis(300)
    });
    let addr = srv.local_addr();
    for mode in ["ws", "fetch-ws"] {
        let target = up.url(&format!("/{mode}"));
        let r = get(addr, &format!("/pinned/{mode}?mode={mode}&target={target}"));
        assert_eq!(r.text(), format!("pinned {mode}"));
    }
    // Past the cap the tokens stop pinning: both actors are evicted, and
    // every socket they opened closes with them, with a close frame.
    assert!(
        eventually(Duration::from_secs(5), || actor_stats(&srv).evicted_idle
            == 2),
        "{:?}",
        actor_stats(&srv)
    );
    for mode in ["/ws", "/fetch-ws"] {
        assert!(
            up.wait_closed(mode, Duration::from_secs(3)).is_some(),
            "{mode}: the upstream connection stayed open after the eviction"
        );
        let rec = up
            .records()
            .into_iter()
            .find(|r| r.path.as_deref() == Some(mode))
            .unwrap();
        assert_eq!(
            rec.close_frame.as_ref().map(|c| c.0),
            Some(1001),
            "{mode}: {rec:?}"
        );
    }
    // And their keepalive tokens are gone, not counted past the cap.
    assert!(
        eventually(Duration::from_secs(2), || {
            let k = &srv.stats()[0].keepalive;
            k.live == 0 && k.past_cap == 0
        }),
        "{:?}",
        srv.stats()[0].keepalive
    );
    srv.shutdown();
    srv.join().unwrap();
}

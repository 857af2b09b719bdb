//! The connection side of dormant WebSockets (see [`crate::ws::dormant`]):
//! parking an idle session's socket, the shard's driver that steps woken
//! and due sockets, and the task a socket gets again when a step is not
//! enough.

use std::future::{Future, poll_fn};
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::Handler;
use super::conn::{Alarm, ConnEnv, linger_close, ws_left};
use crate::socket::Socket;
use crate::ws::session::{Ended, Idle, Session, Suspended, wind_up};
use crate::ws::socket::WsShared;
use ringworker_core::clock::Stamp;

/// A dormant socket quiet this long gives back its buffers.
const TRIM_AFTER: Duration = Duration::from_millis(100);

/// Puts an idle session's socket in the shard's dormant set (its task is
/// ending) and steps it once, so that from now on its wakers are the set's.
pub(crate) fn park<H: Handler>(env: &Rc<ConnEnv<H>>, sock: Socket, ws: Rc<WsShared>, idle: Idle) {
    // What its task's exchange left in the buffers goes now.
    if !sock.set_lean(true) {
        env.dormant.trimmed();
    }
    ws.shrink();
    let key = env.dormant.insert(sock, ws, idle);
    step(env, key);
}

/// One step of dormant socket `key`: its session polled once. Idle again:
/// it stays; over: it winds up; more to do: it gets a task.
pub(crate) fn step<H: Handler>(env: &Rc<ConnEnv<H>>, key: u32) {
    let Some(mut e) = env.dormant.take(key) else {
        return;
    };
    let waker = env.dormant.waker(key);
    let mut cx = Context::from_waker(&waker);
    let e_last = e.idle.last_message();
    let mut session = Session::stepping(
        &e.sock,
        e.ws.clone(),
        e.idle,
        &env.config.ws,
        &env.drain,
        &env.metrics,
    );
    let polled = session.step(&mut cx);
    match polled {
        Poll::Ready(Ended::Parked(idle)) => {
            let deadline = session.next_deadline;
            drop(session);
            e.idle = idle;
            // Quiet for a while: give back its buffers and spare sends. Busy
            // (messages moments ago; the heartbeat's pings and pongs do not
            // count): keep them, so that each message is not an allocation
            // and a free; look again when it has been quiet. Only a socket
            // that held spares counts as trimmed (see `release_memory`).
            let trim_at = idle.last_message() + TRIM_AFTER;
            let quiet = Instant::now() >= trim_at;
            if quiet {
                if !e.sock.set_lean(true) {
                    env.dormant.trimmed();
                }
                e.ws.shrink();
            } else if idle.last_message() > e_last {
                // Busy: keep spare sends from now on.
                e.sock.set_lean(false);
            }
            e.deadline = match (quiet, deadline) {
                (true, d) => d,
                (false, d) => Some(d.map_or(trim_at, |d| d.min(trim_at))),
            }
            .map(Stamp::of);
            env.dormant.put_back(key, e);
        }
        Poll::Ready(ended) => {
            drop(session);
            env.dormant.release(key);
            let env2 = env.clone();
            spawn(env, async move {
                wind_up(&e.sock, &e.ws, &env2.config.ws, ended).await;
                finish(&env2, e.sock, e.ws, ended).await;
            });
        }
        Poll::Pending => {
            let state = session.suspend();
            env.dormant.release(key);
            env.metrics.count_dormant(|c| c.resumed += 1);
            spawn(env, resume(env.clone(), e.sock, state));
        }
    }
    env.metrics.count_dormant(|c| {
        c.steps += 1;
        c.now = env.dormant.len() as u64;
    });
}

/// A dormant socket's session, back in a task until it is idle again.
async fn resume<H: Handler>(env: Rc<ConnEnv<H>>, sock: Socket, state: Suspended) {
    sock.set_lean(false);
    let ws = state.ws().clone();
    let ended = Session::resume(&sock, state, &env.config.ws, &env.drain, &env.metrics)
        .run()
        .await;
    finish(&env, sock, ws, ended).await;
}

/// After a session: park the socket again, or close it and count it gone.
async fn finish<H: Handler>(env: &Rc<ConnEnv<H>>, sock: Socket, ws: Rc<WsShared>, ended: Ended) {
    match ended {
        Ended::Parked(idle) => return park(env, sock, ws, idle),
        Ended::Closed => linger_close(&sock).await,
        Ended::Dropped => {}
    }
    ws_left(env, sock.peer_addr().ok());
    env.metrics.connection_closed();
}

fn spawn<H: Handler>(env: &Rc<ConnEnv<H>>, f: impl Future<Output = ()> + 'static) {
    match env.gate.spawn(f) {
        Ok(task) => drop(task.detach()),
        // Shut down already: the socket closes as the future drops.
        Err(_) => {
            ws_left(env, None);
            env.metrics.connection_closed();
        }
    }
}

/// The shard's dormant driver: steps every socket that was woken, and those
/// whose deadline (a heartbeat, a timeout) passed. On shutdown it steps them
/// all (each then sends 1001 in a task of its own) and ends.
pub(crate) async fn drive<H: Handler>(env: Rc<ConnEnv<H>>) {
    let mut alarm = Alarm::new();
    let mut subscription = None;
    let mut ready = Vec::new();
    loop {
        let draining = poll_fn(|cx| {
            if subscription.is_none() {
                subscription = Some(env.drain.subscribe(cx.waker()));
            }
            if env.drain.is_draining() {
                return Poll::Ready(true);
            }
            env.dormant.register(cx);
            if env.dormant.has_ready() || alarm.poll(cx, env.dormant.next_scan()) {
                return Poll::Ready(false);
            }
            Poll::Pending
        })
        .await;
        if draining {
            wake_all(&env);
            return;
        }
        let mut stepped = 0u32;
        loop {
            env.dormant.take_ready(&mut ready);
            if ready.is_empty() {
                break;
            }
            for &key in &ready {
                step(&env, key);
                stepped += 1;
                if stepped % 64 == 0 {
                    glommio::yield_if_needed().await;
                }
            }
        }
        for key in env.dormant.due(Instant::now()) {
            step(&env, key);
        }
        env.dormant.release_memory();
    }
}

/// Steps every dormant socket (on shutdown: none stays dormant).
pub(crate) fn wake_all<H: Handler>(env: &Rc<ConnEnv<H>>) {
    for key in env.dormant.keys() {
        step(env, key);
    }
}

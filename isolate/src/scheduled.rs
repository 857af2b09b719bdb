//! Cron triggers: the script's `scheduled(controller, env, ctx)` handler run
//! on the schedules of wrangler.toml's `[triggers] crons`, and on demand
//! through wrangler's test route (`/__scheduled?cron=...`).
//!
//! Patterns are Cloudflare's: five fields (minute, hour, day of month,
//! month, day of week), UTC, with names (`JAN`, `MON`), ranges, steps, lists
//! and `L`, `W`, `#`; the day of week counts 1-7 from Sunday, as Cloudflare's
//! does (Quartz style), not 0-6 from Sunday as Vixie cron. `croner`, with
//! its Quartz weekday mode, parses and evaluates them.
//!
//! One shard runs the schedule (shard 0): a trigger is one event for the
//! whole server, not one per shard. Its clock is a [`CronClock`], which tests
//! start just before a minute and speed up, so a schedule runs in milliseconds.

use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use crate::runtime::{JsFailure, JsRuntime, RequestIds, new_string};

/// Parses a cron pattern as Cloudflare reads it (see the module doc).
pub fn parse_cron(pattern: &str) -> Result<Cron, String> {
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .alternative_weekdays(true)
        .build()
        .parse(pattern)
        .map_err(|e| format!("invalid cron pattern \"{pattern}\": {e}"))
}

/// The clock cron triggers run by. The real clock by default; tests start it
/// at a chosen time and run it faster.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CronClock {
    /// The time (ms since the Unix epoch) the clock shows when the schedule
    /// starts; `None`: the real time.
    pub start_ms: Option<i64>,
    /// How many clock milliseconds pass per real one (1.0: real time).
    pub speed: f64,
}

impl Default for CronClock {
    fn default() -> Self {
        Self {
            start_ms: None,
            speed: 1.0,
        }
    }
}

fn real_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A running [`CronClock`].
struct Ticking {
    start_ms: i64,
    since: Instant,
    speed: f64,
}

impl Ticking {
    fn new(c: CronClock) -> Self {
        Self {
            start_ms: c.start_ms.unwrap_or_else(real_now_ms),
            since: Instant::now(),
            speed: if c.speed > 0.0 { c.speed } else { 1.0 },
        }
    }

    fn now_ms(&self) -> i64 {
        self.start_ms + (self.since.elapsed().as_secs_f64() * 1000.0 * self.speed) as i64
    }

    /// Real time until the clock shows `at_ms`.
    fn until(&self, at_ms: i64) -> Duration {
        let ms = (at_ms - self.now_ms()).max(0) as f64 / self.speed;
        Duration::from_secs_f64(ms / 1000.0)
    }
}

/// The first time after `after_ms` that `cron` fires, in ms.
fn next_after(cron: &Cron, after_ms: i64) -> Option<i64> {
    let t = chrono::DateTime::from_timestamp_millis(after_ms)?;
    cron.find_next_occurrence(&t, false)
        .ok()
        .map(|n| n.timestamp_millis())
}

/// How a scheduled event ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// The handler (and its promise) succeeded.
    pub(crate) ok: bool,
    /// It called `controller.noRetry()`.
    pub(crate) no_retry: bool,
    /// Why it failed.
    pub(crate) error: Option<String>,
}

impl JsRuntime {
    /// Starts the cron schedule on shard 0, if the script has triggers.
    pub(crate) fn start_crons(self: &Rc<Self>) {
        let (crons, clock) = {
            let o = self.options();
            if o.shard != 0 || o.crons.is_empty() {
                return;
            }
            let parsed: Vec<(String, Cron)> = o
                .crons
                .iter()
                .filter_map(|p| parse_cron(p).ok().map(|c| (p.clone(), c)))
                .collect();
            (parsed, o.cron_clock)
        };
        let weak = Rc::downgrade(self);
        glommio::spawn_local(async move {
            let clock = Ticking::new(clock);
            let mut last = clock.now_ms();
            loop {
                let Some(next) = crons.iter().filter_map(|(_, c)| next_after(c, last)).min() else {
                    return;
                };
                let wait = clock.until(next);
                match ringworker_io::uring::NetRing::current() {
                    Some(r) => r.sleep(wait).await,
                    None => glommio::timer::sleep(wait).await,
                }
                let Some(rt) = weak.upgrade() else { return };
                for (pattern, c) in &crons {
                    if next_after(c, next - 1) == Some(next) {
                        let rt = rt.clone();
                        let pattern = pattern.clone();
                        glommio::spawn_local(async move {
                            let o = rt.run_scheduled(next, &pattern).await;
                            if !o.ok {
                                tracing::error!(
                                    target: "js",
                                    shard = rt.shard(),
                                    "scheduled() for \"{pattern}\" failed: {}",
                                    o.error.as_deref().unwrap_or("?")
                                );
                            }
                        })
                        .detach();
                    }
                }
                last = next;
            }
        })
        .detach();
    }

    /// Runs the script's `scheduled(controller, env, ctx)` for `cron` at
    /// `time_ms`, to the end of the promise it returns (its `waitUntil`
    /// work goes on after).
    pub(crate) async fn run_scheduled(self: &Rc<Self>, time_ms: i64, cron: &str) -> Outcome {
        let owner = self.host().borrow_mut().new_owner();
        let ids = RequestIds::for_owner(owner);
        let started = self.enter_as(owner, |tc, h| -> Option<u64> {
            let f = crate::runtime::rw_function(tc, "runScheduled")?;
            let handler = v8::Local::new(tc, &h.handler);
            let env = v8::Local::new(tc, &h.env);
            let ctx = v8::Local::new(tc, &h.ctx);
            let time = v8::Number::new(tc, time_ms as f64);
            let cron = new_string(tc, cron);
            let recv = v8::undefined(tc).into();
            let p = f.call(tc, recv, &[handler, env, ctx, time.into(), cron.into()])?;
            let p = v8::Local::<v8::Promise>::try_from(p).ok()?;
            Some(self.watch_promise(tc, h, p))
        });
        let outcome = match started {
            Ok(Some(id)) => match self.wait_value(id).await {
                Some(Ok(v)) => self
                    .enter(|tc, _| {
                        let v = v8::Local::new(tc, v);
                        read_outcome(tc, v)
                    })
                    .unwrap_or_else(|_| terminated()),
                _ => terminated(),
            },
            Ok(None) => Outcome {
                ok: false,
                no_retry: false,
                error: Some("the script has no scheduled() handler".into()),
            },
            Err(JsFailure::Exception(e)) => Outcome {
                ok: false,
                no_retry: false,
                error: Some(e),
            },
            Err(JsFailure::Terminated) => terminated(),
        };
        ids.release(self);
        outcome
    }
}

fn terminated() -> Outcome {
    Outcome {
        ok: false,
        no_retry: false,
        error: Some("the script was terminated (CPU time limit)".into()),
    }
}

/// Reads `[ok, noRetry, error]` (see `rw.runScheduled`).
fn read_outcome(tc: &mut v8::PinScope, v: v8::Local<v8::Value>) -> Outcome {
    let Ok(a) = v8::Local::<v8::Array>::try_from(v) else {
        return Outcome {
            ok: false,
            no_retry: false,
            error: Some("no outcome".into()),
        };
    };
    let ok = a.get_index(tc, 0).is_some_and(|v| v.is_true());
    let no_retry = a.get_index(tc, 1).is_some_and(|v| v.is_true());
    let error = a
        .get_index(tc, 2)
        .filter(|v| !v.is_undefined())
        .map(|e| crate::runtime::value_text(tc, e));
    Outcome {
        ok,
        no_retry,
        error,
    }
}

/// Answers wrangler's test route, `/__scheduled?cron=PATTERN&time=MS`
/// (`wrangler dev --test-scheduled`): runs `scheduled()` now and says how
/// it went.
pub(crate) async fn test_route(rt: &Rc<JsRuntime>, query: &str) -> ringworker_io::Response {
    let mut cron = String::new();
    let mut time = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            "cron" => cron = v.into_owned(),
            "time" => time = v.parse::<i64>().ok(),
            _ => {}
        }
    }
    let time = time.unwrap_or_else(real_now_ms);
    let o = rt.run_scheduled(time, &cron).await;
    let mut resp = if o.ok {
        ringworker_io::Response::text(200, "Ran scheduled event")
    } else {
        ringworker_io::Response::text(
            500,
            format!(
                "scheduled() failed: {}",
                o.error.as_deref().unwrap_or("unknown error")
            ),
        )
    };
    if o.no_retry {
        resp.headers.push((
            bytes::Bytes::from_static(b"ringworker-no-retry"),
            bytes::Bytes::from_static(b"true"),
        ));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-06-07 (a Sunday) 12:00:00 UTC, in ms.
    const SUNDAY_NOON: i64 = 1_780_833_600_000;

    fn next(p: &str, after: i64) -> i64 {
        next_after(&parse_cron(p).unwrap(), after).unwrap()
    }

    #[test]
    fn cloudflare_syntax_weekdays_count_from_sunday() {
        use chrono::{Datelike, Timelike};
        let dt = chrono::DateTime::from_timestamp_millis(SUNDAY_NOON).unwrap();
        assert_eq!(
            (dt.weekday(), dt.hour(), dt.minute()),
            (chrono::Weekday::Sun, 12, 0)
        );
        // `0 17 * * sun` and `0 17 * * 1` are both Sunday 17:00 (Cloudflare's docs).
        assert_eq!(
            next("0 17 * * sun", SUNDAY_NOON),
            SUNDAY_NOON + 5 * 3_600_000
        );
        assert_eq!(next("0 17 * * 1", SUNDAY_NOON), SUNDAY_NOON + 5 * 3_600_000);
        // `10 7 * * mon-fri` / `2-6`: Monday 07:10.
        let monday = SUNDAY_NOON + 19 * 3_600_000 + 10 * 60_000;
        assert_eq!(next("10 7 * * mon-fri", SUNDAY_NOON), monday);
        assert_eq!(next("10 7 * * 2-6", SUNDAY_NOON), monday);
    }

    #[test]
    fn steps_ranges_lists_and_specials() {
        assert_eq!(next("*/15 * * * *", SUNDAY_NOON), SUNDAY_NOON + 15 * 60_000);
        assert_eq!(next("5,50 12 * * *", SUNDAY_NOON), SUNDAY_NOON + 5 * 60_000);
        assert_eq!(
            next("0 9-17/4 * * *", SUNDAY_NOON),
            SUNDAY_NOON + 60 * 60_000
        );
        // The last day of June 2026 is Tuesday the 30th; `LW` its last weekday.
        let june30 = SUNDAY_NOON + 23 * 86_400_000 - 12 * 3_600_000;
        assert_eq!(next("0 0 L * *", SUNDAY_NOON), june30);
        assert_eq!(next("0 0 LW * *", SUNDAY_NOON), june30);
        // `MON#2` is 8 June.
        assert_eq!(
            next("0 0 * * MON#2", SUNDAY_NOON),
            SUNDAY_NOON + 12 * 3_600_000
        );
        assert_eq!(next("0 0 1 jan *", SUNDAY_NOON) % 86_400_000, 0);
    }

    #[test]
    fn bad_patterns_are_refused() {
        for p in [
            "* * * *",
            "61 * * * *",
            "* * * * * *",
            "x * * * *",
            "* * 32 * *",
            "0 0 * * 8",
        ] {
            assert!(parse_cron(p).is_err(), "{p}");
        }
    }

    #[test]
    fn a_fast_clock_reaches_the_next_minute_in_milliseconds() {
        let c = Ticking::new(CronClock {
            start_ms: Some(SUNDAY_NOON - 30),
            speed: 1000.0,
        });
        let wait = c.until(SUNDAY_NOON + 60_000);
        assert!(wait < Duration::from_millis(70), "{wait:?}");
    }
}

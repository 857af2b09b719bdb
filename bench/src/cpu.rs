//! CPU accounting: a server process via `/proc/PID/stat`, this process via
//! `getrusage(RUSAGE_SELF)`.

use std::io;
use std::time::Duration;

/// User and system CPU time of a whole process (all its threads, including
/// threads that already exited).
#[derive(Debug, Clone, Copy)]
pub struct CpuTimes {
    /// User time, in clock ticks (10 ms here).
    pub user: Duration,
    /// System time, in clock ticks.
    pub system: Duration,
    /// The scheduler's run time of every live thread, to the nanosecond
    /// (`/proc/PID/task/*/schedstat`), where the kernel keeps it: at a low
    /// request rate, ticks are too coarse to divide by the requests.
    pub exec: Option<Duration>,
}

impl CpuTimes {
    /// All CPU time: the scheduler's nanosecond figure where known, else
    /// user + system ticks.
    pub fn total(&self) -> Duration {
        self.exec.unwrap_or(self.user + self.system)
    }

    pub fn since(&self, earlier: &CpuTimes) -> CpuTimes {
        CpuTimes {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
            exec: match (self.exec, earlier.exec) {
                (Some(a), Some(b)) => Some(a.saturating_sub(b)),
                _ => None,
            },
        }
    }
}

fn clk_tck() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as u64 } else { 100 }
}

fn ticks(t: u64, hz: u64) -> Duration {
    Duration::from_nanos(t.saturating_mul(1_000_000_000) / hz)
}

/// Parse utime and stime (fields 14 and 15, clock ticks) out of the content
/// of `/proc/PID/stat`. The command name (field 2) may contain spaces and
/// parentheses, so fields are counted from the last `)`.
pub fn parse_proc_stat(stat: &str) -> Option<(u64, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_ascii_whitespace();
    // rest starts at field 3 (state); utime is field 14 => index 11.
    let utime = f.nth(11)?.parse().ok()?;
    let stime = f.next()?.parse().ok()?;
    Some((utime, stime))
}

/// CPU times of process `pid`. Resolution is one clock tick (usually 10 ms).
pub fn process_cpu(pid: u32) -> io::Result<CpuTimes> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let (u, st) = parse_proc_stat(&s).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("cannot parse /proc/{pid}/stat"),
        )
    })?;
    let hz = clk_tck();
    Ok(CpuTimes {
        user: ticks(u, hz),
        system: ticks(st, hz),
        exec: threads_exec_time(pid),
    })
}

/// Sum of the first field (run time, ns) of `/proc/PID/task/*/schedstat`.
/// Threads that already exited are not in it; the servers measured keep
/// theirs.
fn threads_exec_time(pid: u32) -> Option<Duration> {
    let mut ns: u64 = 0;
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let s = std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok()?;
        ns += s.split_ascii_whitespace().next()?.parse::<u64>().ok()?;
    }
    // A kernel built without scheduler statistics has no such files (or
    // reports zeros): then the tick figures are all there is.
    (ns > 0).then(|| Duration::from_nanos(ns))
}

/// CPU times of this process (all threads).
pub fn self_cpu() -> CpuTimes {
    // SAFETY: rusage is plain old data; getrusage only writes into it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a rusage struct.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    CpuTimes {
        user: tv(ru.ru_utime),
        system: tv(ru.ru_stime),
        exec: None,
    }
}

/// Busy CPU time of the whole machine (every core): the `cpu` line of
/// `/proc/stat`, all columns but idle and iowait. It includes what no
/// process is charged for (softirq work such as loopback TCP), which a
/// per-process figure misses.
pub fn machine_busy() -> io::Result<Duration> {
    let s = std::fs::read_to_string("/proc/stat")?;
    parse_machine_busy(&s, clk_tck())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "cannot parse /proc/stat"))
}

/// The busy time in the `cpu` line of a `/proc/stat` text.
pub fn parse_machine_busy(stat: &str, hz: u64) -> Option<Duration> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let cols: Vec<u64> = line
        .split_ascii_whitespace()
        .skip(1)
        .map(|c| c.parse().ok())
        .collect::<Option<_>>()?;
    if cols.len() < 5 {
        return None;
    }
    // user nice system idle iowait irq softirq steal (guest, guest_nice are
    // already inside user and nice).
    let busy: u64 = cols
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, v)| v)
        .sum();
    Some(ticks(busy, hz))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_comm() {
        let s = "1234 (a) b) (c) S 1 1234 1234 0 -1 4194560 100 0 0 0 \
                 57 31 0 0 20 0 3 0 100 1000 10 18446744073709551615";
        assert_eq!(parse_proc_stat(s), Some((57, 31)));
    }

    #[test]
    fn reads_own_stat() {
        let me = process_cpu(std::process::id()).unwrap();
        assert!(me.total() < Duration::from_secs(3600));
        // Scheduler statistics are a kernel option: where they are kept, the
        // figure grows by the CPU this thread burns.
        if let Some(before) = me.exec {
            let t = std::time::Instant::now();
            let mut x = 0u64;
            while t.elapsed() < Duration::from_millis(30) {
                x = std::hint::black_box(x.wrapping_add(1));
            }
            let after = process_cpu(std::process::id()).unwrap().exec;
            assert!(after.is_some_and(|a| a > before), "{before:?} {after:?}");
        }
        let _ = self_cpu();
    }

    #[test]
    fn machine_busy_leaves_out_idle_and_iowait() {
        let s = "cpu  100 5 50 1000 30 2 8 0 0 0\ncpu0 50 2 25 500 15 1 4 0 0 0\n";
        // 100 + 5 + 50 + 2 + 8 = 165 ticks at 100 Hz.
        assert_eq!(
            parse_machine_busy(s, 100),
            Some(Duration::from_millis(1650))
        );
        assert_eq!(parse_machine_busy("intr 1 2\n", 100), None);
    }
}

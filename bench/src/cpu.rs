//! CPU accounting: a server process via `/proc/PID/stat`, this process via
//! `getrusage(RUSAGE_SELF)`.

use std::io;
use std::time::Duration;

/// User and system CPU time of a whole process (all its threads, including
/// threads that already exited).
#[derive(Debug, Clone, Copy)]
pub struct CpuTimes {
    pub user: Duration,
    pub system: Duration,
}

impl CpuTimes {
    pub fn total(&self) -> Duration {
        self.user + self.system
    }

    pub fn since(&self, earlier: &CpuTimes) -> CpuTimes {
        CpuTimes {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
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
    })
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
    }
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
        let _ = self_cpu();
    }
}

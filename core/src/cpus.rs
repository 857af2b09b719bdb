//! The CPUs this process was given, and the one each shard takes.
//!
//! The set comes from `sched_getaffinity`: what `taskset`, a cgroup cpuset
//! (containers) or Kubernetes' CPU manager allowed. Shards are placed in it
//! in order, never on CPU ids outside it: pinning shard 0 to CPU 0 when the
//! process was given CPU 1 puts it beside whatever the operator put on CPU 0
//! (a load generator, another tenant), and fails outright in a cpuset.

use std::io;

/// The CPUs the calling thread may run on, in ascending order. On the main
/// thread of a process this is the process's allowed set, which every thread
/// it starts inherits.
///
/// ```
/// let cpus = ringworker_core::cpus::allowed_cpus().unwrap();
/// assert!(!cpus.is_empty());
/// assert!(cpus.windows(2).all(|w| w[0] < w[1]));
/// ```
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: a zeroed cpu_set_t is a valid, empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a properly sized, writable cpu_set_t.
    let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    let max = 8 * std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: `i` is below the set's capacity in bits.
    Ok((0..max)
        .filter(|&i| unsafe { libc::CPU_ISSET(i, &set) })
        .collect())
}

/// How many shards to start when the user does not say: one per allowed CPU.
pub fn default_shards() -> usize {
    allowed_cpus()
        .map(|c| c.len())
        .ok()
        .filter(|&n| n > 0)
        .unwrap_or(1)
}

/// The CPU each of `shards` pinned shards runs on: the allowed CPUs, in
/// order. More shards than allowed CPUs is an error (two pinned shards on
/// one core would share it and mislead every figure); run them unpinned
/// instead.
pub fn shard_cpus(shards: usize, allowed: &[usize]) -> Result<Vec<usize>, TooManyShards> {
    if shards > allowed.len() {
        return Err(TooManyShards {
            shards,
            allowed: allowed.to_vec(),
        });
    }
    Ok(allowed[..shards].to_vec())
}

/// More pinned shards were asked for than the process has CPUs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{shards} pinned shards asked for, but this process may run on only {} CPU(s) ({}): \
     use --shards {} or fewer, or --no-pin to run the shards unpinned",
    allowed.len(),
    cpu_list(allowed),
    allowed.len()
)]
pub struct TooManyShards {
    /// Shards asked for.
    pub shards: usize,
    /// The CPUs the process may run on.
    pub allowed: Vec<usize>,
}

/// `0-3,6` style, as `taskset -c` and `/proc/*/status` write CPU lists.
pub fn cpu_list(cpus: &[usize]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < cpus.len() {
        let start = cpus[i];
        let mut end = start;
        while i + 1 < cpus.len() && cpus[i + 1] == end + 1 {
            i += 1;
            end = cpus[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}-{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_take_the_allowed_cpus_in_order() {
        assert_eq!(shard_cpus(2, &[1, 3, 5]).unwrap(), vec![1, 3]);
        assert_eq!(shard_cpus(1, &[1]).unwrap(), vec![1]);
    }

    #[test]
    fn more_shards_than_cpus_names_both_numbers() {
        let e = shard_cpus(3, &[1, 2]).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("3 pinned shards"), "{msg}");
        assert!(msg.contains("only 2 CPU(s) (1-2)"), "{msg}");
        assert!(msg.contains("--no-pin"), "{msg}");
    }

    #[test]
    fn cpu_lists_read_like_taskset() {
        assert_eq!(cpu_list(&[0, 1, 2, 3, 6]), "0-3,6");
        assert_eq!(cpu_list(&[1]), "1");
        assert_eq!(cpu_list(&[0, 2, 4]), "0,2,4");
        assert_eq!(cpu_list(&[]), "");
    }

    #[test]
    fn this_thread_has_cpus() {
        let cpus = allowed_cpus().unwrap();
        assert!(!cpus.is_empty());
        assert_eq!(default_shards(), cpus.len());
    }
}

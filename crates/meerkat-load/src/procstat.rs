//! Samples of the server under test from `/proc/PID/stat` (CPU time) and `/proc/PID/status`
//! (VmRSS), summed over every `--server-pid`. Linux only; elsewhere sampling yields nothing.

use serde::Serialize;

/// Resource use of the server processes at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ProcSample {
    /// Resident set size, KiB, summed over the processes.
    pub rss_kib: u64,
    /// User + system CPU time, seconds, summed over the processes.
    pub cpu_s: f64,
}

/// Reads the samples of a fixed set of processes.
#[derive(Debug, Clone)]
pub struct ProcSampler {
    pids: Vec<u32>,
    ticks_per_s: f64,
}

impl ProcSampler {
    /// A sampler for `pids`; `None` when there are none.
    pub fn new(pids: &[u32]) -> Option<Self> {
        if pids.is_empty() {
            return None;
        }
        // SAFETY: sysconf has no preconditions; it returns -1 for an unknown name.
        let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let ticks_per_s = if tck > 0 { tck as f64 } else { 100.0 };
        Some(ProcSampler { pids: pids.to_vec(), ticks_per_s })
    }

    /// The process ids sampled.
    pub fn pids(&self) -> &[u32] {
        &self.pids
    }

    /// Current sample; `None` when a process cannot be read (it exited).
    pub fn sample(&self) -> Option<ProcSample> {
        let mut total = ProcSample::default();
        for pid in &self.pids {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            total.cpu_s += cpu_ticks(&stat)? as f64 / self.ticks_per_s;
            total.rss_kib += rss_kib(&status)?;
        }
        Some(total)
    }
}

/// utime + stime (fields 14 and 15) from a `/proc/PID/stat` line. The command name (field 2)
/// may contain spaces and parentheses, so fields are counted after its last `)`.
pub fn cpu_ticks(stat: &str) -> Option<u64> {
    let after = stat.get(stat.rfind(')')? + 1..)?;
    // After ")" come field 3 (state) onwards: utime is field 14, i.e. index 11 here.
    let mut fields = after.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime.saturating_add(stime))
}

/// `VmRSS` in KiB from `/proc/PID/status`.
pub fn rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_ascii_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_command_name() {
        let stat = "1234 (my (odd) srv) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 \
                    8 0 100 1000000 500 18446744073709551615";
        assert_eq!(cpu_ticks(stat), Some(325));
        assert_eq!(cpu_ticks("garbage"), None);
    }

    #[test]
    fn parses_status() {
        let status = "Name:\tmeerkat\nVmPeak:\t  9000 kB\nVmRSS:\t   51234 kB\nThreads:\t3\n";
        assert_eq!(rss_kib(status), Some(51234));
        assert_eq!(rss_kib("Name: x\n"), None);
    }

    #[test]
    fn samples_own_process() {
        let s = ProcSampler::new(&[std::process::id()]).expect("sampler");
        let sample = s.sample().expect("own /proc entry");
        assert!(sample.rss_kib > 0);
        assert!(ProcSampler::new(&[]).is_none());
    }
}

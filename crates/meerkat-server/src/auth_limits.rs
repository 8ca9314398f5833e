//! Failed-login rate limiting per source address: a brute-force guard in front of SASL.

use dashmap::DashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
/// Entries kept before old windows are swept, bounding memory under address-spraying attacks.
const SWEEP_AT: usize = 10_000;

/// Counts failures per address in one-minute windows.
pub struct FailureLimiter {
    max_per_window: u32,
    by_ip: DashMap<IpAddr, (Instant, u32)>,
}

impl FailureLimiter {
    /// A limiter allowing `max_per_window` failures per minute per address.
    pub fn new(max_per_window: u32) -> Self {
        FailureLimiter { max_per_window, by_ip: DashMap::new() }
    }

    /// True when `ip` may try to authenticate now.
    pub fn allowed(&self, ip: IpAddr, now: Instant) -> bool {
        match self.by_ip.get(&ip) {
            Some(e) if now.duration_since(e.0) < WINDOW => e.1 < self.max_per_window,
            _ => true,
        }
    }

    /// Records a failure.
    pub fn record_failure(&self, ip: IpAddr, now: Instant) {
        if self.by_ip.len() >= SWEEP_AT {
            self.by_ip.retain(|_, e| now.duration_since(e.0) < WINDOW);
        }
        let mut e = self.by_ip.entry(ip).or_insert((now, 0));
        if now.duration_since(e.0) >= WINDOW {
            *e = (now, 0);
        }
        e.1 = e.1.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_limit_and_recovers_after_window() {
        let l = FailureLimiter::new(2);
        let ip: IpAddr = "127.0.0.9".parse().expect("ip");
        let t0 = Instant::now();
        assert!(l.allowed(ip, t0));
        l.record_failure(ip, t0);
        l.record_failure(ip, t0);
        assert!(!l.allowed(ip, t0));
        assert!(l.allowed(ip, t0 + WINDOW));
    }
}

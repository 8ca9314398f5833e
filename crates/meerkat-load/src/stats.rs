//! Counters and latency histograms shared by every connection task of a process.
//!
//! Counters are atomics (one increment per event, no lock). Latencies go into HDR histograms
//! (microseconds, 3 significant digits, 1 µs to 1 h) behind one std mutex: a record is a few
//! nanoseconds and never spans an await, so contention stays negligible at the rates two cores
//! can route. Three histograms are kept:
//! - `total`: the whole run, for the final report;
//! - `interval`: since the last one-second tick, for the timeline and progress (and, in a worker
//!   process, shipped to the coordinator);
//! - `window`: since the scenario last called [`Stats::reset_window`] (a top-speed step, the
//!   measured part of a throughput run).
//!
//! Time-to-delivery is wall clock: the sender writes `SystemTime` nanoseconds into the body and
//! the receiver subtracts them from its own `SystemTime`. Sender and receiver run on the same
//! machine (often in the same process) and read the same kernel clock, so there is no offset
//! between them; a clock step (NTP) during a run would show as one outlier, which is why
//! negative differences are clamped to zero rather than trusted.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Highest latency the histograms hold, in microseconds (larger values are clamped).
pub const MAX_LATENCY_US: u64 = 3_600_000_000;

/// A latency histogram in microseconds.
pub fn new_histogram() -> Histogram<u64> {
    // Bounds are constants within what hdrhistogram accepts (low >= 1, high >= 2 * low).
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid constant histogram bounds")
}

/// Wall-clock nanoseconds since the Unix epoch (see the module doc for why wall clock).
pub fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Counter values at one instant; differences of two snapshots are rates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Sessions currently logged in (a gauge).
    pub sessions: i64,
    /// Successful logins.
    pub logins_ok: u64,
    /// Failed connection attempts and logins.
    pub login_failures: u64,
    /// Sessions that ended before the scenario closed them.
    pub disconnects: u64,
    /// Messages sent.
    pub sent: u64,
    /// Timestamped messages received.
    pub received: u64,
    /// Message errors bounced by the server.
    pub message_errors: u64,
    /// Timestamped messages sent before this run started (stored offline by the server during
    /// an earlier run and delivered at this run's login): not counted as received, no latency.
    #[serde(default)]
    pub stale: u64,
    /// Deliveries the messages sent should cause: 1 per chat message, one per other occupant
    /// for a groupchat message (the `muc` scenario counts losses against this).
    #[serde(default)]
    pub expected: u64,
}

impl Counters {
    /// `self - earlier` for the monotonic counters; the gauge keeps `self`'s value.
    pub fn since(&self, earlier: &Counters) -> Counters {
        Counters {
            sessions: self.sessions,
            logins_ok: self.logins_ok.saturating_sub(earlier.logins_ok),
            login_failures: self.login_failures.saturating_sub(earlier.login_failures),
            disconnects: self.disconnects.saturating_sub(earlier.disconnects),
            sent: self.sent.saturating_sub(earlier.sent),
            received: self.received.saturating_sub(earlier.received),
            message_errors: self.message_errors.saturating_sub(earlier.message_errors),
            stale: self.stale.saturating_sub(earlier.stale),
            expected: self.expected.saturating_sub(earlier.expected),
        }
    }
}

struct Histograms {
    total: Histogram<u64>,
    interval: Histogram<u64>,
    window: Histogram<u64>,
    /// Time from connecting to a bound, available session, per successful login.
    login_total: Histogram<u64>,
    login_interval: Histogram<u64>,
}

/// Process-wide statistics.
pub struct Stats {
    sessions: AtomicI64,
    logins_ok: AtomicU64,
    login_failures: AtomicU64,
    disconnects: AtomicU64,
    sent: AtomicU64,
    received: AtomicU64,
    message_errors: AtomicU64,
    stale: AtomicU64,
    expected: AtomicU64,
    hist: Mutex<Histograms>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            sessions: AtomicI64::new(0),
            logins_ok: AtomicU64::new(0),
            login_failures: AtomicU64::new(0),
            disconnects: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            message_errors: AtomicU64::new(0),
            stale: AtomicU64::new(0),
            expected: AtomicU64::new(0),
            hist: Mutex::new(Histograms {
                total: new_histogram(),
                interval: new_histogram(),
                window: new_histogram(),
                login_total: new_histogram(),
                login_interval: new_histogram(),
            }),
        }
    }
}

impl Stats {
    /// A session logged in.
    pub fn login_ok(&self) {
        self.logins_ok.fetch_add(1, Relaxed);
        self.sessions.fetch_add(1, Relaxed);
    }

    /// A session logged in `login_us` after its connection started.
    pub fn login_ok_after(&self, login_us: u64) {
        self.login_ok();
        self.record_login_n(login_us, 1);
    }

    fn record_login_n(&self, login_us: u64, n: u64) {
        let v = login_us.clamp(1, MAX_LATENCY_US);
        if let Ok(mut h) = self.hist.lock() {
            let _ = h.login_total.record_n(v, n);
            let _ = h.login_interval.record_n(v, n);
        }
    }

    /// Takes the interval histogram of login times, leaving an empty one.
    pub fn take_login_interval(&self) -> Histogram<u64> {
        match self.hist.lock() {
            Ok(mut h) => std::mem::replace(&mut h.login_interval, new_histogram()),
            Err(_) => new_histogram(),
        }
    }

    /// Login time percentiles over the whole run.
    pub fn login_latency(&self) -> LatencySummary {
        self.hist.lock().map(|h| LatencySummary::of(&h.login_total)).unwrap_or_default()
    }

    /// Adds a worker's login-time buckets.
    pub fn merge_logins(&self, login_us_counts: &[(u64, u64)]) {
        for &(v, n) in login_us_counts {
            self.record_login_n(v, n);
        }
    }

    /// A connection or login failed.
    pub fn login_failed(&self) {
        self.login_failures.fetch_add(1, Relaxed);
    }

    /// A logged-in session ended; `unexpected` when the server or network ended it.
    pub fn session_ended(&self, unexpected: bool) {
        self.sessions.fetch_sub(1, Relaxed);
        if unexpected {
            self.disconnects.fetch_add(1, Relaxed);
        }
    }

    /// A message was sent.
    pub fn sent(&self) {
        self.sent.fetch_add(1, Relaxed);
        self.expected.fetch_add(1, Relaxed);
    }

    /// A groupchat message was sent to a room of `others` other occupants.
    pub fn sent_to_room(&self, others: u64) {
        self.sent.fetch_add(1, Relaxed);
        self.expected.fetch_add(others, Relaxed);
    }

    /// A message error came back.
    pub fn message_error(&self) {
        self.message_errors.fetch_add(1, Relaxed);
    }

    /// A message sent before this run arrived (see [`Counters::stale`]).
    pub fn stale(&self) {
        self.stale.fetch_add(1, Relaxed);
    }

    /// A timestamped message arrived `latency_us` after it was sent.
    pub fn received(&self, latency_us: u64) {
        self.received.fetch_add(1, Relaxed);
        self.record_n(latency_us, 1);
    }

    fn record_n(&self, latency_us: u64, n: u64) {
        let v = latency_us.clamp(1, MAX_LATENCY_US);
        if let Ok(mut h) = self.hist.lock() {
            // saturating_record cannot fail; record_n only fails out of bounds, excluded above.
            let _ = h.total.record_n(v, n);
            let _ = h.interval.record_n(v, n);
            let _ = h.window.record_n(v, n);
        }
    }

    /// Adds a worker's deltas (counters and latency buckets) to this process's figures.
    pub fn merge(&self, d: &Counters, sessions_delta: i64, latency_us_counts: &[(u64, u64)]) {
        self.sessions.fetch_add(sessions_delta, Relaxed);
        self.logins_ok.fetch_add(d.logins_ok, Relaxed);
        self.login_failures.fetch_add(d.login_failures, Relaxed);
        self.disconnects.fetch_add(d.disconnects, Relaxed);
        self.sent.fetch_add(d.sent, Relaxed);
        self.received.fetch_add(d.received, Relaxed);
        self.message_errors.fetch_add(d.message_errors, Relaxed);
        self.stale.fetch_add(d.stale, Relaxed);
        self.expected.fetch_add(d.expected, Relaxed);
        for &(v, n) in latency_us_counts {
            self.record_n(v, n);
        }
    }

    /// Current counter values.
    pub fn counters(&self) -> Counters {
        Counters {
            sessions: self.sessions.load(Relaxed),
            logins_ok: self.logins_ok.load(Relaxed),
            login_failures: self.login_failures.load(Relaxed),
            disconnects: self.disconnects.load(Relaxed),
            sent: self.sent.load(Relaxed),
            received: self.received.load(Relaxed),
            message_errors: self.message_errors.load(Relaxed),
            stale: self.stale.load(Relaxed),
            expected: self.expected.load(Relaxed),
        }
    }

    /// Takes the interval histogram, leaving an empty one.
    pub fn take_interval(&self) -> Histogram<u64> {
        match self.hist.lock() {
            Ok(mut h) => std::mem::replace(&mut h.interval, new_histogram()),
            Err(_) => new_histogram(),
        }
    }

    /// Starts a new measurement window.
    pub fn reset_window(&self) {
        if let Ok(mut h) = self.hist.lock() {
            h.window.reset();
        }
    }

    /// Latency summary of the current window.
    pub fn window_latency(&self) -> LatencySummary {
        self.hist.lock().map(|h| LatencySummary::of(&h.window)).unwrap_or_default()
    }

    /// Latency summary of the whole run.
    pub fn total_latency(&self) -> LatencySummary {
        self.hist.lock().map(|h| LatencySummary::of(&h.total)).unwrap_or_default()
    }
}

/// Non-empty buckets of a histogram as `(value_us, count)`, for shipping between processes.
pub fn buckets(h: &Histogram<u64>) -> Vec<(u64, u64)> {
    h.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect()
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Number of samples.
    pub count: u64,
    /// Mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
}

impl LatencySummary {
    /// Summary of a microsecond histogram (all zero when empty).
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return LatencySummary::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        LatencySummary {
            count: h.len(),
            mean_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

/// Parses the timestamp out of a body `t=<unix_nanos> id=<n>`; `None` for foreign messages.
pub fn body_timestamp(body: &str) -> Option<u64> {
    let rest = body.strip_prefix("t=")?;
    let end = rest.find(' ').unwrap_or(rest.len());
    rest.get(..end)?.parse().ok()
}

/// Microseconds from `sent_nanos` to `now_nanos`, zero if the clock went backwards.
pub fn latency_us(sent_nanos: u64, now_nanos: u64) -> u64 {
    now_nanos.saturating_sub(sent_nanos) / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_uniform_samples() {
        let s = Stats::default();
        for ms in 1..=100u64 {
            s.received(ms * 1000);
        }
        let l = s.total_latency();
        assert_eq!(l.count, 100);
        // HDR with 3 significant digits: values are exact to within 0.1 %.
        assert!((l.p50_ms - 50.0).abs() < 0.1, "{l:?}");
        assert!((l.p90_ms - 90.0).abs() < 0.1, "{l:?}");
        assert!((l.p99_ms - 99.0).abs() < 0.1, "{l:?}");
        assert!((l.max_ms - 100.0).abs() < 0.1, "{l:?}");
        assert!((l.mean_ms - 50.5).abs() < 0.1, "{l:?}");
        assert_eq!(s.counters().received, 100);
    }

    #[test]
    fn interval_and_window_reset_independently() {
        let s = Stats::default();
        s.received(5_000);
        assert_eq!(s.take_interval().len(), 1);
        assert_eq!(s.take_interval().len(), 0);
        s.reset_window();
        assert_eq!(s.window_latency().count, 0);
        s.received(7_000);
        assert_eq!(s.window_latency().count, 1);
        assert_eq!(s.total_latency().count, 2);
    }

    #[test]
    fn merge_adds_worker_deltas() {
        let worker = Stats::default();
        worker.login_ok();
        worker.sent();
        worker.received(2_000);
        worker.received(2_000);
        let base = Counters::default();
        let d = worker.counters().since(&base);
        let central = Stats::default();
        central.merge(&d, d.sessions, &buckets(&worker.take_interval()));
        let c = central.counters();
        assert_eq!((c.sessions, c.logins_ok, c.sent, c.received), (1, 1, 1, 2));
        assert_eq!(central.total_latency().count, 2);
        assert!((central.total_latency().p50_ms - 2.0).abs() < 0.01);
    }

    #[test]
    fn stale_messages_are_counted_apart_and_merged() {
        let (a, b) = (Stats::default(), Stats::default());
        a.stale();
        a.received(10);
        let d = a.counters().since(&Counters::default());
        assert_eq!((d.stale, d.received), (1, 1));
        b.merge(&d, 0, &[]);
        assert_eq!(b.counters().stale, 1);
        // Workers of an older build send ticks without the field.
        let old: Counters = serde_json::from_str(
            r#"{"sessions":0,"logins_ok":0,"login_failures":0,"disconnects":0,"sent":0,"received":0,"message_errors":0}"#,
        )
        .expect("parse");
        assert_eq!(old.stale, 0);
    }

    #[test]
    fn body_timestamps() {
        assert_eq!(body_timestamp("t=123 id=4"), Some(123));
        assert_eq!(body_timestamp("t=123"), Some(123));
        assert_eq!(body_timestamp("hello"), None);
        assert_eq!(body_timestamp("t=x id=1"), None);
        assert_eq!(latency_us(1_000, 3_500), 2);
        assert_eq!(latency_us(5_000, 1_000), 0);
    }

    #[test]
    fn counters_since() {
        let a = Counters { sessions: 3, sent: 10, received: 4, ..Counters::default() };
        let b = Counters { sessions: 5, sent: 25, received: 9, ..Counters::default() };
        let d = b.since(&a);
        assert_eq!((d.sessions, d.sent, d.received), (5, 15, 5));
    }
}

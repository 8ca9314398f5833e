//! The one-second sampler: turns counters and the interval histogram into timeline points,
//! prints the progress line, and samples the server processes.

use crate::procstat::{ProcSample, ProcSampler};
use crate::stats::{Counters, LatencySummary, Stats};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// One second of the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Point {
    /// Seconds since the start of the run.
    pub t_s: f64,
    /// Sessions logged in.
    pub sessions: i64,
    /// Logins completed in this second.
    pub logins_per_s: f64,
    /// Login failures so far.
    pub login_failures: u64,
    /// Messages sent in this second.
    pub sent_per_s: f64,
    /// Messages received in this second.
    pub received_per_s: f64,
    /// Messages sent so far.
    pub sent: u64,
    /// Messages received so far.
    pub received: u64,
    /// Latency of the messages received in this second.
    pub latency: LatencySummary,
    /// 99th percentile over the whole run so far.
    pub p99_run_ms: f64,
    /// Server resource use, with `--server-pid`.
    pub server: Option<ProcSample>,
}

/// Points collected by the sampler.
#[derive(Default)]
pub struct Timeline {
    // Appended once a second, read at the end: a std mutex is plenty.
    points: Mutex<Vec<Point>>,
}

impl Timeline {
    /// A copy of the points so far.
    pub fn points(&self) -> Vec<Point> {
        self.points.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

/// Samples `stats` (and the server) every second into `timeline`, printing a progress line to
/// stderr unless `quiet`. Runs until aborted.
pub async fn run_sampler(
    stats: Arc<Stats>,
    timeline: Arc<Timeline>,
    procs: Option<ProcSampler>,
    start: Instant,
    quiet: bool,
) {
    let mut tick = tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut prev = stats.counters();
    let mut prev_t = start;
    loop {
        let now = tick.tick().await;
        let c = stats.counters();
        let interval = LatencySummary::of(&stats.take_interval());
        let dt = now.duration_since(prev_t).as_secs_f64().max(1e-3);
        let d = c.since(&prev);
        let point = Point {
            t_s: now.duration_since(start).as_secs_f64(),
            sessions: c.sessions,
            logins_per_s: d.logins_ok as f64 / dt,
            login_failures: c.login_failures,
            sent_per_s: d.sent as f64 / dt,
            received_per_s: d.received as f64 / dt,
            sent: c.sent,
            received: c.received,
            latency: interval,
            p99_run_ms: stats.total_latency().p99_ms,
            server: procs.as_ref().and_then(ProcSampler::sample),
        };
        if !quiet {
            eprintln!("{}", progress_line(&point, &c));
        }
        if let Ok(mut p) = timeline.points.lock() {
            p.push(point);
        }
        prev = c;
        prev_t = now;
    }
}

/// The progress line for one point.
pub fn progress_line(p: &Point, c: &Counters) -> String {
    let server = p
        .server
        .map(|s| format!("  server rss {} MiB cpu {:.1}s", s.rss_kib / 1024, s.cpu_s))
        .unwrap_or_default();
    format!(
        "[{:>5.0}s] sessions {:>6}  logins/s {:>6.0}  fail {:>4}  sent {:>8} ({:>6.0}/s)  \
         recv {:>8} ({:>6.0}/s)  p99 {:>7.2} ms (run {:.2} ms){}",
        p.t_s,
        p.sessions,
        p.logins_per_s,
        c.login_failures,
        p.sent,
        p.sent_per_s,
        p.received,
        p.received_per_s,
        p.latency.p99_ms,
        p.p99_run_ms,
        server
    )
}

//! The end-of-run summary: one serialisable [`Summary`], printed as a human table and as JSON.

use crate::procstat::ProcSample;
use crate::stats::{Counters, LatencySummary};
use crate::timeline::Point;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;

/// Messages of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MessageReport {
    /// Sent.
    pub sent: u64,
    /// Received (timestamped bodies).
    pub received: u64,
    /// Deliveries expected (equal to `sent` for one-to-one chat; for groupchat, each message
    /// times the other occupants of its room when it was sent).
    pub expected: u64,
    /// Expected but not received by the end of the grace period.
    pub lost: u64,
    /// Error bounces.
    pub errors: u64,
    /// Length of the measured window, seconds.
    pub window_s: f64,
    /// Messages delivered per second in the measured window.
    pub delivered_per_s: f64,
}

/// Server resource use, from `--server-pid`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServerReport {
    /// Processes sampled.
    pub pids: Vec<u32>,
    /// RSS before the first login, KiB.
    pub rss_before_kib: u64,
    /// RSS once every session had logged in, KiB.
    pub rss_after_login_kib: u64,
    /// Sessions at that moment.
    pub sessions: i64,
    /// (RSS after login − RSS before) / sessions.
    pub kib_per_session: Option<f64>,
    /// Server CPU seconds in the measured window.
    pub cpu_s_window: f64,
    /// Messages routed (received by us) in that window.
    pub routed_in_window: u64,
    /// Server CPU microseconds per routed message.
    pub cpu_us_per_msg: Option<f64>,
    /// Highest RSS seen, KiB.
    pub rss_peak_kib: u64,
    /// Server CPU milliseconds per successful login during the ramp.
    pub cpu_ms_per_login: Option<f64>,
}

impl ServerReport {
    /// Builds the report from samples before login, after login, and at the measured window's
    /// edges.
    pub fn compute(
        pids: Vec<u32>,
        before: ProcSample,
        after_login: ProcSample,
        sessions: i64,
        window: (ProcSample, ProcSample),
        routed_in_window: u64,
        rss_peak_kib: u64,
    ) -> Self {
        let kib_per_session = (sessions > 0)
            .then(|| (after_login.rss_kib as f64 - before.rss_kib as f64) / sessions as f64);
        let cpu_s_window = (window.1.cpu_s - window.0.cpu_s).max(0.0);
        let cpu_us_per_msg =
            (routed_in_window > 0).then(|| cpu_s_window * 1e6 / routed_in_window as f64);
        ServerReport {
            pids,
            rss_before_kib: before.rss_kib,
            rss_after_login_kib: after_login.rss_kib,
            sessions,
            kib_per_session,
            cpu_s_window,
            routed_in_window,
            cpu_us_per_msg,
            rss_peak_kib,
            cpu_ms_per_login: None,
        }
    }

    /// Adds the server CPU per login, from samples at the ramp's start and end.
    pub fn with_login_cpu(mut self, ramp: (ProcSample, ProcSample), logins: u64) -> Self {
        self.cpu_ms_per_login =
            (logins > 0).then(|| (ramp.1.cpu_s - ramp.0.cpu_s).max(0.0) * 1e3 / logins as f64);
        self
    }
}

/// In-band registration results.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RegisterReport {
    /// Accounts requested.
    pub requested: u64,
    /// Created now.
    pub created: u64,
    /// Already existed (`conflict`, counted as success).
    pub already_existed: u64,
    /// Failed.
    pub failed: u64,
    /// Registrations per second.
    pub per_s: f64,
}

/// One step of a top-speed search.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Step {
    /// Sessions after the step's logins.
    pub sessions: i64,
    /// Login failures during the step.
    pub login_failures: u64,
    /// Messages delivered per second during the hold.
    pub msgs_per_s: f64,
    /// Latency during the hold.
    pub latency: LatencySummary,
    /// Whether the step stayed within the limits.
    pub passed: bool,
}

/// Result of a top-speed search.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TopSpeedReport {
    /// p99 threshold, ms.
    pub p99_threshold_ms: f64,
    /// Steps in order.
    pub steps: Vec<Step>,
    /// Highest session count of a passed step.
    pub top_sessions: i64,
    /// Message rate at that step.
    pub top_msgs_per_s: f64,
    /// Why the search ended.
    pub stop_reason: String,
}

/// Result of a throughput run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ThroughputReport {
    /// Sender/receiver pairs.
    pub pairs: u64,
    /// In-flight window per pair.
    pub window: u64,
    /// Warm-up, seconds.
    pub warmup_s: f64,
    /// Measured duration, seconds.
    pub measured_s: f64,
    /// Messages delivered in the measured duration.
    pub delivered: u64,
    /// Delivered per second.
    pub msgs_per_s: f64,
}

/// Everything a run reports.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Scenario name.
    pub scenario: String,
    /// Server address.
    pub server: String,
    /// XMPP domain.
    pub domain: String,
    /// Seconds from start to end.
    pub elapsed_s: f64,
    /// Processes holding connections (1 without workers).
    pub processes: usize,
    /// Final counters.
    pub counters: Counters,
    /// Most sessions at once (from the timeline).
    pub sessions_peak: i64,
    /// Logins per second achieved during the ramp.
    pub login_rate_per_s: Option<f64>,
    /// Messages.
    pub messages: Option<MessageReport>,
    /// Latency over the whole run.
    pub latency: LatencySummary,
    /// Login times (connect to bound and available) of the successful logins.
    pub login_latency: LatencySummary,
    /// Server resource use.
    pub server_usage: Option<ServerReport>,
    /// Registration.
    pub register: Option<RegisterReport>,
    /// Top speed.
    pub top_speed: Option<TopSpeedReport>,
    /// Throughput.
    pub throughput: Option<ThroughputReport>,
    /// One point per second.
    pub timeline: Vec<Point>,
}

/// Sent minus received, never negative (a message can be received twice only if the server
/// duplicates it, which would then hide as many losses: reported as is).
pub fn lost(sent: u64, received: u64) -> u64 {
    sent.saturating_sub(received)
}

impl Summary {
    /// Fills `sessions_peak` from the timeline.
    pub fn with_timeline(mut self, timeline: Vec<Point>) -> Self {
        self.sessions_peak = timeline.iter().map(|p| p.sessions).max().unwrap_or(0);
        self.sessions_peak = self.sessions_peak.max(self.counters.sessions);
        self.timeline = timeline;
        self
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut o = String::new();
        let c = &self.counters;
        let _ = writeln!(
            o,
            "== meerkat-load {} against {} ({}) ==",
            self.scenario, self.server, self.domain
        );
        let row = |o: &mut String, k: &str, v: String| {
            let _ = writeln!(o, "  {k:<28} {v}");
        };
        row(&mut o, "elapsed", format!("{:.1} s", self.elapsed_s));
        row(&mut o, "processes", self.processes.to_string());
        if let Some(r) = &self.register {
            row(&mut o, "accounts requested", r.requested.to_string());
            row(
                &mut o,
                "created / existed / failed",
                format!("{} / {} / {}", r.created, r.already_existed, r.failed),
            );
            row(&mut o, "registrations/s", format!("{:.1}", r.per_s));
        }
        if c.logins_ok + c.login_failures > 0 {
            row(&mut o, "logins ok / failed", format!("{} / {}", c.logins_ok, c.login_failures));
            row(&mut o, "sessions peak", self.sessions_peak.to_string());
            row(&mut o, "disconnects (by server)", c.disconnects.to_string());
        }
        if let Some(r) = self.login_rate_per_s {
            row(&mut o, "login rate achieved", format!("{r:.1} /s"));
        }
        if let Some(m) = &self.messages {
            row(&mut o, "messages sent / received", format!("{} / {}", m.sent, m.received));
            if m.expected != m.sent {
                row(&mut o, "deliveries expected / lost", format!("{} / {}", m.expected, m.lost));
            }
            row(&mut o, "lost / error bounces", format!("{} / {}", m.lost, m.errors));
            if c.stale > 0 {
                row(&mut o, "stale (sent before this run)", c.stale.to_string());
            }
            row(
                &mut o,
                "delivered/s (window)",
                format!("{:.1} over {:.1} s", m.delivered_per_s, m.window_s),
            );
        }
        if let Some(t) = &self.throughput {
            row(&mut o, "pairs x window", format!("{} x {}", t.pairs, t.window));
            row(
                &mut o,
                "routed msgs/s",
                format!(
                    "{:.0} ({} in {:.1} s after {:.1} s warm-up)",
                    t.msgs_per_s, t.delivered, t.measured_s, t.warmup_s
                ),
            );
        }
        let lg = &self.login_latency;
        if lg.count > 0 {
            row(
                &mut o,
                "login time p50 / p99 / max",
                format!("{:.1} / {:.1} / {:.1} ms", lg.p50_ms, lg.p99_ms, lg.max_ms),
            );
        }
        let l = &self.latency;
        if l.count > 0 {
            row(
                &mut o,
                "latency p50 / p90 / p99",
                format!("{:.2} / {:.2} / {:.2} ms", l.p50_ms, l.p90_ms, l.p99_ms),
            );
            row(
                &mut o,
                "latency max / mean",
                format!("{:.2} / {:.2} ms ({} samples)", l.max_ms, l.mean_ms, l.count),
            );
        }
        if let Some(ts) = &self.top_speed {
            let _ = writeln!(o, "  top-speed steps (p99 threshold {:.1} ms):", ts.p99_threshold_ms);
            let _ = writeln!(
                o,
                "    {:>9} {:>6} {:>10} {:>9} {:>9} {:>6}",
                "sessions", "fails", "msgs/s", "p50 ms", "p99 ms", "pass"
            );
            for s in &ts.steps {
                let _ = writeln!(
                    o,
                    "    {:>9} {:>6} {:>10.1} {:>9.2} {:>9.2} {:>6}",
                    s.sessions,
                    s.login_failures,
                    s.msgs_per_s,
                    s.latency.p50_ms,
                    s.latency.p99_ms,
                    if s.passed { "yes" } else { "NO" }
                );
            }
            row(
                &mut o,
                "top speed",
                format!("{} sessions, {:.1} msgs/s", ts.top_sessions, ts.top_msgs_per_s),
            );
            row(&mut o, "stopped because", ts.stop_reason.clone());
        }
        if let Some(s) = &self.server_usage {
            row(&mut o, "server pids", format!("{:?}", s.pids));
            row(
                &mut o,
                "server RSS before / after",
                format!(
                    "{} / {} KiB (peak {} KiB)",
                    s.rss_before_kib, s.rss_after_login_kib, s.rss_peak_kib
                ),
            );
            if let Some(k) = s.kib_per_session {
                row(&mut o, "server KiB per session", format!("{k:.2} ({} sessions)", s.sessions));
            }
            if let Some(ms) = s.cpu_ms_per_login {
                row(&mut o, "server CPU per login", format!("{ms:.2} ms"));
            }
            row(&mut o, "server CPU in window", format!("{:.2} s", s.cpu_s_window));
            if let Some(u) = s.cpu_us_per_msg {
                row(
                    &mut o,
                    "server CPU per message",
                    format!("{u:.1} µs ({} msgs)", s.routed_in_window),
                );
            }
        }
        o
    }

    /// Writes the JSON summary to `path`.
    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text + "\n")
            .map_err(|e| anyhow::anyhow!("writing --json-out {}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(rss_kib: u64, cpu_s: f64) -> ProcSample {
        ProcSample { rss_kib, cpu_s }
    }

    #[test]
    fn server_report_math() {
        let r = ServerReport::compute(
            vec![1],
            sample(50_000, 1.0),
            sample(70_000, 3.0),
            1000,
            (sample(70_000, 3.0), sample(71_000, 5.5)),
            10_000,
            72_000,
        );
        assert_eq!(r.kib_per_session, Some(20.0));
        assert!((r.cpu_s_window - 2.5).abs() < 1e-9);
        assert_eq!(r.cpu_us_per_msg.map(|v| v.round()), Some(250.0));
        let r = r.with_login_cpu((sample(0, 1.0), sample(0, 3.0)), 1000);
        assert_eq!(r.cpu_ms_per_login, Some(2.0));
        let none = ServerReport::compute(
            vec![1],
            sample(1, 0.0),
            sample(1, 0.0),
            0,
            (sample(1, 0.0), sample(1, 0.0)),
            0,
            1,
        );
        assert_eq!(none.kib_per_session, None);
        assert_eq!(none.cpu_us_per_msg, None);
    }

    #[test]
    fn lost_never_negative() {
        assert_eq!(lost(10, 7), 3);
        assert_eq!(lost(7, 10), 0);
    }

    #[test]
    fn table_and_json_show_figures() {
        let s = Summary {
            scenario: "chat".into(),
            messages: Some(MessageReport { sent: 10, received: 9, lost: 1, ..Default::default() }),
            latency: LatencySummary { count: 9, p99_ms: 4.5, ..Default::default() },
            ..Default::default()
        }
        .with_timeline(vec![Point { sessions: 5, ..Default::default() }]);
        assert_eq!(s.sessions_peak, 5);
        let t = s.table();
        assert!(t.contains("10 / 9"), "{t}");
        assert!(t.contains("4.50 ms"), "{t}");
        let v: serde_json::Value = serde_json::to_value(&s).expect("json");
        assert_eq!(v["messages"]["lost"], 1);
        assert_eq!(v["timeline"][0]["sessions"], 5);
    }
}

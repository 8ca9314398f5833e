//! `top-speed`: the seed's search for a server's "top speed". Users are added `--step` at a
//! time (at `--login-rate`), every user chatting at the seed's rate (one message per
//! `--period`, 60 s by default); after each step's logins the load is held for `--step-hold`
//! and measured. The search stops at the first step whose logins fail (more than
//! `--max-fail-ratio` of them) or whose p99 time-to-delivery passes `--p99-threshold`, or at
//! `--max-users`. The top speed is the last step that passed: its sessions and message rate.

use super::RunCtx;
use crate::cli::TopSpeedArgs;
use crate::population::Phase;
use crate::report::{lost, MessageReport, Step, Summary, TopSpeedReport};
use crate::stats::LatencySummary;
use tokio::time::Instant;

/// Whether a step passed: login failures within the ratio, p99 within the threshold.
pub fn step_passed(
    attempted: u64,
    failures: u64,
    latency: &LatencySummary,
    max_fail_ratio: f64,
    p99_threshold_ms: f64,
) -> bool {
    let fail_ok = failures as f64 <= max_fail_ratio * attempted as f64;
    let lat_ok = latency.count == 0 || latency.p99_ms <= p99_threshold_ms;
    fail_ok && lat_ok
}

/// Runs the scenario.
pub async fn run(rc: &RunCtx, a: &TopSpeedArgs) -> anyhow::Result<Summary> {
    let threshold_ms = a.p99_threshold.as_secs_f64() * 1000.0;
    let mut driver = rc.driver(rc.user_config(Some(a.period)), a.first, a.max_users).await?;
    let mut report = TopSpeedReport { p99_threshold_ms: threshold_ms, ..Default::default() };
    let mut added = 0u64;
    let start = Instant::now();
    loop {
        let count = a.step.max(1).min(a.max_users - added);
        let before = rc.stats.counters();
        driver.add_users(a.first + added, count, a.login_rate).await;
        added += count;
        let after_ramp = rc.stats.counters();
        eprintln!("step: {} sessions; holding {:?} to measure", after_ramp.sessions, a.step_hold);
        rc.stats.reset_window();
        let w0 = Instant::now();
        tokio::time::sleep(a.step_hold).await;
        let end = rc.stats.counters();
        let latency = rc.stats.window_latency();
        let failures = end.login_failures.saturating_sub(before.login_failures);
        let msgs_per_s = end.received.saturating_sub(after_ramp.received) as f64
            / w0.elapsed().as_secs_f64().max(1e-3);
        let passed = step_passed(count, failures, &latency, a.max_fail_ratio, threshold_ms);
        report.steps.push(Step {
            sessions: end.sessions,
            login_failures: failures,
            msgs_per_s,
            latency,
            passed,
        });
        if passed {
            report.top_sessions = end.sessions;
            report.top_msgs_per_s = msgs_per_s;
        }
        if !passed {
            report.stop_reason = if latency.p99_ms > threshold_ms {
                format!("p99 {:.2} ms above {:.2} ms", latency.p99_ms, threshold_ms)
            } else {
                format!("{failures} of {count} logins failed")
            };
            break;
        }
        if added >= a.max_users {
            report.stop_reason =
                format!("reached --max-users {} with every step passing", a.max_users);
            break;
        }
    }
    driver.set_phase(Phase::StopSending).await;
    tokio::time::sleep(a.grace).await;
    driver.close().await;
    let end = rc.stats.counters();
    let mut s = rc.summary("top-speed");
    s.processes = driver.processes();
    s.messages = Some(MessageReport {
        sent: end.sent,
        received: end.received,
        expected: end.sent,
        lost: lost(end.sent, end.received),
        errors: end.message_errors,
        window_s: start.elapsed().as_secs_f64(),
        delivered_per_s: report.top_msgs_per_s,
    });
    s.top_speed = Some(report);
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_rules() {
        let lat = |p99_ms| LatencySummary { count: 10, p99_ms, ..Default::default() };
        assert!(step_passed(1000, 0, &lat(50.0), 0.001, 100.0));
        assert!(step_passed(1000, 1, &lat(50.0), 0.001, 100.0));
        assert!(!step_passed(1000, 2, &lat(50.0), 0.001, 100.0));
        assert!(!step_passed(1000, 0, &lat(100.5), 0.001, 100.0));
        // No message delivered in the hold (a long period): latency cannot fail the step.
        assert!(step_passed(10, 0, &LatencySummary::default(), 0.0, 100.0));
    }
}

//! `chat`: the "Scaling a Mongoose" client. N users log in at `--login-rate`; each logged-in
//! user sends one short message `t=<unix_nanos> id=<n>` to a random online user every
//! `--period` (first send at a uniformly random offset within the period), or at a target
//! aggregate `--msg-rate` (period = users / rate). Receivers record time-to-delivery.
//!
//! Timeline: ramp (users send as soon as they are in) → measured hold of `--duration` →
//! sending stops → `--grace` for messages in flight → close. "lost" = sent − received after
//! the grace period; "delivered/s" and server CPU per message are over the measured hold.

use super::RunCtx;
use crate::cli::ChatArgs;
use crate::population::{MucUsers, Phase};
use crate::report::{lost, MessageReport, ServerReport, Summary};
use std::time::Duration;
use tokio::time::Instant;

/// Per-user period for an aggregate rate: `users / rate` seconds (at least 1 ms).
pub fn period_for_rate(users: u64, msgs_per_s: f64) -> Duration {
    if msgs_per_s <= 0.0 || !msgs_per_s.is_finite() {
        return Duration::from_secs(3600);
    }
    Duration::from_secs_f64((users as f64 / msgs_per_s).clamp(0.001, 86_400.0))
}

/// Runs the scenario.
pub async fn run(rc: &RunCtx, a: &ChatArgs) -> anyhow::Result<Summary> {
    run_with(rc, a, "chat", None).await
}

/// [`run`], or with `muc` the users' messages go to their rooms (the `muc` scenario).
pub async fn run_with(
    rc: &RunCtx,
    a: &ChatArgs,
    name: &str,
    muc: Option<MucUsers>,
) -> anyhow::Result<Summary> {
    let c = &a.connect;
    let period = a.msg_rate.map_or(a.period, |r| period_for_rate(c.users, r));
    eprintln!(
        "{name}: {} users, one message per user every {:.3} s",
        c.users,
        period.as_secs_f64()
    );
    let before = rc.proc_sample();
    let mut cfg = rc.user_config(Some(period));
    cfg.muc = muc;
    let mut driver = rc.driver(cfg, c.first, c.users).await?;
    let t0 = Instant::now();
    driver.add_users(c.first, c.users, c.login_rate).await;
    let ramp_s = t0.elapsed().as_secs_f64().max(1e-3);
    let logins = rc.stats.counters().logins_ok;
    eprintln!("ramp done: {logins} sessions in {ramp_s:.1} s; measuring for {:?}", c.duration);
    let c0 = rc.stats.counters();
    let p0 = rc.proc_sample();
    let w0 = Instant::now();
    rc.stats.reset_window();
    tokio::time::sleep(c.duration).await;
    let window_s = w0.elapsed().as_secs_f64().max(1e-3);
    let c1 = rc.stats.counters();
    let p1 = rc.proc_sample();
    driver.set_phase(Phase::StopSending).await;
    tokio::time::sleep(a.grace).await;
    driver.close().await;
    let end = rc.stats.counters();
    let mut s = rc.summary(name);
    s.processes = driver.processes();
    s.login_rate_per_s = Some(logins as f64 / ramp_s);
    let routed = c1.received.saturating_sub(c0.received);
    s.messages = Some(MessageReport {
        sent: end.sent,
        received: end.received,
        expected: end.expected,
        lost: lost(end.expected, end.received),
        errors: end.message_errors,
        window_s,
        delivered_per_s: routed as f64 / window_s,
    });
    if let (Some(b), Some(w0), Some(w1)) = (before, p0, p1) {
        s.server_usage = Some(
            ServerReport::compute(
                rc.pids(),
                b,
                w0,
                c0.sessions,
                (w0, w1),
                routed,
                rc.rss_peak_kib().max(w1.rss_kib),
            )
            .with_login_cpu((b, w0), logins),
        );
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_to_period() {
        assert_eq!(period_for_rate(2000, 200.0), Duration::from_secs(10));
        assert_eq!(period_for_rate(10, 1e9), Duration::from_millis(1));
        assert_eq!(period_for_rate(10, 0.0), Duration::from_secs(3600));
    }
}

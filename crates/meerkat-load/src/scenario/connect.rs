//! `connect`: logs N users in at `--login-rate` per second and holds the idle sessions for
//! `--duration`. Reports the achieved login rate and, with `--server-pid`, the server's RSS
//! growth per idle session: (RSS at the end of the hold − RSS before the first login) /
//! sessions. Measuring at the end of the hold rather than right after the ramp lets the server
//! finish its login work (and free its transient buffers) first.

use super::RunCtx;
use crate::cli::ConnectArgs;
use crate::population::Phase;
use crate::report::{ServerReport, Summary};
use tokio::time::Instant;

/// Runs the scenario.
pub async fn run(rc: &RunCtx, a: &ConnectArgs) -> anyhow::Result<Summary> {
    let before = rc.proc_sample();
    let mut driver = rc.driver(rc.user_config(None), a.first, a.users).await?;
    let t0 = Instant::now();
    driver.add_users(a.first, a.users, a.login_rate).await;
    let ramp_s = t0.elapsed().as_secs_f64().max(1e-3);
    let logins = rc.stats.counters().logins_ok;
    eprintln!("ramp done: {logins} sessions in {ramp_s:.1} s; holding for {:?}", a.duration);
    let hold_start = rc.proc_sample();
    tokio::time::sleep(a.duration).await;
    let after = rc.proc_sample();
    let sessions = rc.stats.counters().sessions;
    driver.set_phase(Phase::Close).await;
    driver.close().await;
    let mut s = rc.summary("connect");
    s.processes = driver.processes();
    s.login_rate_per_s = Some(logins as f64 / ramp_s);
    if let (Some(b), Some(h), Some(e)) = (before, hold_start, after) {
        s.server_usage = Some(
            ServerReport::compute(
                rc.pids(),
                b,
                e,
                sessions,
                (h, e),
                0,
                rc.rss_peak_kib().max(e.rss_kib),
            )
            .with_login_cpu((b, h), logins),
        );
    }
    Ok(s)
}

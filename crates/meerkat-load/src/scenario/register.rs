//! `register`: creates users PREFIXfirst..PREFIX(first+n-1) by in-band registration
//! (XEP-0077), `--concurrency` at a time, one connection per account. `conflict` (the account
//! exists) counts as success, so the command can be re-run safely.

use super::RunCtx;
use crate::cli::RegisterArgs;
use crate::report::{RegisterReport, Summary};
use crate::xmpp::client::{self, ClientCtx, Registered};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

#[derive(Default)]
struct Counts {
    created: AtomicU64,
    existed: AtomicU64,
    failed: AtomicU64,
}

/// Runs the scenario.
pub async fn run(rc: &RunCtx, a: &RegisterArgs) -> anyhow::Result<Summary> {
    // Each standalone node has its own accounts: register them one node at a time (--first).
    rc.single_server("register")?;
    let cfg = rc.user_config(None);
    let ctx: Arc<ClientCtx> = Arc::new(cfg.client_ctx()?);
    let cfg = Arc::new(cfg);
    let counts = Arc::new(Counts::default());
    let sem = Arc::new(Semaphore::new(a.concurrency.max(1)));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for idx in a.first..a.first.saturating_add(a.users) {
        let permit = sem.clone().acquire_owned().await?;
        let (cfg, ctx, counts, stats) =
            (cfg.clone(), ctx.clone(), counts.clone(), rc.stats.clone());
        tasks.spawn(async move {
            let user = cfg.username(idx);
            let attempt = async {
                let mut s = cfg.connect(idx).await?;
                let r = client::register(&ctx, &mut s, &user, &cfg.password).await?;
                s.close().await;
                anyhow::Ok(r)
            };
            let timeout = Duration::from_millis(cfg.login_timeout_ms);
            match tokio::time::timeout(timeout, attempt).await {
                Ok(Ok(Registered::Created)) => {
                    counts.created.fetch_add(1, Relaxed);
                    // Shown as "logins/s" in the progress line: registrations per second.
                    stats.login_ok();
                    stats.session_ended(false);
                }
                Ok(Ok(Registered::AlreadyExists)) => {
                    counts.existed.fetch_add(1, Relaxed);
                    stats.login_ok();
                    stats.session_ended(false);
                }
                Ok(Err(e)) => {
                    if counts.failed.fetch_add(1, Relaxed) < 10 {
                        eprintln!("register {user}: {e:#}");
                    }
                    stats.login_failed();
                }
                Err(_) => {
                    if counts.failed.fetch_add(1, Relaxed) < 10 {
                        eprintln!("register {user}: timed out");
                    }
                    stats.login_failed();
                }
            }
            drop(permit);
        });
        // Reap finished tasks as we go so the set does not grow with N.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    let secs = start.elapsed().as_secs_f64().max(1e-3);
    let (created, existed, failed) =
        (counts.created.load(Relaxed), counts.existed.load(Relaxed), counts.failed.load(Relaxed));
    let mut summary = rc.summary("register");
    summary.register = Some(RegisterReport {
        requested: a.users,
        created,
        already_existed: existed,
        failed,
        per_s: (created + existed) as f64 / secs,
    });
    Ok(summary)
}

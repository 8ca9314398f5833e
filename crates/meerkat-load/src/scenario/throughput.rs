//! `throughput`: the server's routing capacity. `--pairs` sender/receiver pairs (users
//! `first+2k` send to `first+2k+1`), each sender keeping at most `--window` messages in flight.
//! In flight = sent − delivered, where "delivered" is counted by the receiver when a message
//! arrives (no server acks or receipts are involved), so a slot frees exactly when the server
//! has routed a message. After `--warmup`, delivered messages are counted for `--duration`.
//!
//! Senders and receivers of a pair share two atomics and a `Notify`; every other piece is the
//! same client code as the other scenarios.

use super::RunCtx;
use crate::cli::ThroughputArgs;
use crate::population::{Phase, Population};
use crate::report::{lost, MessageReport, ServerReport, Summary, ThroughputReport};
use crate::xmpp::stream::{Event, XmppStream};
use anyhow::bail;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Most pairs: both ends live in this process, under the per-process open-file cap.
const MAX_PAIRS: u64 = 9_000;

/// How long a sender waits for a window slot before counting a stall and re-checking.
const STALL_AFTER: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Pair {
    delivered: AtomicU64,
    slot_freed: Notify,
}

/// Runs the scenario.
pub async fn run(rc: &RunCtx, a: &ThroughputArgs) -> anyhow::Result<Summary> {
    rc.single_server("throughput")?;
    if a.pairs == 0 || a.pairs > MAX_PAIRS {
        bail!("--pairs must be 1..={MAX_PAIRS} (both ends are held by this one process)");
    }
    let users = a.pairs * 2;
    let pop = Population::new(rc.user_config(None), rc.stats.clone())?;
    let before = rc.proc_sample();

    // Log every user in (ramped), keeping the streams.
    let t0 = Instant::now();
    let mut logins = tokio::task::JoinSet::new();
    let sem = Arc::new(tokio::sync::Semaphore::new(rc.common.max_pending_logins.max(1)));
    for k in 0..users {
        let due = t0 + Duration::from_secs_f64(k as f64 / a.login_rate.max(1e-3));
        tokio::time::sleep_until(due).await;
        let permit = sem.clone().acquire_owned().await?;
        let (pop, idx) = (pop.clone(), a.first + k);
        logins.spawn(async move {
            let r = pop.connect_user(idx).await;
            drop(permit);
            (k, r)
        });
    }
    let mut streams: Vec<Option<XmppStream>> = (0..users).map(|_| None).collect();
    while let Some(done) = logins.join_next().await {
        let Ok((k, r)) = done else { continue };
        match r {
            Ok(s) => {
                rc.stats.login_ok();
                if let Some(slot) = usize::try_from(k).ok().and_then(|i| streams.get_mut(i)) {
                    *slot = Some(s);
                }
            }
            Err(e) => {
                rc.stats.login_failed();
                eprintln!("login failed: {e:#}");
            }
        }
    }
    let ramp_s = t0.elapsed().as_secs_f64().max(1e-3);

    // Start pairs whose both ends logged in.
    let mut tasks = tokio::task::JoinSet::new();
    let mut pairs_running = 0u64;
    let mut it = streams.into_iter();
    let mut k = 0u64;
    while let (Some(sender), Some(receiver)) = (it.next(), it.next()) {
        let to_idx = a.first + 2 * k + 1;
        k += 1;
        let (Some(sender), Some(receiver)) = (sender, receiver) else {
            continue;
        };
        pairs_running += 1;
        let pair = Arc::new(Pair::default());
        tasks.spawn(run_receiver(pop.clone(), receiver, pair.clone()));
        tasks.spawn(run_sender(pop.clone(), sender, pair, to_idx, a.window.max(1)));
    }
    eprintln!(
        "{pairs_running} pairs running; warm-up {:?}, then measuring {:?}",
        a.warmup, a.duration
    );

    tokio::time::sleep(a.warmup).await;
    let c0 = rc.stats.counters();
    let p0 = rc.proc_sample();
    rc.stats.reset_window();
    let w0 = Instant::now();
    tokio::time::sleep(a.duration).await;
    let measured_s = w0.elapsed().as_secs_f64().max(1e-3);
    let c1 = rc.stats.counters();
    let p1 = rc.proc_sample();
    let window_latency = rc.stats.window_latency();

    pop.set_phase(Phase::StopSending);
    tokio::time::sleep(Duration::from_secs(2)).await;
    pop.set_phase(Phase::Close);
    while tasks.join_next().await.is_some() {}
    let end = rc.stats.counters();

    let delivered = c1.received.saturating_sub(c0.received);
    let mut s = rc.summary("throughput");
    s.login_rate_per_s = Some(c0.logins_ok as f64 / ramp_s);
    s.messages = Some(MessageReport {
        sent: end.sent,
        received: end.received,
        expected: end.sent,
        lost: lost(end.sent, end.received),
        errors: end.message_errors,
        window_s: measured_s,
        delivered_per_s: delivered as f64 / measured_s,
    });
    s.throughput = Some(ThroughputReport {
        pairs: pairs_running,
        window: a.window,
        warmup_s: a.warmup.as_secs_f64(),
        measured_s,
        delivered,
        msgs_per_s: delivered as f64 / measured_s,
    });
    // The run's latency figure is the measured window's, not the warm-up's.
    s.latency = window_latency;
    if let (Some(b), Some(w0), Some(w1)) = (before, p0, p1) {
        s.server_usage = Some(ServerReport::compute(
            rc.pids(),
            b,
            w0,
            c0.sessions,
            (w0, w1),
            delivered,
            rc.rss_peak_kib().max(w1.rss_kib),
        ));
    }
    Ok(s)
}

/// Reads the receiver's stream, counting timestamped messages into the pair.
async fn run_receiver(pop: Population, mut s: XmppStream, pair: Arc<Pair>) {
    let mut phase = pop.phase();
    loop {
        tokio::select! {
            changed = phase.changed() => {
                if changed.is_err() || *phase.borrow_and_update() == Phase::Close {
                    s.close().await;
                    pop.stats().session_ended(false);
                    return;
                }
            }
            ev = s.next_event() => match ev {
                Ok(Event::Stanza(el)) => {
                    if pop.handle_stanza(&mut s, &el).await > 0 {
                        pair.delivered.fetch_add(1, Relaxed);
                        pair.slot_freed.notify_one();
                    }
                }
                Ok(Event::Open) => {}
                Ok(Event::Close | Event::Eof) | Err(_) => {
                    pop.stats().session_ended(true);
                    return;
                }
            }
        }
    }
}

/// Keeps `window` messages in flight to `to_idx` until the phase leaves `Run`.
async fn run_sender(pop: Population, mut s: XmppStream, pair: Arc<Pair>, to_idx: u64, window: u64) {
    let mut phase = pop.phase();
    let mut sent = 0u64;
    let mut sending = true;
    loop {
        while sending && sent.saturating_sub(pair.delivered.load(Relaxed)) < window {
            if pop.send_message(&mut s, to_idx).await.is_err() {
                pop.stats().session_ended(true);
                return;
            }
            sent += 1;
        }
        tokio::select! {
            changed = phase.changed() => {
                let now = if changed.is_ok() { *phase.borrow_and_update() } else { Phase::Close };
                match now {
                    Phase::Run => {}
                    Phase::StopSending => sending = false,
                    Phase::Close => {
                        s.close().await;
                        pop.stats().session_ended(false);
                        return;
                    }
                }
            }
            () = pair.slot_freed.notified() => {}
            () = tokio::time::sleep(STALL_AFTER) => {
                // A lost message would hold its slot forever: report the stall, keep waiting.
                if sending {
                    eprintln!("sender to user {to_idx}: no delivery for {STALL_AFTER:?}");
                }
            }
            ev = s.next_event() => match ev {
                Ok(Event::Stanza(el)) => {
                    pop.handle_stanza(&mut s, &el).await;
                }
                Ok(Event::Open) => {}
                Ok(Event::Close | Event::Eof) | Err(_) => {
                    pop.stats().session_ended(true);
                    return;
                }
            }
        }
    }
}

//! Worker processes, for more connections than one process may hold open files.
//!
//! The machine caps open files per process (20000 here), so above `--per-worker` connections the
//! tool re-executes itself as `meerkat-load worker` once per block of users. The protocol is
//! JSON lines:
//! - parent → worker (stdin): first [`ToWorker::Init`] with the [`UserConfig`], then
//!   [`ToWorker::Add`] (log users in at a rate) and [`ToWorker::Phase`] commands. EOF on stdin
//!   (the parent died) closes the worker's sessions and ends it.
//! - worker → parent (stdout): a [`FromWorker::Tick`] every second with counter deltas and the
//!   latency buckets of that second, [`FromWorker::RampDone`] when an `Add` has resolved every
//!   login, and [`FromWorker::Closed`] at the end. Ticks are merged into the parent's
//!   [`Stats`], so progress, timeline and report read the same way with or without workers.
//!
//! Worker `w` owns users `first + w * per_worker ..` (a contiguous block), so a step that adds
//! users fills one worker before the next.

use crate::population::{Phase, Population, UserConfig};
use crate::stats::{buckets, Counters, Stats};
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// Parent → worker.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToWorker {
    /// Settings; the first line.
    Init(Box<UserConfig>),
    /// Log users `first..first+count` in at `rate` logins/s.
    Add {
        /// Matches the `RampDone` reply.
        seq: u64,
        /// First user index.
        first: u64,
        /// Number of users.
        count: u64,
        /// Logins per second.
        rate: f64,
    },
    /// Move every session to this phase.
    Phase(Phase),
}

/// Worker → parent.
#[derive(Debug, Serialize, Deserialize)]
pub enum FromWorker {
    /// One second of statistics: counter deltas, session gauge delta, latency buckets.
    Tick {
        /// Counter increments since the previous tick.
        delta: Counters,
        /// Change of the session gauge.
        sessions_delta: i64,
        /// `(latency_us, count)` pairs.
        latency: Vec<(u64, u64)>,
        /// `(login_us, count)` pairs.
        #[serde(default)]
        logins: Vec<(u64, u64)>,
    },
    /// Every login of `Add { seq }` has resolved.
    RampDone {
        /// The `Add`'s sequence number.
        seq: u64,
    },
    /// Every session is closed; the worker exits.
    Closed,
}

/// Runs this process as a worker (the hidden `worker` subcommand).
pub async fn run_worker() -> anyhow::Result<()> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let first = lines.next_line().await?.context("worker: no Init line on stdin")?;
    let ToWorker::Init(cfg) = serde_json::from_str(&first).context("worker: bad Init line")? else {
        bail!("worker: first line must be Init");
    };
    let stats = Arc::new(Stats::default());
    let pop = Population::new(*cfg, stats.clone())?;
    // Bounded: at most a few seconds of ticks; if the parent stops reading, the worker blocks
    // rather than buffering without limit.
    let (tx, mut rx) = mpsc::channel::<FromWorker>(64);
    let writer = tokio::spawn(async move {
        let mut out = tokio::io::stdout();
        while let Some(msg) = rx.recv().await {
            let Ok(mut line) = serde_json::to_vec(&msg) else { continue };
            line.push(b'\n');
            if out.write_all(&line).await.is_err() || out.flush().await.is_err() {
                break;
            }
        }
    });
    let prev = Arc::new(Mutex::new(Counters::default()));
    let ticker = {
        let (stats, prev, tx) = (stats.clone(), prev.clone(), tx.clone());
        tokio::spawn(async move {
            let mut iv = tokio::time::interval(Duration::from_secs(1));
            iv.tick().await;
            loop {
                iv.tick().await;
                if tx.send(tick(&stats, &prev)).await.is_err() {
                    break;
                }
            }
        })
    };
    while let Some(line) = lines.next_line().await? {
        match serde_json::from_str::<ToWorker>(&line) {
            Ok(ToWorker::Add { seq, first, count, rate }) => {
                let (pop, tx, stats, prev) = (pop.clone(), tx.clone(), stats.clone(), prev.clone());
                tokio::spawn(async move {
                    pop.add_users(first, count, rate).await;
                    // A tick first, so the parent's counters are current when it sees the ramp
                    // end (it samples sessions and server memory right then).
                    let _ = tx.send(tick(&stats, &prev)).await;
                    let _ = tx.send(FromWorker::RampDone { seq }).await;
                });
            }
            Ok(ToWorker::Phase(Phase::Close)) => break,
            Ok(ToWorker::Phase(p)) => pop.set_phase(p),
            Ok(ToWorker::Init(_)) => eprintln!("worker: ignoring a second Init"),
            Err(e) => eprintln!("worker: bad command line: {e}"),
        }
    }
    pop.close().await;
    ticker.abort();
    let _ = tx.send(tick(&stats, &prev)).await;
    let _ = tx.send(FromWorker::Closed).await;
    drop(tx);
    let _ = writer.await;
    Ok(())
}

fn tick(stats: &Stats, prev: &Mutex<Counters>) -> FromWorker {
    let c = stats.counters();
    let latency = buckets(&stats.take_interval());
    let logins = buckets(&stats.take_login_interval());
    let mut p = prev.lock().unwrap_or_else(|e| e.into_inner());
    let delta = c.since(&p);
    let sessions_delta = c.sessions - p.sessions;
    *p = c;
    FromWorker::Tick { delta, sessions_delta, latency, logins }
}

/// Events the parent waits for.
#[derive(Debug)]
enum Event {
    RampDone(u64),
    Closed,
}

struct WorkerHandle {
    child: Child,
    stdin: ChildStdin,
    alive: bool,
}

/// The parent's side: worker processes and their merged statistics.
pub struct WorkerPool {
    workers: Vec<WorkerHandle>,
    events: mpsc::Receiver<(usize, Event)>,
    per_worker: u64,
    first_user: u64,
    seq: u64,
}

impl WorkerPool {
    /// Starts `n` workers for users from `first_user`, `per_worker` each, merging their ticks
    /// into `stats`. Worker i connects to `targets[i % len]` (`cfg.target` when empty).
    pub async fn spawn(
        n: usize,
        cfg: &UserConfig,
        targets: &[SocketAddr],
        stats: Arc<Stats>,
        per_worker: u64,
        first_user: u64,
    ) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("locating own executable for workers")?;
        // Bounded: events are rare (one per ramp and per close); the readers wait when full.
        let (tx, events) = mpsc::channel(1024);
        let mut workers = Vec::with_capacity(n);
        for i in 0..n {
            let mut cfg = cfg.clone();
            if !targets.is_empty() {
                cfg.target = targets[i % targets.len()];
            }
            let init = serde_json::to_string(&ToWorker::Init(Box::new(cfg)))? + "\n";
            let mut child = Command::new(&exe)
                .arg("worker")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("starting worker {i} ({})", exe.display()))?;
            let mut stdin = child.stdin.take().context("worker stdin")?;
            let stdout = child.stdout.take().context("worker stdout")?;
            stdin.write_all(init.as_bytes()).await.context("sending Init to worker")?;
            let (tx, stats) = (tx.clone(), stats.clone());
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    match serde_json::from_str::<FromWorker>(&line) {
                        Ok(FromWorker::Tick { delta, sessions_delta, latency, logins }) => {
                            stats.merge(&delta, sessions_delta, &latency);
                            stats.merge_logins(&logins);
                        }
                        Ok(FromWorker::RampDone { seq }) => {
                            let _ = tx.send((i, Event::RampDone(seq))).await;
                        }
                        Ok(FromWorker::Closed) => {}
                        Err(e) => eprintln!("worker {i}: bad line: {e}"),
                    }
                }
                // EOF: the worker exited (normally after Closed, or it died).
                let _ = tx.send((i, Event::Closed)).await;
            });
            workers.push(WorkerHandle { child, stdin, alive: true });
        }
        Ok(WorkerPool { workers, events, per_worker: per_worker.max(1), first_user, seq: 0 })
    }

    /// Number of worker processes.
    pub fn count(&self) -> usize {
        self.workers.len()
    }

    async fn send(&mut self, w: usize, msg: &ToWorker) {
        let Ok(line) = serde_json::to_string(msg) else { return };
        if let Some(h) = self.workers.get_mut(w) {
            if h.alive && h.stdin.write_all(format!("{line}\n").as_bytes()).await.is_err() {
                h.alive = false;
            }
        }
    }

    /// Logs users `first..first+count` in across the workers that own them, each part at its
    /// share of `rate`, and waits until every part's logins have resolved.
    pub async fn add_users(&mut self, first: u64, count: u64, rate: f64) {
        let parts = split_users(self.first_user, self.per_worker, self.workers.len(), first, count);
        self.seq += 1;
        let seq = self.seq;
        let mut waiting = Vec::new();
        for (w, f, c) in parts {
            let share = rate * c as f64 / count.max(1) as f64;
            self.send(w, &ToWorker::Add { seq, first: f, count: c, rate: share }).await;
            if self.workers.get(w).is_some_and(|h| h.alive) {
                waiting.push(w);
            }
        }
        while !waiting.is_empty() {
            let Some((w, ev)) = self.events.recv().await else { break };
            match ev {
                Event::RampDone(s) if s == seq => waiting.retain(|&x| x != w),
                Event::RampDone(_) => {}
                Event::Closed => {
                    eprintln!("worker {w} exited");
                    if let Some(h) = self.workers.get_mut(w) {
                        h.alive = false;
                    }
                    waiting.retain(|&x| x != w);
                }
            }
        }
    }

    /// Moves every session of every worker to `phase`.
    pub async fn set_phase(&mut self, phase: Phase) {
        for w in 0..self.workers.len() {
            self.send(w, &ToWorker::Phase(phase)).await;
        }
    }

    /// Closes every session and waits for the workers to exit (their last ticks merged).
    pub async fn close(&mut self) {
        self.set_phase(Phase::Close).await;
        let mut open: Vec<usize> = (0..self.workers.len()).collect();
        while !open.is_empty() {
            match tokio::time::timeout(Duration::from_secs(60), self.events.recv()).await {
                Ok(Some((w, Event::Closed))) => open.retain(|&x| x != w),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        for h in &mut self.workers {
            let _ = tokio::time::timeout(Duration::from_secs(5), h.child.wait()).await;
        }
    }
}

/// Splits users `first..first+count` by owning worker: `(worker, first, count)` parts.
/// Users beyond the last worker's block go to the last worker.
pub fn split_users(
    base: u64,
    per_worker: u64,
    workers: usize,
    first: u64,
    count: u64,
) -> Vec<(usize, u64, u64)> {
    let mut parts = Vec::new();
    let per = per_worker.max(1);
    let last = workers.saturating_sub(1);
    let (mut i, end) = (first, first.saturating_add(count));
    while i < end {
        let w = usize::try_from(i.saturating_sub(base) / per).unwrap_or(usize::MAX).min(last);
        let block_end = if w == last {
            end
        } else {
            base.saturating_add(per.saturating_mul(w as u64 + 1)).min(end)
        };
        parts.push((w, i, block_end - i));
        i = block_end;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_by_block() {
        assert_eq!(split_users(1, 10, 3, 1, 25), vec![(0, 1, 10), (1, 11, 10), (2, 21, 5)]);
        assert_eq!(split_users(1, 10, 3, 8, 5), vec![(0, 8, 3), (1, 11, 2)]);
        // Overflow past the last block stays with the last worker.
        assert_eq!(split_users(1, 10, 2, 15, 20), vec![(1, 15, 20)]);
        assert!(split_users(1, 10, 2, 5, 0).is_empty());
    }

    #[test]
    fn protocol_round_trips() {
        let msg = FromWorker::Tick {
            delta: Counters { sent: 3, ..Counters::default() },
            sessions_delta: -2,
            latency: vec![(1500, 2)],
            logins: vec![(90_000, 1)],
        };
        let line = serde_json::to_string(&msg).expect("ser");
        match serde_json::from_str::<FromWorker>(&line).expect("de") {
            FromWorker::Tick { delta, sessions_delta, latency, logins } => {
                assert_eq!((delta.sent, sessions_delta, latency), (3, -2, vec![(1500, 2)]));
                assert_eq!(logins, vec![(90_000, 1)]);
            }
            other => panic!("{other:?}"),
        }
        let cmd = serde_json::to_string(&ToWorker::Phase(Phase::StopSending)).expect("ser");
        assert!(matches!(
            serde_json::from_str::<ToWorker>(&cmd).expect("de"),
            ToWorker::Phase(Phase::StopSending)
        ));
    }
}

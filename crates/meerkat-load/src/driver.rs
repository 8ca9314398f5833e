//! One interface over the two ways of holding users: a [`Population`] in this process, or a
//! [`WorkerPool`] of processes each holding one. Scenarios only talk to a [`Driver`], so the
//! single-process and multi-process runs go through the same code.

use crate::population::{Phase, Population, UserConfig};
use crate::stats::Stats;
use crate::workers::WorkerPool;
use std::net::SocketAddr;
use std::sync::Arc;

/// Holds the users of a run.
pub enum Driver {
    /// Users in this process.
    Local(Population),
    /// Users in worker processes.
    Workers(WorkerPool),
}

impl Driver {
    /// Chooses local or workers for up to `max_users` users starting at `first_user`:
    /// workers when `forced_workers > 0`, `max_users > per_worker`, or several `targets`
    /// (at least one worker per target; worker i connects to `targets[i % len]`).
    pub async fn start(
        cfg: UserConfig,
        stats: Arc<Stats>,
        first_user: u64,
        max_users: u64,
        per_worker: u64,
        forced_workers: usize,
        targets: &[SocketAddr],
    ) -> anyhow::Result<Self> {
        let per_worker = per_worker.max(1);
        let needed = usize::try_from(max_users.div_ceil(per_worker)).unwrap_or(usize::MAX);
        let mut n = if forced_workers > 0 {
            forced_workers
        } else if needed > 1 {
            needed
        } else {
            0
        };
        let spread = forced_workers > 0 || targets.len() > 1;
        if targets.len() > 1 {
            n = n.max(targets.len());
        }
        if n == 0 {
            return Ok(Driver::Local(Population::new(cfg, stats)?));
        }
        // With forced workers, spread the users evenly rather than filling the first.
        let per = if spread { max_users.div_ceil(n as u64).max(1) } else { per_worker };
        eprintln!("starting {n} worker processes, {per} users each at most");
        Ok(Driver::Workers(WorkerPool::spawn(n, &cfg, targets, stats, per, first_user).await?))
    }

    /// Processes holding connections.
    pub fn processes(&self) -> usize {
        match self {
            Driver::Local(_) => 1,
            Driver::Workers(w) => w.count(),
        }
    }

    /// Logs users in at `rate`/s; returns when every login has resolved.
    pub async fn add_users(&mut self, first: u64, count: u64, rate: f64) {
        match self {
            Driver::Local(p) => p.add_users(first, count, rate).await,
            Driver::Workers(w) => w.add_users(first, count, rate).await,
        }
    }

    /// Moves every session to `phase`.
    pub async fn set_phase(&mut self, phase: Phase) {
        match self {
            Driver::Local(p) => p.set_phase(phase),
            Driver::Workers(w) => w.set_phase(phase).await,
        }
    }

    /// Closes every session and waits until they are gone.
    pub async fn close(&mut self) {
        match self {
            Driver::Local(p) => p.close().await,
            Driver::Workers(w) => w.close().await,
        }
    }
}

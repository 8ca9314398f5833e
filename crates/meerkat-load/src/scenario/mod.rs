//! Scenarios, one per file, and the context they share ([`RunCtx`]).

pub mod chat;
pub mod connect;
pub mod muc;
pub mod register;
pub mod throughput;
pub mod top_speed;

use crate::cli::Common;
use crate::driver::Driver;
use crate::population::UserConfig;
use crate::procstat::{ProcSample, ProcSampler};
use crate::report::Summary;
use crate::stats::Stats;
use crate::timeline::Timeline;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// What every scenario gets: resolved options, the statistics sink, the server sampler.
pub struct RunCtx {
    /// Command-line options.
    pub common: Common,
    /// Server addresses (loopback, checked); more than one: one per worker, round-robin.
    pub targets: Vec<SocketAddr>,
    /// Source addresses (loopback, checked).
    pub source_ips: Vec<IpAddr>,
    /// Statistics of this process (merged from workers when there are any).
    pub stats: Arc<Stats>,
    /// One point per second.
    pub timeline: Arc<Timeline>,
    /// Server processes to sample.
    pub procs: Option<ProcSampler>,
    /// When the run started (Unix ns).
    pub started_ns: u64,
}

impl RunCtx {
    /// User settings for this run; `chat_period` enables the chat behaviour.
    pub fn user_config(&self, chat_period: Option<Duration>) -> UserConfig {
        let c = &self.common;
        UserConfig {
            target: self.target(),
            cluster: if c.cluster { self.targets.clone() } else { Vec::new() },
            source_ips: self.source_ips.clone(),
            domain: c.domain.clone(),
            starttls: c.starttls,
            mech: c.auth,
            resource: c.resource.clone(),
            prefix: c.prefix.clone(),
            password: c.password.clone(),
            login_timeout_ms: u64::try_from(c.login_timeout.as_millis()).unwrap_or(u64::MAX),
            key_cache: c.key_cache.clone(),
            max_pending_logins: c.max_pending_logins,
            run_started_ns: self.started_ns,
            websocket_path: c.websocket.clone(),
            muc: None,
            chat_period_ms: chat_period
                .map(|p| u64::try_from(p.as_millis()).unwrap_or(u64::MAX).max(1)),
        }
    }

    /// A driver for up to `max_users` users from `first`.
    pub async fn driver(
        &self,
        cfg: UserConfig,
        first: u64,
        max_users: u64,
    ) -> anyhow::Result<Driver> {
        Driver::start(
            cfg,
            self.stats.clone(),
            first,
            max_users,
            self.common.per_worker,
            self.common.workers,
            // A cluster's nodes are chosen per user, not per worker.
            if self.common.cluster { &[] } else { &self.targets },
        )
        .await
    }

    /// The summary's common fields.
    pub fn summary(&self, scenario: &str) -> Summary {
        Summary {
            scenario: scenario.to_owned(),
            server: self.targets.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
            domain: self.common.domain.clone(),
            processes: 1,
            ..Summary::default()
        }
    }

    /// The first (or only) server.
    pub fn target(&self) -> SocketAddr {
        self.targets[0]
    }

    /// Fails for scenarios whose users must all reach each other through one server (or one
    /// cluster).
    pub fn single_server(&self, scenario: &str) -> anyhow::Result<()> {
        if self.targets.len() > 1 && !self.common.cluster {
            anyhow::bail!("{scenario} takes one --server (got {})", self.targets.len());
        }
        Ok(())
    }

    /// Current server sample, if sampling.
    pub fn proc_sample(&self) -> Option<ProcSample> {
        self.procs.as_ref().and_then(ProcSampler::sample)
    }

    /// Highest server RSS in the timeline so far.
    pub fn rss_peak_kib(&self) -> u64 {
        self.timeline.points().iter().filter_map(|p| p.server.map(|s| s.rss_kib)).max().unwrap_or(0)
    }

    /// The server pids.
    pub fn pids(&self) -> Vec<u32> {
        self.procs.as_ref().map(|p| p.pids().to_vec()).unwrap_or_default()
    }
}

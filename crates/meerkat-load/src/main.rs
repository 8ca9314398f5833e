//! meerkat-load: a load generator for XMPP servers in the spirit of amoc, reproducing the
//! "Scaling a Mongoose" method (ramp up clients, each sends one short timestamped message per
//! minute, measure time-to-delivery, find the top speed) against any server that speaks plain
//! RFC 6120/6121 with in-band registration: Meerkat, ejabberd, Prosody.
//!
//! # Layout
//! - [`cli`]: options and subcommands.
//! - [`addr`]: loopback-only targets and `--source-ips` ranges.
//! - [`xmpp`]: the client (stream, STARTTLS, SASL PLAIN/SCRAM with a key cache, bind,
//!   registration).
//! - [`population`]: users of one process (ramp, idle sessions, chat behaviour).
//! - [`workers`]: worker processes beyond the per-process open-file cap; [`driver`] hides
//!   whether users are local or in workers.
//! - [`scenario`]: `register`, `connect`, `chat`, `top-speed`, `throughput`.
//! - [`stats`], [`timeline`], [`procstat`]: counters, HDR histograms, per-second sampling of us
//!   and of the server; [`report`] and [`plot`]: the table, JSON and SVG at the end.

mod addr;
mod cli;
mod driver;
mod plot;
mod population;
mod procstat;
mod report;
mod scenario;
mod stats;
mod timeline;
mod workers;
mod xmpp;

use anyhow::Context;
use clap::Parser;
use cli::{Cli, Command};
use scenario::RunCtx;
use std::sync::Arc;
use tokio::time::Instant;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    raise_nofile_limit();
    // Two threads: the tool shares the machine's cores with the server under test, and one
    // connection's work is tiny; more threads would only add contention.
    let result = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")
        .and_then(|rt| rt.block_on(async_main(cli)));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The chain of causes, without a backtrace: these are user-facing errors.
            eprintln!("meerkat-load: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn async_main(cli: Cli) -> anyhow::Result<()> {
    if matches!(cli.cmd, Command::Worker) {
        return workers::run_worker().await;
    }
    let common = cli.common;
    if let Some(p) = &common.plot {
        plot::check_path(p)?;
    }
    let targets = addr::resolve_servers(&common.server).await?;
    let source_ips = match &common.source_ips {
        Some(spec) => addr::parse_source_ips(spec)?,
        None => Vec::new(),
    };
    warn_single_source(&cli.cmd, targets.len(), source_ips.len());
    let start = Instant::now();
    let rc = RunCtx {
        targets,
        source_ips,
        stats: Arc::default(),
        timeline: Arc::default(),
        procs: procstat::ProcSampler::new(&common.server_pids),
        started_ns: stats::unix_nanos(),
        common,
    };
    if let (Some(p), Some(_)) = (&rc.procs, rc.proc_sample()) {
        eprintln!("sampling server pids {:?}", p.pids());
    } else if rc.procs.is_some() {
        anyhow::bail!("cannot read /proc for --server-pid {:?}", rc.common.server_pids);
    }
    let sampler = tokio::spawn(timeline::run_sampler(
        rc.stats.clone(),
        rc.timeline.clone(),
        rc.procs.clone(),
        start,
        rc.common.quiet,
    ));
    let result = match &cli.cmd {
        Command::Register(a) => scenario::register::run(&rc, a).await,
        Command::Connect(a) => scenario::connect::run(&rc, a).await,
        Command::Chat(a) => scenario::chat::run(&rc, a).await,
        Command::Muc(a) => scenario::muc::run(&rc, a).await,
        Command::TopSpeed(a) => scenario::top_speed::run(&rc, a).await,
        Command::Throughput(a) => scenario::throughput::run(&rc, a).await,
        Command::Worker => unreachable!("handled above"),
    };
    sampler.abort();
    let mut summary = result?;
    summary.elapsed_s = start.elapsed().as_secs_f64();
    if summary.register.is_none() {
        summary.counters = rc.stats.counters();
        if summary.latency.count == 0 {
            summary.latency = rc.stats.total_latency();
        }
        summary.login_latency = rc.stats.login_latency();
    }
    let summary = summary.with_timeline(rc.timeline.points());
    let table = summary.table();
    if rc.common.json {
        eprint!("{table}");
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{table}");
    }
    if let Some(path) = &rc.common.json_out {
        summary.write_json(path)?;
    }
    if let Some(path) = &rc.common.plot {
        let title = format!("meerkat-load {} against {}", summary.scenario, summary.server);
        plot::write_plot(path, &title, &summary.timeline)?;
        eprintln!("plot written to {}", path.display());
    }
    Ok(())
}

/// Raises the soft open-file limit to the hard limit: every connection is a file descriptor,
/// and the default soft limit (often 1024) would cap a run long before the machine does.
fn raise_nofile_limit() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid resource and a pointer to a live rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                eprintln!("warning: could not raise the open-file limit");
            }
        }
    }
}

/// Connections per (source address, server) above which connect() itself gets slow.
const CONNECTIONS_PER_SOURCE_WARN: u64 = 8_000;

/// Linux picks a source port by probing the ephemeral range (28k ports here) for a free
/// 4-tuple; past ~10k connections from one address to one server each connect() spends
/// milliseconds in `__inet_check_established`, which stalls this tool's workers until the
/// server times their logins out. Measured: 140k sessions over 8 servers from 127.0.0.1 lost
/// 11% of logins to `connection-timeout`.
fn warn_single_source(cmd: &Command, targets: usize, sources: usize) {
    let users = match cmd {
        Command::Connect(a) => a.users,
        Command::Chat(a) => a.connect.users,
        Command::Muc(a) => a.chat.connect.users,
        _ => return,
    };
    let per_pair = users / (targets.max(1) as u64 * sources.max(1) as u64);
    if per_pair > CONNECTIONS_PER_SOURCE_WARN {
        let wanted = users / (targets.max(1) as u64 * CONNECTIONS_PER_SOURCE_WARN) + 1;
        eprintln!(
            "warning: {per_pair} connections per source address and server; the kernel's \
             source-port search slows every connect() past ~10k: pass --source-ips with at \
             least {wanted} addresses, e.g. --source-ips 127.0.1.1-{}",
            wanted.min(254)
        );
    }
}

//! Command line: options shared by every scenario, and one subcommand per scenario.

use crate::xmpp::client::AuthMech;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// meerkat-load: the "Scaling a Mongoose" method against any XMPP server on this machine.
#[derive(Debug, Parser)]
#[command(name = "meerkat-load", version, about, long_about = None)]
pub struct Cli {
    /// Options shared by all scenarios.
    #[command(flatten)]
    pub common: Common,
    /// Scenario to run.
    #[command(subcommand)]
    pub cmd: Command,
}

/// Options shared by all scenarios.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Server address host:port; it must resolve to loopback only. Several, comma separated
    /// (standalone nodes side by side): worker process i connects to server i mod n, so each
    /// worker's users log in to one node and chat among themselves there.
    #[arg(long, global = true, default_value = "127.0.0.1:5222")]
    pub server: String,
    /// The servers of `--server` are nodes of one cluster: user i logs in to server i mod n
    /// in every process, so chat recipients are random across the cluster.
    #[arg(long, global = true)]
    pub cluster: bool,
    /// XMPP domain of the users.
    #[arg(long, global = true, default_value = "localhost")]
    pub domain: String,
    /// Username prefix: users are PREFIX1..PREFIXN.
    #[arg(long, global = true, default_value = "loaduser")]
    pub prefix: String,
    /// Password of every user.
    #[arg(long, global = true, default_value = "loadpass")]
    pub password: String,
    /// Negotiate STARTTLS (any certificate is accepted: loopback only).
    #[arg(long, global = true)]
    pub starttls: bool,
    /// Connect over XMPP-over-WebSocket (RFC 7395) at this path of each `--server` address
    /// (then an HTTP listener's), e.g. `/ws-xmpp`, instead of c2s TCP.
    #[arg(long, global = true, value_name = "PATH", conflicts_with = "starttls")]
    pub websocket: Option<String>,
    /// SASL mechanism.
    #[arg(long, global = true, value_enum, default_value = "auto")]
    pub auth: AuthMech,
    /// Resource bound by each session.
    #[arg(long, global = true, default_value = "load")]
    pub resource: String,
    /// Source addresses, e.g. 127.0.0.1-127.0.0.20 (loopback only), used round-robin.
    #[arg(long, global = true)]
    pub source_ips: Option<String>,
    /// File caching SCRAM keys between runs (SaltedPassword/ClientKey/ServerKey per user+salt).
    #[arg(long, global = true)]
    pub key_cache: Option<PathBuf>,
    /// Deadline for one connect + login (e.g. 30s, 500ms).
    #[arg(long, global = true, value_parser = parse_duration, default_value = "30s")]
    pub login_timeout: Duration,
    /// Logins in progress at once; the ramp slows down when the server cannot keep up.
    #[arg(long, global = true, default_value_t = 500)]
    pub max_pending_logins: usize,
    /// Server process to sample from /proc (RSS, CPU); repeatable.
    #[arg(long = "server-pid", global = true)]
    pub server_pids: Vec<u32>,
    /// Print the JSON summary on stdout (the table then goes to stderr).
    #[arg(long, global = true)]
    pub json: bool,
    /// Write the JSON summary to this file.
    #[arg(long, global = true)]
    pub json_out: Option<PathBuf>,
    /// Write a plot of the timeline (sessions, message rate, latency) to this .svg file.
    #[arg(long, global = true)]
    pub plot: Option<PathBuf>,
    /// No per-second progress lines.
    #[arg(long, global = true)]
    pub quiet: bool,
    /// Most connections per process; above it the tool runs worker processes.
    #[arg(long, global = true, default_value_t = 18_000)]
    pub per_worker: u64,
    /// Force this many worker processes (0: only when the per-worker cap requires them).
    #[arg(long, global = true, default_value_t = 0)]
    pub workers: usize,
}

/// Scenarios.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create users PREFIX1..N by in-band registration (XEP-0077); existing ones count as done.
    Register(RegisterArgs),
    /// Log users in at a given rate and hold the idle sessions.
    Connect(ConnectArgs),
    /// Log users in and have each send a timestamped message to a random online user.
    Chat(ChatArgs),
    /// Users join rooms (`--room-size` each) and each sends a groupchat message per period;
    /// every other occupant records its time-to-delivery (XEP-0045 fan-out).
    Muc(MucArgs),
    /// Add users in steps until logins fail or p99 delivery passes a threshold.
    TopSpeed(TopSpeedArgs),
    /// Sender/receiver pairs with a bounded in-flight window: maximum routed messages/s.
    Throughput(ThroughputArgs),
    /// Internal: a worker process driven by its parent over stdin/stdout.
    #[command(hide = true)]
    Worker,
}

/// `register`
#[derive(Debug, Clone, Args)]
pub struct RegisterArgs {
    /// Number of users.
    #[arg(long, short = 'n')]
    pub users: u64,
    /// Index of the first user.
    #[arg(long, default_value_t = 1)]
    pub first: u64,
    /// Registrations in flight at once.
    #[arg(long, default_value_t = 50)]
    pub concurrency: usize,
}

/// `connect`
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// Number of users.
    #[arg(long, short = 'n')]
    pub users: u64,
    /// Index of the first user.
    #[arg(long, default_value_t = 1)]
    pub first: u64,
    /// Logins started per second.
    #[arg(long, default_value_t = 100.0)]
    pub login_rate: f64,
    /// How long to hold the sessions after the ramp.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub duration: Duration,
}

/// `chat`
#[derive(Debug, Clone, Args)]
pub struct ChatArgs {
    /// Users (sessions).
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Each user sends one message per period (the seed's pattern: 60s).
    #[arg(long, value_parser = parse_duration, default_value = "60s", conflicts_with = "msg_rate")]
    pub period: Duration,
    /// Target aggregate messages per second instead of a period (period = users / rate).
    #[arg(long)]
    pub msg_rate: Option<f64>,
    /// After sending stops, how long to wait for messages in flight before counting losses.
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    pub grace: Duration,
}

/// `muc`
#[derive(Debug, Clone, Args)]
pub struct MucArgs {
    /// Users, period, rate and grace as for `chat`.
    #[command(flatten)]
    pub chat: ChatArgs,
    /// Occupants per room: users 1..N fill rooms `loadroom0`, `loadroom1`, ... in order.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(2..=10_000))]
    pub room_size: u64,
    /// MUC service (default `conference.<domain>`).
    #[arg(long)]
    pub service: Option<String>,
}

/// `top-speed`
#[derive(Debug, Clone, Args)]
pub struct TopSpeedArgs {
    /// Users added per step.
    #[arg(long, default_value_t = 1000)]
    pub step: u64,
    /// Stop after this many users even if every step passed.
    #[arg(long, default_value_t = 10_000)]
    pub max_users: u64,
    /// Logins started per second.
    #[arg(long, default_value_t = 200.0)]
    pub login_rate: f64,
    /// Per-user message period (the seed: one message per user per minute).
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    pub period: Duration,
    /// How long each step is held and measured after its logins.
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    pub step_hold: Duration,
    /// A step fails when its p99 time-to-delivery exceeds this.
    #[arg(long, value_parser = parse_duration, default_value = "100ms")]
    pub p99_threshold: Duration,
    /// A step fails when more than this fraction of its logins fail.
    #[arg(long, default_value_t = 0.001)]
    pub max_fail_ratio: f64,
    /// Index of the first user.
    #[arg(long, default_value_t = 1)]
    pub first: u64,
    /// Grace period at the end before counting losses.
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    pub grace: Duration,
}

/// `throughput`
#[derive(Debug, Clone, Args)]
pub struct ThroughputArgs {
    /// Sender/receiver pairs (users 1..2*pairs: odd send, even receive).
    #[arg(long, default_value_t = 100)]
    pub pairs: u64,
    /// Messages in flight per pair.
    #[arg(long, default_value_t = 10)]
    pub window: u64,
    /// Warm-up before measuring.
    #[arg(long, value_parser = parse_duration, default_value = "3s")]
    pub warmup: Duration,
    /// Measured duration.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub duration: Duration,
    /// Index of the first user.
    #[arg(long, default_value_t = 1)]
    pub first: u64,
    /// Logins started per second.
    #[arg(long, default_value_t = 500.0)]
    pub login_rate: f64,
}

/// Parses `30s`, `500ms`, `2m`, `1h` or a bare number of seconds (fractions allowed).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num.parse().map_err(|_| format!("bad duration {s:?} (e.g. 30s, 500ms)"))?;
    let secs = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        u => return Err(format!("bad duration unit {u:?} in {s:?} (ms, s, m, h)")),
    };
    if !secs.is_finite() || !(0.0..=86_400.0 * 365.0).contains(&secs) {
        return Err(format!("duration {s:?} out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "meerkat-load",
            "chat",
            "-n",
            "10",
            "--msg-rate",
            "5",
            "--server-pid",
            "1",
            "--server-pid",
            "2",
        ])
        .expect("parse");
        assert_eq!(cli.common.server_pids, vec![1, 2]);
        assert!(matches!(cli.cmd, Command::Chat(ChatArgs { msg_rate: Some(_), .. })));
    }
}

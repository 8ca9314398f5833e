//! The command line: one `meerkat` binary runs the node (`live`, `start`) and administers a
//! running one (`status`, `stop`, `register`, ...), with names following `mongooseimctl`.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Meerkat XMPP server: run a node, and administer a running one through its admin API.
#[derive(Debug, Parser)]
#[command(name = "meerkat", version, propagate_version = true)]
pub struct Cli {
    /// Configuration file (TOML); without one the defaults apply (see meerkat.example.toml).
    #[arg(long, short = 'c', global = true, env = "MEERKAT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the node in the foreground, logging to stdout, until it is stopped.
    Live,
    /// Start the node in the background (logs to <data_dir>/meerkat.log) and print its pid.
    Start,
    /// Wait until a node started with `start` answers; exit 1 on timeout.
    Started {
        /// Seconds to wait.
        #[arg(long, default_value_t = 30, value_name = "SECS")]
        timeout: u64,
    },
    /// Stop the running node gracefully and wait until it has exited.
    Stop {
        /// Seconds to wait for the node to exit.
        #[arg(long, default_value_t = 60, value_name = "SECS")]
        timeout: u64,
    },
    /// Show the running node's status; exit 3 when it is not running.
    Status,
    /// Create an account.
    Register {
        /// Localpart of the account (`alice`).
        user: String,
        /// One of the node's hosts (`localhost`).
        host: String,
        /// Initial password.
        password: String,
    },
    /// Delete an account and its data, closing its sessions.
    Unregister {
        /// Localpart of the account.
        user: String,
        /// Host of the account.
        host: String,
    },
    /// Change an account's password.
    #[command(name = "change_password", alias = "change-password")]
    ChangePassword {
        /// Localpart of the account.
        user: String,
        /// Host of the account.
        host: String,
        /// New password.
        password: String,
    },
    /// List the accounts of a host, one username per line.
    #[command(name = "registered_users", alias = "registered-users")]
    RegisteredUsers {
        /// The host.
        host: String,
    },
    /// List the bound sessions, one full JID per line.
    Sessions,
    /// Close the session of a full JID, or every session of a bare JID.
    Kick {
        /// `alice@localhost/phone` (one session) or `alice@localhost` (all of them).
        jid: String,
        /// Text sent to the kicked client.
        reason: Option<String>,
    },
    /// Show the cluster's running and stopped nodes.
    #[command(name = "cluster_status", alias = "cluster-status")]
    ClusterStatus {
        /// Print one JSON object (`{"cluster":…,"node":…,"running":[…],"stopped":[…]}`).
        #[arg(long)]
        json: bool,
    },
    /// Join the cluster of MEMBER (a running node): adopt its NATS and PostgreSQL settings and
    /// restart this node in cluster mode. Needs [cluster] secret_file with the cluster secret.
    #[command(name = "join_cluster", alias = "join-cluster")]
    JoinCluster {
        /// The member's admin address (`IP:PORT`), or its node name or host (`name@host`),
        /// reached on this node's admin port.
        member: String,
        /// Do not ask for confirmation.
        #[arg(short = 'f', long = "force")]
        force: bool,
    },
    /// Leave the cluster joined with join_cluster: restart standalone on local storage.
    #[command(name = "leave_cluster", alias = "leave-cluster")]
    LeaveCluster {
        /// Do not ask for confirmation.
        #[arg(short = 'f', long = "force")]
        force: bool,
    },
    /// Remove a stopped node from the cluster (run on any running member): its sessions'
    /// contacts get unavailable presence, its membership is deleted.
    #[command(name = "remove_from_cluster", alias = "remove-from-cluster")]
    RemoveFromCluster {
        /// The node's name.
        node: String,
    },
    /// Load and validate the configuration, print "ok".
    #[command(name = "check-config", alias = "check_config")]
    CheckConfig,
    /// Print the effective configuration (file and defaults merged) as TOML.
    #[command(name = "print-config", alias = "print_config")]
    PrintConfig,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn mongooseimctl_style_names_parse() {
        let cli = Cli::try_parse_from(["meerkat", "change_password", "a", "localhost", "pw"])
            .expect("parse");
        assert!(matches!(cli.command, Command::ChangePassword { .. }));
        let cli = Cli::try_parse_from(["meerkat", "registered_users", "localhost"]).expect("parse");
        assert!(matches!(cli.command, Command::RegisteredUsers { .. }));
    }

    #[test]
    fn config_is_global() {
        let cli = Cli::try_parse_from(["meerkat", "status", "--config", "m.toml"]).expect("parse");
        assert_eq!(cli.config, Some(PathBuf::from("m.toml")));
        let cli = Cli::try_parse_from(["meerkat", "-c", "m.toml", "kick", "a@b"]).expect("parse");
        assert!(matches!(cli.command, Command::Kick { reason: None, .. }));
    }

    #[test]
    fn cluster_commands_parse() {
        let cli =
            Cli::try_parse_from(["meerkat", "join_cluster", "node1@127.0.0.2"]).expect("parse");
        assert!(
            matches!(cli.command, Command::JoinCluster { ref member, force: false } if member == "node1@127.0.0.2")
        );
        let cli = Cli::try_parse_from(["meerkat", "join_cluster", "-f", "127.0.0.2:5280"])
            .expect("parse");
        assert!(matches!(cli.command, Command::JoinCluster { force: true, .. }));
        let cli = Cli::try_parse_from(["meerkat", "join-cluster", "m", "--force"]).expect("parse");
        assert!(matches!(cli.command, Command::JoinCluster { force: true, .. }));
        assert!(Cli::try_parse_from(["meerkat", "join_cluster"]).is_err());
        let cli = Cli::try_parse_from(["meerkat", "leave_cluster", "-f"]).expect("parse");
        assert!(matches!(cli.command, Command::LeaveCluster { force: true }));
        let cli = Cli::try_parse_from(["meerkat", "leave_cluster"]).expect("parse");
        assert!(matches!(cli.command, Command::LeaveCluster { force: false }));
        let cli = Cli::try_parse_from(["meerkat", "remove_from_cluster", "n3"]).expect("parse");
        assert!(matches!(cli.command, Command::RemoveFromCluster { ref node } if node == "n3"));
        assert!(Cli::try_parse_from(["meerkat", "remove_from_cluster"]).is_err());
        let cli = Cli::try_parse_from(["meerkat", "cluster_status", "--json"]).expect("parse");
        assert!(matches!(cli.command, Command::ClusterStatus { json: true }));
        let cli = Cli::try_parse_from(["meerkat", "cluster-status"]).expect("parse");
        assert!(matches!(cli.command, Command::ClusterStatus { json: false }));
    }

    #[test]
    fn timeouts_default() {
        let cli = Cli::try_parse_from(["meerkat", "started"]).expect("parse");
        assert!(matches!(cli.command, Command::Started { timeout: 30 }));
        let cli = Cli::try_parse_from(["meerkat", "stop", "--timeout", "5"]).expect("parse");
        assert!(matches!(cli.command, Command::Stop { timeout: 5 }));
    }
}

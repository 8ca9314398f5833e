//! The cluster commands, named after `mongooseimctl`: `cluster_status`, `join_cluster`,
//! `leave_cluster`, `remove_from_cluster` (design: `docs/cluster.md`, "Operator commands").
//!
//! Joining adopts a member's settings (fetched from its admin API with the cluster token, so
//! only a holder of the cluster secret can join) into the cluster state file
//! (`meerkat_config::cluster_state`), which overrides `[cluster]` and `[storage]` at start;
//! leaving removes it. A running node is restarted to apply either.

use super::{admin, start, stop, Failure};
use meerkat_admin::client::{Client, ClientError};
use meerkat_admin::ClusterStatus;
use meerkat_config::cluster_state::{self, ClusterState};
use meerkat_config::Config;
use std::io::{BufRead, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;

/// Time `join_cluster`/`leave_cluster` give the node to stop and to answer again.
const RESTART_TIMEOUT_SECS: u64 = 60;

/// `meerkat cluster_status [--json]`.
pub fn status(config: &Config, json: bool) -> Result<(), Failure> {
    let admin = admin(config)?;
    let status = admin.client.cluster_status().map_err(|e| admin.failure(e))?;
    if json {
        let text = serde_json::to_string(&status).map_err(|e| Failure::new(e.to_string()))?;
        println!("{text}");
    } else {
        print!("{}", render(&status));
    }
    Ok(())
}

/// `running nodes: a, b` and `stopped nodes: c` lines.
pub fn render(status: &ClusterStatus) -> String {
    let list = |v: &[String]| if v.is_empty() { "none".to_string() } else { v.join(", ") };
    format!(
        "cluster:       {}\nrunning nodes: {}\nstopped nodes: {}\n",
        status.cluster,
        list(&status.running),
        list(&status.stopped)
    )
}

/// `meerkat remove_from_cluster NODE`, on a running member.
pub fn remove(config: &Config, node: &str) -> Result<(), Failure> {
    let admin = admin(config)?;
    let removed = admin.client.remove_node(node).map_err(|e| admin.failure(e))?;
    println!("The node {} has been removed from the cluster", removed.node);
    if removed.sessions > 0 {
        println!("{} of its sessions were closed on its contacts' side", removed.sessions);
    }
    Ok(())
}

/// `meerkat join_cluster MEMBER [-f]`.
pub fn join(
    config: &Config,
    config_path: Option<&Path>,
    member: &str,
    force: bool,
) -> Result<(), Failure> {
    let node = &config.general.node_name;
    if config.cluster.enabled {
        let how = if cluster_state::path(&config.general.data_dir).exists() {
            "run `meerkat leave_cluster` first"
        } else {
            "its configuration file enables [cluster]"
        };
        return Err(Failure::new(format!("node {node} is already a cluster member ({how})")));
    }
    let token = cluster_token(config)?;
    let addr = member_addr(member, config)?;
    if !force
        && !confirm(
            "Warning: this will drop all current connections of this node, and it will use the \
             cluster's storage instead of its own from now on.",
        )?
    {
        return Err(Failure::new("join_cluster cancelled"));
    }
    let client = Client::new(addr, token);
    let settings = client.cluster_settings().map_err(|e| match e {
        ClientError::Unauthorized => Failure::new(format!(
            "{member} ({addr}) refused the cluster secret: [cluster] secret_file must hold the \
             same secret as the cluster's nodes"
        )),
        ClientError::NotRunning => {
            Failure::new(format!("no node answers at {member}'s admin address {addr}"))
        }
        other => {
            Failure::new(format!("asking {member} ({addr}) for the cluster settings: {other}"))
        }
    })?;
    // Node names identify members: a second node under a running member's name would take
    // over its membership rows.
    if let Ok(status) = client.cluster_status() {
        if status.running.iter().any(|n| n == node) {
            return Err(Failure::new(format!(
                "a node named {node} already runs in the cluster of {member}: give this node \
                 another [general] node_name"
            )));
        }
    }
    let state = ClusterState {
        member: settings.node.clone(),
        cluster: settings.cluster,
        nats_urls: settings.nats_urls,
        postgres_url: settings.postgres_url,
    };
    let joined = cluster_state::apply(config.clone(), &state)
        .map_err(|e| Failure::new(format!("the cluster's settings do not fit this node: {e}")))?;
    let data_dir = &config.general.data_dir;
    cluster_state::write(data_dir, &state).map_err(|e| {
        let path = cluster_state::path(data_dir);
        Failure::new(format!("cannot write {}: {e}", path.display()))
    })?;
    if stop_if_running(config, false)? {
        start_again(&joined, config_path)?;
    }
    println!(
        "You have successfully joined the node {node} to the cluster with node member {}",
        settings.node
    );
    Ok(())
}

/// `meerkat leave_cluster [-f]`.
pub fn leave(config: &Config, config_path: Option<&Path>, force: bool) -> Result<(), Failure> {
    let node = &config.general.node_name;
    let data_dir = &config.general.data_dir;
    let Some(_) = cluster_state::read(data_dir).map_err(|e| Failure::new(e.to_string()))? else {
        let why = if config.cluster.enabled {
            "its configuration file enables [cluster]; edit it instead"
        } else {
            "it is not a cluster member"
        };
        return Err(Failure::new(format!("node {node} did not join a cluster: {why}")));
    };
    if !force
        && !confirm(
            "Warning: this will drop all current connections of this node, and it will use its \
             own local storage again.",
        )?
    {
        return Err(Failure::new("leave_cluster cancelled"));
    }
    let mut standalone = config.clone();
    standalone.cluster.enabled = false;
    standalone.storage = meerkat_config::StorageConfig::default();
    let ran = stop_if_running(config, true)?;
    cluster_state::remove(data_dir)
        .map_err(|e| Failure::new(format!("cannot remove the cluster state file: {e}")))?;
    if ran {
        start_again(&standalone, config_path)?;
    }
    println!("You have successfully left the node {node} from the cluster");
    Ok(())
}

/// Stops the node if it runs (first telling it that it leaves the cluster when `leaving`, so it
/// deletes its membership as it stops); true if it ran.
fn stop_if_running(config: &Config, leaving: bool) -> Result<bool, Failure> {
    let running = match admin(config) {
        Ok(a) => match a.client.status() {
            Ok(_) => Some(a),
            Err(ClientError::NotRunning) => None,
            Err(e) => return Err(a.failure(e)),
        },
        Err(f) if f.code == super::EXIT_NOT_RUNNING => None,
        Err(f) => return Err(f),
    };
    let Some(a) = running else {
        println!("The node is not running: the change applies at its next start");
        return Ok(false);
    };
    if leaving {
        a.client.leave_cluster().map_err(|e| a.failure(e))?;
    }
    stop::run(config, RESTART_TIMEOUT_SECS)?;
    Ok(true)
}

/// Starts the node with its new settings and waits until it answers.
fn start_again(config: &Config, config_path: Option<&Path>) -> Result<(), Failure> {
    start::start(config, config_path)?;
    start::started(config, RESTART_TIMEOUT_SECS)
}

/// The cluster token from `[cluster] secret_file`: without the secret nobody joins.
fn cluster_token(config: &Config) -> Result<String, Failure> {
    let file = &config.cluster.secret_file;
    if file.as_os_str().is_empty() {
        return Err(Failure::new(
            "join_cluster needs the cluster secret: set [cluster] secret_file (the file holding \
             the secret the cluster's nodes share; mode 0600)",
        ));
    }
    let secret = meerkat_cluster::Secret::read_file(file).map_err(Failure::new)?;
    Ok(secret.admin_token())
}

/// The member's admin address: `IP:PORT` or `HOST:PORT` as given, or for a node name
/// (`name@host`) or a bare host, that host with this node's admin port (nodes of one cluster
/// usually share the admin port, as Erlang nodes share epmd's).
pub fn member_addr(member: &str, config: &Config) -> Result<SocketAddr, Failure> {
    if let Ok(addr) = member.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let host = member.rsplit_once('@').map_or(member, |(_, host)| host);
    let with_port = if host.contains(':') && !host.starts_with('[') {
        host.to_string()
    } else {
        if config.admin.port == 0 {
            return Err(Failure::new(format!(
                "cannot tell {member}'s admin port (this node's [admin] port is 0): give \
                 MEMBER as IP:PORT"
            )));
        }
        format!("{host}:{}", config.admin.port)
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| Failure::new(format!("cannot resolve {member} ({with_port}): {e}")))?
        .next()
        .ok_or_else(|| Failure::new(format!("{member} resolves to no address")))
}

/// Asks yes/no on the terminal (stdin); only `y`/`yes` proceeds.
fn confirm(warning: &str) -> Result<bool, Failure> {
    println!("{warning}");
    print!("Do you want to continue? (yes/no) ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::new(format!("cannot read the answer: {e}")))?;
    // A terminal echoed the answer and its newline; piped input did not.
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        println!();
    }
    Ok(is_yes(&line))
}

/// Whether an answer means yes.
pub fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

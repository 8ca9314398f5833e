//! The commands, and what they share: loading the configuration, finding and calling the
//! running node's admin API, and turning failures into exit codes.

mod cluster;
mod config;
mod live;
mod sessions;
mod start;
mod status;
mod stop;
mod users;

use crate::cli::{Cli, Command};
use meerkat_admin::client::{Client, ClientError};
use meerkat_admin::{endpoint, token, AdminError};
use meerkat_config::Config;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Exit code of a failed command.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code when no node answers, as `mongooseimctl` uses it.
pub const EXIT_NOT_RUNNING: u8 = 3;

/// A failed command: what to print (after `error: `) and the exit code.
#[derive(Debug)]
pub struct Failure {
    /// Exit code.
    pub code: u8,
    /// Message for the operator.
    pub message: String,
}

impl Failure {
    /// A failure with exit code 1.
    pub fn new(message: impl Into<String>) -> Self {
        Failure { code: EXIT_FAILURE, message: message.into() }
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), Failure> {
    let config_path = cli.config.as_deref();
    let config = load_config(config_path)?;
    match cli.command {
        Command::Live => live::run(config, config_path),
        Command::Start => start::start(&config, config_path),
        Command::Started { timeout } => start::started(&config, timeout),
        Command::Stop { timeout } => stop::run(&config, timeout),
        Command::Status => status::run(&config),
        Command::Register { user, host, password } => {
            users::register(&config, &user, &host, &password)
        }
        Command::Unregister { user, host } => users::unregister(&config, &user, &host),
        Command::ChangePassword { user, host, password } => {
            users::change_password(&config, &user, &host, &password)
        }
        Command::RegisteredUsers { host } => users::registered_users(&config, &host),
        Command::Sessions => sessions::list(&config),
        Command::Kick { jid, reason } => sessions::kick(&config, &jid, reason.as_deref()),
        Command::ClusterStatus { json } => cluster::status(&config, json),
        Command::JoinCluster { member, force } => {
            cluster::join(&config, config_path, &member, force)
        }
        Command::LeaveCluster { force } => cluster::leave(&config, config_path, force),
        Command::RemoveFromCluster { node } => cluster::remove(&config, &node),
        Command::CheckConfig => config::check(),
        Command::PrintConfig => config::print(&config),
    }
}

/// Loads and validates the configuration file, or takes the defaults when there is none, then
/// applies the cluster state file of `join_cluster` when there is one.
fn load_config(path: Option<&Path>) -> Result<Config, Failure> {
    let config = match path {
        Some(path) => meerkat_config::load_file(path).map_err(|e| Failure::new(e.to_string()))?,
        None => Config::default(),
    };
    meerkat_config::cluster_state::overlay(config).map_err(|e| Failure::new(e.to_string()))
}

/// The running node's admin API as the CLI reaches it.
pub struct Admin {
    /// Client with the token read from the data directory (empty if it could not be read).
    pub client: Client,
    /// Why the token could not be read, reported if the node then refuses the request.
    token_error: Option<(PathBuf, io::Error)>,
}

/// Where the admin API listens: the configured address, or, when the configured port is 0, the
/// address the node recorded in `<data_dir>/admin.addr` after binding.
fn admin_addr(config: &Config) -> Result<SocketAddr, Failure> {
    if config.admin.port != 0 {
        return Ok(SocketAddr::new(config.admin.ip_address, config.admin.port));
    }
    let path = endpoint::path(&config.general.data_dir);
    endpoint::read(&config.general.data_dir).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => Failure {
            code: EXIT_NOT_RUNNING,
            message: format!(
                "meerkat is not running (admin port is 0 and {} does not exist)",
                path.display()
            ),
        },
        _ => Failure::new(format!("cannot read {}: {e}", path.display())),
    })
}

/// Prepares a client of the running node. Reading the token may fail (no node started yet, or
/// no permission); the failure is kept and only reported if the node refuses the request, so a
/// stopped node still gives "not running" (exit 3) rather than a file error.
pub fn admin(config: &Config) -> Result<Admin, Failure> {
    let addr = admin_addr(config)?;
    let data_dir = &config.general.data_dir;
    let (token, token_error) = match token::read(data_dir) {
        Ok(token) => (token, None),
        Err(e) => (String::new(), Some((token::path(data_dir), e))),
    };
    Ok(Admin { client: Client::new(addr, token), token_error })
}

impl Admin {
    /// Turns a client error into the failure to report.
    pub fn failure(&self, error: ClientError) -> Failure {
        let addr = self.client.addr();
        match error {
            ClientError::NotRunning => Failure {
                code: EXIT_NOT_RUNNING,
                message: format!("meerkat is not running (nothing answers on {addr})"),
            },
            ClientError::Unauthorized => match &self.token_error {
                Some((path, e)) => Failure::new(format!(
                    "cannot read the admin token {}: {e} (run as the user that runs the node, \
                     with the same configuration)",
                    path.display()
                )),
                None => Failure::new(format!(
                    "the node on {addr} refused the admin token: it was started with another \
                     data_dir or configuration"
                )),
            },
            ClientError::Admin(e) => Failure::new(admin_error_text(&e)),
            ClientError::Other(message) => Failure::new(message),
        }
    }
}

/// The node's own words for a refused operation, without the variant prefix `Display` adds.
fn admin_error_text(error: &AdminError) -> String {
    match error {
        AdminError::NotFound(m) | AdminError::AlreadyExists(m) | AdminError::BadRequest(m) => {
            m.clone()
        }
        AdminError::Internal(m) => format!("the node failed: {m}"),
    }
}

#[cfg(test)]
mod tests;

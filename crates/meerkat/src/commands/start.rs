//! `meerkat start` (the node in the background) and `meerkat started` (wait until it answers).

use super::{admin, Failure};
use crate::daemon;
use meerkat_admin::client::ClientError;
use meerkat_config::Config;
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Time during which `start` watches the new process for an immediate exit (bad port, broken
/// certificate), so such failures show at once rather than in the log only.
const EARLY_EXIT_WATCH: Duration = Duration::from_millis(500);
/// Pause between two polls of the admin API.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// Time allowed for one status request while polling, so one stuck request cannot use up the
/// whole wait.
const POLL_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// Starts `meerkat live` detached with the same configuration, records and prints its pid.
/// Refuses when a node already answers on the admin address, or the pid file names a live node.
pub fn start(config: &Config, config_path: Option<&Path>) -> Result<(), Failure> {
    let data_dir = &config.general.data_dir;
    refuse_if_running(config)?;

    std::fs::create_dir_all(data_dir).map_err(|e| {
        Failure::new(format!("cannot create data directory {}: {e}", data_dir.display()))
    })?;
    let exe = std::env::current_exe()
        .map_err(|e| Failure::new(format!("cannot find the meerkat executable: {e}")))?;
    // The child runs in the same working directory, but an absolute path keeps the command line
    // in `ps` meaningful.
    let config_path = match config_path {
        Some(path) => Some(
            std::path::absolute(path)
                .map_err(|e| Failure::new(format!("cannot resolve {}: {e}", path.display())))?,
        ),
        None => None,
    };
    let log = daemon::log_path(data_dir);
    let mut child = daemon::spawn_live(&exe, config_path.as_deref(), &log)
        .map_err(|e| Failure::new(format!("cannot start {}: {e}", exe.display())))?;
    let pid = child.id();
    daemon::write_pid(data_dir, pid).map_err(|e| {
        Failure::new(format!("started pid {pid}, but cannot write its pid file: {e}"))
    })?;

    let deadline = Instant::now() + EARLY_EXIT_WATCH;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            let _ = daemon::remove_pid(data_dir);
            return Err(Failure::new(format!(
                "meerkat exited at once ({status}); last lines of {}:\n{}",
                log.display(),
                daemon::tail(&log, 20)
            )));
        }
        sleep(Duration::from_millis(50));
    }
    println!("{pid}");
    Ok(())
}

fn refuse_if_running(config: &Config) -> Result<(), Failure> {
    // A port-0 admin API whose address file is missing cannot be asked; the pid check remains.
    if let Ok(admin) = admin(config) {
        let client = admin.client.clone().with_timeout(POLL_REQUEST_TIMEOUT);
        match client.status() {
            Ok(status) => {
                return Err(Failure::new(format!(
                    "node {} is already running (pid {}, admin API on {})",
                    status.node,
                    status.pid,
                    client.addr()
                )));
            }
            Err(ClientError::Unauthorized) => {
                return Err(Failure::new(format!(
                    "a node already answers on the admin address {}",
                    client.addr()
                )));
            }
            Err(_) => {}
        }
    }
    let data_dir = &config.general.data_dir;
    if let Ok(Some(pid)) = daemon::read_pid(data_dir) {
        if daemon::is_meerkat_live(pid) {
            return Err(Failure::new(format!(
                "meerkat is already started (pid {pid} from {}) but does not answer yet; \
                 see {}",
                daemon::pid_path(data_dir).display(),
                daemon::log_path(data_dir).display()
            )));
        }
    }
    Ok(())
}

/// Waits until the admin API answers status, for up to `timeout_secs`.
///
/// The token and (for port 0) the address are read again on every try: the node writes them
/// while starting, and a token left by a previous run is refused until then.
pub fn started(config: &Config, timeout_secs: u64) -> Result<(), Failure> {
    let deadline = Instant::now() + Duration::from_secs(timeout_secs);
    loop {
        let last = match admin(config) {
            Ok(admin) => match admin.client.clone().with_timeout(POLL_REQUEST_TIMEOUT).status() {
                Ok(status) => {
                    println!("Node {} is running", status.node);
                    return Ok(());
                }
                Err(e) => admin.failure(e).message,
            },
            Err(failure) => failure.message,
        };
        if Instant::now() >= deadline {
            return Err(Failure::new(format!(
                "meerkat did not answer within {timeout_secs} s ({last}); see {}",
                daemon::log_path(&config.general.data_dir).display()
            )));
        }
        sleep(POLL_INTERVAL);
    }
}

//! `meerkat stop`: a graceful stop, waited for.

use super::{admin, Failure};
use crate::daemon;
use meerkat_admin::client::ClientError;
use meerkat_config::Config;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Pause between two checks of whether the node is gone.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// Time allowed for one status request while polling.
const POLL_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// Asks the node to stop, then waits until its admin API no longer answers and its process has
/// exited, for up to `timeout_secs`. The pid comes from the node's own status (so nodes run with
/// `live` are waited for too), else from the pid file of `start`.
pub fn run(config: &Config, timeout_secs: u64) -> Result<(), Failure> {
    let data_dir = &config.general.data_dir;
    let admin = admin(config)?;
    let client = admin.client.clone().with_timeout(POLL_REQUEST_TIMEOUT);
    let pid = match client.status() {
        Ok(status) => Some(status.pid).filter(|pid| *pid != 0),
        Err(e) => return Err(admin.failure(e)),
    }
    .or_else(|| daemon::read_pid(data_dir).ok().flatten());

    admin.client.stop().map_err(|e| admin.failure(e))?;

    let deadline = Instant::now() + Duration::from_secs(timeout_secs);
    loop {
        // Only "connection refused" means the API is gone; a reset or timeout can happen while
        // the node drains, so those keep us waiting.
        let api_gone = matches!(client.status(), Err(ClientError::NotRunning));
        let process_gone = !matches!(pid, Some(pid) if daemon::is_alive(pid));
        if api_gone && process_gone {
            break;
        }
        if Instant::now() >= deadline {
            let what = match pid {
                Some(pid) => format!("process {pid}"),
                None => "the admin API".to_string(),
            };
            return Err(Failure::new(format!(
                "meerkat was asked to stop but {what} is still running after {timeout_secs} s"
            )));
        }
        sleep(POLL_INTERVAL);
    }
    // The pid file belongs to the node just stopped only if it names a dead process.
    if let Ok(Some(recorded)) = daemon::read_pid(data_dir) {
        if !daemon::is_alive(recorded) {
            let _ = daemon::remove_pid(data_dir);
        }
    }
    println!("stopped");
    Ok(())
}

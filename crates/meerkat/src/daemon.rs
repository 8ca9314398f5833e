//! Starting the node detached (`meerkat start`) and keeping track of it with a pid file.
//!
//! The detached node is this same executable run as `meerkat live` in a new session (`setsid`),
//! so it has no controlling terminal and survives the shell that started it. Its stdout and
//! stderr are appended to `<data_dir>/meerkat.log`.

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Pid file name inside the data directory.
pub const PID_FILE: &str = "meerkat.pid";
/// Log file name inside the data directory.
pub const LOG_FILE: &str = "meerkat.log";

/// Path of the pid file.
pub fn pid_path(data_dir: &Path) -> PathBuf {
    data_dir.join(PID_FILE)
}

/// Path of the log file of a detached node.
pub fn log_path(data_dir: &Path) -> PathBuf {
    data_dir.join(LOG_FILE)
}

/// Spawns `exe [--config CONFIG] live` detached, logging to `log`.
pub fn spawn_live(exe: &Path, config: Option<&Path>, log: &Path) -> io::Result<Child> {
    let stdout = OpenOptions::new().create(true).append(true).open(log)?;
    let stderr = stdout.try_clone()?;
    let mut command = Command::new(exe);
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    command.arg("live").stdin(Stdio::null()).stdout(stdout).stderr(stderr);
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // calls are allowed: setsid is one, and last_os_error only reads errno (no allocation).
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.spawn()
}

/// Records the pid of a started node.
pub fn write_pid(data_dir: &Path, pid: u32) -> io::Result<()> {
    fs::write(pid_path(data_dir), format!("{pid}\n"))
}

/// The pid recorded by `start`, if any.
pub fn read_pid(data_dir: &Path) -> io::Result<Option<u32>> {
    match fs::read_to_string(pid_path(data_dir)) {
        Ok(text) => text.trim().parse().map(Some).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidData, format!("bad pid file {text:?}: {e}"))
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Removes the pid file; a missing file is fine.
pub fn remove_pid(data_dir: &Path) -> io::Result<()> {
    match fs::remove_file(pid_path(data_dir)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Whether a process with this pid exists (it may belong to another user).
pub fn is_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        // 0 and negative pids address process groups, never one process.
        return false;
    }
    // SAFETY: signal 0 sends nothing; kill only checks that the process exists.
    let exists = unsafe { libc::kill(pid, 0) } == 0
        || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    // A detached node's parent is init once `start` has exited, and an init that reaps slowly
    // leaves it a zombie for a while after it exited: that is stopped, not running.
    exists && !is_zombie(pid)
}

/// Whether `/proc` shows the process as a zombie (exited, not yet reaped).
fn is_zombie(pid: libc::pid_t) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the command name, which is in parentheses and may itself contain
    // spaces or parentheses, so look after the last `)`.
    stat.rfind(')')
        .and_then(|end| stat.get(end + 1..))
        .and_then(|rest| rest.split_whitespace().next())
        .is_some_and(|state| state == "Z")
}

/// Whether `pid` is a running `meerkat live` (so a stale pid file whose pid was reused by an
/// unrelated process does not block `start`).
pub fn is_meerkat_live(pid: u32) -> bool {
    if !is_alive(pid) {
        return false;
    }
    match fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmdline) => cmdline.split(|b| *b == 0).any(|arg| arg == b"live"),
        // No /proc (or no permission): trust the pid file.
        Err(_) => true,
    }
}

/// The last `lines` lines of a file, for showing why a started node died.
pub fn tail(path: &Path, lines: usize) -> String {
    let Ok(bytes) = fs::read(path) else {
        return String::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_file_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(read_pid(dir.path()).expect("read"), None);
        write_pid(dir.path(), 1234).expect("write");
        assert_eq!(read_pid(dir.path()).expect("read"), Some(1234));
        remove_pid(dir.path()).expect("remove");
        remove_pid(dir.path()).expect("remove again");
        assert_eq!(read_pid(dir.path()).expect("read"), None);
    }

    #[test]
    fn garbage_pid_file_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(pid_path(dir.path()), "abc").expect("write");
        assert!(read_pid(dir.path()).is_err());
    }

    #[test]
    fn own_process_is_alive_and_not_meerkat_live() {
        assert!(is_alive(std::process::id()));
        assert!(!is_meerkat_live(std::process::id()));
        assert!(!is_alive(0));
        assert!(!is_alive(u32::MAX));
    }

    #[test]
    fn unreaped_child_is_not_alive() {
        let mut child = Command::new("true").spawn().expect("spawn true");
        let pid = child.id();
        // Not waited for yet: a zombie until `wait` below.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while is_alive(pid) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(!is_alive(pid));
        child.wait().expect("wait");
    }

    #[test]
    fn exited_child_is_not_alive() {
        let mut child = Command::new("true").spawn().expect("spawn true");
        let pid = child.id();
        child.wait().expect("wait");
        assert!(!is_alive(pid));
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log");
        fs::write(&path, "a\nb\nc\n").expect("write");
        assert_eq!(tail(&path, 2), "b\nc");
        assert_eq!(tail(&path, 10), "a\nb\nc");
        assert_eq!(tail(&dir.path().join("none"), 2), "");
    }
}

//! The file-descriptor limit (`RLIMIT_NOFILE`): every client connection holds one descriptor, so
//! this limit, not memory, is usually what first caps the sessions of one node.
//!
//! At start the soft limit is raised to the hard limit (an unprivileged process may do that), and
//! the result is logged with the number of connections it allows. Raising the hard limit needs
//! the operator: `LimitNOFILE=` in the systemd unit, or `nofile` in /etc/security/limits.conf.

use std::io;

/// Descriptors kept for what is not a client connection: the database, listeners, log files,
/// the admin API, cluster links.
pub const RESERVED_FDS: u64 = 100;

/// Below this limit a warning with advice is logged: MongooseIM-style deployments hold tens of
/// thousands of connections per node.
pub const RECOMMENDED_NOFILE: u64 = 65_536;

/// Used when the hard limit is "unlimited", which Linux does not accept as a soft limit for
/// descriptors: the kernel's `fs.nr_open` ceiling, else its usual default.
const NR_OPEN_PATH: &str = "/proc/sys/fs/nr_open";
const NR_OPEN_DEFAULT: u64 = 1_048_576;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the limit now in force.
///
/// Logs the effective limit at info, and at warn (with advice) when it is below
/// [`RECOMMENDED_NOFILE`]. If raising fails, the failure is logged and the unchanged limit
/// returned; only failing to read the limit at all is an error.
pub fn raise_nofile() -> io::Result<u64> {
    let before = get_nofile()?;
    let target = match before.rlim_max {
        libc::RLIM_INFINITY => nr_open(),
        hard => hard,
    };
    let mut effective = before.rlim_cur;
    if before.rlim_cur < target {
        let wanted = libc::rlimit { rlim_cur: target, rlim_max: before.rlim_max };
        // SAFETY: setrlimit only reads the struct, which lives for the call.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) } == 0 {
            effective = target;
        } else {
            tracing::warn!(
                what = "nofile_raise_failed",
                soft = before.rlim_cur,
                target,
                error = %io::Error::last_os_error(),
                "cannot raise the file descriptor limit"
            );
        }
    }
    tracing::info!(
        what = "nofile_limit",
        limit = effective,
        previous = before.rlim_cur,
        connections = connections_allowed(effective),
        "file descriptor limit {effective}: room for about {} client connections",
        connections_allowed(effective)
    );
    if let Some(advice) = advice(effective) {
        tracing::warn!(what = "nofile_low", limit = effective, "{advice}");
    }
    Ok(effective)
}

/// Client connections a descriptor limit leaves room for.
pub fn connections_allowed(limit: u64) -> u64 {
    limit.saturating_sub(RESERVED_FDS)
}

/// What to tell the operator when `limit` is low, or `None` when it is fine.
pub fn advice(limit: u64) -> Option<String> {
    if limit >= RECOMMENDED_NOFILE {
        return None;
    }
    Some(format!(
        "the file descriptor limit is {limit}, which allows only about {} client connections; \
         raise the hard limit (for example to 1048576) with `LimitNOFILE=1048576` in the systemd \
         unit, or `<user> hard nofile 1048576` and `<user> soft nofile 1048576` in \
         /etc/security/limits.conf (then log in again), and restart the node",
        connections_allowed(limit)
    ))
}

fn get_nofile() -> io::Result<libc::rlimit> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we own and pass by pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(limit)
}

fn nr_open() -> u64 {
    std::fs::read_to_string(NR_OPEN_PATH)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(NR_OPEN_DEFAULT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_leave_reserved_descriptors() {
        assert_eq!(connections_allowed(1024), 924);
        assert_eq!(connections_allowed(50), 0);
    }

    #[test]
    fn advice_only_below_the_recommended_limit() {
        let text = advice(1024).expect("advice for 1024");
        assert!(text.contains("/etc/security/limits.conf"), "{text}");
        assert!(text.contains("LimitNOFILE"), "{text}");
        assert!(text.contains("924"), "{text}");
        assert!(advice(RECOMMENDED_NOFILE).is_none());
        assert!(advice(1_048_576).is_none());
    }

    /// Lowers the soft limit, then checks that raising brings it back up to the hard limit and
    /// that the returned value is the limit in force.
    #[test]
    fn raise_nofile_lifts_the_soft_limit_to_the_hard_limit() {
        let original = get_nofile().expect("getrlimit");
        let lowered = original.rlim_cur.min(256);
        let low = libc::rlimit { rlim_cur: lowered, rlim_max: original.rlim_max };
        // SAFETY: as in raise_nofile.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &low) }, 0);

        let effective = raise_nofile().expect("raise");
        let now = get_nofile().expect("getrlimit");
        assert_eq!(effective, now.rlim_cur);
        assert!(effective >= lowered);
        if original.rlim_max != libc::RLIM_INFINITY {
            assert_eq!(effective, original.rlim_max);
        }
    }
}

//! `meerkat status`.

use super::{admin, Failure};
use meerkat_admin::NodeStatus;
use meerkat_config::Config;

/// Prints the running node's status; exit 3 (from [`super::Admin::failure`]) when no node
/// answers.
pub fn run(config: &Config) -> Result<(), Failure> {
    let admin = admin(config)?;
    let status = admin.client.status().map_err(|e| admin.failure(e))?;
    print!("{}", render(&status, &admin.client.addr().to_string()));
    if config.cluster.enabled {
        match admin.client.cluster_status() {
            Ok(cluster) => print!("{}", super::cluster::render(&cluster)),
            Err(e) => println!("cluster:   unknown ({})", admin.failure(e).message),
        }
    }
    Ok(())
}

/// The status as aligned `name: value` lines.
fn render(status: &NodeStatus, admin_addr: &str) -> String {
    let mut out = format!("Node {} is running\n", status.node);
    out.push_str(&format!("version:   {}\n", status.version));
    out.push_str(&format!("uptime:    {}\n", uptime(status.uptime_secs)));
    out.push_str(&format!("pid:       {}\n", status.pid));
    out.push_str(&format!("hosts:     {}\n", status.hosts.join(", ")));
    out.push_str(&format!("sessions:  {}\n", status.sessions));
    match status.listeners.split_first() {
        None => out.push_str("listeners: none\n"),
        Some((first, rest)) => {
            out.push_str(&format!("listeners: {first}\n"));
            for listener in rest {
                out.push_str(&format!("           {listener}\n"));
            }
        }
    }
    out.push_str(&format!("admin:     {admin_addr}\n"));
    out
}

/// `1d 2h 3m 4s`, leaving out leading zero units.
fn uptime(secs: u64) -> String {
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (hours, rest) = (rest / 3_600, rest % 3_600);
    let (minutes, seconds) = (rest / 60, rest % 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, _) => format!("{minutes}m {seconds}s"),
        (0, _, _) => format!("{hours}h {minutes}m {seconds}s"),
        _ => format!("{days}d {hours}h {minutes}m {seconds}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_leaves_out_leading_zero_units() {
        assert_eq!(uptime(0), "0s");
        assert_eq!(uptime(61), "1m 1s");
        assert_eq!(uptime(3_600), "1h 0m 0s");
        assert_eq!(uptime(90_061), "1d 1h 1m 1s");
    }

    #[test]
    fn render_lists_every_field() {
        let status = NodeStatus {
            node: "meerkat@localhost".into(),
            version: "0.1.0".into(),
            uptime_secs: 5,
            hosts: vec!["localhost".into(), "example.com".into()],
            sessions: 2,
            listeners: vec!["c2s 127.0.0.1:5222 starttls".into(), "c2s [::1]:5223 tls".into()],
            pid: 42,
        };
        let text = render(&status, "127.0.0.1:5551");
        assert!(text.starts_with("Node meerkat@localhost is running\n"), "{text}");
        for expected in [
            "version:   0.1.0",
            "uptime:    5s",
            "pid:       42",
            "hosts:     localhost, example.com",
            "sessions:  2",
            "listeners: c2s 127.0.0.1:5222 starttls\n           c2s [::1]:5223 tls",
            "admin:     127.0.0.1:5551",
        ] {
            assert!(text.contains(expected), "{expected:?} missing from\n{text}");
        }
    }
}

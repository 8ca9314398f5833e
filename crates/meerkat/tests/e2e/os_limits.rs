//! Item 10: operating-system limits. A node that runs out of file descriptors keeps serving its
//! sessions, backs off accepting (no busy loop), logs, and recovers when descriptors free up.

use crate::common::{ServerBuilder, DOMAIN};
use std::time::Duration;

/// User plus system CPU time of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    num(11) + num(12)
}

#[tokio::test]
async fn out_of_descriptors_keeps_sessions_backs_off_and_recovers() {
    let mut server = ServerBuilder::new().nofile_limit(64).start().await;
    let pid = server.pid().expect("pid");
    assert!(server.log().contains("nofile_low"), "no low-limit warning:\n{}", server.log());
    let alice = server.new_user("alice").await;
    let bob = server.new_user("bob").await;
    let mut a = server.login(&alice, "r").await;

    // Exhaust the node's descriptors with idle TCP connections (more than the limit).
    let mut held = Vec::new();
    for _ in 0..120 {
        if let Ok(s) = tokio::net::TcpStream::connect(("127.0.0.1", server.port())).await {
            held.push(s);
        }
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let log = server.log();
    assert!(log.contains("accept_emfile"), "no EMFILE log line:\n{log}");

    // Backing off, not spinning: under 30% of one core over two seconds.
    let t0 = cpu_ticks(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu_ticks(pid).saturating_sub(t0);
    let hz = 100; // USER_HZ on Linux
    assert!(used * 100 / (2 * hz) < 30, "node burnt {used} ticks in 2 s while out of fds");
    // At most one EMFILE line per second.
    let lines = server.log().lines().filter(|l| l.contains("accept_emfile")).count();
    assert!(lines <= 6, "{lines} EMFILE log lines in ~4 s");

    // The existing session is served.
    a.iq_result("get", Some(DOMAIN), "<ping xmlns='urn:xmpp:ping'/>").await;

    // Descriptors come back: new logins work again.
    drop(held);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut b = server.login(&bob, "r").await;
    b.iq_result("get", Some(DOMAIN), "<ping xmlns='urn:xmpp:ping'/>").await;
    server.assert_alive();
}

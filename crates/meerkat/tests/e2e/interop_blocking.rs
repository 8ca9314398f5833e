//! Interop (issue 4): slixmpp's XEP-0191 plugin runs `tests/interop/slixmpp_blocking.py`
//! against a node: alice blocks bob, messages are refused both ways with the right errors,
//! alice's other resource gets the pushes, alice unblocks, messages flow again.

use crate::common::{TestServer, DOMAIN};
use std::path::PathBuf;
use std::time::Duration;

#[tokio::test]
async fn slixmpp_blocking_block_refuse_push_unblock() {
    let python = super::interop::python_with_slixmpp()
        .unwrap_or_else(|e| panic!("INTEROP TEST CANNOT RUN: {e}"));
    // See interop.rs: slixmpp 1.8.3 fails the -PLUS and SCRAM mechanisms before PLAIN, and
    // three clients log in here.
    let server = TestServer::with("[auth]\nmax_failures_per_minute = 100\n").await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop/slixmpp_blocking.py");
    let port = server.port().to_string();
    let mut cmd = tokio::process::Command::new(&python);
    cmd.arg(&script)
        .args(["--port", &port, "--domain", DOMAIN, "--timeout", "20"])
        .args(["--user1", &a.name, "--password1", &a.password])
        .args(["--user2", &b.name, "--password2", &b.password])
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(90), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{} did not finish within 90 s", script.display()))
        .unwrap_or_else(|e| panic!("cannot run {python} {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "slixmpp blocking interop failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        out.status
    );
    for step in [
        "alice/two got the block push",
        "bob's message was not delivered",
        "alice's message reaches bob after unblock",
    ] {
        assert!(stdout.contains(step), "step {step:?} missing:\n{stdout}");
    }
}

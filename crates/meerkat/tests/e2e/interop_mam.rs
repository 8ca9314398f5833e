//! Interop: slixmpp's XEP-0280 and XEP-0313/XEP-0059 plugins run
//! `tests/interop/slixmpp_carbons_mam.py` against a node: carbons between two resources of one
//! account (sent and received copies), and 250 archived messages paged out exactly once, in
//! order, over several pages.

use crate::common::{TestServer, DOMAIN};
use std::path::PathBuf;
use std::time::Duration;

#[tokio::test]
async fn slixmpp_carbons_and_mam_paging() {
    let python = super::interop::python_with_slixmpp()
        .unwrap_or_else(|e| panic!("INTEROP TEST CANNOT RUN: {e}"));
    // slixmpp tries the SCRAM -PLUS mechanisms first and fails them (see interop.rs): three
    // logins here, so the per-address failure limit is raised.
    let server = TestServer::with("[auth]\nmax_failures_per_minute = 100\n").await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/interop/slixmpp_carbons_mam.py");
    let port = server.port().to_string();
    let mut cmd = tokio::process::Command::new(&python);
    cmd.arg(&script)
        .args(["--port", &port, "--domain", DOMAIN, "--timeout", "60"])
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
        "slixmpp carbons/MAM interop failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        out.status
    );
    for step in [
        "phone got a received carbon",
        "phone got a sent carbon",
        "all retrieved exactly once, in order",
    ] {
        assert!(stdout.contains(&format!("ok: {step}")), "step {step:?} not reported:\n{stdout}");
    }
}

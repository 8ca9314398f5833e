//! Interop: slixmpp's XEP-0280 and XEP-0313/XEP-0059 plugins run
//! `tests/interop/slixmpp_carbons_mam.py` against a node: carbons between two resources of one
//! account (sent and received copies), and 250 archived messages paged out exactly once, in
//! order, over several pages.

use crate::common::TestServer;

#[tokio::test]
async fn slixmpp_carbons_and_mam_paging() {
    // slixmpp tries the SCRAM -PLUS mechanisms first and fails them (see interop.rs): three
    // logins here, so the per-address failure limit is raised.
    let server = TestServer::with("[auth]\nmax_failures_per_minute = 100\n").await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let stdout = super::interop::run_two_user_script(
        "slixmpp_carbons_mam.py",
        &server,
        &a,
        &b,
        60,
        "slixmpp carbons/MAM interop",
    )
    .await;
    for step in [
        "phone got a received carbon",
        "phone got a sent carbon",
        "all retrieved exactly once, in order",
    ] {
        assert!(stdout.contains(&format!("ok: {step}")), "step {step:?} not reported:\n{stdout}");
    }
}

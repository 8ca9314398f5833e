//! Interop (issue 4): slixmpp's XEP-0191 plugin runs `tests/interop/slixmpp_blocking.py`
//! against a node: alice blocks bob, messages are refused both ways with the right errors,
//! alice's other resource gets the pushes, alice unblocks, messages flow again.

use crate::common::TestServer;

#[tokio::test]
async fn slixmpp_blocking_block_refuse_push_unblock() {
    // See interop.rs: slixmpp 1.8.3 fails the -PLUS and SCRAM mechanisms before PLAIN, and
    // three clients log in here.
    let server = TestServer::with("[auth]\nmax_failures_per_minute = 100\n").await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let stdout = super::interop::run_two_user_script(
        "slixmpp_blocking.py",
        &server,
        &a,
        &b,
        20,
        "slixmpp blocking interop",
    )
    .await;
    for step in [
        "alice/two got the block push",
        "bob's message was not delivered",
        "alice's message reaches bob after unblock",
    ] {
        assert!(stdout.contains(step), "step {step:?} missing:\n{stdout}");
    }
}

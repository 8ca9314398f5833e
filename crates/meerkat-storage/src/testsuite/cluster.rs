//! [`crate::ClusterStore`] conformance (shared backends only: SQLite refuses it). Node names
//! come from [`super::unique_host`] so the functions share a database safely; only rows of
//! those names are looked at.

use crate::{Incarnations, Storage};

fn names(storage_rows: &[crate::ClusterNodeRow], mine: &[&str]) -> Vec<(String, bool)> {
    storage_rows
        .iter()
        .filter(|r| mine.contains(&r.name.as_str()))
        .map(|r| (r.name.clone(), r.left_at.is_some()))
        .collect()
}

/// Registering, re-registering, stopping and deleting nodes; session rows in and out.
pub async fn cluster_nodes_and_sessions(storage: &Storage) {
    let c = &storage.cluster;
    let a = super::unique_host("a");
    let b = super::unique_host("b");
    c.register_node(&a, "127.0.0.2:5280", 1).await.expect("register a");
    c.register_node(&b, "127.0.0.3:5280", 1).await.expect("register b");
    let rows = c.nodes().await.expect("nodes");
    assert_eq!(names(&rows, &[&a, &b]), vec![(a.clone(), false), (b.clone(), false)]);
    let row_a = rows.iter().find(|r| r.name == a).expect("row a");
    assert_eq!(row_a.admin_address, "127.0.0.2:5280");
    assert_eq!(row_a.incarnation, 1);
    assert!(row_a.joined_at > 1_600_000_000, "{row_a:?}");

    // Stopping needs the current incarnation; a restart clears the stop.
    c.mark_stopped(&a, 2).await.expect("stop wrong incarnation");
    assert_eq!(names(&c.nodes().await.expect("nodes"), &[&a]), vec![(a.clone(), false)]);
    c.mark_stopped(&a, 1).await.expect("stop");
    assert_eq!(names(&c.nodes().await.expect("nodes"), &[&a]), vec![(a.clone(), true)]);
    assert!(!c.touch_node(&a, 2).await.expect("touch another run"));
    assert!(c.touch_node(&a, 1).await.expect("touch"));
    assert_eq!(names(&c.nodes().await.expect("nodes"), &[&a]), vec![(a.clone(), false)]);
    c.register_node(&a, "127.0.0.2:5281", 2).await.expect("re-register");
    let rows = c.nodes().await.expect("nodes");
    let row_a = rows.iter().find(|r| r.name == a).expect("row a");
    assert_eq!(
        (row_a.incarnation, row_a.left_at, row_a.admin_address.as_str()),
        (2, None, "127.0.0.2:5281")
    );

    c.add_sessions(&a, &["alice@h/phone".into()], 2).await.expect("add");
    c.add_sessions(&a, &["bob@h/pc".into()], 2).await.expect("add");
    c.add_sessions(&a, &["bob@h/pc".into()], 2).await.expect("add twice replaces");
    let twice = ["dave@h/1".to_string(), "erin@h/1".into(), "dave@h/1".into()];
    c.add_sessions(&a, &twice, 2).await.expect("a JID twice in one batch");
    c.remove_sessions(&a, &twice[..2]).await.expect("remove a batch");
    c.add_sessions(&b, &["carol@h/x".into()], 1).await.expect("add on b");
    assert_eq!(c.sessions(&a).await.expect("sessions"), vec!["alice@h/phone", "bob@h/pc"]);
    c.remove_sessions(&a, &["alice@h/phone".into()]).await.expect("remove");
    c.remove_sessions(&a, &["nobody@h/x".into()]).await.expect("removing a missing row is fine");
    assert_eq!(c.sessions(&a).await.expect("sessions"), vec!["bob@h/pc"]);
    assert_eq!(c.sessions(&b).await.expect("sessions"), vec!["carol@h/x"]);

    assert!(c.delete_node(&a).await.expect("delete"));
    assert!(!c.delete_node(&a).await.expect("delete again"));
    assert_eq!(names(&c.nodes().await.expect("nodes"), &[&a, &b]), vec![(b.clone(), false)]);
    // Deleting the member row leaves its sessions for a claim.
    assert_eq!(
        c.claim_sessions(&a, Incarnations::All).await.expect("claim"),
        Some(vec!["bob@h/pc".into()])
    );
    assert!(c.sessions(&a).await.expect("sessions").is_empty());
}

/// Claims take only the asked incarnations and mark the node stopped when its current run is
/// the dead one.
pub async fn cluster_claims(storage: &Storage) {
    let c = &storage.cluster;
    let n = super::unique_host("n");
    c.register_node(&n, "127.0.0.2:1", 10).await.expect("register");
    c.add_sessions(&n, &["old@h/1".into()], 9).await.expect("add");
    c.add_sessions(&n, &["new@h/1".into()], 10).await.expect("add");
    // The restarted node (run 10) takes what its run 9 left, and stays running.
    let own = c.claim_sessions(&n, Incarnations::AllBut(10)).await.expect("claim");
    assert_eq!(own, Some(vec!["old@h/1".to_string()]));
    assert_eq!(names(&c.nodes().await.expect("nodes"), &[&n]), vec![(n.clone(), false)]);
    // A late claim for run 9 finds nothing and does not stop run 10.
    assert_eq!(c.claim_sessions(&n, Incarnations::Only(9)).await.expect("claim"), Some(vec![]));
    assert_eq!(names(&c.nodes().await.expect("nodes"), &[&n]), vec![(n.clone(), false)]);
    // Run 10 dies.
    let dead = c.claim_sessions(&n, Incarnations::Only(10)).await.expect("claim");
    assert_eq!(dead, Some(vec!["new@h/1".to_string()]));
    assert_eq!(names(&c.nodes().await.expect("nodes"), &[&n]), vec![(n.clone(), true)]);
    assert_eq!(c.claim_sessions(&n, Incarnations::Only(10)).await.expect("again"), Some(vec![]));
}

/// Many nodes claiming one dead node's sessions at once: each session goes to exactly one.
pub async fn cluster_one_claimer(storage: &Storage) {
    let c = &storage.cluster;
    let n = super::unique_host("dead");
    c.register_node(&n, "127.0.0.2:1", 5).await.expect("register");
    let mut expected = Vec::new();
    for i in 0..50 {
        let jid = format!("u{i:02}@h/r");
        expected.push(jid);
    }
    c.add_sessions(&n, &expected, 5).await.expect("add");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let c = c.clone();
        let n = n.clone();
        tasks.spawn(async move { c.claim_sessions(&n, Incarnations::Only(5)).await });
    }
    let mut got = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        if let Some(jids) = joined.expect("task").expect("claim") {
            got.extend(jids);
        }
    }
    got.sort();
    assert_eq!(got, expected, "every session claimed exactly once");
    assert!(c.sessions(&n).await.expect("sessions").is_empty());
}

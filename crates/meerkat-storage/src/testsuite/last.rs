//! Checks of [`crate::LastStore`].

use super::unique_host;
use crate::{LastActivity, Storage};

/// Get before any set, set, overwrite, and isolation between users and hosts.
pub async fn last_activity(storage: &Storage) {
    let last = &storage.last;
    let host = unique_host("last");
    let other_host = unique_host("last-other");

    assert_eq!(last.get_last(&host, "alice").await.expect("get absent"), None);

    let first = LastActivity { seconds: 1_700_000_000, status: "Gone fishing 🎣".to_owned() };
    last.set_last(&host, "alice", &first).await.expect("set");
    assert_eq!(last.get_last(&host, "alice").await.expect("get"), Some(first.clone()));

    // Overwrite, with an empty status and then extreme times.
    let second = LastActivity { seconds: 1_700_000_100, status: String::new() };
    last.set_last(&host, "alice", &second).await.expect("overwrite");
    assert_eq!(last.get_last(&host, "alice").await.expect("get"), Some(second.clone()));
    for seconds in [0, -1, i64::MAX, i64::MIN] {
        let extreme = LastActivity { seconds, status: "x".to_owned() };
        last.set_last(&host, "carol", &extreme).await.expect("set extreme");
        assert_eq!(last.get_last(&host, "carol").await.expect("get extreme"), Some(extreme));
    }

    assert_eq!(last.get_last(&host, "bob").await.expect("other user"), None);
    assert_eq!(last.get_last(&other_host, "alice").await.expect("other host"), None);
    last.set_last(&other_host, "alice", &first).await.expect("set other host");
    assert_eq!(last.get_last(&host, "alice").await.expect("unchanged"), Some(second));

    // A batch inserts new rows and overwrites existing ones.
    let third = LastActivity { seconds: 1_700_000_200, status: "batch".to_owned() };
    let batch: Vec<_> = ["alice", "dave", "erin"]
        .iter()
        .map(|u| (host.clone(), u.to_string(), third.clone()))
        .collect();
    last.set_last_many(&batch).await.expect("set many");
    last.set_last_many(&[]).await.expect("an empty batch");
    for user in ["alice", "dave", "erin"] {
        assert_eq!(last.get_last(&host, user).await.expect("get"), Some(third.clone()));
    }
    assert_eq!(last.get_last(&other_host, "dave").await.expect("other host"), None);
}

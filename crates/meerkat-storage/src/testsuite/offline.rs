//! Checks of [`crate::OfflineStore`].

use super::unique_host;
use crate::{OfflineMessage, Storage, StorageError};
use std::sync::Arc;
use tokio::task::JoinSet;

/// A roomy limit for checks that are not about the limit.
const NO_LIMIT: usize = 1000;

/// Store, fetch in arrival order, remove up to an id, count, and isolation between users.
pub async fn offline_queue(storage: &Storage) {
    let offline = &storage.offline;
    let host = unique_host("offline-queue");
    let other_host = unique_host("offline-queue-other");

    assert_eq!(offline.fetch(&host, "alice").await.expect("fetch empty"), vec![]);
    assert_eq!(offline.count(&host, "alice").await.expect("count empty"), 0);
    offline.remove_up_to(&host, "alice", i64::MAX).await.expect("remove on empty");

    let stanzas = [
        ("bob@x.org/phone", 1_700_000_000_000, "<message><body>one</body></message>"),
        ("carol@y.org/pc", 1_700_000_000_500, "<message><body>two «ü» &amp;\n</body></message>"),
        // Arrival order, not timestamp order: a clock step back must not reorder the queue.
        ("bob@x.org/phone", 1_699_999_999_000, "<message><body>three</body></message>"),
    ];
    let mut expected = Vec::new();
    for (from, stored_at_ms, stanza) in stanzas {
        let id = offline
            .store(&host, "alice", from, stored_at_ms, stanza, NO_LIMIT)
            .await
            .expect("store");
        expected.push(OfflineMessage {
            id,
            from: from.to_owned(),
            stored_at_ms,
            stanza: stanza.to_owned(),
        });
        // Messages for other users in between must not disturb alice's queue.
        offline.store(&host, "bob", "a@b.c/d", 1, "<message/>", NO_LIMIT).await.expect("bob");
    }
    offline.store(&other_host, "alice", "a@b.c/d", 1, "<message/>", NO_LIMIT).await.expect("x");
    assert!(expected.windows(2).all(|w| w[0].id < w[1].id), "ids increase: {expected:?}");

    assert_eq!(offline.fetch(&host, "alice").await.expect("fetch"), expected);
    assert_eq!(
        offline.fetch(&host, "alice").await.expect("fetch again"),
        expected,
        "fetch does not remove"
    );
    assert_eq!(offline.count(&host, "alice").await.expect("count"), 3);
    assert_eq!(offline.count(&host, "bob").await.expect("count bob"), 3);
    assert_eq!(offline.count(&other_host, "alice").await.expect("count other host"), 1);

    // An id below the first removes nothing.
    offline.remove_up_to(&host, "alice", expected[0].id - 1).await.expect("remove none");
    assert_eq!(offline.count(&host, "alice").await.expect("count"), 3);

    offline.remove_up_to(&host, "alice", expected[1].id).await.expect("remove two");
    assert_eq!(offline.fetch(&host, "alice").await.expect("fetch rest"), expected[2..].to_vec());
    assert_eq!(offline.count(&host, "alice").await.expect("count"), 1);
    assert_eq!(offline.count(&host, "bob").await.expect("bob untouched"), 3);
    assert_eq!(offline.count(&other_host, "alice").await.expect("other host untouched"), 1);

    // A message stored after the fetch survives the removal of what was fetched.
    let late = offline.store(&host, "alice", "bob@x.org/phone", 5, "late", NO_LIMIT).await;
    let late = late.expect("store late");
    offline.remove_up_to(&host, "alice", expected[2].id).await.expect("remove fetched");
    let rest = offline.fetch(&host, "alice").await.expect("fetch late");
    assert_eq!(rest.iter().map(|m| m.id).collect::<Vec<_>>(), vec![late]);

    // Ids are never reused, even once the queue is empty: a session that delivered up to id N
    // must never mistake a new message for a delivered one.
    offline.remove_up_to(&host, "alice", i64::MAX).await.expect("remove all");
    assert_eq!(offline.fetch(&host, "alice").await.expect("fetch emptied"), vec![]);
    assert_eq!(offline.count(&host, "alice").await.expect("count emptied"), 0);
    let next = offline.store(&host, "alice", "a@b.c/d", 6, "next", NO_LIMIT).await;
    assert!(next.expect("store after empty") > late, "ids keep increasing after a purge");
}

/// The limit refuses the message that would exceed it, stores nothing then, is per user, and
/// frees up when messages are removed.
pub async fn offline_limit(storage: &Storage) {
    let offline = &storage.offline;
    let host = unique_host("offline-limit");

    for n in 0..3 {
        offline.store(&host, "alice", "b@x.org/r", n, "<message/>", 3).await.expect("under limit");
    }
    let refused = offline.store(&host, "alice", "b@x.org/r", 9, "<refused/>", 3).await;
    assert!(
        matches!(refused, Err(StorageError::LimitReached { limit: 3 })),
        "fourth message: {refused:?}"
    );
    let queue = offline.fetch(&host, "alice").await.expect("fetch");
    assert_eq!(queue.len(), 3);
    assert!(queue.iter().all(|m| m.stanza != "<refused/>"), "a refused message is not stored");

    // A lower limit than the queue already holds refuses too (the limit was lowered).
    let lowered = offline.store(&host, "alice", "b@x.org/r", 9, "<refused/>", 1).await;
    assert!(matches!(lowered, Err(StorageError::LimitReached { limit: 1 })), "{lowered:?}");

    // Another user has a queue of their own.
    offline.store(&host, "bob", "a@x.org/r", 1, "<message/>", 3).await.expect("bob");

    // Removing one message makes room for one.
    offline.remove_up_to(&host, "alice", queue[0].id).await.expect("remove one");
    offline.store(&host, "alice", "b@x.org/r", 4, "<message/>", 3).await.expect("room again");
    let full = offline.store(&host, "alice", "b@x.org/r", 5, "<refused/>", 3).await;
    assert!(matches!(full, Err(StorageError::LimitReached { limit: 3 })), "{full:?}");

    // A limit of zero stores nothing; the largest limit is no limit.
    let zero = offline.store(&host, "carol", "b@x.org/r", 1, "<message/>", 0).await;
    assert!(matches!(zero, Err(StorageError::LimitReached { limit: 0 })), "{zero:?}");
    assert_eq!(offline.count(&host, "carol").await.expect("count"), 0);
    offline.store(&host, "carol", "b@x.org/r", 1, "<message/>", usize::MAX).await.expect("max");
    assert_eq!(offline.count(&host, "carol").await.expect("count"), 1);
}

/// Many senders storing at once for one user never push the queue past the limit, and exactly
/// `limit` of them succeed.
pub async fn offline_concurrent_limit(storage: &Storage) {
    const SENDERS: usize = 32;
    const LIMIT: usize = 5;
    let host: Arc<str> = unique_host("offline-concurrent").into();

    let mut tasks = JoinSet::new();
    for n in 0..SENDERS {
        let offline = storage.offline.clone();
        let host = host.clone();
        tasks.spawn(async move {
            let from = format!("sender{n}@x.org/r");
            offline.store(&host, "alice", &from, n as i64, "<message/>", LIMIT).await
        });
    }
    let (mut stored, mut refused) = (Vec::new(), 0);
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("store task panicked") {
            Ok(id) => stored.push(id),
            Err(StorageError::LimitReached { limit: LIMIT }) => refused += 1,
            Err(other) => panic!("concurrent store failed: {other:?}"),
        }
    }
    assert_eq!(stored.len(), LIMIT, "exactly the limit is stored");
    assert_eq!(refused, SENDERS - LIMIT);
    assert_eq!(offline_count(storage, &host).await, LIMIT as u64);

    let mut fetched: Vec<i64> =
        storage.offline.fetch(&host, "alice").await.expect("fetch").iter().map(|m| m.id).collect();
    stored.sort_unstable();
    fetched.sort_unstable();
    assert_eq!(fetched, stored, "the ids returned are the ids stored");
}

/// Count of alice's queue on `host`.
async fn offline_count(storage: &Storage, host: &str) -> u64 {
    storage.offline.count(host, "alice").await.expect("count")
}

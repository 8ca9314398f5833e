//! Checks of [`crate::UserStore`], including the cascade of `remove_user` into the other stores.

use super::{credentials, unique_host};
use crate::{LastActivity, RosterItem, Storage, StorageError};

/// Create, duplicate, get, set, exists and remove of one account.
pub async fn users_crud(storage: &Storage) {
    let users = &storage.users;
    let host = unique_host("users-crud");
    let other_host = unique_host("users-crud-other");

    assert_eq!(users.get_credentials(&host, "alice").await.expect("get absent"), None);
    assert!(!users.user_exists(&host, "alice").await.expect("exists absent"));

    users.create_user(&host, "alice", &credentials(1)).await.expect("create");
    assert!(users.user_exists(&host, "alice").await.expect("exists"));
    assert_eq!(
        users.get_credentials(&host, "alice").await.expect("get"),
        Some(credentials(1)),
        "credentials read back as written"
    );

    let duplicate = users.create_user(&host, "alice", &credentials(2)).await;
    assert!(
        matches!(duplicate, Err(StorageError::AlreadyExists)),
        "duplicate create: {duplicate:?}"
    );
    assert_eq!(
        users.get_credentials(&host, "alice").await.expect("get after duplicate"),
        Some(credentials(1)),
        "a refused duplicate leaves the account alone"
    );

    // The same username on another host and another username on the same host are distinct.
    users.create_user(&other_host, "alice", &credentials(3)).await.expect("other host");
    users.create_user(&host, "alice2", &credentials(4)).await.expect("other user");
    assert_eq!(users.get_credentials(&host, "alice").await.expect("get"), Some(credentials(1)));
    assert_eq!(
        users.get_credentials(&other_host, "alice").await.expect("get other host"),
        Some(credentials(3))
    );

    users.set_credentials(&host, "alice", &credentials(5)).await.expect("set");
    assert_eq!(users.get_credentials(&host, "alice").await.expect("get"), Some(credentials(5)));
    assert_eq!(
        users.get_credentials(&other_host, "alice").await.expect("get other host"),
        Some(credentials(3)),
        "set touches one account only"
    );
    let missing = users.set_credentials(&host, "nobody", &credentials(6)).await;
    assert!(matches!(missing, Err(StorageError::NotFound)), "set absent: {missing:?}");
    assert!(!users.user_exists(&host, "nobody").await.expect("set absent creates nothing"));

    // Extreme but valid values survive: empty salt and keys, the largest iteration count.
    let mut edge = credentials(7);
    edge.sha1.salt.clear();
    edge.sha1.stored_key.clear();
    edge.sha256.iterations = u32::MAX;
    users.set_credentials(&host, "alice2", &edge).await.expect("set edge");
    assert_eq!(users.get_credentials(&host, "alice2").await.expect("get edge"), Some(edge));

    users.remove_user(&host, "alice").await.expect("remove");
    assert!(!users.user_exists(&host, "alice").await.expect("exists after remove"));
    assert_eq!(users.get_credentials(&host, "alice").await.expect("get after remove"), None);
    let again = users.remove_user(&host, "alice").await;
    assert!(matches!(again, Err(StorageError::NotFound)), "remove absent: {again:?}");
    assert!(users.user_exists(&other_host, "alice").await.expect("other host kept"));
    assert!(users.user_exists(&host, "alice2").await.expect("other user kept"));

    // A removed username can be registered again.
    users.create_user(&host, "alice", &credentials(8)).await.expect("create again");
    assert_eq!(users.get_credentials(&host, "alice").await.expect("get"), Some(credentials(8)));
}

/// `list_users` is sorted and per host; `count_users` agrees with it.
pub async fn users_list_and_count(storage: &Storage) {
    let users = &storage.users;
    let host = unique_host("users-list");
    let other_host = unique_host("users-list-other");

    assert_eq!(users.list_users(&host).await.expect("list empty"), Vec::<String>::new());
    assert_eq!(users.count_users(&host).await.expect("count empty"), 0);

    // Created out of order, with non-ASCII names: the order is by UTF-8 bytes, as `str`.
    let names = ["mallory", "bob", "zoë", "alice", "émile", "bob2", "Carol"];
    for (seed, name) in names.iter().enumerate() {
        users.create_user(&host, name, &credentials(seed as u8)).await.expect("create");
    }
    users.create_user(&other_host, "aaron", &credentials(99)).await.expect("create other");

    let mut expected: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(users.list_users(&host).await.expect("list"), expected);
    assert_eq!(users.count_users(&host).await.expect("count"), names.len() as u64);
    assert_eq!(users.list_users(&other_host).await.expect("list other"), vec!["aaron"]);
    assert_eq!(users.count_users(&other_host).await.expect("count other"), 1);

    users.remove_user(&host, "bob").await.expect("remove");
    expected.retain(|n| n != "bob");
    assert_eq!(users.list_users(&host).await.expect("list after remove"), expected);
    assert_eq!(users.count_users(&host).await.expect("count after remove"), expected.len() as u64);
}

/// `remove_user` takes the user's roster, roster version, offline messages and last activity
/// with it, and nothing of anybody else's.
pub async fn users_remove_cascades(storage: &Storage) {
    let host = unique_host("users-cascade");
    let contact = RosterItem {
        jid: "contact@example.org".to_owned(),
        in_roster: true,
        ..RosterItem::default()
    };
    let last = LastActivity { seconds: 1_700_000_000, status: "gone".to_owned() };
    for name in ["victim", "bystander"] {
        storage.users.create_user(&host, name, &credentials(1)).await.expect("create");
        storage.roster.put_item(&host, name, &contact).await.expect("put");
        storage.offline.store(&host, name, "a@b/c", 1, "<message/>", 10).await.expect("store");
        storage.last.set_last(&host, name, &last).await.expect("set last");
    }

    storage.users.remove_user(&host, "victim").await.expect("remove");

    assert_eq!(storage.roster.get_items(&host, "victim").await.expect("roster"), vec![]);
    assert_eq!(storage.roster.count_items(&host, "victim").await.expect("count"), 0);
    assert_eq!(storage.roster.version(&host, "victim").await.expect("version"), "0");
    assert_eq!(storage.offline.fetch(&host, "victim").await.expect("offline"), vec![]);
    assert_eq!(storage.offline.count(&host, "victim").await.expect("offline count"), 0);
    assert_eq!(storage.last.get_last(&host, "victim").await.expect("last"), None);

    assert_eq!(
        storage.roster.get_items(&host, "bystander").await.expect("roster"),
        vec![contact.clone()]
    );
    assert_eq!(storage.roster.version(&host, "bystander").await.expect("version"), "1");
    assert_eq!(storage.offline.count(&host, "bystander").await.expect("offline count"), 1);
    assert_eq!(storage.last.get_last(&host, "bystander").await.expect("last"), Some(last));

    // A failed removal (no such account) removes nothing else either.
    storage.roster.put_item(&host, "ghost", &contact).await.expect("put ghost");
    let missing = storage.users.remove_user(&host, "ghost").await;
    assert!(matches!(missing, Err(StorageError::NotFound)), "remove absent: {missing:?}");
    assert_eq!(storage.roster.count_items(&host, "ghost").await.expect("ghost roster"), 1);
}

/// Many registrations of one name at once (two nodes, or two in-band registrations): exactly
/// one succeeds, every other one gets `AlreadyExists` (not a backend error), and the account
/// holds the winner's credentials. Then removals and re-creations of one name at once leave a
/// consistent account: it exists exactly when the last successful call was a create.
pub async fn users_concurrent_create(storage: &Storage) {
    const WRITERS: u8 = 16;
    let host: std::sync::Arc<str> = unique_host("users-concurrent").into();

    let mut tasks = tokio::task::JoinSet::new();
    for seed in 0..WRITERS {
        let users = storage.users.clone();
        let host = host.clone();
        tasks.spawn(
            async move { (seed, users.create_user(&host, "alice", &credentials(seed)).await) },
        );
    }
    let (mut winners, mut refused) = (Vec::new(), 0);
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("create task panicked") {
            (seed, Ok(())) => winners.push(seed),
            (_, Err(StorageError::AlreadyExists)) => refused += 1,
            (_, Err(other)) => panic!("concurrent create failed: {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one create wins: {winners:?}");
    assert_eq!(refused, usize::from(WRITERS) - 1);
    assert_eq!(
        storage.users.get_credentials(&host, "alice").await.expect("get"),
        Some(credentials(winners[0])),
        "the account holds the winner's credentials"
    );
    assert_eq!(storage.users.count_users(&host).await.expect("count"), 1);

    // Removes racing creates: whatever the interleaving, each call either succeeds or fails
    // with the expected "not there" / "already there", never with a backend error.
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..WRITERS {
        let users = storage.users.clone();
        let host = host.clone();
        tasks.spawn(async move {
            if n % 2 == 0 {
                match users.remove_user(&host, "alice").await {
                    Ok(()) | Err(StorageError::NotFound) => {}
                    Err(other) => panic!("concurrent remove failed: {other:?}"),
                }
            } else {
                match users.create_user(&host, "alice", &credentials(n)).await {
                    Ok(()) | Err(StorageError::AlreadyExists) => {}
                    Err(other) => panic!("concurrent re-create failed: {other:?}"),
                }
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.expect("task panicked");
    }
    let exists = storage.users.user_exists(&host, "alice").await.expect("exists");
    let count = storage.users.count_users(&host).await.expect("count");
    assert_eq!(count, u64::from(exists), "exists and count agree");
    let creds = storage.users.get_credentials(&host, "alice").await.expect("get");
    assert_eq!(creds.is_some(), exists, "credentials present exactly when the account exists");
}

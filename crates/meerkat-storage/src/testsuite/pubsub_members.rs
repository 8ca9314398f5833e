//! Conformance checks of [`crate::PubsubMemberStore`].

use super::unique_host;
use crate::{Storage, StorageError};

fn s(a: &str, b: &str) -> (String, String) {
    (a.to_owned(), b.to_owned())
}

/// Subscriptions: set, update, limit, list per node and per account, remove, and gone with
/// their node.
pub async fn pubsub_subscriptions(storage: &Storage) {
    let m = &storage.pubsub_members;
    let service = format!("pubsub.{}", unique_host("subs"));
    let missing = m.set_subscription(&service, "nope", "a@h", "subscribed", 10).await;
    assert!(matches!(missing, Err(StorageError::NotFound)), "{missing:?}");
    for node in ["n1", "n2"] {
        storage.pubsub.create_node(&service, node, &[], 10).await.expect("create");
    }
    m.set_subscription(&service, "n1", "b@h", "pending", 2).await.expect("b");
    m.set_subscription(&service, "n1", "a@h/r", "subscribed", 2).await.expect("a/r");
    let full = m.set_subscription(&service, "n1", "c@h", "subscribed", 2).await;
    assert!(matches!(full, Err(StorageError::LimitReached { limit: 2 })), "{full:?}");
    m.set_subscription(&service, "n1", "b@h", "subscribed", 2).await.expect("update at limit");
    m.set_subscription(&service, "n2", "a@h", "subscribed", 2).await.expect("a on n2");
    assert_eq!(
        m.node_subscriptions(&service, "n1").await.expect("list"),
        vec![s("a@h/r", "subscribed"), s("b@h", "subscribed")]
    );
    assert_eq!(
        m.subscriptions_of(&service, "a@h").await.expect("of a"),
        vec![
            ("n1".to_owned(), "a@h/r".to_owned(), "subscribed".to_owned()),
            ("n2".to_owned(), "a@h".to_owned(), "subscribed".to_owned())
        ]
    );
    assert!(m.subscriptions_of("other", "a@h").await.expect("other").is_empty());
    assert!(m.remove_subscription(&service, "n1", "a@h/r").await.expect("rm"));
    assert!(!m.remove_subscription(&service, "n1", "a@h/r").await.expect("rm again"));
    assert!(storage.pubsub.delete_node(&service, "n1").await.expect("delete"));
    storage.pubsub.create_node(&service, "n1", &[], 10).await.expect("recreate");
    assert!(m.node_subscriptions(&service, "n1").await.expect("list").is_empty());
}

/// Affiliations: set, change, `none` removes, per node and per JID, gone with their node.
pub async fn pubsub_affiliations(storage: &Storage) {
    let m = &storage.pubsub_members;
    let service = format!("pubsub.{}", unique_host("affs"));
    let missing = m.set_affiliation(&service, "nope", "a@h", "owner").await;
    assert!(matches!(missing, Err(StorageError::NotFound)), "{missing:?}");
    for node in ["n1", "n2"] {
        storage.pubsub.create_node(&service, node, &[], 10).await.expect("create");
    }
    m.set_affiliation(&service, "n1", "a@h", "owner").await.expect("owner");
    m.set_affiliation(&service, "n1", "b@h", "member").await.expect("member");
    m.set_affiliation(&service, "n1", "b@h", "publisher").await.expect("change");
    m.set_affiliation(&service, "n2", "a@h", "outcast").await.expect("outcast");
    assert_eq!(
        m.node_affiliations(&service, "n1").await.expect("list"),
        vec![s("a@h", "owner"), s("b@h", "publisher")]
    );
    assert_eq!(
        m.affiliations_of(&service, "a@h").await.expect("of a"),
        vec![s("n1", "owner"), s("n2", "outcast")]
    );
    m.set_affiliation(&service, "n1", "b@h", "none").await.expect("none");
    assert_eq!(m.node_affiliations(&service, "n1").await.expect("list"), vec![s("a@h", "owner")]);
    assert!(storage.pubsub.delete_node(&service, "n2").await.expect("delete"));
    assert_eq!(m.affiliations_of(&service, "a@h").await.expect("of a"), vec![s("n1", "owner")]);
}

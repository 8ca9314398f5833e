//! Checks of [`crate::PubsubStore`].

use super::{credentials, unique_host};
use crate::{PubsubItem, Storage, StorageError};

fn cfg(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn item(id: &str, at: i64) -> PubsubItem {
    PubsubItem {
        id: id.to_owned(),
        publisher: "alice@example.org".to_owned(),
        published_at_ms: at,
        payload: format!("<entry xmlns='urn:example'>{id} «ü» &amp;</entry>"),
    }
}

/// Create, read, list, configure and delete nodes; services are isolated.
pub async fn pubsub_nodes(storage: &Storage) {
    let ps = &storage.pubsub;
    let service = format!("alice@{}", unique_host("pubsub-nodes"));
    let other = format!("bob@{}", unique_host("pubsub-nodes"));
    assert_eq!(ps.get_node(&service, "n").await.expect("get"), None);
    assert_eq!(ps.list_nodes(&service).await.expect("list"), vec![]);
    let config = cfg(&[
        ("pubsub#access_model", "roster"),
        ("pubsub#roster_groups_allowed", "a"),
        ("pubsub#roster_groups_allowed", "b"),
    ]);
    ps.create_node(&service, "urn:b", &config, 10).await.expect("create");
    ps.create_node(&service, "urn:a", &[], 10).await.expect("create a");
    ps.create_node(&other, "urn:b", &[], 10).await.expect("create other");
    let again = ps.create_node(&service, "urn:b", &[], 10).await;
    assert!(matches!(again, Err(StorageError::AlreadyExists)), "{again:?}");
    let node = ps.get_node(&service, "urn:b").await.expect("get").expect("exists");
    assert_eq!((node.service.as_str(), node.node.as_str()), (service.as_str(), "urn:b"));
    assert_eq!(node.config, config);
    let names: Vec<String> =
        ps.list_nodes(&service).await.expect("list").into_iter().map(|n| n.node).collect();
    assert_eq!(names, ["urn:a", "urn:b"]);
    let new_config = cfg(&[("pubsub#access_model", "open")]);
    ps.set_node_config(&service, "urn:b", &new_config).await.expect("configure");
    assert_eq!(
        ps.get_node(&service, "urn:b").await.expect("get").expect("node").config,
        new_config
    );
    let missing = ps.set_node_config(&service, "nope", &new_config).await;
    assert!(matches!(missing, Err(StorageError::NotFound)), "{missing:?}");
    ps.publish_item(&service, "urn:b", &item("1", 1), 10).await.expect("publish");
    assert!(ps.delete_node(&service, "urn:b").await.expect("delete"));
    assert!(!ps.delete_node(&service, "urn:b").await.expect("delete again"));
    assert_eq!(ps.get_items(&service, "urn:b", None).await.expect("items of deleted"), vec![]);
    // Recreated: no items survive from the deleted node.
    ps.create_node(&service, "urn:b", &[], 10).await.expect("recreate");
    assert_eq!(ps.get_items(&service, "urn:b", None).await.expect("items"), vec![]);
    assert!(ps.get_node(&other, "urn:b").await.expect("other").is_some());
    ps.delete_service(&service).await.expect("delete service");
    assert_eq!(ps.list_nodes(&service).await.expect("list"), vec![]);
    assert_eq!(ps.list_nodes(&other).await.expect("other list").len(), 1);
}

/// Publication order, replacing an id, trimming to `max_items`, retraction, reads by id.
pub async fn pubsub_items(storage: &Storage) {
    let ps = &storage.pubsub;
    let service = format!("alice@{}", unique_host("pubsub-items"));
    let missing = ps.publish_item(&service, "n", &item("1", 1), 10).await;
    assert!(matches!(missing, Err(StorageError::NotFound)), "{missing:?}");
    ps.create_node(&service, "n", &[], 10).await.expect("create");
    ps.create_node(&service, "m", &[], 10).await.expect("create m");
    // Timestamps out of order: publication order wins.
    for (id, at) in [("a", 30), ("b", 10), ("c", 20)] {
        assert_eq!(
            ps.publish_item(&service, "n", &item(id, at), 3).await.expect("pub"),
            Vec::<String>::new()
        );
    }
    ps.publish_item(&service, "m", &item("a", 1), 3).await.expect("pub m");
    let ids = |v: Vec<PubsubItem>| v.into_iter().map(|i| i.id).collect::<Vec<_>>();
    assert_eq!(ids(ps.get_items(&service, "n", None).await.expect("all")), ["a", "b", "c"]);
    assert_eq!(ids(ps.get_items(&service, "n", Some(2)).await.expect("two")), ["b", "c"]);
    // Republishing "a" makes it the newest; no trim needed.
    assert_eq!(
        ps.publish_item(&service, "n", &item("a", 40), 3).await.expect("re"),
        Vec::<String>::new()
    );
    assert_eq!(ids(ps.get_items(&service, "n", None).await.expect("all")), ["b", "c", "a"]);
    // A fourth item beyond max 3 trims the oldest; a lower max trims more.
    assert_eq!(ps.publish_item(&service, "n", &item("d", 50), 3).await.expect("d"), ["b"]);
    assert_eq!(ps.publish_item(&service, "n", &item("e", 60), 2).await.expect("e"), ["c", "a"]);
    assert_eq!(ids(ps.get_items(&service, "n", None).await.expect("all")), ["d", "e"]);
    assert_eq!(ps.get_item(&service, "n", "e").await.expect("get"), Some(item("e", 60)));
    assert_eq!(ps.get_item(&service, "n", "a").await.expect("gone"), None);
    assert!(ps.retract_item(&service, "n", "d").await.expect("retract"));
    assert!(!ps.retract_item(&service, "n", "d").await.expect("retract again"));
    assert_eq!(ids(ps.get_items(&service, "n", None).await.expect("all")), ["e"]);
    // The other node was not touched.
    assert_eq!(ids(ps.get_items(&service, "m", None).await.expect("m")), ["a"]);
}

/// A service cannot create more than `max_nodes` nodes.
pub async fn pubsub_node_limit(storage: &Storage) {
    let ps = &storage.pubsub;
    let service = format!("alice@{}", unique_host("pubsub-limit"));
    ps.create_node(&service, "1", &[], 2).await.expect("1");
    ps.create_node(&service, "2", &[], 2).await.expect("2");
    let third = ps.create_node(&service, "3", &[], 2).await;
    assert!(matches!(third, Err(StorageError::LimitReached { limit: 2 })), "{third:?}");
    assert_eq!(ps.list_nodes(&service).await.expect("list").len(), 2);
}

/// Removing an account removes its PEP service's nodes and items, and nobody else's.
pub async fn pubsub_removed_with_user(storage: &Storage) {
    let host = unique_host("pubsub-user");
    for name in ["victim", "bystander"] {
        storage.users.create_user(&host, name, &credentials(3)).await.expect("create");
        let service = format!("{name}@{host}");
        storage.pubsub.create_node(&service, "n", &[], 10).await.expect("node");
        storage.pubsub.publish_item(&service, "n", &item("x", 1), 10).await.expect("item");
    }
    storage.users.remove_user(&host, "victim").await.expect("remove");
    let victim = format!("victim@{host}");
    assert_eq!(storage.pubsub.list_nodes(&victim).await.expect("list"), vec![]);
    assert_eq!(storage.pubsub.get_items(&victim, "n", None).await.expect("items"), vec![]);
    let bystander = format!("bystander@{host}");
    assert_eq!(storage.pubsub.get_items(&bystander, "n", None).await.expect("items").len(), 1);
}

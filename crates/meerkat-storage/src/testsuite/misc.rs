//! Checks of [`crate::BlockingStore`], [`crate::VcardStore`] and [`crate::PrivateStore`].

use super::{credentials, unique_host};
use crate::{Storage, StorageError, StoredVcard};

fn jids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// Block, duplicates, unblock, unblock-all, the limit, and isolation between users.
pub async fn blocking_crud(storage: &Storage) {
    let b = &storage.misc.blocking;
    let host = unique_host("blocking");
    assert_eq!(b.get_blocklist(&host, "alice").await.expect("empty"), Vec::<String>::new());
    b.block(&host, "alice", &jids(&["z@x.org", "a@x.org/r", "x.org"]), 10).await.expect("block");
    b.block(&host, "alice", &jids(&["a@x.org/r"]), 10).await.expect("duplicate is harmless");
    assert_eq!(
        b.get_blocklist(&host, "alice").await.expect("list"),
        jids(&["a@x.org/r", "x.org", "z@x.org"])
    );
    assert_eq!(b.get_blocklist(&host, "bob").await.expect("other user"), Vec::<String>::new());
    // Past the limit: nothing of the request is stored.
    let over = b.block(&host, "alice", &jids(&["n1@x.org", "n2@x.org"]), 4).await;
    assert!(matches!(over, Err(StorageError::LimitReached { limit: 4 })), "{over:?}");
    assert_eq!(b.get_blocklist(&host, "alice").await.expect("list").len(), 3);
    b.block(&host, "alice", &jids(&["n1@x.org"]), 4).await.expect("up to the limit");
    b.unblock(&host, "alice", &jids(&["x.org", "absent@x.org"])).await.expect("unblock");
    assert_eq!(
        b.get_blocklist(&host, "alice").await.expect("list"),
        jids(&["a@x.org/r", "n1@x.org", "z@x.org"])
    );
    b.block(&host, "bob", &jids(&["q@x.org"]), 10).await.expect("bob");
    b.unblock_all(&host, "alice").await.expect("unblock all");
    assert_eq!(b.get_blocklist(&host, "alice").await.expect("empty"), Vec::<String>::new());
    assert_eq!(b.get_blocklist(&host, "bob").await.expect("bob kept"), jids(&["q@x.org"]));
}

/// Get absent, set, replace (with and without photo), isolation.
pub async fn vcard_crud(storage: &Storage) {
    let v = &storage.misc.vcard;
    let host = unique_host("vcard");
    assert_eq!(v.get_vcard(&host, "alice").await.expect("absent"), None);
    let first = StoredVcard {
        xml: "<vCard xmlns='vcard-temp'><FN>Alice ✓</FN></vCard>".to_owned(),
        photo_sha1: Some("da39a3ee5e6b4b0d3255bfef95601890afd80709".to_owned()),
    };
    v.set_vcard(&host, "alice", &first).await.expect("set");
    assert_eq!(v.get_vcard(&host, "alice").await.expect("get"), Some(first));
    let second = StoredVcard { xml: "<vCard xmlns='vcard-temp'/>".to_owned(), photo_sha1: None };
    v.set_vcard(&host, "alice", &second).await.expect("replace");
    assert_eq!(v.get_vcard(&host, "alice").await.expect("get"), Some(second));
    assert_eq!(v.get_vcard(&host, "bob").await.expect("other"), None);
}

/// Get absent, set, replace, the namespace limit, isolation between namespaces and users.
pub async fn private_crud(storage: &Storage) {
    let p = &storage.misc.private;
    let host = unique_host("private");
    assert_eq!(p.get_private(&host, "alice", "a:b").await.expect("absent"), None);
    p.set_private(&host, "alice", "a:b", "<x xmlns='a:b'>1</x>", 2).await.expect("set");
    p.set_private(&host, "alice", "a:b", "<x xmlns='a:b'>2</x>", 2).await.expect("replace");
    p.set_private(&host, "alice", "c:d", "<y xmlns='c:d'/>", 2).await.expect("second ns");
    let over = p.set_private(&host, "alice", "e:f", "<z xmlns='e:f'/>", 2).await;
    assert!(matches!(over, Err(StorageError::LimitReached { limit: 2 })), "{over:?}");
    // Replacing an existing namespace is allowed at the limit.
    p.set_private(&host, "alice", "c:d", "<y xmlns='c:d'>3</y>", 2).await.expect("at limit");
    assert_eq!(
        p.get_private(&host, "alice", "a:b").await.expect("get"),
        Some("<x xmlns='a:b'>2</x>".to_owned())
    );
    assert_eq!(p.get_private(&host, "alice", "e:f").await.expect("refused"), None);
    assert_eq!(p.get_private(&host, "bob", "a:b").await.expect("other user"), None);
}

/// Removing a user removes their blocklist, vCard and private XML, and only theirs.
pub async fn misc_remove_cascades(storage: &Storage) {
    let host = unique_host("misc-cascade");
    let card = StoredVcard { xml: "<vCard xmlns='vcard-temp'/>".to_owned(), photo_sha1: None };
    for name in ["victim", "bystander"] {
        storage.users.create_user(&host, name, &credentials(2)).await.expect("create");
        storage.misc.blocking.block(&host, name, &jids(&["b@x.org"]), 10).await.expect("block");
        storage.misc.vcard.set_vcard(&host, name, &card).await.expect("vcard");
        storage.misc.private.set_private(&host, name, "a:b", "<x/>", 10).await.expect("private");
    }
    storage.users.remove_user(&host, "victim").await.expect("remove");
    assert!(storage.misc.blocking.get_blocklist(&host, "victim").await.expect("bl").is_empty());
    assert_eq!(storage.misc.vcard.get_vcard(&host, "victim").await.expect("vcard"), None);
    assert_eq!(storage.misc.private.get_private(&host, "victim", "a:b").await.expect("p"), None);
    assert_eq!(storage.misc.blocking.get_blocklist(&host, "bystander").await.expect("bl").len(), 1);
    assert!(storage.misc.vcard.get_vcard(&host, "bystander").await.expect("vcard").is_some());
    assert!(storage
        .misc
        .private
        .get_private(&host, "bystander", "a:b")
        .await
        .expect("p")
        .is_some());
}

//! Conformance checks of [`crate::UploadStore`].

use super::unique_host;
use crate::{Storage, StorageError, UploadedFile};

fn file(id: &str, host: &str, user: &str, node: &str, size: u64, created_s: i64) -> UploadedFile {
    UploadedFile {
        id: id.into(),
        host: host.into(),
        username: user.into(),
        node: node.into(),
        filename: "très cool.jpg".into(),
        content_type: "image/jpeg".into(),
        size_bytes: size,
        created_s,
    }
}

/// Files are recorded, read back, counted per owner, refused beyond the quota or when the
/// id is taken, listed by age per node, and removed.
pub async fn upload_files_and_quota(storage: &Storage) {
    let s = &storage.upload;
    let host = unique_host("upload");
    let id = |n: u32| format!("{host}-{n}");
    assert_eq!(s.used_bytes(&host, "alice").await.expect("used"), 0);
    let a1 = file(&id(1), &host, "alice", "n1", 600, 100);
    s.add_file(&a1, 1000).await.expect("first fits");
    assert_eq!(s.get_file(&id(1)).await.expect("get"), Some(a1.clone()));
    assert_eq!(s.get_file(&id(99)).await.expect("get"), None);
    let dup = s.add_file(&file(&id(1), &host, "alice", "n1", 1, 100), 1000).await;
    assert!(matches!(dup, Err(StorageError::AlreadyExists)), "{dup:?}");
    let over = s.add_file(&file(&id(2), &host, "alice", "n1", 401, 100), 1000).await;
    assert!(matches!(over, Err(StorageError::LimitReached { limit: 1000 })), "{over:?}");
    assert_eq!(s.get_file(&id(2)).await.expect("get"), None, "nothing stored over quota");
    s.add_file(&file(&id(3), &host, "alice", "n2", 400, 200), 1000).await.expect("exactly fits");
    s.add_file(&file(&id(4), &host, "bob", "n1", 900, 50), 1000).await.expect("bob's own quota");
    assert_eq!(s.used_bytes(&host, "alice").await.expect("used"), 1000);
    assert_eq!(s.used_bytes(&host, "bob").await.expect("used"), 900);
    // Per node, oldest first, up to the cut-off and the limit. Node names are shared by every
    // test on the database, so only this test's ids are looked at.
    let mine = |v: Vec<UploadedFile>| -> Vec<String> {
        v.into_iter().filter(|f| f.host == host).map(|f| f.id).collect()
    };
    assert_eq!(mine(s.expired_files("n1", 100, 1000).await.expect("exp")), vec![id(4), id(1)]);
    assert_eq!(mine(s.expired_files("n1", 99, 1000).await.expect("exp")), vec![id(4)]);
    assert_eq!(mine(s.expired_files("n2", 1000, 1000).await.expect("exp")), vec![id(3)]);
    assert!(s.remove_file(&id(1)).await.expect("remove"));
    assert!(!s.remove_file(&id(1)).await.expect("remove again"));
    assert_eq!(s.used_bytes(&host, "alice").await.expect("used"), 400);
}

/// Concurrent uploads of one user never pass the quota together.
pub async fn upload_concurrent_quota(storage: &Storage) {
    let host = unique_host("upload-race");
    let tasks: Vec<_> = (0..8)
        .map(|n| {
            let storage = storage.clone();
            let f = file(&format!("{host}-{n}"), &host, "alice", "n1", 300, 1);
            tokio::spawn(async move { storage.upload.add_file(&f, 1000).await })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.expect("join") {
            Ok(()) => ok += 1,
            Err(StorageError::LimitReached { .. }) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(ok, 3, "3 x 300 fit in 1000, a 4th does not");
    assert_eq!(storage.upload.used_bytes(&host, "alice").await.expect("used"), 900);
}

//! SQLite backend tests: the conformance suite on a temporary database file, plus what only
//! a file-backed backend has (reopening, migrations, connection settings, corrupted rows).

use super::{open, SqliteStore, MIGRATOR};
use crate::testsuite;
use crate::{LastActivity, RosterItem, Storage, StorageError};
use sqlx::Row;
use std::path::PathBuf;
use tempfile::TempDir;

/// A fresh database in its own temporary directory (deleted when the `TempDir` drops).
async fn temp_storage() -> (TempDir, Storage) {
    let dir = tempfile::tempdir().expect("temp dir");
    let storage = open(&dir.path().join("meerkat.db")).await.expect("open");
    (dir, storage)
}

/// Declares one test per conformance function, each on its own database.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let (_dir, storage) = temp_storage().await;
            testsuite::$name(&storage).await;
        }
    )*};
}

conformance!(
    users_crud,
    users_list_and_count,
    users_remove_cascades,
    users_concurrent_create,
    roster_crud,
    roster_versions,
    roster_fields_round_trip,
    roster_isolation,
    roster_concurrent_versions,
    offline_queue,
    offline_limit,
    offline_concurrent_limit,
    last_activity,
    archive_append_and_query,
    archive_paging,
    archive_filters,
    archive_prefs,
    archive_removed_with_user,
    pubsub_nodes,
    pubsub_items,
    pubsub_node_limit,
    pubsub_removed_with_user,
    blocking_crud,
    vcard_crud,
    private_crud,
    misc_remove_cascades,
    upload_files_and_quota,
    upload_concurrent_quota,
    pubsub_subscriptions,
    pubsub_affiliations,
    muc_rooms_crud,
    muc_archive_tombstone,
    muc_room_claims,
);

/// The whole suite on one database, as a server's data accumulates: checks that the suite's
/// functions do not depend on an empty database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_suite_on_one_database() {
    let (_dir, storage) = temp_storage().await;
    testsuite::run_all(&storage).await;
    testsuite::run_all(&storage).await;
}

/// Rows written before closing the pool are read back after reopening the file, and the
/// migrations, already applied, are skipped.
#[tokio::test]
async fn data_survives_reopen_and_migrations_are_idempotent() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("meerkat.db");
    let host = "reopen.test";
    let item = RosterItem {
        jid: "bob@x.org".to_owned(),
        name: Some("Bob".to_owned()),
        groups: vec!["A".to_owned(), "B".to_owned()],
        in_roster: true,
        ..RosterItem::default()
    };
    let last = LastActivity { seconds: 42, status: "bye".to_owned() };
    let offline_id;
    {
        let store = SqliteStore::open(&path).await.expect("first open");
        let storage = storage_of(&store);
        storage.users.create_user(host, "alice", &testsuite::credentials(1)).await.expect("user");
        storage.roster.put_item(host, "alice", &item).await.expect("roster");
        offline_id =
            storage.offline.store(host, "alice", "b@x/r", 7, "<m/>", 10).await.expect("offline");
        storage.last.set_last(host, "alice", &last).await.expect("last");
        store.close().await;
    }
    for round in 0..2 {
        let store = SqliteStore::open(&path).await.expect("reopen");
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(&store.pool)
            .await
            .expect("migrations table");
        assert_eq!(applied, MIGRATOR.migrations.len() as i64, "round {round}: applied once");

        let storage = storage_of(&store);
        assert_eq!(
            storage.users.get_credentials(host, "alice").await.expect("get"),
            Some(testsuite::credentials(1))
        );
        assert_eq!(
            storage.roster.get_items(host, "alice").await.expect("roster"),
            vec![item.clone()]
        );
        assert_eq!(storage.roster.version(host, "alice").await.expect("version"), "1");
        let queue = storage.offline.fetch(host, "alice").await.expect("offline");
        assert_eq!(queue.iter().map(|m| m.id).collect::<Vec<_>>(), vec![offline_id]);
        assert_eq!(storage.last.get_last(host, "alice").await.expect("last"), Some(last.clone()));
        store.close().await;
    }
}

/// A file migrated by a newer build (a migration this build does not know) is refused rather
/// than used with a schema the code does not expect.
#[tokio::test]
async fn unknown_applied_migration_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("meerkat.db");
    let store = SqliteStore::open(&path).await.expect("open");
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'from the future', TRUE, x'00', 0)",
    )
    .execute(&store.pool)
    .await
    .expect("insert future migration");
    store.close().await;
    let reopened = open(&path).await;
    assert!(matches!(reopened, Err(StorageError::Backend(_))), "newer schema accepted");
}

/// Two pools opening one new file at once (two processes, or tests sharing a file) both switch
/// it to WAL and migrate it without error, and see each other's writes. Repeated because the
/// race it guards against is timing-dependent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pools_open_one_new_file_at_once() {
    for round in 0..10 {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("meerkat.db");
        let (first, second) = tokio::join!(open(&path), open(&path));
        let first = first.unwrap_or_else(|e| panic!("round {round}: first open: {e}"));
        let second = second.unwrap_or_else(|e| panic!("round {round}: second open: {e}"));
        first.users.create_user("h", "alice", &testsuite::credentials(1)).await.expect("create");
        assert!(second.users.user_exists("h", "alice").await.expect("exists"));
    }
}

/// Missing parent directories are created.
#[tokio::test]
async fn creates_missing_parent_directories() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path: PathBuf = dir.path().join("data").join("nested").join("meerkat.db");
    let storage = open(&path).await.expect("open");
    assert_eq!(storage.users.count_users("h").await.expect("count"), 0);
    assert!(path.is_file(), "database file created at {}", path.display());
}

/// A path that cannot be a database is an error, not a panic.
#[tokio::test]
async fn unusable_path_is_a_backend_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    // The path is an existing directory.
    let result = open(dir.path()).await;
    assert!(matches!(result, Err(StorageError::Backend(_))), "directory as file");
    // The parent "directory" is a regular file.
    let file = dir.path().join("file");
    std::fs::write(&file, b"not a directory").expect("write");
    let result = open(&file.join("meerkat.db")).await;
    assert!(matches!(result, Err(StorageError::Backend(_))), "file as directory");
}

/// Every pooled connection runs with the settings the module documentation promises.
#[tokio::test]
async fn connection_settings() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("meerkat.db")).await.expect("open");
    let mut conn = store.pool.acquire().await.expect("connection");
    let pragma = |name: &'static str| format!("PRAGMA {name}");
    let text: String =
        sqlx::query_scalar(&pragma("journal_mode")).fetch_one(&mut *conn).await.expect("mode");
    assert_eq!(text.to_lowercase(), "wal");
    for (name, expected) in [("synchronous", 1), ("foreign_keys", 1), ("busy_timeout", 5000)] {
        let value: i64 =
            sqlx::query_scalar(&pragma(name)).fetch_one(&mut *conn).await.expect("pragma");
        assert_eq!(value, expected, "PRAGMA {name}");
    }
    assert_eq!(store.pool.options().get_max_connections(), super::POOL_MAX_CONNECTIONS);
}

/// The hot reads use the primary key or the offline index, not a table scan.
#[tokio::test]
async fn hot_queries_use_indexes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("meerkat.db")).await.expect("open");
    let queries = [
        "SELECT sha1_salt FROM users WHERE host = 'h' AND username = 'u'",
        "SELECT jid, groups FROM roster_items WHERE host = 'h' AND username = 'u' ORDER BY jid",
        "SELECT version FROM roster_versions WHERE host = 'h' AND username = 'u'",
        "SELECT id, stanza FROM offline_messages WHERE host = 'h' AND username = 'u' ORDER BY id",
        "SELECT COUNT(*) FROM offline_messages WHERE host = 'h' AND username = 'u'",
    ];
    for query in queries {
        let plan = sqlx::query(&format!("EXPLAIN QUERY PLAN {query}"))
            .fetch_all(&store.pool)
            .await
            .expect("plan");
        let details: Vec<String> =
            plan.iter().map(|row| row.try_get::<String, _>("detail").expect("detail")).collect();
        assert!(
            details.iter().all(|d| d.starts_with("SEARCH") && !d.contains("TEMP B-TREE")),
            "{query}: {details:?}"
        );
    }
}

/// Rows the code never writes (a damaged file, a hand edit) come back as backend errors.
#[tokio::test]
async fn corrupted_rows_are_backend_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("meerkat.db")).await.expect("open");
    let storage = storage_of(&store);
    storage.users.create_user("h", "alice", &testsuite::credentials(1)).await.expect("create");
    let item = RosterItem { jid: "bob@x.org".to_owned(), in_roster: true, ..Default::default() };
    storage.roster.put_item("h", "alice", &item).await.expect("put");

    let corruptions = [
        "UPDATE users SET sha256_iterations = 4294967296",
        "UPDATE users SET sha1_iterations = -1",
        "UPDATE users SET sha1_iterations = 'many'",
    ];
    for corruption in corruptions {
        storage.users.set_credentials("h", "alice", &testsuite::credentials(1)).await.expect("fix");
        sqlx::query(corruption).execute(&store.pool).await.expect("corrupt");
        let result = storage.users.get_credentials("h", "alice").await;
        assert!(matches!(result, Err(StorageError::Backend(_))), "{corruption}: {result:?}");
    }

    // The CHECK constraints keep bad enumerations out; switch them off to simulate damage.
    let mut conn = store.pool.acquire().await.expect("connection");
    sqlx::query("PRAGMA ignore_check_constraints = ON").execute(&mut *conn).await.expect("off");
    for corruption in [
        "UPDATE roster_items SET groups = 'not json'",
        "UPDATE roster_items SET groups = '[1, 2]'",
        "UPDATE roster_items SET groups = '[]', subscription = 'sometimes'",
        "UPDATE roster_items SET subscription = 'none', ask = 'please'",
        "UPDATE roster_items SET ask = 'none', name = x'ff'",
    ] {
        sqlx::query(corruption).execute(&mut *conn).await.expect("corrupt");
        let items = storage.roster.get_items("h", "alice").await;
        assert!(matches!(items, Err(StorageError::Backend(_))), "{corruption}: {items:?}");
        let one = storage.roster.get_item("h", "alice", "bob@x.org").await;
        assert!(matches!(one, Err(StorageError::Backend(_))), "{corruption}: {one:?}");
    }
    sqlx::query("PRAGMA ignore_check_constraints = OFF").execute(&mut *conn).await.expect("on");
}

/// The bundle the public [`open`] would build, over a store the test keeps a handle to.
fn storage_of(store: &SqliteStore) -> Storage {
    let store = std::sync::Arc::new(store.clone());
    let misc = crate::MiscStores {
        blocking: store.clone(),
        vcard: store.clone(),
        private: store.clone(),
        muc: store.clone(),
    };
    Storage {
        users: store.clone(),
        roster: store.clone(),
        offline: store.clone(),
        last: store.clone(),
        archive: store.clone(),
        pubsub: store.clone(),
        misc,
        cluster: std::sync::Arc::new(crate::cluster::NoCluster),
        upload: store.clone(),
        pubsub_members: store,
    }
}

/// SQLite cannot hold cluster rows: every call says the cluster needs PostgreSQL.
#[tokio::test]
async fn cluster_store_needs_postgres() {
    let (_dir, storage) = temp_storage().await;
    let e = storage.cluster.register_node("n", "127.0.0.1:1", 1).await.expect_err("refused");
    assert!(e.to_string().contains("cluster needs PostgreSQL"), "{e}");
    assert!(storage.cluster.nodes().await.is_err());
    assert!(storage.cluster.add_sessions("n", &["a@h/r".into()], 1).await.is_err());
}

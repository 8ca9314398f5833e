//! PostgreSQL backend tests: the conformance suite, each function on a database of its own in
//! the test binary's shared throwaway server ([`PgServer::shared`]), plus what only this
//! backend has (migrations under concurrency, unreachable servers, reconnection).
//!
//! These tests need PostgreSQL's server binaries; without them they fail with a message saying
//! how to install them (see [`crate::testsuite::INSTALL_HINT`]).

use super::{open, redact_url, Health, PgSettings, PgStore, MIGRATOR, RETEST_IDLE_AFTER};
use crate::testsuite::{self, PgServer};
use crate::{RosterItem, Storage, StorageError};
use std::time::Duration;

/// Settings for `url` with a small pool, as a node would use.
fn settings(url: String) -> PgSettings {
    PgSettings { url, password: None, pool_size: 8, connect_timeout: Duration::from_secs(10) }
}

/// A fresh database in the shared server.
async fn temp_storage(label: &str) -> Storage {
    let server = tokio::task::block_in_place(PgServer::shared);
    let url = server.create_database(label).await;
    open(&settings(url)).await.expect("open")
}

/// Declares one test per conformance function, each on its own database.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let storage = temp_storage(stringify!($name)).await;
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
    cluster_nodes_and_sessions,
    cluster_claims,
    cluster_one_claimer,
);

/// The whole suite twice on one database, as a server's data accumulates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_suite_on_one_database() {
    let storage = temp_storage("whole_suite").await;
    testsuite::run_all(&storage).await;
    testsuite::run_all(&storage).await;
}

/// Two nodes sharing one database: one node's writes are seen by the other, and the races of
/// the suite hold across two pools (two nodes), not only within one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_one_database() {
    let server = tokio::task::block_in_place(PgServer::shared);
    let url = server.create_database("two_nodes").await;
    // Both open a brand-new database at once: sqlx's migration lock lets one migrate.
    let s = settings(url.clone());
    let (first, second) = tokio::join!(open(&s), open(&s));
    let (first, second) = (first.expect("first node"), second.expect("second node"));
    first.users.create_user("h", "alice", &testsuite::credentials(1)).await.expect("create");
    assert!(second.users.user_exists("h", "alice").await.expect("exists"));
    let dup = second.users.create_user("h", "alice", &testsuite::credentials(2)).await;
    assert!(matches!(dup, Err(StorageError::AlreadyExists)), "{dup:?}");

    // The offline limit holds with senders on both nodes.
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..20 {
        let offline = if n % 2 == 0 { first.offline.clone() } else { second.offline.clone() };
        tasks.spawn(async move { offline.store("h", "bob", "x@y/z", n, "<message/>", 7).await });
    }
    let mut stored = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("task") {
            Ok(_) => stored += 1,
            Err(StorageError::LimitReached { limit: 7 }) => {}
            Err(other) => panic!("store failed: {other:?}"),
        }
    }
    assert_eq!(stored, 7);
    assert_eq!(first.offline.count("h", "bob").await.expect("count"), 7);

    // Roster writes from both nodes each get their own version.
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..10 {
        let roster = if n % 2 == 0 { first.roster.clone() } else { second.roster.clone() };
        tasks.spawn(async move {
            let item = RosterItem { jid: "c@x.org".into(), in_roster: true, ..Default::default() };
            roster.put_item("h", "carol", &item).await
        });
    }
    let mut versions = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        versions.push(joined.expect("task").expect("put").parse::<u64>().expect("number"));
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=10).collect::<Vec<_>>());

    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(&PgStore::open(&settings(url)).await.expect("third open").pool)
        .await
        .expect("migrations table");
    assert_eq!(applied, MIGRATOR.migrations.len() as i64, "migrations applied once");
}

/// A server that does not answer is a clear error within the connect timeout, naming the URL
/// without its password.
#[tokio::test]
async fn unreachable_server_is_a_backend_error() {
    // A port nothing listens on: bind, read, drop.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let mut s = settings(format!("postgres://meerkat:secret@127.0.0.1:{port}/meerkat"));
    s.connect_timeout = Duration::from_millis(500);
    let started = std::time::Instant::now();
    let error = open(&s).await.err().expect("open must fail");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    let text = error.to_string();
    assert!(text.contains("connecting to PostgreSQL"), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(!text.contains("secret"), "password in error: {text}");

    let bad = open(&settings("mysql://x".into())).await.err().expect("bad URL");
    assert!(bad.to_string().contains("invalid PostgreSQL URL"), "{bad}");
}

/// Pooled connections skip sqlx's test before use unless they idled long, or since before a
/// connection was last lost (the server may have restarted meanwhile).
#[test]
fn idle_connections_are_retested_after_a_lost_connection() {
    let health = Health::default();
    let short = Duration::from_millis(5);
    assert!(!health.must_retest(short), "busy connection tested");
    assert!(health.must_retest(RETEST_IDLE_AFTER), "long-idle connection not tested");
    std::thread::sleep(Duration::from_millis(20));
    health.failed("test", &sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into()));
    // Idle since before the failure (since `health` was made), however long this thread waits.
    assert!(health.must_retest(health.since.elapsed()), "idle across the failure, not tested");
    std::thread::sleep(Duration::from_millis(20));
    assert!(!health.must_retest(short), "used after the failure, tested again");
    health.failed("test", &sqlx::Error::RowNotFound);
    assert!(!health.must_retest(short), "a query error is not a lost connection");
}

/// After the server restarts under an open pool, requests fail while it is down and work again
/// once it is back, without reopening anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_reconnects_after_restart() {
    let server = tokio::task::block_in_place(PgServer::start).expect("own server");
    let url = server.create_database("restart").await;
    let mut s = settings(url);
    s.connect_timeout = Duration::from_secs(2);
    let storage = open(&s).await.expect("open");
    storage.users.create_user("h", "alice", &testsuite::credentials(1)).await.expect("create");

    tokio::task::block_in_place(|| server.stop());
    let down = storage.users.user_exists("h", "alice").await;
    assert!(matches!(down, Err(StorageError::Backend(_))), "while down: {down:?}");
    tokio::task::block_in_place(|| server.restart()).expect("restart");

    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match storage.users.get_credentials("h", "alice").await {
            Ok(found) => {
                assert_eq!(found, Some(testsuite::credentials(1)), "data survives the restart");
                break;
            }
            Err(e) if std::time::Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("no recovery after restart: {e}; log:\n{}", server.log()),
        }
    }
    storage.users.create_user("h", "bob", &testsuite::credentials(2)).await.expect("write after");
}

/// Passwords never show in logs or `Debug` output.
#[test]
fn passwords_are_redacted() {
    assert_eq!(
        redact_url("postgres://meerkat:s3cret@db.example:5432/meerkat?sslmode=require"),
        "postgres://meerkat:<redacted>@db.example:5432/meerkat?sslmode=require"
    );
    assert_eq!(redact_url("postgres://meerkat@db/x"), "postgres://meerkat@db/x");
    assert_eq!(redact_url("postgres://db/x"), "postgres://db/x");
    assert_eq!(redact_url("not a url"), "not a url");
    let s = PgSettings {
        url: "postgres://u:pw1@h/d".into(),
        password: Some("pw2".into()),
        pool_size: 1,
        connect_timeout: Duration::from_secs(1),
    };
    let shown = format!("{s:?}");
    assert!(!shown.contains("pw1") && !shown.contains("pw2"), "{shown}");
}

/// Rows the code never writes come back as backend errors, not panics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_rows_are_backend_errors() {
    let server = tokio::task::block_in_place(PgServer::shared);
    let store =
        PgStore::open(&settings(server.create_database("corrupt").await)).await.expect("open");
    let storage = store.clone().into_storage();
    let item = RosterItem { jid: "bob@x.org".to_owned(), in_roster: true, ..Default::default() };
    storage.roster.put_item("h", "alice", &item).await.expect("put");
    for corruption in [
        "UPDATE roster_items SET groups = '[1, 2]'",
        "UPDATE roster_items SET groups = '{\"a\": 1}'::jsonb",
    ] {
        // The second one violates the CHECK: refused by the database, nothing changes.
        let _ = sqlx::query(corruption).execute(&store.pool).await;
        let items = storage.roster.get_items("h", "alice").await;
        assert!(matches!(items, Err(StorageError::Backend(_))), "{corruption}: {items:?}");
    }
    store.close().await;
}

/// Nodes sharing a database get distinct archive id slots while they run; a node's slot is
/// free again once its connection is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_id_slots_are_distinct_per_node() {
    let server = tokio::task::block_in_place(PgServer::shared);
    let url = server.create_database("id_slots").await;
    let first = PgStore::open(&settings(url.clone())).await.expect("first");
    let second = PgStore::open(&settings(url.clone())).await.expect("second");
    let (a, b) = (
        crate::ArchiveStore::claim_id_slot(&first).await.expect("slot a"),
        crate::ArchiveStore::claim_id_slot(&second).await.expect("slot b"),
    );
    assert_eq!((a.bits, b.bits), (6, 6));
    assert_ne!(a.slot, b.slot, "two running nodes share a slot");
    // The first node stops: its slot is free for the next node.
    first.close().await;
    drop(first);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let third = PgStore::open(&settings(url.clone())).await.expect("third");
        let c = crate::ArchiveStore::claim_id_slot(&third).await.expect("slot c");
        assert_ne!(c.slot, b.slot, "slot of a running node reused");
        if c.slot == a.slot {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "slot {} never freed", a.slot);
        third.close().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Publishers on two nodes racing on one node's items: the node never holds more than
/// `max_items`, and every item published is either kept or reported trimmed exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_concurrent_publish_trims_exactly() {
    let server = tokio::task::block_in_place(PgServer::shared);
    let url = server.create_database("pubsub_race").await;
    let first = open(&settings(url.clone())).await.expect("first");
    let second = open(&settings(url)).await.expect("second");
    first.pubsub.create_node("a@h", "n", &[], 10).await.expect("create");
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..40 {
        let ps = if n % 2 == 0 { first.pubsub.clone() } else { second.pubsub.clone() };
        tasks.spawn(async move {
            let item = crate::PubsubItem {
                id: format!("i{n}"),
                publisher: "a@h".into(),
                published_at_ms: n,
                payload: "<x/>".into(),
            };
            ps.publish_item("a@h", "n", &item, 5).await
        });
    }
    let mut trimmed = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        trimmed.extend(joined.expect("task").expect("publish"));
    }
    let kept = first.pubsub.get_items("a@h", "n", None).await.expect("items");
    assert_eq!(kept.len(), 5);
    let mut all: Vec<String> = trimmed.into_iter().chain(kept.into_iter().map(|i| i.id)).collect();
    all.sort();
    let mut expected: Vec<String> = (0..40).map(|n| format!("i{n}")).collect();
    expected.sort();
    assert_eq!(all, expected, "each item kept or trimmed exactly once");

    // Node creation under a limit, from both nodes at once.
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..20 {
        let ps = if n % 2 == 0 { first.pubsub.clone() } else { second.pubsub.clone() };
        tasks.spawn(async move { ps.create_node("b@h", &format!("n{n}"), &[], 4).await });
    }
    let mut created = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("task") {
            Ok(()) => created += 1,
            Err(StorageError::LimitReached { limit: 4 }) => {}
            Err(other) => panic!("create failed: {other:?}"),
        }
    }
    assert_eq!(created, 4);
    assert_eq!(second.pubsub.list_nodes("b@h").await.expect("list").len(), 4);

    // Blocklist and private XML limits, from both nodes at once.
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..20 {
        let (b, p) = if n % 2 == 0 {
            (first.misc.blocking.clone(), first.misc.private.clone())
        } else {
            (second.misc.blocking.clone(), second.misc.private.clone())
        };
        tasks.spawn(async move {
            let blocked = b.block("h", "c", &[format!("x{n}@y")], 6).await;
            let stored = p.set_private("h", "c", &format!("ns{n}"), "<q/>", 3).await;
            (blocked.is_ok(), stored.is_ok())
        });
    }
    let (mut blocked, mut stored) = (0, 0);
    while let Some(joined) = tasks.join_next().await {
        let (b, p) = joined.expect("task");
        blocked += usize::from(b);
        stored += usize::from(p);
    }
    assert_eq!((blocked, stored), (6, 3));
    assert_eq!(first.misc.blocking.get_blocklist("h", "c").await.expect("list").len(), 6);
}

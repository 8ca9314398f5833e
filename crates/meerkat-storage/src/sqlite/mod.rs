//! SQLite backend: every store in one database file, the default of a standalone node.
//!
//! # Layout
//! - this file: [`open`], connection settings, the pool, and error mapping;
//! - `users.rs`, `roster.rs`, `offline.rs`, `last.rs`: one trait implementation each, all on
//!   the same `SqliteStore`;
//! - the schema is in `migrations/sqlite/*.sql`, embedded at compile time and applied by
//!   [`open`] (already-applied migrations are skipped, so reopening is harmless).
//!
//! # Connections
//! The pool holds at most [`POOL_MAX_CONNECTIONS`] (4) connections. In WAL mode SQLite runs any
//! number of readers beside one writer, and writers queue on the file's write lock whatever the
//! pool size, so connections beyond a few only add idle file handles and one page cache each
//! (about 2 MiB by default). Four lets the hot reads (credentials at login, roster at presence
//! broadcast, each a single primary-key lookup or range scan) proceed while one write is in
//! progress, on machines with few cores as with many: the work per query is microseconds, so
//! more connections would not add throughput, only contention for the CPU.
//!
//! Transactions that write ([`SqliteStore::begin_write`]) run on a pool of their own with one
//! connection. SQLite has one writer at a time anyway, and a connection's page cache is
//! emptied whenever another connection committed since its last transaction: with writes
//! spread over the pool every batch of archived messages re-read its index pages from the
//! file, which cost more CPU than the inserts themselves (BENCHMARKS.md, "MAM regression").
//! One write connection keeps its cache warm.
//!
//! Writers wait for the lock up to [`BUSY_TIMEOUT`] (5 s) before failing with
//! [`StorageError::Backend`]. Transactions that write take the write lock when they begin
//! (`BEGIN IMMEDIATE`): a deferred transaction that read first and then tried to write after
//! another writer committed would fail at once with `SQLITE_BUSY`, without waiting.
//!
//! # Durability
//! WAL with `synchronous = NORMAL`: commits are atomic, and a crash of the process loses
//! nothing committed. After an OS crash or power loss the database is still consistent, but the
//! last transactions committed before it may be rolled back. In exchange a commit costs no
//! fsync (the WAL is synced at checkpoints), which is what keeps offline-message and roster
//! writes cheap; `FULL` would be the setting to choose if those last commits had to survive.

mod archive;
mod blocking;
mod last;
mod muc;
mod offline;
mod private;
mod pubsub;
mod pubsub_members;
mod roster;
mod upload;
mod users;
mod vcard;

#[cfg(test)]
mod tests;

use crate::{Result, Storage, StorageError};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool};
use sqlx::sqlite::{SqlitePoolOptions, SqliteSynchronous, SqliteTransaction};
use sqlx::Connection;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Most connections the pool opens; see the module documentation for why four.
pub const POOL_MAX_CONNECTIONS: u32 = 4;

/// How long a statement waits for another connection's lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Page cache of the write connection, in KiB (`PRAGMA cache_size`; readers keep 2 MiB).
const WRITER_CACHE_KIB: u32 = 32 * 1024;

/// Bytes of the database file each connection maps (`PRAGMA mmap_size`).
const MMAP_SIZE: u64 = 1 << 30;

/// How long a request waits for a free pool connection before failing. Longer than
/// [`BUSY_TIMEOUT`], because a waiting request may queue behind statements that each wait for
/// the lock themselves, but finite so an overloaded node reports errors instead of hanging.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The schema, embedded from `migrations/sqlite` (`build.rs` makes cargo notice new files).
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// Opens (creating if needed) the database file at `path`, runs the migrations, and returns
/// every store backed by it.
///
/// The parent directory is created when missing. Fails with [`StorageError::Backend`] when the
/// directory or file cannot be created or opened, or a migration fails (for example a database
/// written by a newer Meerkat whose migrations this build does not know).
pub async fn open(path: &Path) -> Result<Storage> {
    let store = Arc::new(SqliteStore::open(path).await?);
    let misc = crate::MiscStores {
        blocking: store.clone(),
        vcard: store.clone(),
        private: store.clone(),
        muc: store.clone(),
    };
    Ok(Storage {
        users: store.clone(),
        roster: store.clone(),
        offline: store.clone(),
        last: store.clone(),
        archive: store.clone(),
        pubsub: store.clone(),
        misc,
        cluster: Arc::new(crate::cluster::NoCluster),
        upload: store.clone(),
        pubsub_members: store,
    })
}

/// Every store on one SQLite connection pool. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub(crate) struct SqliteStore {
    pool: SqlitePool,
    /// The one connection for write transactions (see the module documentation).
    writer: SqlitePool,
}

impl SqliteStore {
    /// Opens the pool and applies pending migrations.
    pub(crate) async fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent).await.map_err(|e| {
                StorageError::Backend(format!(
                    "creating database directory {}: {e}",
                    parent.display()
                ))
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            // Reads through a memory map instead of read(): with WAL every commit on one pool
            // connection makes the others re-read changed pages, and copying them through
            // read() was a tenth of the CPU of archiving at 10k msg/s. Address space only:
            // resident memory is the page cache the kernel keeps anyway.
            .pragma("mmap_size", MMAP_SIZE.to_string())
            // Statement journals (multi-row INSERTs inside a transaction) in memory, not temp
            // files.
            .pragma("temp_store", "memory")
            // Checkpoints every 16k pages (64 MiB of WAL) instead of 1000: a page rewritten
            // by many commits is copied back once, and archiving at 10k msg/s spent a ninth of
            // its CPU in checkpoints at the default.
            .pragma("wal_autocheckpoint", "16384");
        // The file is switched to WAL and migrated on one connection before the pool opens,
        // so the pool's connections find a WAL file with the current schema.
        prepare_file(&options).await.map_err(|e| {
            StorageError::Backend(format!("preparing database {}: {e}", path.display()))
        })?;
        let connect = |max, options| {
            SqlitePoolOptions::new()
                .max_connections(max)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                // A file connection does not break while idle; the test on acquire would
                // cost a hop to the connection's worker thread for every query.
                .test_before_acquire(false)
                .connect_with(options)
        };
        let opened = |e| StorageError::Backend(format!("opening database {}: {e}", path.display()));
        let pool = connect(POOL_MAX_CONNECTIONS, options.clone()).await.map_err(opened)?;
        // The writer's cache holds the index pages a batch of archived messages touches (one
        // or two per user with a new message); at SQLite's default of 2 MiB it spilled dirty
        // pages in mid-transaction. Grows only as pages are used.
        let writer_options = options.pragma("cache_size", format!("-{WRITER_CACHE_KIB}"));
        let writer = connect(1, writer_options).await.map_err(opened)?;
        tracing::info!(
            what = "storage_opened",
            backend = "sqlite",
            path = %path.display(),
            "database opened"
        );
        Ok(SqliteStore { pool, writer })
    }

    /// Starts a transaction holding the write lock from its first statement (see the module
    /// documentation for why not a deferred one).
    async fn begin_write(&self, op: &'static str) -> Result<SqliteTransaction<'static>> {
        self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(backend(op))
    }

    /// Closes every connection, waiting for statements in flight. Later calls fail.
    #[cfg(test)]
    pub(crate) async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }
}

/// Switches the file to WAL (a no-op once done: the mode is stored in the file) and applies
/// the pending migrations, on one connection closed afterwards.
///
/// Two processes may open a new file at once (a second node pointed at the same path, or tests
/// sharing a file). Switching to WAL takes an exclusive lock that SQLite does not wait for with
/// the busy timeout, so connecting is retried while it fails with `SQLITE_BUSY`, for up to
/// [`BUSY_TIMEOUT`] in all.
async fn prepare_file(options: &SqliteConnectOptions) -> std::result::Result<(), sqlx::Error> {
    /// Pause between attempts: long enough for the other process to finish its switch
    /// (milliseconds), short enough not to slow a start-up noticeably.
    const RETRY_PAUSE: Duration = Duration::from_millis(25);
    let started = tokio::time::Instant::now();
    let mut conn = loop {
        match SqliteConnection::connect_with(options).await {
            Ok(conn) => break conn,
            Err(e) if is_busy(&e) && started.elapsed() < BUSY_TIMEOUT => {
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            Err(e) => return Err(e),
        }
    };
    migrate(&mut conn).await?;
    conn.close().await
}

/// Applies the pending migrations, all in one transaction that holds the write lock from its
/// start. sqlx takes no lock for SQLite, so without it two processes opening a new file at once
/// would both see migration 1 as pending and the second would fail on `CREATE TABLE`; inside
/// the transaction the second waits (busy timeout), then finds everything applied. Each
/// migration runs in a savepoint of it, so a failing one still leaves the file unchanged.
async fn migrate(conn: &mut SqliteConnection) -> std::result::Result<(), sqlx::Error> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    MIGRATOR.run(&mut *tx).await?;
    tx.commit().await
}

/// True for `SQLITE_BUSY` and its extended codes (the primary code is the low byte).
fn is_busy(error: &sqlx::Error) -> bool {
    const SQLITE_BUSY: i64 = 5;
    error
        .as_database_error()
        .and_then(|e| e.code())
        .and_then(|code| code.parse::<i64>().ok())
        .is_some_and(|code| code & 0xff == SQLITE_BUSY)
}

/// Maps an sqlx error to [`StorageError::Backend`], naming the operation that failed so the
/// log says which call broke, not only what SQLite said.
fn backend(op: &'static str) -> impl FnOnce(sqlx::Error) -> StorageError {
    move |e| StorageError::Backend(format!("{op}: {e}"))
}

/// Converts a stored count (SQLite integers are signed) to the traits' `u64`.
fn count_from_db(op: &'static str, count: i64) -> Result<u64> {
    u64::try_from(count).map_err(|_| StorageError::Backend(format!("{op}: negative count {count}")))
}

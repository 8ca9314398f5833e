//! [`UserStore`] on SQLite: one row per account in `users`.

use super::{backend, count_from_db, SqliteStore};
use crate::{Result, StorageError, UserStore};
use meerkat_proto::sasl::{ScramCredentials, StoredCredentials};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

/// Tables holding per-user rows, emptied by `remove_user` (besides `users` itself). A new
/// per-user table must be added here, and the cascade test in the conformance suite checks
/// the ones the traits can see.
const USER_DATA_TABLES: [&str; 6] = [
    "roster_items",
    "roster_versions",
    "offline_messages",
    "last_activity",
    "mam_messages",
    "mam_prefs",
];
/// Per-user tables of blocking, vCards and private XML (migration 0004), emptied likewise.
const MISC_DATA_TABLES: [&str; 3] = ["blocklist_items", "vcards", "private_storage"];

type Query<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

/// Binds the eight SCRAM columns (SHA-1 then SHA-256: salt, iterations, stored key, server key)
/// in the order both `INSERT` and `UPDATE` list them.
fn bind_keys<'q>(query: Query<'q>, c: &'q StoredCredentials) -> Query<'q> {
    let (sha1, sha256) = (&c.sha1, &c.sha256);
    query
        .bind(&sha1.salt)
        .bind(i64::from(sha1.iterations))
        .bind(&sha1.stored_key)
        .bind(&sha1.server_key)
        .bind(&sha256.salt)
        .bind(i64::from(sha256.iterations))
        .bind(&sha256.stored_key)
        .bind(&sha256.server_key)
}

#[async_trait::async_trait]
impl UserStore for SqliteStore {
    async fn create_user(
        &self,
        host: &str,
        username: &str,
        credentials: &StoredCredentials,
    ) -> Result<()> {
        let query = sqlx::query(
            "INSERT INTO users (host, username, \
                 sha1_salt, sha1_iterations, sha1_stored_key, sha1_server_key, \
                 sha256_salt, sha256_iterations, sha256_stored_key, sha256_server_key) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(host)
        .bind(username);
        let result = bind_keys(query, credentials).execute(&self.pool).await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StorageError::AlreadyExists),
            Err(e) => Err(backend("create_user")(e)),
        }
    }

    async fn get_credentials(
        &self,
        host: &str,
        username: &str,
    ) -> Result<Option<StoredCredentials>> {
        // Called at every login: a single primary-key lookup.
        let row = sqlx::query(
            "SELECT sha1_salt, sha1_iterations, sha1_stored_key, sha1_server_key, \
                    sha256_salt, sha256_iterations, sha256_stored_key, sha256_server_key \
             FROM users WHERE host = ? AND username = ?",
        )
        .bind(host)
        .bind(username)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend("get_credentials"))?;
        row.map(|row| {
            Ok(StoredCredentials {
                sha1: scram_from_row(&row, "sha1")?,
                sha256: scram_from_row(&row, "sha256")?,
            })
        })
        .transpose()
    }

    async fn set_credentials(
        &self,
        host: &str,
        username: &str,
        credentials: &StoredCredentials,
    ) -> Result<()> {
        let query = sqlx::query(
            "UPDATE users SET \
                 sha1_salt = ?, sha1_iterations = ?, sha1_stored_key = ?, sha1_server_key = ?, \
                 sha256_salt = ?, sha256_iterations = ?, sha256_stored_key = ?, \
                 sha256_server_key = ? \
             WHERE host = ? AND username = ?",
        );
        let result = bind_keys(query, credentials)
            .bind(host)
            .bind(username)
            .execute(&self.pool)
            .await
            .map_err(backend("set_credentials"))?;
        if result.rows_affected() == 0 {
            return Err(StorageError::NotFound);
        }
        Ok(())
    }

    async fn remove_user(&self, host: &str, username: &str) -> Result<()> {
        let mut tx = self.begin_write("remove_user").await?;
        let removed = sqlx::query("DELETE FROM users WHERE host = ? AND username = ?")
            .bind(host)
            .bind(username)
            .execute(&mut *tx)
            .await
            .map_err(backend("remove_user"))?;
        if removed.rows_affected() == 0 {
            // Dropping the transaction rolls it back; nothing was changed.
            return Err(StorageError::NotFound);
        }
        for table in USER_DATA_TABLES.into_iter().chain(MISC_DATA_TABLES) {
            // The table name is one of the constants above, never input.
            sqlx::query(&format!("DELETE FROM {table} WHERE host = ? AND username = ?"))
                .bind(host)
                .bind(username)
                .execute(&mut *tx)
                .await
                .map_err(backend("remove_user"))?;
        }
        // PEP nodes belong to the service named by the account's bare JID (items cascade).
        sqlx::query("DELETE FROM pubsub_nodes WHERE service = ?")
            .bind(format!("{username}@{host}"))
            .execute(&mut *tx)
            .await
            .map_err(backend("remove_user"))?;
        tx.commit().await.map_err(backend("remove_user"))
    }

    async fn user_exists(&self, host: &str, username: &str) -> Result<bool> {
        let row = sqlx::query("SELECT 1 FROM users WHERE host = ? AND username = ?")
            .bind(host)
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend("user_exists"))?;
        Ok(row.is_some())
    }

    async fn list_users(&self, host: &str) -> Result<Vec<String>> {
        // BINARY collation orders by UTF-8 bytes, the same order as Rust's `str` comparison.
        let rows = sqlx::query("SELECT username FROM users WHERE host = ? ORDER BY username")
            .bind(host)
            .fetch_all(&self.pool)
            .await
            .map_err(backend("list_users"))?;
        rows.iter()
            .map(|row| row.try_get::<String, _>("username").map_err(backend("list_users")))
            .collect()
    }

    async fn count_users(&self, host: &str) -> Result<u64> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE host = ?")
            .bind(host)
            .fetch_one(&self.pool)
            .await
            .map_err(backend("count_users"))?;
        count_from_db("count_users", count)
    }
}

/// True for a primary-key or unique-constraint violation.
fn is_unique_violation(error: &sqlx::Error) -> bool {
    error.as_database_error().is_some_and(|e| e.is_unique_violation())
}

/// Reads the four columns `{prefix}_salt`, `{prefix}_iterations`, ... of one SCRAM hash.
fn scram_from_row(row: &SqliteRow, prefix: &str) -> Result<ScramCredentials> {
    let op = "get_credentials";
    let column = |name: &str| format!("{prefix}_{name}");
    let iterations: i64 = row.try_get(column("iterations").as_str()).map_err(backend(op))?;
    let iterations = u32::try_from(iterations).map_err(|_| {
        StorageError::Backend(format!("{op}: {prefix} iteration count {iterations} out of range"))
    })?;
    Ok(ScramCredentials {
        salt: row.try_get(column("salt").as_str()).map_err(backend(op))?,
        iterations,
        stored_key: row.try_get(column("stored_key").as_str()).map_err(backend(op))?,
        server_key: row.try_get(column("server_key").as_str()).map_err(backend(op))?,
    })
}

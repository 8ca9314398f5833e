//! [`UserStore`] on PostgreSQL: one row per account in `users`.

use super::{count_from_db, decode, PgStore};
use crate::{Result, StorageError, UserStore};
use meerkat_proto::sasl::{ScramCredentials, StoredCredentials};
use sqlx::postgres::PgRow;
use sqlx::Row;

/// Tables holding per-user rows, emptied by `remove_user` (besides `users` itself); the same
/// list as the SQLite backend's (its USER_DATA_TABLES and MISC_DATA_TABLES).
const USER_DATA_TABLES: [&str; 9] = [
    "roster_items",
    "roster_versions",
    "offline_messages",
    "last_activity",
    "mam_messages",
    "mam_prefs",
    "blocklist_items",
    "vcards",
    "private_storage",
];

type Query<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

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
impl UserStore for PgStore {
    async fn create_user(
        &self,
        host: &str,
        username: &str,
        credentials: &StoredCredentials,
    ) -> Result<()> {
        // Two nodes registering one name at once: the primary key lets exactly one insert
        // through; the other sees no row inserted (no error, nothing in the server's log).
        let query = sqlx::query(
            "INSERT INTO users (host, username, \
                 sha1_salt, sha1_iterations, sha1_stored_key, sha1_server_key, \
                 sha256_salt, sha256_iterations, sha256_stored_key, sha256_server_key) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (host, username) DO NOTHING",
        )
        .bind(host)
        .bind(username);
        let result = bind_keys(query, credentials)
            .execute(&self.pool)
            .await
            .map_err(self.backend("create_user"))?;
        if result.rows_affected() == 0 {
            return Err(StorageError::AlreadyExists);
        }
        Ok(())
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
             FROM users WHERE host = $1 AND username = $2",
        )
        .bind(host)
        .bind(username)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.backend("get_credentials"))?;
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
                 sha1_salt = $1, sha1_iterations = $2, sha1_stored_key = $3, \
                 sha1_server_key = $4, sha256_salt = $5, sha256_iterations = $6, \
                 sha256_stored_key = $7, sha256_server_key = $8 \
             WHERE host = $9 AND username = $10",
        );
        let result = bind_keys(query, credentials)
            .bind(host)
            .bind(username)
            .execute(&self.pool)
            .await
            .map_err(self.backend("set_credentials"))?;
        if result.rows_affected() == 0 {
            return Err(StorageError::NotFound);
        }
        Ok(())
    }

    async fn remove_user(&self, host: &str, username: &str) -> Result<()> {
        let op = "remove_user";
        let mut tx = self.begin(op).await?;
        // The DELETE locks the account row until commit, so a concurrent re-registration of
        // the name waits and then finds the name free with the old data gone.
        let removed = sqlx::query("DELETE FROM users WHERE host = $1 AND username = $2")
            .bind(host)
            .bind(username)
            .execute(&mut *tx)
            .await
            .map_err(self.backend(op))?;
        if removed.rows_affected() == 0 {
            // Dropping the transaction rolls it back; nothing was changed.
            return Err(StorageError::NotFound);
        }
        for table in USER_DATA_TABLES {
            // The table name is one of the constants above, never input.
            sqlx::query(&format!("DELETE FROM {table} WHERE host = $1 AND username = $2"))
                .bind(host)
                .bind(username)
                .execute(&mut *tx)
                .await
                .map_err(self.backend(op))?;
        }
        // PEP nodes belong to the service named by the account's bare JID (items cascade).
        sqlx::query("DELETE FROM pubsub_nodes WHERE service = $1")
            .bind(format!("{username}@{host}"))
            .execute(&mut *tx)
            .await
            .map_err(self.backend(op))?;
        tx.commit().await.map_err(self.backend(op))
    }

    async fn user_exists(&self, host: &str, username: &str) -> Result<bool> {
        let row = sqlx::query("SELECT 1 FROM users WHERE host = $1 AND username = $2")
            .bind(host)
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.backend("user_exists"))?;
        Ok(row.is_some())
    }

    async fn list_users(&self, host: &str) -> Result<Vec<String>> {
        // The "C" collation of the column orders by UTF-8 bytes, like Rust's `str`.
        let rows = sqlx::query("SELECT username FROM users WHERE host = $1 ORDER BY username")
            .bind(host)
            .fetch_all(&self.pool)
            .await
            .map_err(self.backend("list_users"))?;
        rows.iter()
            .map(|row| row.try_get::<String, _>("username").map_err(decode("list_users")))
            .collect()
    }

    async fn count_users(&self, host: &str) -> Result<u64> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE host = $1")
            .bind(host)
            .fetch_one(&self.pool)
            .await
            .map_err(self.backend("count_users"))?;
        count_from_db("count_users", count)
    }
}

/// Reads the four columns `{prefix}_salt`, `{prefix}_iterations`, ... of one SCRAM hash.
fn scram_from_row(row: &PgRow, prefix: &str) -> Result<ScramCredentials> {
    let op = "get_credentials";
    let column = |name: &str| format!("{prefix}_{name}");
    let iterations: i64 = row.try_get(column("iterations").as_str()).map_err(decode(op))?;
    let iterations = u32::try_from(iterations).map_err(|_| {
        StorageError::Backend(format!("{op}: {prefix} iteration count {iterations} out of range"))
    })?;
    Ok(ScramCredentials {
        salt: row.try_get(column("salt").as_str()).map_err(decode(op))?,
        iterations,
        stored_key: row.try_get(column("stored_key").as_str()).map_err(decode(op))?,
        server_key: row.try_get(column("server_key").as_str()).map_err(decode(op))?,
    })
}

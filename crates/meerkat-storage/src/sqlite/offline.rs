//! [`OfflineStore`] on SQLite: rows of `offline_messages`, read and trimmed through the
//! `(host, username, id)` index.

use super::{backend, count_from_db, SqliteStore};
use crate::{OfflineMessage, OfflineStore, Result, StorageError};
use sqlx::Row;

#[async_trait::async_trait]
impl OfflineStore for SqliteStore {
    async fn store(
        &self,
        host: &str,
        username: &str,
        from: &str,
        stored_at_ms: i64,
        stanza: &str,
        max_messages: usize,
    ) -> Result<i64> {
        let op = "offline_store";
        // A limit beyond i64 cannot be reached by a COUNT; saturating keeps it "no limit".
        let limit = i64::try_from(max_messages).unwrap_or(i64::MAX);
        // The write lock is held from BEGIN, so no other sender can insert between the count
        // and the insert: concurrent senders never push the queue past the limit.
        let mut tx = self.begin_write(op).await?;
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM offline_messages WHERE host = ? AND username = ?",
        )
        .bind(host)
        .bind(username)
        .fetch_one(&mut *tx)
        .await
        .map_err(backend(op))?;
        if count >= limit {
            // Dropping the transaction rolls it back (it changed nothing).
            return Err(StorageError::LimitReached { limit: max_messages });
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO offline_messages (host, username, from_jid, stored_at_ms, stanza) \
             VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(host)
        .bind(username)
        .bind(from)
        .bind(stored_at_ms)
        .bind(stanza)
        .fetch_one(&mut *tx)
        .await
        .map_err(backend(op))?;
        tx.commit().await.map_err(backend(op))?;
        Ok(id)
    }

    async fn fetch(&self, host: &str, username: &str) -> Result<Vec<OfflineMessage>> {
        let op = "offline_fetch";
        let rows = sqlx::query(
            "SELECT id, from_jid, stored_at_ms, stanza FROM offline_messages \
             WHERE host = ? AND username = ? ORDER BY id",
        )
        .bind(host)
        .bind(username)
        .fetch_all(&self.pool)
        .await
        .map_err(backend(op))?;
        rows.iter()
            .map(|row| {
                Ok(OfflineMessage {
                    id: row.try_get("id").map_err(backend(op))?,
                    from: row.try_get("from_jid").map_err(backend(op))?,
                    stored_at_ms: row.try_get("stored_at_ms").map_err(backend(op))?,
                    stanza: row.try_get("stanza").map_err(backend(op))?,
                })
            })
            .collect()
    }

    async fn remove_up_to(&self, host: &str, username: &str, up_to_id: i64) -> Result<()> {
        sqlx::query("DELETE FROM offline_messages WHERE host = ? AND username = ? AND id <= ?")
            .bind(host)
            .bind(username)
            .bind(up_to_id)
            .execute(&self.pool)
            .await
            .map_err(backend("offline_remove_up_to"))?;
        Ok(())
    }

    async fn count(&self, host: &str, username: &str) -> Result<u64> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM offline_messages WHERE host = ? AND username = ?",
        )
        .bind(host)
        .bind(username)
        .fetch_one(&self.pool)
        .await
        .map_err(backend("offline_count"))?;
        count_from_db("offline_count", count)
    }
}

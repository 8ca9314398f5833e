//! [`BlockingStore`] on SQLite: rows of `blocklist_items`.

use super::{backend, SqliteStore};
use crate::{BlockingStore, Result, StorageError};

#[async_trait::async_trait]
impl BlockingStore for SqliteStore {
    async fn get_blocklist(&self, host: &str, username: &str) -> Result<Vec<String>> {
        sqlx::query_scalar(
            "SELECT jid FROM blocklist_items WHERE host = ? AND username = ? ORDER BY jid",
        )
        .bind(host)
        .bind(username)
        .fetch_all(&self.pool)
        .await
        .map_err(backend("get_blocklist"))
    }

    async fn block(
        &self,
        host: &str,
        username: &str,
        jids: &[String],
        max_items: usize,
    ) -> Result<()> {
        let op = "block";
        // The write lock is held from BEGIN: the count and the inserts see the same list.
        let mut tx = self.begin_write(op).await?;
        for jid in jids {
            sqlx::query(
                "INSERT INTO blocklist_items (host, username, jid) VALUES (?, ?, ?) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(host)
            .bind(username)
            .bind(jid)
            .execute(&mut *tx)
            .await
            .map_err(backend(op))?;
        }
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM blocklist_items WHERE host = ? AND username = ?",
        )
        .bind(host)
        .bind(username)
        .fetch_one(&mut *tx)
        .await
        .map_err(backend(op))?;
        if usize::try_from(count).unwrap_or(usize::MAX) > max_items {
            // Dropping the transaction rolls the inserts back.
            return Err(StorageError::LimitReached { limit: max_items });
        }
        tx.commit().await.map_err(backend(op))
    }

    async fn unblock(&self, host: &str, username: &str, jids: &[String]) -> Result<()> {
        let op = "unblock";
        let mut tx = self.begin_write(op).await?;
        for jid in jids {
            sqlx::query("DELETE FROM blocklist_items WHERE host = ? AND username = ? AND jid = ?")
                .bind(host)
                .bind(username)
                .bind(jid)
                .execute(&mut *tx)
                .await
                .map_err(backend(op))?;
        }
        tx.commit().await.map_err(backend(op))
    }

    async fn unblock_all(&self, host: &str, username: &str) -> Result<()> {
        sqlx::query("DELETE FROM blocklist_items WHERE host = ? AND username = ?")
            .bind(host)
            .bind(username)
            .execute(&self.pool)
            .await
            .map_err(backend("unblock_all"))?;
        Ok(())
    }
}

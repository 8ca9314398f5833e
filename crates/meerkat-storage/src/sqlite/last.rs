//! [`LastStore`] on SQLite: one row per user in `last_activity`, overwritten at each logout.

use super::{backend, SqliteStore};
use crate::{LastActivity, LastStore, Result};
use sqlx::Row;

#[async_trait::async_trait]
impl LastStore for SqliteStore {
    async fn set_last(&self, host: &str, username: &str, activity: &LastActivity) -> Result<()> {
        sqlx::query(
            "INSERT INTO last_activity (host, username, seconds, status) VALUES (?, ?, ?, ?) \
             ON CONFLICT (host, username) DO UPDATE SET \
                 seconds = excluded.seconds, status = excluded.status",
        )
        .bind(host)
        .bind(username)
        .bind(activity.seconds)
        .bind(&activity.status)
        .execute(&self.pool)
        .await
        .map_err(backend("set_last"))?;
        Ok(())
    }

    async fn set_last_many(&self, batch: &[(String, String, LastActivity)]) -> Result<()> {
        let op = "set_last_many";
        // One transaction: one commit (and fsync) for the batch instead of one per logout.
        let mut tx = self.begin_write(op).await?;
        for (host, username, activity) in batch {
            sqlx::query(
                "INSERT INTO last_activity (host, username, seconds, status) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (host, username) DO UPDATE SET \
                     seconds = excluded.seconds, status = excluded.status",
            )
            .bind(host)
            .bind(username)
            .bind(activity.seconds)
            .bind(&activity.status)
            .execute(&mut *tx)
            .await
            .map_err(backend(op))?;
        }
        tx.commit().await.map_err(backend(op))
    }

    async fn get_last(&self, host: &str, username: &str) -> Result<Option<LastActivity>> {
        let row = sqlx::query(
            "SELECT seconds, status FROM last_activity WHERE host = ? AND username = ?",
        )
        .bind(host)
        .bind(username)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend("get_last"))?;
        row.map(|row| {
            Ok(LastActivity {
                seconds: row.try_get("seconds").map_err(backend("get_last"))?,
                status: row.try_get("status").map_err(backend("get_last"))?,
            })
        })
        .transpose()
    }
}

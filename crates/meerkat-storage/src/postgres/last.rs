//! [`LastStore`] on PostgreSQL: one row per user in `last_activity`, overwritten at each
//! logout (an upsert, so two nodes recording a logout at once both succeed, the later wins).

use super::{decode, PgStore};
use crate::{LastActivity, LastStore, Result};
use sqlx::Row;

#[async_trait::async_trait]
impl LastStore for PgStore {
    async fn set_last(&self, host: &str, username: &str, activity: &LastActivity) -> Result<()> {
        sqlx::query(
            "INSERT INTO last_activity (host, username, seconds, status) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (host, username) DO UPDATE SET \
                 seconds = excluded.seconds, status = excluded.status",
        )
        .bind(host)
        .bind(username)
        .bind(activity.seconds)
        .bind(&activity.status)
        .execute(&self.pool)
        .await
        .map_err(self.backend("set_last"))?;
        Ok(())
    }

    async fn set_last_many(&self, batch: &[(String, String, LastActivity)]) -> Result<()> {
        let hosts: Vec<&str> = batch.iter().map(|b| b.0.as_str()).collect();
        let users: Vec<&str> = batch.iter().map(|b| b.1.as_str()).collect();
        let seconds: Vec<i64> = batch.iter().map(|b| b.2.seconds).collect();
        let status: Vec<&str> = batch.iter().map(|b| b.2.status.as_str()).collect();
        sqlx::query(
            "INSERT INTO last_activity (host, username, seconds, status) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[]) \
             ON CONFLICT (host, username) DO UPDATE SET \
                 seconds = excluded.seconds, status = excluded.status",
        )
        .bind(&hosts)
        .bind(&users)
        .bind(&seconds)
        .bind(&status)
        .execute(&self.pool)
        .await
        .map_err(self.backend("set_last_many"))?;
        Ok(())
    }

    async fn get_last(&self, host: &str, username: &str) -> Result<Option<LastActivity>> {
        let row = sqlx::query(
            "SELECT seconds, status FROM last_activity WHERE host = $1 AND username = $2",
        )
        .bind(host)
        .bind(username)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.backend("get_last"))?;
        row.map(|row| {
            Ok(LastActivity {
                seconds: row.try_get("seconds").map_err(decode("get_last"))?,
                status: row.try_get("status").map_err(decode("get_last"))?,
            })
        })
        .transpose()
    }
}

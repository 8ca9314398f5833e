//! [`PubsubMemberStore`] on SQLite: `pubsub_subscriptions` and `pubsub_affiliations` keyed by
//! `(node_id, jid)`, deleted with their node by the foreign key cascade.

use super::{backend, SqliteStore};
use crate::pubsub_members::Membership;
use crate::{PubsubMemberStore, Result, StorageError};
use sqlx::Row;

const NODE_ID: &str = "SELECT id FROM pubsub_nodes WHERE service = ? AND node = ?";

/// The bare form of a JID string (everything before the first `/`).
fn bare_of(jid: &str) -> &str {
    jid.split('/').next().unwrap_or(jid)
}

fn pairs(op: &'static str, rows: Vec<sqlx::sqlite::SqliteRow>) -> Result<Vec<Membership>> {
    rows.iter()
        .map(|r| Ok((r.try_get(0).map_err(backend(op))?, r.try_get(1).map_err(backend(op))?)))
        .collect()
}

#[async_trait::async_trait]
impl PubsubMemberStore for SqliteStore {
    async fn set_subscription(
        &self,
        service: &str,
        node: &str,
        jid: &str,
        state: &str,
        max_per_node: usize,
    ) -> Result<()> {
        let op = "pubsub_set_subscription";
        let mut tx = self.begin_write(op).await?;
        let node_id: i64 = sqlx::query_scalar(NODE_ID)
            .bind(service)
            .bind(node)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend(op))?
            .ok_or(StorageError::NotFound)?;
        let existing: Option<String> = sqlx::query_scalar(
            "SELECT state FROM pubsub_subscriptions WHERE node_id = ? AND jid = ?",
        )
        .bind(node_id)
        .bind(jid)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend(op))?;
        if existing.is_none() {
            let count: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM pubsub_subscriptions WHERE node_id = ?")
                    .bind(node_id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(backend(op))?;
            if count >= i64::try_from(max_per_node).unwrap_or(i64::MAX) {
                return Err(StorageError::LimitReached { limit: max_per_node });
            }
        }
        sqlx::query(
            "INSERT INTO pubsub_subscriptions (node_id, jid, bare, state) VALUES (?, ?, ?, ?) \
             ON CONFLICT (node_id, jid) DO UPDATE SET state = excluded.state",
        )
        .bind(node_id)
        .bind(jid)
        .bind(bare_of(jid))
        .bind(state)
        .execute(&mut *tx)
        .await
        .map_err(backend(op))?;
        tx.commit().await.map_err(backend(op))
    }

    async fn remove_subscription(&self, service: &str, node: &str, jid: &str) -> Result<bool> {
        let r = sqlx::query(&format!(
            "DELETE FROM pubsub_subscriptions WHERE node_id = ({NODE_ID}) AND jid = ?"
        ))
        .bind(service)
        .bind(node)
        .bind(jid)
        .execute(&self.writer)
        .await
        .map_err(backend("pubsub_remove_subscription"))?;
        Ok(r.rows_affected() > 0)
    }

    async fn node_subscriptions(&self, service: &str, node: &str) -> Result<Vec<Membership>> {
        let op = "pubsub_node_subscriptions";
        let rows = sqlx::query(&format!(
            "SELECT jid, state FROM pubsub_subscriptions WHERE node_id = ({NODE_ID}) ORDER BY jid"
        ))
        .bind(service)
        .bind(node)
        .fetch_all(&self.pool)
        .await
        .map_err(backend(op))?;
        pairs(op, rows)
    }

    async fn subscriptions_of(
        &self,
        service: &str,
        bare: &str,
    ) -> Result<Vec<(String, String, String)>> {
        let op = "pubsub_subscriptions_of";
        let rows = sqlx::query(
            "SELECT n.node, s.jid, s.state FROM pubsub_subscriptions s \
             JOIN pubsub_nodes n ON n.id = s.node_id \
             WHERE n.service = ? AND s.bare = ? ORDER BY n.node, s.jid",
        )
        .bind(service)
        .bind(bare)
        .fetch_all(&self.pool)
        .await
        .map_err(backend(op))?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0).map_err(backend(op))?,
                    r.try_get(1).map_err(backend(op))?,
                    r.try_get(2).map_err(backend(op))?,
                ))
            })
            .collect()
    }

    async fn set_affiliation(
        &self,
        service: &str,
        node: &str,
        jid: &str,
        affiliation: &str,
    ) -> Result<()> {
        let op = "pubsub_set_affiliation";
        let mut tx = self.begin_write(op).await?;
        let node_id: i64 = sqlx::query_scalar(NODE_ID)
            .bind(service)
            .bind(node)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend(op))?
            .ok_or(StorageError::NotFound)?;
        if affiliation == "none" {
            sqlx::query("DELETE FROM pubsub_affiliations WHERE node_id = ? AND jid = ?")
                .bind(node_id)
                .bind(jid)
                .execute(&mut *tx)
                .await
                .map_err(backend(op))?;
        } else {
            sqlx::query(
                "INSERT INTO pubsub_affiliations (node_id, jid, affiliation) VALUES (?, ?, ?) \
                 ON CONFLICT (node_id, jid) DO UPDATE SET affiliation = excluded.affiliation",
            )
            .bind(node_id)
            .bind(jid)
            .bind(affiliation)
            .execute(&mut *tx)
            .await
            .map_err(backend(op))?;
        }
        tx.commit().await.map_err(backend(op))
    }

    async fn node_affiliations(&self, service: &str, node: &str) -> Result<Vec<Membership>> {
        let op = "pubsub_node_affiliations";
        let rows = sqlx::query(&format!(
            "SELECT jid, affiliation FROM pubsub_affiliations WHERE node_id = ({NODE_ID}) \
             ORDER BY jid"
        ))
        .bind(service)
        .bind(node)
        .fetch_all(&self.pool)
        .await
        .map_err(backend(op))?;
        pairs(op, rows)
    }

    async fn affiliations_of(&self, service: &str, jid: &str) -> Result<Vec<Membership>> {
        let op = "pubsub_affiliations_of";
        let rows = sqlx::query(
            "SELECT n.node, a.affiliation FROM pubsub_affiliations a \
             JOIN pubsub_nodes n ON n.id = a.node_id \
             WHERE n.service = ? AND a.jid = ? ORDER BY n.node",
        )
        .bind(service)
        .bind(jid)
        .fetch_all(&self.pool)
        .await
        .map_err(backend(op))?;
        pairs(op, rows)
    }
}

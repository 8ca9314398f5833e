//! [`PubsubStore`] on PostgreSQL: `pubsub_nodes` keyed by `(service, node)`, `pubsub_items` by
//! node in publication order (`seq`), deleted with their node by the foreign key cascade.
//!
//! # Concurrency
//! - Creating a node holds a per-service advisory lock from the count to the insert, so
//!   creators on several nodes cannot both see room for the last node of `max_nodes`.
//! - Publishing locks the node's row (`FOR UPDATE`) before replacing and trimming, so
//!   publications to one node run one at a time: each trim sees every earlier publication and
//!   removes each trimmed item once, and `seq` order is commit order. Retracting and deleting
//!   the node take the same row lock (the delete) or none (a retraction only removes a row).

use super::{decode, PgStore};
use crate::{PubsubItem, PubsubNode, PubsubStore, Result, StorageError};
use sqlx::postgres::PgRow;
use sqlx::Row;

/// First key of the advisory locks taken by [`PubsubStore::create_node`].
const NODE_LIMIT_LOCK_CLASS: i32 = 0x6d6b_7073; // "mkps"

fn encode_config(config: &[(String, String)]) -> Result<String> {
    serde_json::to_string(config)
        .map_err(|e| StorageError::Backend(format!("encoding node config: {e}")))
}

fn decode_config(text: &str) -> Result<Vec<(String, String)>> {
    serde_json::from_str(text)
        .map_err(|e| StorageError::Backend(format!("decoding node config: {e}")))
}

fn node_from_row(op: &'static str, row: &PgRow) -> Result<PubsubNode> {
    let config: String = row.try_get("config").map_err(decode(op))?;
    Ok(PubsubNode {
        service: row.try_get("service").map_err(decode(op))?,
        node: row.try_get("node").map_err(decode(op))?,
        config: decode_config(&config)?,
    })
}

fn item_from_row(op: &'static str, row: &PgRow) -> Result<PubsubItem> {
    Ok(PubsubItem {
        id: row.try_get("item_id").map_err(decode(op))?,
        publisher: row.try_get("publisher").map_err(decode(op))?,
        published_at_ms: row.try_get("published_at_ms").map_err(decode(op))?,
        payload: row.try_get("payload").map_err(decode(op))?,
    })
}

/// The node's id from `(service, node)` as `$1`, `$2`.
const NODE_ID: &str = "SELECT id FROM pubsub_nodes WHERE service = $1 AND node = $2";

#[async_trait::async_trait]
impl PubsubStore for PgStore {
    async fn create_node(
        &self,
        service: &str,
        node: &str,
        config: &[(String, String)],
        max_nodes: usize,
    ) -> Result<()> {
        let op = "pubsub_create_node";
        let config = encode_config(config)?;
        let limit = i64::try_from(max_nodes).unwrap_or(i64::MAX);
        let mut tx = self.begin(op).await?;
        // Creators in one service run one at a time until commit (a hash collision only
        // serialises two services, it never lets a limit be passed).
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(NODE_LIMIT_LOCK_CLASS)
            .bind(service)
            .execute(&mut *tx)
            .await
            .map_err(self.backend(op))?;
        let exists: Option<i64> = sqlx::query_scalar(NODE_ID)
            .bind(service)
            .bind(node)
            .fetch_optional(&mut *tx)
            .await
            .map_err(self.backend(op))?;
        if exists.is_some() {
            return Err(StorageError::AlreadyExists);
        }
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pubsub_nodes WHERE service = $1")
            .bind(service)
            .fetch_one(&mut *tx)
            .await
            .map_err(self.backend(op))?;
        if count >= limit {
            return Err(StorageError::LimitReached { limit: max_nodes });
        }
        let inserted = sqlx::query(
            "INSERT INTO pubsub_nodes (service, node, config) VALUES ($1, $2, $3::jsonb) \
             ON CONFLICT (service, node) DO NOTHING",
        )
        .bind(service)
        .bind(node)
        .bind(config)
        .execute(&mut *tx)
        .await
        .map_err(self.backend(op))?;
        if inserted.rows_affected() == 0 {
            return Err(StorageError::AlreadyExists);
        }
        tx.commit().await.map_err(self.backend(op))
    }

    async fn get_node(&self, service: &str, node: &str) -> Result<Option<PubsubNode>> {
        let op = "pubsub_get_node";
        let row = sqlx::query(
            "SELECT service, node, config::text AS config FROM pubsub_nodes \
             WHERE service = $1 AND node = $2",
        )
        .bind(service)
        .bind(node)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.backend(op))?;
        row.map(|r| node_from_row(op, &r)).transpose()
    }

    async fn list_nodes(&self, service: &str) -> Result<Vec<PubsubNode>> {
        let op = "pubsub_list_nodes";
        let rows = sqlx::query(
            "SELECT service, node, config::text AS config FROM pubsub_nodes \
             WHERE service = $1 ORDER BY node",
        )
        .bind(service)
        .fetch_all(&self.pool)
        .await
        .map_err(self.backend(op))?;
        rows.iter().map(|r| node_from_row(op, r)).collect()
    }

    async fn set_node_config(
        &self,
        service: &str,
        node: &str,
        config: &[(String, String)],
    ) -> Result<()> {
        let op = "pubsub_set_node_config";
        let r = sqlx::query(
            "UPDATE pubsub_nodes SET config = $1::jsonb WHERE service = $2 AND node = $3",
        )
        .bind(encode_config(config)?)
        .bind(service)
        .bind(node)
        .execute(&self.pool)
        .await
        .map_err(self.backend(op))?;
        if r.rows_affected() == 0 {
            return Err(StorageError::NotFound);
        }
        Ok(())
    }

    async fn delete_node(&self, service: &str, node: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM pubsub_nodes WHERE service = $1 AND node = $2")
            .bind(service)
            .bind(node)
            .execute(&self.pool)
            .await
            .map_err(self.backend("pubsub_delete_node"))?;
        Ok(r.rows_affected() > 0)
    }

    async fn delete_service(&self, service: &str) -> Result<()> {
        sqlx::query("DELETE FROM pubsub_nodes WHERE service = $1")
            .bind(service)
            .execute(&self.pool)
            .await
            .map_err(self.backend("pubsub_delete_service"))?;
        Ok(())
    }

    async fn publish_item(
        &self,
        service: &str,
        node: &str,
        item: &PubsubItem,
        max_items: usize,
    ) -> Result<Vec<String>> {
        let op = "pubsub_publish_item";
        let keep = i64::try_from(max_items).unwrap_or(i64::MAX);
        let mut tx = self.begin(op).await?;
        // The row lock orders publishers of this node until commit (see the module docs).
        let node_id: i64 = sqlx::query_scalar(&format!("{NODE_ID} FOR UPDATE"))
            .bind(service)
            .bind(node)
            .fetch_optional(&mut *tx)
            .await
            .map_err(self.backend(op))?
            .ok_or(StorageError::NotFound)?;
        sqlx::query("DELETE FROM pubsub_items WHERE node_id = $1 AND item_id = $2")
            .bind(node_id)
            .bind(&item.id)
            .execute(&mut *tx)
            .await
            .map_err(self.backend(op))?;
        sqlx::query(
            "INSERT INTO pubsub_items (node_id, item_id, publisher, published_at_ms, payload) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(node_id)
        .bind(&item.id)
        .bind(&item.publisher)
        .bind(item.published_at_ms)
        .bind(&item.payload)
        .execute(&mut *tx)
        .await
        .map_err(self.backend(op))?;
        let mut removed: Vec<(i64, String)> = sqlx::query_as(
            "DELETE FROM pubsub_items WHERE node_id = $1 AND seq NOT IN \
             (SELECT seq FROM pubsub_items WHERE node_id = $1 ORDER BY seq DESC LIMIT $2) \
             RETURNING seq, item_id",
        )
        .bind(node_id)
        .bind(keep)
        .fetch_all(&mut *tx)
        .await
        .map_err(self.backend(op))?;
        tx.commit().await.map_err(self.backend(op))?;
        removed.sort();
        Ok(removed.into_iter().map(|(_, id)| id).collect())
    }

    async fn retract_item(&self, service: &str, node: &str, id: &str) -> Result<bool> {
        let r = sqlx::query(&format!(
            "DELETE FROM pubsub_items WHERE node_id = ({NODE_ID}) AND item_id = $3"
        ))
        .bind(service)
        .bind(node)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(self.backend("pubsub_retract_item"))?;
        Ok(r.rows_affected() > 0)
    }

    async fn get_items(
        &self,
        service: &str,
        node: &str,
        max: Option<usize>,
    ) -> Result<Vec<PubsubItem>> {
        let op = "pubsub_get_items";
        // LIMIT NULL is no limit.
        let limit = max.map(|m| i64::try_from(m).unwrap_or(i64::MAX));
        let rows = sqlx::query(&format!(
            "SELECT item_id, publisher, published_at_ms, payload FROM \
             (SELECT * FROM pubsub_items WHERE node_id = ({NODE_ID}) \
              ORDER BY seq DESC LIMIT $3) AS newest \
             ORDER BY seq"
        ))
        .bind(service)
        .bind(node)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(self.backend(op))?;
        rows.iter().map(|r| item_from_row(op, r)).collect()
    }

    async fn get_item(&self, service: &str, node: &str, id: &str) -> Result<Option<PubsubItem>> {
        let op = "pubsub_get_item";
        let row = sqlx::query(&format!(
            "SELECT item_id, publisher, published_at_ms, payload FROM pubsub_items \
             WHERE node_id = ({NODE_ID}) AND item_id = $3"
        ))
        .bind(service)
        .bind(node)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.backend(op))?;
        row.map(|r| item_from_row(op, &r)).transpose()
    }
}

//! [`PubsubStore`] on SQLite: `pubsub_nodes` keyed by `(service, node)`, `pubsub_items` by
//! node in publication order (`seq`), deleted with their node by the foreign key cascade.

use super::{backend, SqliteStore};
use crate::{PubsubItem, PubsubNode, PubsubStore, Result, StorageError};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

fn encode_config(config: &[(String, String)]) -> Result<String> {
    serde_json::to_string(config)
        .map_err(|e| StorageError::Backend(format!("encoding node config: {e}")))
}

fn decode_config(text: &str) -> Result<Vec<(String, String)>> {
    serde_json::from_str(text)
        .map_err(|e| StorageError::Backend(format!("decoding node config: {e}")))
}

fn node_from_row(op: &'static str, row: &SqliteRow) -> Result<PubsubNode> {
    let config: String = row.try_get("config").map_err(backend(op))?;
    Ok(PubsubNode {
        service: row.try_get("service").map_err(backend(op))?,
        node: row.try_get("node").map_err(backend(op))?,
        config: decode_config(&config)?,
    })
}

fn item_from_row(op: &'static str, row: &SqliteRow) -> Result<PubsubItem> {
    Ok(PubsubItem {
        id: row.try_get("item_id").map_err(backend(op))?,
        publisher: row.try_get("publisher").map_err(backend(op))?,
        published_at_ms: row.try_get("published_at_ms").map_err(backend(op))?,
        payload: row.try_get("payload").map_err(backend(op))?,
    })
}

const NODE_ID: &str = "SELECT id FROM pubsub_nodes WHERE service = ? AND node = ?";

#[async_trait::async_trait]
impl PubsubStore for SqliteStore {
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
        let mut tx = self.begin_write(op).await?;
        let exists: Option<i64> = sqlx::query_scalar(NODE_ID)
            .bind(service)
            .bind(node)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend(op))?;
        if exists.is_some() {
            return Err(StorageError::AlreadyExists);
        }
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pubsub_nodes WHERE service = ?")
            .bind(service)
            .fetch_one(&mut *tx)
            .await
            .map_err(backend(op))?;
        if count >= limit {
            return Err(StorageError::LimitReached { limit: max_nodes });
        }
        sqlx::query("INSERT INTO pubsub_nodes (service, node, config) VALUES (?, ?, ?)")
            .bind(service)
            .bind(node)
            .bind(config)
            .execute(&mut *tx)
            .await
            .map_err(backend(op))?;
        tx.commit().await.map_err(backend(op))
    }

    async fn get_node(&self, service: &str, node: &str) -> Result<Option<PubsubNode>> {
        let op = "pubsub_get_node";
        let row = sqlx::query(
            "SELECT service, node, config FROM pubsub_nodes WHERE service = ? AND node = ?",
        )
        .bind(service)
        .bind(node)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend(op))?;
        row.map(|r| node_from_row(op, &r)).transpose()
    }

    async fn list_nodes(&self, service: &str) -> Result<Vec<PubsubNode>> {
        let op = "pubsub_list_nodes";
        let rows = sqlx::query(
            "SELECT service, node, config FROM pubsub_nodes WHERE service = ? ORDER BY node",
        )
        .bind(service)
        .fetch_all(&self.pool)
        .await
        .map_err(backend(op))?;
        rows.iter().map(|r| node_from_row(op, r)).collect()
    }

    async fn set_node_config(
        &self,
        service: &str,
        node: &str,
        config: &[(String, String)],
    ) -> Result<()> {
        let op = "pubsub_set_node_config";
        let r = sqlx::query("UPDATE pubsub_nodes SET config = ? WHERE service = ? AND node = ?")
            .bind(encode_config(config)?)
            .bind(service)
            .bind(node)
            .execute(&self.pool)
            .await
            .map_err(backend(op))?;
        if r.rows_affected() == 0 {
            return Err(StorageError::NotFound);
        }
        Ok(())
    }

    async fn delete_node(&self, service: &str, node: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM pubsub_nodes WHERE service = ? AND node = ?")
            .bind(service)
            .bind(node)
            .execute(&self.pool)
            .await
            .map_err(backend("pubsub_delete_node"))?;
        Ok(r.rows_affected() > 0)
    }

    async fn delete_service(&self, service: &str) -> Result<()> {
        sqlx::query("DELETE FROM pubsub_nodes WHERE service = ?")
            .bind(service)
            .execute(&self.pool)
            .await
            .map_err(backend("pubsub_delete_service"))?;
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
        let mut tx = self.begin_write(op).await?;
        let node_id: i64 = sqlx::query_scalar(NODE_ID)
            .bind(service)
            .bind(node)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend(op))?
            .ok_or(StorageError::NotFound)?;
        sqlx::query("DELETE FROM pubsub_items WHERE node_id = ? AND item_id = ?")
            .bind(node_id)
            .bind(&item.id)
            .execute(&mut *tx)
            .await
            .map_err(backend(op))?;
        sqlx::query(
            "INSERT INTO pubsub_items (node_id, item_id, publisher, published_at_ms, payload) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(node_id)
        .bind(&item.id)
        .bind(&item.publisher)
        .bind(item.published_at_ms)
        .bind(&item.payload)
        .execute(&mut *tx)
        .await
        .map_err(backend(op))?;
        let removed: Vec<(i64, String)> = sqlx::query_as(
            "DELETE FROM pubsub_items WHERE node_id = ?1 AND seq NOT IN \
             (SELECT seq FROM pubsub_items WHERE node_id = ?1 ORDER BY seq DESC LIMIT ?2) \
             RETURNING seq, item_id",
        )
        .bind(node_id)
        .bind(keep)
        .fetch_all(&mut *tx)
        .await
        .map_err(backend(op))?;
        tx.commit().await.map_err(backend(op))?;
        let mut removed = removed;
        removed.sort();
        Ok(removed.into_iter().map(|(_, id)| id).collect())
    }

    async fn retract_item(&self, service: &str, node: &str, id: &str) -> Result<bool> {
        let r = sqlx::query(&format!(
            "DELETE FROM pubsub_items WHERE node_id = ({NODE_ID}) AND item_id = ?"
        ))
        .bind(service)
        .bind(node)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(backend("pubsub_retract_item"))?;
        Ok(r.rows_affected() > 0)
    }

    async fn get_items(
        &self,
        service: &str,
        node: &str,
        max: Option<usize>,
    ) -> Result<Vec<PubsubItem>> {
        let op = "pubsub_get_items";
        let limit = max.map_or(i64::MAX, |m| i64::try_from(m).unwrap_or(i64::MAX));
        let rows = sqlx::query(&format!(
            "SELECT item_id, publisher, published_at_ms, payload FROM \
             (SELECT * FROM pubsub_items WHERE node_id = ({NODE_ID}) ORDER BY seq DESC LIMIT ?) \
             ORDER BY seq"
        ))
        .bind(service)
        .bind(node)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(backend(op))?;
        rows.iter().map(|r| item_from_row(op, r)).collect()
    }

    async fn get_item(&self, service: &str, node: &str, id: &str) -> Result<Option<PubsubItem>> {
        let op = "pubsub_get_item";
        let row = sqlx::query(&format!(
            "SELECT item_id, publisher, published_at_ms, payload FROM pubsub_items \
             WHERE node_id = ({NODE_ID}) AND item_id = ?"
        ))
        .bind(service)
        .bind(node)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend(op))?;
        row.map(|r| item_from_row(op, &r)).transpose()
    }
}

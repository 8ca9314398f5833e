//! [`ClusterStore`] on PostgreSQL: `cluster_nodes` and `cluster_sessions`
//! (`migrations/postgres/0005_cluster.sql`).
//!
//! Dead-node cleanup is decided by a row lock: the caller that locks the dead node's
//! `cluster_nodes` row (`FOR UPDATE SKIP LOCKED`) deletes its session rows and gets their JIDs;
//! every other caller skips at once. The delete itself is `DELETE … RETURNING`, so even two
//! callers without a row to lock never both get the same session.

use super::{decode, PgStore};
use crate::cluster::{ClusterNodeRow, ClusterStore, Incarnations};
use crate::Result;
use sqlx::Row;

#[async_trait::async_trait]
impl ClusterStore for PgStore {
    async fn register_node(&self, node: &str, admin_address: &str, incarnation: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO cluster_nodes (name, admin_address, incarnation) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET admin_address = excluded.admin_address, \
                 incarnation = excluded.incarnation, last_seen = now(), left_at = NULL",
        )
        .bind(node)
        .bind(admin_address)
        .bind(incarnation)
        .execute(&self.pool)
        .await
        .map_err(self.backend("register_node"))?;
        Ok(())
    }

    async fn touch_node(&self, node: &str, incarnation: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE cluster_nodes SET last_seen = now(), left_at = NULL \
             WHERE name = $1 AND incarnation = $2",
        )
        .bind(node)
        .bind(incarnation)
        .execute(&self.pool)
        .await
        .map_err(self.backend("touch_node"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn nodes(&self) -> Result<Vec<ClusterNodeRow>> {
        let rows = sqlx::query(
            "SELECT name, admin_address, incarnation, \
                 extract(epoch FROM joined_at)::BIGINT AS joined_at, \
                 extract(epoch FROM last_seen)::BIGINT AS last_seen, \
                 extract(epoch FROM left_at)::BIGINT AS left_at \
             FROM cluster_nodes ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(self.backend("cluster_nodes"))?;
        rows.iter()
            .map(|row| {
                Ok(ClusterNodeRow {
                    name: row.try_get("name").map_err(decode("cluster_nodes"))?,
                    admin_address: row.try_get("admin_address").map_err(decode("cluster_nodes"))?,
                    incarnation: row.try_get("incarnation").map_err(decode("cluster_nodes"))?,
                    joined_at: row.try_get("joined_at").map_err(decode("cluster_nodes"))?,
                    last_seen: row.try_get("last_seen").map_err(decode("cluster_nodes"))?,
                    left_at: row.try_get("left_at").map_err(decode("cluster_nodes"))?,
                })
            })
            .collect()
    }

    async fn mark_stopped(&self, node: &str, incarnation: i64) -> Result<()> {
        sqlx::query(
            "UPDATE cluster_nodes SET left_at = now() \
             WHERE name = $1 AND incarnation = $2 AND left_at IS NULL",
        )
        .bind(node)
        .bind(incarnation)
        .execute(&self.pool)
        .await
        .map_err(self.backend("mark_stopped"))?;
        Ok(())
    }

    async fn delete_node(&self, node: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM cluster_nodes WHERE name = $1")
            .bind(node)
            .execute(&self.pool)
            .await
            .map_err(self.backend("delete_node"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn add_sessions(&self, node: &str, jids: &[String], incarnation: i64) -> Result<()> {
        // DISTINCT: one statement may not update the same row twice (ON CONFLICT).
        sqlx::query(
            "INSERT INTO cluster_sessions (node, jid, incarnation) \
             SELECT DISTINCT $1, j, $3::bigint FROM UNNEST($2::text[]) AS j \
             ON CONFLICT (node, jid) DO UPDATE SET incarnation = excluded.incarnation, \
                 bound_at = now()",
        )
        .bind(node)
        .bind(jids)
        .bind(incarnation)
        .execute(&self.pool)
        .await
        .map_err(self.backend("add_sessions"))?;
        Ok(())
    }

    async fn remove_sessions(&self, node: &str, jids: &[String]) -> Result<()> {
        sqlx::query("DELETE FROM cluster_sessions WHERE node = $1 AND jid = ANY($2::text[])")
            .bind(node)
            .bind(jids)
            .execute(&self.pool)
            .await
            .map_err(self.backend("remove_sessions"))?;
        Ok(())
    }

    async fn sessions(&self, node: &str) -> Result<Vec<String>> {
        sqlx::query_scalar("SELECT jid FROM cluster_sessions WHERE node = $1 ORDER BY jid")
            .bind(node)
            .fetch_all(&self.pool)
            .await
            .map_err(self.backend("cluster_sessions"))
    }

    async fn claim_sessions(&self, node: &str, which: Incarnations) -> Result<Option<Vec<String>>> {
        let op = "claim_sessions";
        let mut tx = self.pool.begin().await.map_err(self.backend(op))?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM cluster_nodes WHERE name = $1)")
                .bind(node)
                .fetch_one(&mut *tx)
                .await
                .map_err(self.backend(op))?;
        let row_incarnation: Option<i64> = if exists {
            let locked: Option<i64> = sqlx::query_scalar(
                "SELECT incarnation FROM cluster_nodes WHERE name = $1 FOR UPDATE SKIP LOCKED",
            )
            .bind(node)
            .fetch_optional(&mut *tx)
            .await
            .map_err(self.backend(op))?;
            match locked {
                Some(incarnation) => Some(incarnation),
                // Another node holds the lock: it does the cleanup.
                None => return Ok(None),
            }
        } else {
            None
        };
        let (filter, value) = match which {
            Incarnations::Only(i) => ("incarnation = $2", i),
            Incarnations::AllBut(i) => ("incarnation <> $2", i),
            Incarnations::All => ("$2::BIGINT IS NOT NULL", 0),
        };
        let mut jids: Vec<String> = sqlx::query_scalar(&format!(
            "DELETE FROM cluster_sessions WHERE node = $1 AND {filter} RETURNING jid"
        ))
        .bind(node)
        .bind(value)
        .fetch_all(&mut *tx)
        .await
        .map_err(self.backend(op))?;
        jids.sort();
        let stop_row = match (which, row_incarnation) {
            (Incarnations::Only(i), Some(r)) => i == r,
            (Incarnations::All, Some(_)) => true,
            _ => false,
        };
        if stop_row {
            sqlx::query(
                "UPDATE cluster_nodes SET left_at = now() WHERE name = $1 AND left_at IS NULL",
            )
            .bind(node)
            .execute(&mut *tx)
            .await
            .map_err(self.backend(op))?;
        }
        tx.commit().await.map_err(self.backend(op))?;
        Ok(Some(jids))
    }
}

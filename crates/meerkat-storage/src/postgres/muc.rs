//! [`MucStore`] on PostgreSQL: `muc_rooms` and `muc_affiliations` (cascading deletes).

use super::{count_from_db, decode, PgStore};
use crate::muc::{decode_config, encode_config};
use crate::{MucStore, Result, StoredRoom};
use sqlx::Row;

#[async_trait::async_trait]
impl MucStore for PgStore {
    async fn get_room(&self, service: &str, name: &str) -> Result<Option<StoredRoom>> {
        let op = "muc_get_room";
        let Some(row) = sqlx::query(
            "SELECT config, subject, subject_by FROM muc_rooms WHERE service = $1 AND name = $2",
        )
        .bind(service)
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.backend(op))?
        else {
            return Ok(None);
        };
        let config: String = row.try_get("config").map_err(decode(op))?;
        let rows = sqlx::query(
            "SELECT jid, affiliation FROM muc_affiliations WHERE service = $1 AND name = $2 \
             ORDER BY jid",
        )
        .bind(service)
        .bind(name)
        .fetch_all(&self.pool)
        .await
        .map_err(self.backend(op))?;
        let mut affiliations = Vec::with_capacity(rows.len());
        for r in rows {
            affiliations.push((
                r.try_get("jid").map_err(decode(op))?,
                r.try_get("affiliation").map_err(decode(op))?,
            ));
        }
        Ok(Some(StoredRoom {
            service: service.to_owned(),
            name: name.to_owned(),
            config: decode_config(&config)?,
            subject: row.try_get("subject").map_err(decode(op))?,
            subject_by: row.try_get("subject_by").map_err(decode(op))?,
            affiliations,
        }))
    }

    async fn put_room(&self, room: &StoredRoom) -> Result<()> {
        let op = "muc_put_room";
        let mut tx = self.begin(op).await?;
        sqlx::query(
            "INSERT INTO muc_rooms (service, name, config, subject, subject_by) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (service, name) DO UPDATE SET \
             config = excluded.config, subject = excluded.subject, \
             subject_by = excluded.subject_by",
        )
        .bind(&room.service)
        .bind(&room.name)
        .bind(encode_config(&room.config))
        .bind(&room.subject)
        .bind(&room.subject_by)
        .execute(&mut *tx)
        .await
        .map_err(self.backend(op))?;
        sqlx::query("DELETE FROM muc_affiliations WHERE service = $1 AND name = $2")
            .bind(&room.service)
            .bind(&room.name)
            .execute(&mut *tx)
            .await
            .map_err(self.backend(op))?;
        for (jid, aff) in &room.affiliations {
            sqlx::query(
                "INSERT INTO muc_affiliations (service, name, jid, affiliation) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(&room.service)
            .bind(&room.name)
            .bind(jid)
            .bind(aff)
            .execute(&mut *tx)
            .await
            .map_err(self.backend(op))?;
        }
        tx.commit().await.map_err(self.backend(op))
    }

    async fn delete_room(&self, service: &str, name: &str) -> Result<()> {
        sqlx::query("DELETE FROM muc_rooms WHERE service = $1 AND name = $2")
            .bind(service)
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(self.backend("muc_delete_room"))?;
        Ok(())
    }

    async fn list_rooms(&self, service: &str, limit: usize) -> Result<Vec<StoredRoom>> {
        let op = "muc_list_rooms";
        let rows = sqlx::query(
            "SELECT name, config, subject, subject_by FROM muc_rooms WHERE service = $1 \
             ORDER BY name LIMIT $2",
        )
        .bind(service)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(self.backend(op))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let config: String = r.try_get("config").map_err(decode(op))?;
            out.push(StoredRoom {
                service: service.to_owned(),
                name: r.try_get("name").map_err(decode(op))?,
                config: decode_config(&config)?,
                subject: r.try_get("subject").map_err(decode(op))?,
                subject_by: r.try_get("subject_by").map_err(decode(op))?,
                affiliations: Vec::new(),
            });
        }
        Ok(out)
    }

    async fn count_rooms(&self, service: &str) -> Result<u64> {
        let op = "muc_count_rooms";
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM muc_rooms WHERE service = $1")
            .bind(service)
            .fetch_one(&self.pool)
            .await
            .map_err(self.backend(op))?;
        count_from_db(op, n)
    }

    async fn replace_archived(
        &self,
        service: &str,
        name: &str,
        id: i64,
        stanza: &str,
    ) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE mam_messages SET stanza = $1 WHERE id = $2 AND host = $3 AND username = $4",
        )
        .bind(stanza)
        .bind(id)
        .bind(service)
        .bind(name)
        .execute(&self.pool)
        .await
        .map_err(self.backend("muc_replace_archived"))?;
        Ok(r.rows_affected() > 0)
    }

    async fn claim_room(&self, service: &str, name: &str, node: &str) -> Result<String> {
        let op = "muc_claim_room";
        // One statement: insert, or take over a claim whose node is not running. Two nodes
        // racing for a dead node's room serialise on the row; the second sees the first's
        // (running) claim and gets no row back.
        for _ in 0..3 {
            let won: Option<String> = sqlx::query_scalar(
                "INSERT INTO muc_room_claims (service, name, node) VALUES ($1, $2, $3) \
                 ON CONFLICT (service, name) DO UPDATE SET node = excluded.node, claimed_at = now() \
                 WHERE muc_room_claims.node = excluded.node OR NOT EXISTS ( \
                     SELECT 1 FROM cluster_nodes n \
                     WHERE n.name = muc_room_claims.node AND n.left_at IS NULL) \
                 RETURNING node",
            )
            .bind(service)
            .bind(name)
            .bind(node)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.backend(op))?;
            if let Some(n) = won {
                return Ok(n);
            }
            let holder: Option<String> = sqlx::query_scalar(
                "SELECT node FROM muc_room_claims WHERE service = $1 AND name = $2",
            )
            .bind(service)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.backend(op))?;
            // Released between the two statements: try again.
            if let Some(h) = holder {
                return Ok(h);
            }
        }
        Err(crate::StorageError::Backend(format!("{op}: claim kept changing")))
    }

    async fn release_room(&self, service: &str, name: &str, node: &str) -> Result<()> {
        sqlx::query("DELETE FROM muc_room_claims WHERE service = $1 AND name = $2 AND node = $3")
            .bind(service)
            .bind(name)
            .bind(node)
            .execute(&self.pool)
            .await
            .map_err(self.backend("muc_release_room"))?;
        Ok(())
    }
}

//! [`MucStore`] on SQLite: `muc_rooms` and `muc_affiliations` (cascading deletes).

use super::{backend, count_from_db, SqliteStore};
use crate::muc::{decode_config, encode_config};
use crate::{MucStore, Result, StoredRoom};
use sqlx::Row;

#[async_trait::async_trait]
impl MucStore for SqliteStore {
    async fn get_room(&self, service: &str, name: &str) -> Result<Option<StoredRoom>> {
        let op = "muc_get_room";
        let Some(row) = sqlx::query(
            "SELECT config, subject, subject_by FROM muc_rooms WHERE service = ? AND name = ?",
        )
        .bind(service)
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend(op))?
        else {
            return Ok(None);
        };
        let config: String = row.try_get("config").map_err(backend(op))?;
        let rows = sqlx::query(
            "SELECT jid, affiliation FROM muc_affiliations WHERE service = ? AND name = ? \
             ORDER BY jid",
        )
        .bind(service)
        .bind(name)
        .fetch_all(&self.pool)
        .await
        .map_err(backend(op))?;
        let mut affiliations = Vec::with_capacity(rows.len());
        for r in rows {
            affiliations.push((
                r.try_get("jid").map_err(backend(op))?,
                r.try_get("affiliation").map_err(backend(op))?,
            ));
        }
        Ok(Some(StoredRoom {
            service: service.to_owned(),
            name: name.to_owned(),
            config: decode_config(&config)?,
            subject: row.try_get("subject").map_err(backend(op))?,
            subject_by: row.try_get("subject_by").map_err(backend(op))?,
            affiliations,
        }))
    }

    async fn put_room(&self, room: &StoredRoom) -> Result<()> {
        let op = "muc_put_room";
        let mut tx = self.begin_write(op).await?;
        sqlx::query(
            "INSERT INTO muc_rooms (service, name, config, subject, subject_by) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (service, name) DO UPDATE SET \
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
        .map_err(backend(op))?;
        sqlx::query("DELETE FROM muc_affiliations WHERE service = ? AND name = ?")
            .bind(&room.service)
            .bind(&room.name)
            .execute(&mut *tx)
            .await
            .map_err(backend(op))?;
        for (jid, aff) in &room.affiliations {
            sqlx::query(
                "INSERT INTO muc_affiliations (service, name, jid, affiliation) \
                 VALUES (?, ?, ?, ?)",
            )
            .bind(&room.service)
            .bind(&room.name)
            .bind(jid)
            .bind(aff)
            .execute(&mut *tx)
            .await
            .map_err(backend(op))?;
        }
        tx.commit().await.map_err(backend(op))
    }

    async fn delete_room(&self, service: &str, name: &str) -> Result<()> {
        sqlx::query("DELETE FROM muc_rooms WHERE service = ? AND name = ?")
            .bind(service)
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(backend("muc_delete_room"))?;
        Ok(())
    }

    async fn list_rooms(&self, service: &str, limit: usize) -> Result<Vec<StoredRoom>> {
        let op = "muc_list_rooms";
        let rows = sqlx::query(
            "SELECT name, config, subject, subject_by FROM muc_rooms WHERE service = ? \
             ORDER BY name LIMIT ?",
        )
        .bind(service)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(backend(op))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let config: String = r.try_get("config").map_err(backend(op))?;
            out.push(StoredRoom {
                service: service.to_owned(),
                name: r.try_get("name").map_err(backend(op))?,
                config: decode_config(&config)?,
                subject: r.try_get("subject").map_err(backend(op))?,
                subject_by: r.try_get("subject_by").map_err(backend(op))?,
                affiliations: Vec::new(),
            });
        }
        Ok(out)
    }

    async fn count_rooms(&self, service: &str) -> Result<u64> {
        let op = "muc_count_rooms";
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM muc_rooms WHERE service = ?")
            .bind(service)
            .fetch_one(&self.pool)
            .await
            .map_err(backend(op))?;
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
            "UPDATE mam_messages SET stanza = ? WHERE id = ? AND host = ? AND username = ?",
        )
        .bind(stanza)
        .bind(id)
        .bind(service)
        .bind(name)
        .execute(&self.pool)
        .await
        .map_err(backend("muc_replace_archived"))?;
        Ok(r.rows_affected() > 0)
    }
}

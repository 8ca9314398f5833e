//! [`VcardStore`] on SQLite: one row per user in `vcards`.

use super::{backend, SqliteStore};
use crate::{Result, StoredVcard, VcardStore};
use sqlx::Row;

#[async_trait::async_trait]
impl VcardStore for SqliteStore {
    async fn get_vcard(&self, host: &str, username: &str) -> Result<Option<StoredVcard>> {
        let op = "get_vcard";
        let row = sqlx::query("SELECT xml, photo_sha1 FROM vcards WHERE host = ? AND username = ?")
            .bind(host)
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend(op))?;
        row.map(|row| {
            Ok(StoredVcard {
                xml: row.try_get("xml").map_err(backend(op))?,
                photo_sha1: row.try_get("photo_sha1").map_err(backend(op))?,
            })
        })
        .transpose()
    }

    async fn set_vcard(&self, host: &str, username: &str, vcard: &StoredVcard) -> Result<()> {
        sqlx::query(
            "INSERT INTO vcards (host, username, xml, photo_sha1) VALUES (?, ?, ?, ?) \
             ON CONFLICT (host, username) DO UPDATE SET \
                 xml = excluded.xml, photo_sha1 = excluded.photo_sha1",
        )
        .bind(host)
        .bind(username)
        .bind(&vcard.xml)
        .bind(&vcard.photo_sha1)
        .execute(&self.pool)
        .await
        .map_err(backend("set_vcard"))?;
        Ok(())
    }
}

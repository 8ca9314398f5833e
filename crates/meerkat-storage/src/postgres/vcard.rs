//! [`VcardStore`] on PostgreSQL: one row per user in `vcards`, written with an upsert (two
//! nodes storing one user's vCard at once both succeed, the later wins whole).

use super::{decode, PgStore};
use crate::{Result, StoredVcard, VcardStore};
use sqlx::Row;

#[async_trait::async_trait]
impl VcardStore for PgStore {
    async fn get_vcard(&self, host: &str, username: &str) -> Result<Option<StoredVcard>> {
        let op = "get_vcard";
        let row =
            sqlx::query("SELECT xml, photo_sha1 FROM vcards WHERE host = $1 AND username = $2")
                .bind(host)
                .bind(username)
                .fetch_optional(&self.pool)
                .await
                .map_err(self.backend(op))?;
        row.map(|row| {
            Ok(StoredVcard {
                xml: row.try_get("xml").map_err(decode(op))?,
                photo_sha1: row.try_get("photo_sha1").map_err(decode(op))?,
            })
        })
        .transpose()
    }

    async fn set_vcard(&self, host: &str, username: &str, vcard: &StoredVcard) -> Result<()> {
        sqlx::query(
            "INSERT INTO vcards (host, username, xml, photo_sha1) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (host, username) DO UPDATE SET \
                 xml = excluded.xml, photo_sha1 = excluded.photo_sha1",
        )
        .bind(host)
        .bind(username)
        .bind(&vcard.xml)
        .bind(&vcard.photo_sha1)
        .execute(&self.pool)
        .await
        .map_err(self.backend("set_vcard"))?;
        Ok(())
    }
}

//! [`RosterStore`] on PostgreSQL: items in `roster_items` (groups as a JSONB array, so a roster
//! is one range scan), versions in `roster_versions`, bumped in the transaction of each write.
//!
//! Concurrent writers of one roster (two sessions, or two nodes) are ordered by the version
//! row: the bump is an upsert that locks it until commit, so versions follow commit order and
//! no two writes get the same version. Both writes lock the item row first, then the version
//! row, always in that order, so they cannot deadlock.

use super::{count_from_db, decode, PgStore};
use crate::codec::{
    ask_from_str, ask_to_str, groups_from_json, groups_to_json, subscription_from_str,
    subscription_to_str,
};
use crate::{Result, RosterItem, RosterStore};
use sqlx::postgres::{PgRow, PgTransaction};
use sqlx::Row;

/// Columns read into a [`RosterItem`] by [`item_from_row`] (a macro so the queries are
/// `&'static str` built at compile time). `groups` is read back as JSON text.
macro_rules! item_columns {
    () => {
        "jid, name, subscription, ask, pending_in, pending_in_stanza, pre_approved, in_roster, \
         groups::text AS groups"
    };
}

/// A user's roster, in jid order (the primary key's order, so no sort step).
const SELECT_ITEMS: &str = concat!(
    "SELECT ",
    item_columns!(),
    " FROM roster_items WHERE host = $1 AND username = $2 ORDER BY jid"
);

/// One item of a user's roster.
const SELECT_ITEM: &str = concat!(
    "SELECT ",
    item_columns!(),
    " FROM roster_items WHERE host = $1 AND username = $2 AND jid = $3"
);

#[async_trait::async_trait]
impl RosterStore for PgStore {
    async fn get_items(&self, host: &str, username: &str) -> Result<Vec<RosterItem>> {
        let rows = sqlx::query(SELECT_ITEMS)
            .bind(host)
            .bind(username)
            .fetch_all(&self.pool)
            .await
            .map_err(self.backend("get_items"))?;
        rows.iter().map(|row| item_from_row(row, "get_items")).collect()
    }

    async fn get_item(&self, host: &str, username: &str, jid: &str) -> Result<Option<RosterItem>> {
        let row = sqlx::query(SELECT_ITEM)
            .bind(host)
            .bind(username)
            .bind(jid)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.backend("get_item"))?;
        row.map(|row| item_from_row(&row, "get_item")).transpose()
    }

    async fn put_item(&self, host: &str, username: &str, item: &RosterItem) -> Result<String> {
        let op = "put_item";
        let groups = groups_to_json(&item.groups)?;
        let mut tx = self.begin(op).await?;
        sqlx::query(
            "INSERT INTO roster_items (host, username, jid, name, subscription, ask, pending_in, \
                 pending_in_stanza, pre_approved, in_roster, groups) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb) \
             ON CONFLICT (host, username, jid) DO UPDATE SET \
                 name = excluded.name, subscription = excluded.subscription, \
                 ask = excluded.ask, pending_in = excluded.pending_in, \
                 pending_in_stanza = excluded.pending_in_stanza, \
                 pre_approved = excluded.pre_approved, in_roster = excluded.in_roster, \
                 groups = excluded.groups",
        )
        .bind(host)
        .bind(username)
        .bind(&item.jid)
        .bind(item.name.as_deref())
        .bind(subscription_to_str(item.subscription))
        .bind(ask_to_str(item.ask))
        .bind(item.pending_in)
        .bind(item.pending_in_stanza.as_deref())
        .bind(item.pre_approved)
        .bind(item.in_roster)
        .bind(groups)
        .execute(&mut *tx)
        .await
        .map_err(self.backend(op))?;
        let version = self.bump_version(&mut tx, host, username, op).await?;
        tx.commit().await.map_err(self.backend(op))?;
        Ok(version.to_string())
    }

    async fn remove_item(&self, host: &str, username: &str, jid: &str) -> Result<String> {
        let op = "remove_item";
        let mut tx = self.begin(op).await?;
        let removed =
            sqlx::query("DELETE FROM roster_items WHERE host = $1 AND username = $2 AND jid = $3")
                .bind(host)
                .bind(username)
                .bind(jid)
                .execute(&mut *tx)
                .await
                .map_err(self.backend(op))?;
        let version = if removed.rows_affected() == 0 {
            // Nothing changed, so clients holding the current version stay up to date.
            self.read_version(&mut tx, host, username, op).await?
        } else {
            self.bump_version(&mut tx, host, username, op).await?
        };
        tx.commit().await.map_err(self.backend(op))?;
        Ok(version.to_string())
    }

    async fn version(&self, host: &str, username: &str) -> Result<String> {
        let mut conn = self.pool.acquire().await.map_err(self.backend("version"))?;
        Ok(self.read_version(&mut conn, host, username, "version").await?.to_string())
    }

    async fn count_items(&self, host: &str, username: &str) -> Result<u64> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM roster_items WHERE host = $1 AND username = $2",
        )
        .bind(host)
        .bind(username)
        .fetch_one(&self.pool)
        .await
        .map_err(self.backend("count_items"))?;
        count_from_db("count_items", count)
    }
}

impl PgStore {
    /// Increments the user's roster version (creating it at 1) and returns the new value. The
    /// upsert locks the row until the transaction ends (see the module documentation).
    async fn bump_version(
        &self,
        tx: &mut PgTransaction<'static>,
        host: &str,
        username: &str,
        op: &'static str,
    ) -> Result<i64> {
        sqlx::query_scalar(
            "INSERT INTO roster_versions (host, username, version) VALUES ($1, $2, 1) \
             ON CONFLICT (host, username) DO UPDATE \
                 SET version = roster_versions.version + 1 \
             RETURNING version",
        )
        .bind(host)
        .bind(username)
        .fetch_one(&mut **tx)
        .await
        .map_err(self.backend(op))
    }

    /// The user's roster version, 0 when it was never written.
    async fn read_version(
        &self,
        conn: &mut sqlx::PgConnection,
        host: &str,
        username: &str,
        op: &'static str,
    ) -> Result<i64> {
        let version: Option<i64> = sqlx::query_scalar(
            "SELECT version FROM roster_versions WHERE host = $1 AND username = $2",
        )
        .bind(host)
        .bind(username)
        .fetch_optional(conn)
        .await
        .map_err(self.backend(op))?;
        Ok(version.unwrap_or(0))
    }
}

/// Builds an item from a row selected with `item_columns!()`.
fn item_from_row(row: &PgRow, op: &'static str) -> Result<RosterItem> {
    let subscription: String = row.try_get("subscription").map_err(decode(op))?;
    let ask: String = row.try_get("ask").map_err(decode(op))?;
    let groups: String = row.try_get("groups").map_err(decode(op))?;
    Ok(RosterItem {
        jid: row.try_get("jid").map_err(decode(op))?,
        name: row.try_get("name").map_err(decode(op))?,
        subscription: subscription_from_str(&subscription)?,
        ask: ask_from_str(&ask)?,
        pending_in: row.try_get("pending_in").map_err(decode(op))?,
        pending_in_stanza: row.try_get("pending_in_stanza").map_err(decode(op))?,
        pre_approved: row.try_get("pre_approved").map_err(decode(op))?,
        groups: groups_from_json(&groups)?,
        in_roster: row.try_get("in_roster").map_err(decode(op))?,
    })
}

//! [`RosterStore`] on SQLite: items in `roster_items` (groups as a JSON column, so a roster is
//! one range scan), versions in `roster_versions`, bumped in the transaction of each write.

use super::{backend, count_from_db, SqliteStore};
use crate::codec::{
    ask_from_str, ask_to_str, groups_from_json, groups_to_json, subscription_from_str,
    subscription_to_str,
};
use crate::{Result, RosterItem, RosterStore};
use sqlx::sqlite::{SqliteRow, SqliteTransaction};
use sqlx::Row;

/// Columns read into a [`RosterItem`] by [`item_from_row`]. A macro, not a `const`, so the
/// queries below are `&'static str` built at compile time: `get_items` runs at every presence
/// broadcast and should not format its SQL each time.
macro_rules! item_columns {
    () => {
        "jid, name, subscription, ask, pending_in, pending_in_stanza, pre_approved, in_roster, \
         groups"
    };
}

/// A user's roster, in jid order (the primary key's order, so no sort step).
const SELECT_ITEMS: &str = concat!(
    "SELECT ",
    item_columns!(),
    " FROM roster_items WHERE host = ? AND username = ? ORDER BY jid"
);

/// One item of a user's roster.
const SELECT_ITEM: &str = concat!(
    "SELECT ",
    item_columns!(),
    " FROM roster_items WHERE host = ? AND username = ? AND jid = ?"
);

#[async_trait::async_trait]
impl RosterStore for SqliteStore {
    async fn get_items(&self, host: &str, username: &str) -> Result<Vec<RosterItem>> {
        // Called at every presence broadcast: one range scan of the primary key, which also
        // gives the jid order.
        let rows = sqlx::query(SELECT_ITEMS)
            .bind(host)
            .bind(username)
            .fetch_all(&self.pool)
            .await
            .map_err(backend("get_items"))?;
        rows.iter().map(|row| item_from_row(row, "get_items")).collect()
    }

    async fn get_item(&self, host: &str, username: &str, jid: &str) -> Result<Option<RosterItem>> {
        let row = sqlx::query(SELECT_ITEM)
            .bind(host)
            .bind(username)
            .bind(jid)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend("get_item"))?;
        row.map(|row| item_from_row(&row, "get_item")).transpose()
    }

    async fn put_item(&self, host: &str, username: &str, item: &RosterItem) -> Result<String> {
        let op = "put_item";
        let groups = groups_to_json(&item.groups)?;
        let mut tx = self.begin_write(op).await?;
        sqlx::query(
            "INSERT INTO roster_items (host, username, jid, name, subscription, ask, pending_in, \
                 pending_in_stanza, pre_approved, in_roster, groups) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
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
        .map_err(backend(op))?;
        let version = bump_version(&mut tx, host, username, op).await?;
        tx.commit().await.map_err(backend(op))?;
        Ok(version.to_string())
    }

    async fn remove_item(&self, host: &str, username: &str, jid: &str) -> Result<String> {
        let op = "remove_item";
        let mut tx = self.begin_write(op).await?;
        let removed =
            sqlx::query("DELETE FROM roster_items WHERE host = ? AND username = ? AND jid = ?")
                .bind(host)
                .bind(username)
                .bind(jid)
                .execute(&mut *tx)
                .await
                .map_err(backend(op))?;
        let version = if removed.rows_affected() == 0 {
            // Nothing changed, so clients holding the current version stay up to date.
            read_version(&mut tx, host, username, op).await?
        } else {
            bump_version(&mut tx, host, username, op).await?
        };
        tx.commit().await.map_err(backend(op))?;
        Ok(version.to_string())
    }

    async fn version(&self, host: &str, username: &str) -> Result<String> {
        let mut conn = self.pool.acquire().await.map_err(backend("version"))?;
        Ok(read_version(&mut conn, host, username, "version").await?.to_string())
    }

    async fn count_items(&self, host: &str, username: &str) -> Result<u64> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM roster_items WHERE host = ? AND username = ?")
                .bind(host)
                .bind(username)
                .fetch_one(&self.pool)
                .await
                .map_err(backend("count_items"))?;
        count_from_db("count_items", count)
    }
}

/// Increments the user's roster version (creating it at 1) and returns the new value.
async fn bump_version(
    tx: &mut SqliteTransaction<'static>,
    host: &str,
    username: &str,
    op: &'static str,
) -> Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO roster_versions (host, username, version) VALUES (?, ?, 1) \
         ON CONFLICT (host, username) DO UPDATE SET version = version + 1 \
         RETURNING version",
    )
    .bind(host)
    .bind(username)
    .fetch_one(&mut **tx)
    .await
    .map_err(backend(op))
}

/// The user's roster version, 0 when it was never written.
async fn read_version(
    conn: &mut sqlx::SqliteConnection,
    host: &str,
    username: &str,
    op: &'static str,
) -> Result<i64> {
    let version: Option<i64> =
        sqlx::query_scalar("SELECT version FROM roster_versions WHERE host = ? AND username = ?")
            .bind(host)
            .bind(username)
            .fetch_optional(conn)
            .await
            .map_err(backend(op))?;
    Ok(version.unwrap_or(0))
}

/// Builds an item from a row selected with `item_columns!()`.
fn item_from_row(row: &SqliteRow, op: &'static str) -> Result<RosterItem> {
    let subscription: String = row.try_get("subscription").map_err(backend(op))?;
    let ask: String = row.try_get("ask").map_err(backend(op))?;
    let groups: String = row.try_get("groups").map_err(backend(op))?;
    Ok(RosterItem {
        jid: row.try_get("jid").map_err(backend(op))?,
        name: row.try_get("name").map_err(backend(op))?,
        subscription: subscription_from_str(&subscription)?,
        ask: ask_from_str(&ask)?,
        pending_in: row.try_get("pending_in").map_err(backend(op))?,
        pending_in_stanza: row.try_get("pending_in_stanza").map_err(backend(op))?,
        pre_approved: row.try_get("pre_approved").map_err(backend(op))?,
        groups: groups_from_json(&groups)?,
        in_roster: row.try_get("in_roster").map_err(backend(op))?,
    })
}

//! Last-activity records (XEP-0012) written off the logout path, in batches.
//!
//! Every session that ends records its logout time. One by one, a node stopping or a load
//! balancer dropping 17,000 connections at once makes 17,000 storage transactions that compete
//! with the logins of the same moment for the connection pool (seen in the 8-node capacity
//! run of BENCHMARKS.md: logins timed out waiting for a PostgreSQL connection). Here the
//! logout only notes the record; one task writes what is noted, a batch per statement.
//!
//! Pending records live in a map keyed by account, so a user logging out twice before the
//! write costs one entry (bounded by the number of accounts), and a last-activity query reads
//! the pending record first: answers never go back in time. Once the node stops, records are
//! written by the caller, and the stop writes what is left ([`LastWriter::flush`]).

use crate::server::ServerRef;
use dashmap::DashMap;
use meerkat_storage::{LastActivity, LastStore};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

/// Most records written in one statement.
const BATCH: usize = 256;
/// Pause before retrying a failed write (storage down): records stay pending meanwhile.
const RETRY: Duration = Duration::from_secs(1);
/// How long records gather before a write: each write is a commit (a WAL flush in
/// PostgreSQL), and one per logout at hundreds of logouts per second is most of the
/// database's work.
const LINGER: Duration = Duration::from_millis(50);

/// Records waiting for the writer, by (host, username).
#[derive(Default)]
pub struct LastWriter {
    pending: DashMap<(String, String), LastActivity>,
    wake: Notify,
    /// The writer task has ended: callers write themselves.
    stopped: AtomicBool,
}

impl LastWriter {
    /// Notes a logout; written by the writer task soon after.
    pub async fn record(&self, store: &dyn LastStore, host: &str, user: &str, last: LastActivity) {
        if self.stopped.load(Ordering::Acquire) {
            if let Err(e) = store.set_last(host, user, &last).await {
                tracing::error!(what = "last_activity_write_failed", error = %e);
            }
            return;
        }
        self.pending.insert((host.to_owned(), user.to_owned()), last);
        self.wake.notify_one();
    }

    /// The record noted but not written yet, if any.
    pub fn pending(&self, host: &str, user: &str) -> Option<LastActivity> {
        self.pending.get(&(host.to_owned(), user.to_owned())).map(|e| e.value().clone())
    }

    /// Writes up to [`BATCH`] pending records; false when there was nothing to write. A record
    /// replaced while its write was in flight stays pending (the newer one is written next).
    async fn write_batch(
        &self,
        store: &dyn LastStore,
    ) -> Result<bool, meerkat_storage::StorageError> {
        let batch: Vec<(String, String, LastActivity)> = self
            .pending
            .iter()
            .take(BATCH)
            .map(|e| (e.key().0.clone(), e.key().1.clone(), e.value().clone()))
            .collect();
        if batch.is_empty() {
            return Ok(false);
        }
        store.set_last_many(&batch).await?;
        for (host, user, last) in batch {
            self.pending.remove_if(&(host, user), |_, v| *v == last);
        }
        Ok(true)
    }

    /// Writes everything pending (the node's stop, after every session has ended).
    pub async fn flush(&self, store: &dyn LastStore) {
        self.stopped.store(true, Ordering::Release);
        loop {
            match self.write_batch(store).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    tracing::error!(what = "last_activity_write_failed", records = self.pending.len(), error = %e);
                    return;
                }
            }
        }
    }
}

/// Starts the writer task on the node's task tracker. It ends when the node stops and
/// nothing is pending; the stop's [`LastWriter::flush`] writes what sessions closing later
/// noted.
pub fn spawn(server: &ServerRef) {
    let s = server.clone();
    server.tasks.spawn(async move {
        let w = &s.last_activity;
        let store = s.storage.last.as_ref();
        loop {
            match w.write_batch(store).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(what = "last_activity_write_failed", records = w.pending.len(), error = %e);
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            }
            tokio::select! {
                _ = w.wake.notified() => {}
                _ = s.shutdown.cancelled() => break,
            }
            tokio::select! {
                _ = tokio::time::sleep(LINGER) => {}
                _ = s.shutdown.cancelled() => break,
            }
        }
        w.stopped.store(true, Ordering::Release);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Remembers each batch; fails the first `fail` calls.
    #[derive(Default)]
    struct Recorder {
        fail: Mutex<usize>,
        batches: Mutex<Vec<usize>>,
        rows: DashMap<(String, String), LastActivity>,
    }

    #[async_trait::async_trait]
    impl LastStore for Recorder {
        async fn set_last(
            &self,
            h: &str,
            u: &str,
            a: &LastActivity,
        ) -> meerkat_storage::Result<()> {
            self.set_last_many(&[(h.into(), u.into(), a.clone())]).await
        }
        async fn set_last_many(
            &self,
            batch: &[(String, String, LastActivity)],
        ) -> meerkat_storage::Result<()> {
            let mut fail = self.fail.lock().expect("lock");
            if *fail > 0 {
                *fail -= 1;
                return Err(meerkat_storage::StorageError::Backend("down".into()));
            }
            self.batches.lock().expect("lock").push(batch.len());
            for (h, u, a) in batch {
                self.rows.insert((h.clone(), u.clone()), a.clone());
            }
            Ok(())
        }
        async fn get_last(
            &self,
            h: &str,
            u: &str,
        ) -> meerkat_storage::Result<Option<LastActivity>> {
            Ok(self.rows.get(&(h.into(), u.into())).map(|e| e.value().clone()))
        }
    }

    fn at(seconds: i64) -> LastActivity {
        LastActivity { seconds, status: String::new() }
    }

    #[tokio::test]
    async fn pending_records_are_read_back_and_written_in_batches() {
        let (w, store) = (LastWriter::default(), Recorder::default());
        for i in 0..600 {
            w.record(&store, "h", &format!("u{i}"), at(1)).await;
        }
        w.record(&store, "h", "u0", at(2)).await;
        assert_eq!(w.pending("h", "u0"), Some(at(2)), "the newer record replaced the older");
        assert!(w.write_batch(&store).await.expect("write"));
        w.flush(&store).await;
        assert_eq!(*store.batches.lock().expect("lock"), vec![256, 256, 88]);
        assert_eq!(store.rows.len(), 600);
        assert_eq!(store.get_last("h", "u0").await.expect("get"), Some(at(2)));
        assert_eq!(w.pending("h", "u0"), None);
        // Stopped: the caller writes at once.
        w.record(&store, "h", "late", at(3)).await;
        assert_eq!(store.get_last("h", "late").await.expect("get"), Some(at(3)));
    }

    #[tokio::test]
    async fn a_failed_write_keeps_the_records() {
        let (w, store) = (LastWriter::default(), Recorder::default());
        *store.fail.lock().expect("lock") = 1;
        w.record(&store, "h", "u", at(5)).await;
        assert!(w.write_batch(&store).await.is_err());
        assert_eq!(w.pending("h", "u"), Some(at(5)));
        w.flush(&store).await;
        assert_eq!(store.get_last("h", "u").await.expect("get"), Some(at(5)));
    }
}

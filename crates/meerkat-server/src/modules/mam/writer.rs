//! The archive writer: one task that stores archived messages in batches, so routing never
//! waits on a storage write (see the module documentation of [`super`]).
//!
//! Queue: bounded (`modules.mam.writer_queue` commands, each at most one message: about the
//! stanza's size plus 150 bytes). Overflow policy: the routing task waits for room
//! (back-pressure); nothing is dropped. After the writer ended (node stopping), a message is
//! written directly by the caller.

use crate::server::ServerRef;
use meerkat_storage::{ArchiveStore, ArchivedMessage};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How long the writer keeps taking messages after shutdown began once its queue is empty:
/// sessions closing re-route their leftover messages, and those are archived too.
const DRAIN_IDLE: Duration = Duration::from_millis(300);

/// A command for the writer.
pub enum Command {
    /// Store this message.
    Store(ArchivedMessage),
    /// Answer once everything queued before is stored.
    Flush(oneshot::Sender<()>),
}

/// The sending side of the writer's queue.
#[derive(Clone)]
pub struct WriterHandle {
    tx: mpsc::Sender<Command>,
}

/// Starts the writer task on the node's task tracker.
pub fn spawn(server: &ServerRef) -> WriterHandle {
    let cfg = &server.config.modules.mam;
    let (tx, rx) = mpsc::channel(cfg.writer_queue);
    let store = server.storage.archive.clone();
    let batch = cfg.writer_batch;
    let linger = Duration::from_millis(cfg.writer_linger_ms);
    let stop = server.shutdown.clone();
    server.tasks.spawn(run(store, rx, batch, linger, stop));
    WriterHandle { tx }
}

/// Hands a message to the writer, waiting for room when the queue is full.
pub async fn enqueue(server: &ServerRef, msg: ArchivedMessage) {
    let Some(w) = server.mam.writer.get() else {
        return write_now(server.storage.archive.as_ref(), vec![msg]).await;
    };
    match w.tx.try_send(Command::Store(msg)) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(cmd)) => {
            tracing::debug!(what = "mam_queue_full");
            if let Err(mpsc::error::SendError(Command::Store(msg))) = w.tx.send(cmd).await {
                write_now(server.storage.archive.as_ref(), vec![msg]).await;
            }
        }
        Err(mpsc::error::TrySendError::Closed(Command::Store(msg))) => {
            write_now(server.storage.archive.as_ref(), vec![msg]).await;
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {}
    }
}

/// Waits until every message queued before this call is stored.
pub async fn flush(server: &ServerRef) {
    let Some(w) = server.mam.writer.get() else { return };
    let (tx, rx) = oneshot::channel();
    if w.tx.send(Command::Flush(tx)).await.is_ok() {
        let _ = rx.await;
    }
}

async fn write_now(store: &dyn ArchiveStore, batch: Vec<ArchivedMessage>) {
    if batch.is_empty() {
        return;
    }
    if let Err(e) = store.append(&batch).await {
        // One bad row must not cost the batch: retry one by one and report what still fails.
        tracing::warn!(what = "mam_batch_failed", error = %e, messages = batch.len());
        for m in batch {
            if let Err(e) = store.append(std::slice::from_ref(&m)).await {
                tracing::error!(what = "mam_write_failed", error = %e, id = m.id);
            }
        }
    }
}

/// Applies commands in order: messages are buffered and written in one transaction per batch;
/// a flush writes what is buffered and then answers.
async fn apply(store: &dyn ArchiveStore, cmds: &mut Vec<Command>) {
    let mut batch = Vec::with_capacity(cmds.len());
    for cmd in cmds.drain(..) {
        match cmd {
            Command::Store(m) => batch.push(m),
            Command::Flush(done) => {
                write_now(store, std::mem::take(&mut batch)).await;
                let _ = done.send(());
            }
        }
    }
    write_now(store, batch).await;
}

/// After the first command, keeps taking more for up to `linger` unless the batch is full or
/// a flush waits: one transaction per batch instead of one per message costs far less CPU
/// (each SQLite commit rewrites the index pages it touched; measured in BENCHMARKS.md).
async fn gather(
    rx: &mut mpsc::Receiver<Command>,
    cmds: &mut Vec<Command>,
    batch: usize,
    linger: Duration,
) {
    let deadline = tokio::time::Instant::now() + linger;
    let mut seen = 0;
    while cmds.len() < batch {
        if cmds[seen..].iter().any(|c| matches!(c, Command::Flush(_))) {
            return;
        }
        seen = cmds.len();
        let room = batch - cmds.len();
        match tokio::time::timeout_at(deadline, rx.recv_many(cmds, room)).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

async fn run(
    store: Arc<dyn ArchiveStore>,
    mut rx: mpsc::Receiver<Command>,
    batch: usize,
    linger: Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut cmds = Vec::new();
    loop {
        let n = tokio::select! {
            n = rx.recv_many(&mut cmds, batch) => n,
            _ = stop.cancelled() => break,
        };
        if n == 0 {
            return;
        }
        gather(&mut rx, &mut cmds, batch, linger).await;
        apply(store.as_ref(), &mut cmds).await;
        // Freed while idle, like the sessions' buffers.
        cmds = Vec::new();
    }
    // Stopping: keep draining while messages still come, then refuse more (callers then write
    // directly) and store what is left.
    while let Ok(n) = tokio::time::timeout(DRAIN_IDLE, rx.recv_many(&mut cmds, batch)).await {
        if n == 0 {
            break;
        }
        apply(store.as_ref(), &mut cmds).await;
    }
    rx.close();
    while let Ok(cmd) = rx.try_recv() {
        cmds.push(cmd);
    }
    apply(store.as_ref(), &mut cmds).await;
    tracing::info!(what = "mam_writer_stopped");
}

#[cfg(test)]
mod tests {
    use super::*;
    use meerkat_storage::archive::ArchiveQuery;

    fn msg(id: i64) -> ArchivedMessage {
        ArchivedMessage {
            id,
            host: "h".into(),
            username: "alice".into(),
            with_bare: "bob@h".into(),
            with_resource: String::new(),
            outgoing: false,
            stamp_ms: 1,
            stanza: format!("<message><body>{id}</body></message>"),
        }
    }

    async fn node(dir: &std::path::Path, queue: usize) -> ServerRef {
        node_with(dir, queue, 7, 10).await
    }

    async fn node_with(
        dir: &std::path::Path,
        queue: usize,
        batch: usize,
        linger_ms: u64,
    ) -> ServerRef {
        let mut config = meerkat_config::Config::default();
        config.general.data_dir = dir.to_path_buf();
        config.modules.mam.writer_queue = queue;
        config.modules.mam.writer_batch = batch;
        config.modules.mam.writer_linger_ms = linger_ms;
        crate::build(config).await.expect("node")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flush_cuts_the_linger_short_and_big_batches_are_stored_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        // An hour of linger: only the flush can make the writer store before the test's
        // timeout. 1000 messages in one batch span several multi-row INSERTs.
        let server = node_with(dir.path(), 4096, 2048, 3_600_000).await;
        for id in 1..=1000 {
            enqueue(&server, msg(id)).await;
        }
        tokio::time::timeout(Duration::from_secs(20), flush(&server))
            .await
            .expect("a flush does not wait for the linger");
        assert_eq!(count(&server).await, 1000);
    }

    async fn count(server: &ServerRef) -> u64 {
        let q = ArchiveQuery { max: 0, ..ArchiveQuery::default() };
        server.storage.archive.query("h", "alice", &q).await.expect("query").count
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flush_sees_everything_queued_before_even_past_a_full_queue() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A queue of 4 with 500 messages: senders wait for room, nothing is dropped.
        let server = node(dir.path(), 4).await;
        for id in 1..=500 {
            enqueue(&server, msg(id)).await;
        }
        flush(&server).await;
        assert_eq!(count(&server).await, 500);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shutdown_drains_the_queue_and_later_messages_are_written_directly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let server = node(dir.path(), 1000).await;
        for id in 1..=100 {
            enqueue(&server, msg(id)).await;
        }
        server.shutdown.cancel();
        server.tasks.close();
        tokio::time::timeout(Duration::from_secs(10), server.tasks.wait())
            .await
            .expect("the writer ends after draining");
        assert_eq!(count(&server).await, 100);
        enqueue(&server, msg(101)).await;
        flush(&server).await;
        assert_eq!(count(&server).await, 101, "after the writer ended, written directly");
    }
}

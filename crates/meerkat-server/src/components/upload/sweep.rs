//! Expiry of uploaded files (XEP-0363 leaves retention to the server): every
//! `sweep_interval_s`, the files this node stored more than `expiry_days` ago are deleted
//! from disk and forgotten by storage, which gives their bytes back to the owner's quota.
//!
//! Each node sweeps only the files it holds (the storage row names the node), so nodes of a
//! cluster never delete each other's rows for bytes they cannot reach. At start the sweeper
//! also empties `tmp/`, where a crash may have left uploads half-written.

use super::Service;
use crate::server::ServerRef;
use std::sync::Arc;
use std::time::Duration;

/// Files handled per storage query; the sweep loops until a batch comes back short.
const BATCH: usize = 500;

/// Runs until shutdown.
pub async fn run(server: ServerRef, service: Arc<Service>) {
    clear_temp(&server, &service).await;
    let Some(expiry_s) = service.config.expiry_s() else { return };
    let interval = Duration::from_secs(service.config.sweep_interval_s);
    loop {
        tokio::select! {
            _ = server.shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        let cutoff_s = chrono::Utc::now().timestamp().saturating_sub_unsigned(expiry_s);
        let deleted = sweep_once(&server, &service, cutoff_s).await;
        if deleted > 0 {
            tracing::info!(what = "upload_files_expired", deleted);
        }
    }
}

/// Deletes this node's files created at or before `cutoff_s`; returns how many.
pub async fn sweep_once(server: &ServerRef, service: &Service, cutoff_s: i64) -> usize {
    let mut deleted = 0;
    loop {
        let batch = match server.storage.upload.expired_files(&service.node, cutoff_s, BATCH).await
        {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(what = "upload_sweep_failed", error = %e);
                return deleted;
            }
        };
        let short = batch.len() < BATCH;
        for file in batch {
            // The bytes first: a row without bytes is harmless (GET says 404), bytes without a
            // row would never be found again.
            if super::slot::valid_id(&file.id) {
                match tokio::fs::remove_file(service.file_path(&file.id)).await {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        tracing::warn!(what = "upload_delete_failed", id = %file.id, error = %e);
                        return deleted;
                    }
                }
            }
            match server.storage.upload.remove_file(&file.id).await {
                Ok(_) => deleted += 1,
                Err(e) => {
                    tracing::warn!(what = "upload_sweep_failed", error = %e);
                    return deleted;
                }
            }
        }
        if short {
            return deleted;
        }
    }
}

/// Removes leftovers of interrupted uploads: files in `tmp/` last written before this node
/// started (a PUT running now writes its own file, which is newer).
async fn clear_temp(server: &ServerRef, service: &Service) {
    let started = std::time::SystemTime::now() - server.started.elapsed();
    let dir = service.store_dir.join("tmp");
    let Ok(mut entries) = tokio::fs::read_dir(&dir).await else { return };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let stale = match entry.metadata().await.and_then(|m| m.modified()) {
            Ok(t) => t < started,
            Err(_) => false,
        };
        if stale {
            let _ = tokio::fs::remove_file(entry.path()).await;
        }
    }
}

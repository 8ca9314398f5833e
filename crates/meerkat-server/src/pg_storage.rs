//! Opening the PostgreSQL backend from `[storage]`: reads the password file, builds the pool
//! settings, and turns a failure into an error that says what to check. The password is never
//! logged or put in an error message.

use anyhow::Context;
use meerkat_config::StorageConfig;
use meerkat_storage::postgres::{redact_url, PgSettings};
use meerkat_storage::Storage;
use std::path::Path;
use std::time::Duration;

/// Connects to the database of `storage.postgres_url` and migrates it.
pub async fn open(storage: &StorageConfig, data_dir: &Path) -> anyhow::Result<Storage> {
    let settings = settings(storage, data_dir)?;
    let shown = redact_url(&settings.url);
    meerkat_storage::postgres::open(&settings).await.with_context(|| {
        format!(
            "cannot use PostgreSQL at {shown} (storage.postgres_url): is the server running and \
             reachable, and do the database and role exist?"
        )
    })
}

/// The pool settings of `[storage]`, with the password read from its file.
pub fn settings(storage: &StorageConfig, data_dir: &Path) -> anyhow::Result<PgSettings> {
    let password = match &storage.postgres_password_file {
        None => None,
        Some(file) => {
            let path = data_dir.join(file);
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!("reading storage.postgres_password_file {}", path.display())
            })?;
            let first = text.lines().next().unwrap_or_default();
            anyhow::ensure!(
                !first.is_empty(),
                "storage.postgres_password_file {}: the first line (the password) is empty",
                path.display()
            );
            Some(first.to_owned())
        }
    };
    Ok(PgSettings {
        url: storage.postgres_url.clone(),
        password,
        pool_size: storage.postgres_pool_size,
        connect_timeout: Duration::from_millis(storage.postgres_connect_timeout_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_comes_from_the_first_line_of_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("pw"), "s3cret\nignored\n").expect("write");
        let config =
            StorageConfig { postgres_password_file: Some("pw".into()), ..StorageConfig::default() };
        let settings = settings(&config, dir.path()).expect("settings");
        assert_eq!(settings.password.as_deref(), Some("s3cret"));
        assert_eq!(settings.pool_size, 10);
        assert_eq!(settings.connect_timeout, Duration::from_secs(5));
        assert!(!format!("{settings:?}").contains("s3cret"));

        let missing = StorageConfig {
            postgres_password_file: Some("absent".into()),
            ..StorageConfig::default()
        };
        let error = format!("{:#}", settings_err(&missing, dir.path()));
        assert!(error.contains("storage.postgres_password_file"), "{error}");
        std::fs::write(dir.path().join("empty"), "\n").expect("write");
        let empty =
            StorageConfig { postgres_password_file: Some("empty".into()), ..Default::default() };
        assert!(format!("{:#}", settings_err(&empty, dir.path())).contains("is empty"));
    }

    fn settings_err(config: &StorageConfig, dir: &Path) -> anyhow::Error {
        settings(config, dir).expect_err("must fail")
    }
}

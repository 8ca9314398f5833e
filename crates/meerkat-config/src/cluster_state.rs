//! The cluster state file, `<data_dir>/cluster.toml`: what `meerkat join_cluster` adopted from
//! a member (cluster name, NATS URLs, shared PostgreSQL URL). While it exists it overrides
//! `[cluster]` and `[storage]` of the configuration file at every start; `meerkat
//! leave_cluster` removes it and the node is standalone on its own SQLite file again.
//!
//! The secret is not in it: a joining node must already have `[cluster] secret_file`.

use crate::{Backend, Config, ConfigError};
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};

/// File name inside the data directory.
pub const FILE_NAME: &str = "cluster.toml";

/// Contents of the state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterState {
    /// The member the node joined through (for the operator's information).
    pub member: String,
    /// Cluster name (`[cluster] name`).
    pub cluster: String,
    /// NATS URLs (`[cluster] nats_urls`).
    pub nats_urls: Vec<String>,
    /// Shared storage (`[storage] postgres_url`, with `backend = "postgres"`).
    pub postgres_url: String,
}

/// Path of the state file.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// The state file, if the node joined a cluster.
pub fn read(data_dir: &Path) -> Result<Option<ClusterState>, ConfigError> {
    let file = path(data_dir);
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(ConfigError::Io { file, source }),
    };
    toml::from_str(&text)
        .map(Some)
        .map_err(|e| ConfigError::invalid(&file, "cluster state", e.message().to_string()))
}

/// Writes the state file (through a temporary file and a rename: never half written).
pub fn write(data_dir: &Path, state: &ClusterState) -> io::Result<()> {
    std::fs::create_dir_all(data_dir)?;
    let text = toml::to_string(state).map_err(io::Error::other)?;
    let text = format!(
        "# Written by `meerkat join_cluster`; overrides [cluster] and [storage] at start.\n\
         # `meerkat leave_cluster` removes it.\n{text}"
    );
    let tmp = data_dir.join(format!(".{FILE_NAME}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path(data_dir)).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Removes the state file; true if there was one.
pub fn remove(data_dir: &Path) -> io::Result<bool> {
    match std::fs::remove_file(path(data_dir)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// The configuration with the state file's settings applied, validated again.
pub fn apply(mut config: Config, state: &ClusterState) -> Result<Config, ConfigError> {
    config.cluster.enabled = true;
    config.cluster.name = state.cluster.clone();
    config.cluster.nats_urls = state.nats_urls.clone();
    config.storage.backend = Backend::Postgres;
    config.storage.postgres_url = state.postgres_url.clone();
    let file = path(&config.general.data_dir);
    crate::validate::validate(&config, &file)?;
    Ok(config)
}

/// [`apply`] when `<data_dir>/cluster.toml` exists, else the configuration unchanged.
pub fn overlay(config: Config) -> Result<Config, ConfigError> {
    match read(&config.general.data_dir)? {
        Some(state) => apply(config, &state),
        None => Ok(config),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> ClusterState {
        ClusterState {
            member: "node1".into(),
            cluster: "dev".into(),
            nats_urls: vec!["nats://127.0.0.1:14222".into()],
            postgres_url: "postgres://meerkat@127.0.0.1:15432/meerkat".into(),
        }
    }

    #[test]
    fn write_read_remove() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(read(dir.path()).expect("read"), None);
        write(dir.path(), &state()).expect("write");
        assert_eq!(read(dir.path()).expect("read"), Some(state()));
        assert!(remove(dir.path()).expect("remove"));
        assert!(!remove(dir.path()).expect("remove again"));
    }

    #[test]
    fn overlay_switches_to_cluster_and_postgres() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config::default();
        config.general.data_dir = dir.path().to_path_buf();
        config.cluster.secret_file = "/etc/meerkat/cluster.secret".into();
        let same = overlay(config.clone()).expect("no state file");
        assert!(!same.cluster.enabled);
        write(dir.path(), &state()).expect("write");
        let joined = overlay(config.clone()).expect("overlay");
        assert!(joined.cluster.enabled);
        assert_eq!(joined.cluster.name, "dev");
        assert_eq!(joined.storage.backend, Backend::Postgres);
        assert_eq!(joined.storage.postgres_url, state().postgres_url);
        // Without a secret file the joined configuration is refused.
        config.cluster.secret_file = PathBuf::new();
        assert!(overlay(config).is_err());
    }

    #[test]
    fn garbage_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(path(dir.path()), "member = 3\n").expect("write");
        let e = read(dir.path()).expect_err("garbage").to_string();
        assert!(e.contains("cluster.toml"), "{e}");
    }
}

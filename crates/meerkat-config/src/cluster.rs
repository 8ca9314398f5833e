//! `[cluster]`: joining other nodes over NATS (see `docs/cluster.md`). Disabled by default: a
//! standalone node needs none of it. The node's name in the cluster is `[general] node_name`.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use crate::ConfigError;

/// `[cluster]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// Run as a cluster member.
    pub enabled: bool,
    /// Cluster name, the NATS subject prefix token (`mk.<name>.…`): 1-32 of `A-Z a-z 0-9 _ -`.
    pub name: String,
    /// File holding the cluster secret (at least 16 bytes, mode 0600). Required when enabled.
    /// The secret itself is never logged nor printed.
    pub secret_file: PathBuf,
    /// NATS server URLs (`nats://host:port`); the node reconnects forever, trying each.
    pub nats_urls: Vec<String>,
    /// Heartbeat period, in milliseconds.
    pub heartbeat_ms: u64,
    /// A member without heartbeat for this long is stopped, in milliseconds (more than two
    /// heartbeat periods).
    pub node_timeout_ms: u64,
    /// How long a stanza sent to another node waits for its acknowledgement before it is
    /// stored offline, in milliseconds.
    pub request_timeout_ms: u64,
    /// Stanzas and state updates from other nodes waiting to be handled; beyond it stanzas are
    /// refused (their sender stores them offline).
    pub inbound_queue: usize,
    /// Most cluster members tracked.
    pub max_members: usize,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            enabled: false,
            name: "meerkat".into(),
            secret_file: PathBuf::new(),
            nats_urls: vec!["nats://127.0.0.1:4222".into()],
            heartbeat_ms: 1000,
            node_timeout_ms: 10_000,
            request_timeout_ms: 2000,
            inbound_queue: 4096,
            max_members: 1024,
        }
    }
}

/// Validation rules of `[cluster]`.
pub(crate) fn validate(c: &ClusterConfig, file: &Path) -> Result<(), ConfigError> {
    let bad = |key: &str, msg: &str| Err(ConfigError::invalid(file, key, msg));
    if c.name.is_empty()
        || c.name.len() > 32
        || !c.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return bad("cluster.name", "must be 1 to 32 characters of A-Z a-z 0-9 _ -");
    }
    for (key, v) in [
        ("cluster.heartbeat_ms", c.heartbeat_ms),
        ("cluster.request_timeout_ms", c.request_timeout_ms),
        ("cluster.inbound_queue", c.inbound_queue as u64),
        ("cluster.max_members", c.max_members as u64),
    ] {
        if v == 0 {
            return bad(key, "must be above 0");
        }
    }
    if c.node_timeout_ms <= c.heartbeat_ms.saturating_mul(2) {
        return bad(
            "cluster.node_timeout_ms",
            "must exceed two heartbeat periods (cluster.heartbeat_ms)",
        );
    }
    for url in &c.nats_urls {
        let ok = ["nats://", "tls://"].iter().any(|p| url.starts_with(p) && url.len() > p.len());
        if !ok {
            return bad(
                "cluster.nats_urls",
                "each URL must be nats://host:port or tls://host:port",
            );
        }
    }
    if c.enabled {
        if c.nats_urls.is_empty() {
            return bad(
                "cluster.nats_urls",
                "at least one NATS URL is needed when the cluster is enabled",
            );
        }
        if c.secret_file.as_os_str().is_empty() {
            return bad("cluster.secret_file", "is required when the cluster is enabled");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::{parse_str, ConfigError};
    use std::path::Path;

    fn key_of(text: &str) -> String {
        match parse_str(text, Path::new("m.toml")) {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected a validation error for {text:?}, got {other:?}"),
        }
    }

    #[test]
    fn disabled_by_default_and_enabled_needs_a_secret_file() {
        let c = parse_str("", Path::new("m.toml")).unwrap();
        assert!(!c.cluster.enabled);
        assert_eq!(key_of("[cluster]\nenabled = true\n"), "cluster.secret_file");
        let c = parse_str(
            "[cluster]\nenabled = true\nsecret_file = \"/etc/meerkat/cluster.secret\"\nnats_urls = [\"nats://10.0.0.1:4222\", \"nats://10.0.0.2:4222\"]\n",
            Path::new("m.toml"),
        )
        .unwrap();
        assert_eq!(c.cluster.nats_urls.len(), 2);
    }

    #[test]
    fn bad_values_are_rejected_with_their_key() {
        assert_eq!(key_of("[cluster]\nname = \"a.b\"\n"), "cluster.name");
        assert_eq!(key_of("[cluster]\nheartbeat_ms = 0\n"), "cluster.heartbeat_ms");
        assert_eq!(key_of("[cluster]\nheartbeat_ms = 6000\n"), "cluster.node_timeout_ms");
        assert_eq!(key_of("[cluster]\nnats_urls = [\"http://x\"]\n"), "cluster.nats_urls");
        assert_eq!(
            key_of("[cluster]\nenabled = true\nsecret_file = \"s\"\nnats_urls = []\n"),
            "cluster.nats_urls"
        );
        assert_eq!(key_of("[cluster]\ninbound_queue = 0\n"), "cluster.inbound_queue");
    }
}

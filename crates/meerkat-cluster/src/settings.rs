//! Runtime settings of the cluster transport (the server builds them from `[cluster]` and
//! `[general] node_name`) and the cluster secret.

use std::path::Path;
use std::time::Duration;

use crate::envelope::Limits;
use crate::subjects::valid_cluster_name;

/// Shortest accepted secret, in bytes.
pub const MIN_SECRET_LEN: usize = 16;

/// The cluster secret. Never printed: `Debug` shows `<redacted>`.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    /// A secret from bytes; at least [`MIN_SECRET_LEN`] of them.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Secret, String> {
        let b = bytes.into();
        if b.len() < MIN_SECRET_LEN {
            return Err(format!("the cluster secret must be at least {MIN_SECRET_LEN} bytes"));
        }
        Ok(Secret(b))
    }

    /// Reads the secret file (surrounding whitespace, e.g. the final newline, is ignored).
    /// The error names the file, never its content. On Unix, a file readable by group or
    /// others is refused.
    pub fn read_file(path: &Path) -> Result<Secret, String> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(path)
                .map_err(|e| format!("cluster secret file {}: {e}", path.display()))?;
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(format!(
                    "cluster secret file {} is readable by group or others (chmod 600 it)",
                    path.display()
                ));
            }
        }
        let raw = std::fs::read(path)
            .map_err(|e| format!("cluster secret file {}: {e}", path.display()))?;
        let trimmed = raw.trim_ascii();
        Secret::new(trimmed.to_vec()).map_err(|e| format!("{e} ({})", path.display()))
    }

    /// The bearer token the `/cluster/…` admin endpoints accept (64 hex digits): an
    /// HMAC-SHA-256 of a fixed label under the secret, so the secret itself never travels.
    pub fn admin_token(&self) -> String {
        use hmac::{Hmac, Mac};
        let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(&self.0) else {
            return String::new();
        };
        mac.update(b"meerkat cluster admin token v1");
        mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    pub(crate) fn expose(&self) -> &[u8] {
        &self.0
    }
}

/// Everything [`crate::Cluster::start`] needs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Subject prefix token (`mk.<cluster_name>.…`).
    pub cluster_name: String,
    /// This node's name, unique in the cluster.
    pub node_name: String,
    /// The cluster secret.
    pub secret: Secret,
    /// NATS server URLs (`nats://host:port`); the client tries them in turn.
    pub nats_urls: Vec<String>,
    /// This node's admin API address, announced in heartbeats.
    pub admin_address: String,
    /// Heartbeat period.
    pub heartbeat: Duration,
    /// Silence after which a member is stopped.
    pub node_timeout: Duration,
    /// How long `send_stanza` waits for the holder's acknowledgement.
    pub request_timeout: Duration,
    /// Capacity of the inbound queue.
    pub inbound_capacity: usize,
    /// Most members tracked.
    pub max_members: usize,
    /// Envelope bounds.
    pub limits: Limits,
}

impl Settings {
    /// Settings with the defaults of `[cluster]`.
    pub fn new(
        cluster_name: &str,
        node_name: &str,
        secret: Secret,
        nats_urls: Vec<String>,
    ) -> Settings {
        Settings {
            cluster_name: cluster_name.to_owned(),
            node_name: node_name.to_owned(),
            secret,
            nats_urls,
            admin_address: String::new(),
            heartbeat: Duration::from_millis(1000),
            node_timeout: Duration::from_millis(10_000),
            request_timeout: Duration::from_millis(2000),
            inbound_capacity: 4096,
            max_members: 1024,
            limits: Limits::default(),
        }
    }

    /// Settings from `[cluster]`, `[general] node_name` and the admin API address; reads the
    /// secret file (errors name the file, never the secret).
    pub fn from_config(
        c: &meerkat_config::ClusterConfig,
        node_name: &str,
        admin_address: &str,
    ) -> Result<Settings, String> {
        let secret = Secret::read_file(&c.secret_file)?;
        let mut s = Settings::new(&c.name, node_name, secret, c.nats_urls.clone());
        s.admin_address = admin_address.to_owned();
        s.heartbeat = Duration::from_millis(c.heartbeat_ms);
        s.node_timeout = Duration::from_millis(c.node_timeout_ms);
        s.request_timeout = Duration::from_millis(c.request_timeout_ms);
        s.inbound_capacity = c.inbound_queue;
        s.max_members = c.max_members;
        s.validate()?;
        Ok(s)
    }

    /// Checks the settings are usable.
    pub fn validate(&self) -> Result<(), String> {
        if !valid_cluster_name(&self.cluster_name) {
            return Err("cluster name must be 1-32 characters of A-Z a-z 0-9 _ -".into());
        }
        if self.node_name.is_empty() || self.node_name.len() > self.limits.max_str {
            return Err("node name must be non-empty and short".into());
        }
        if self.admin_address.len() > self.limits.max_str {
            return Err("admin address too long".into());
        }
        if self.nats_urls.is_empty() {
            return Err("at least one NATS URL is needed".into());
        }
        if self.heartbeat.is_zero() || self.node_timeout <= self.heartbeat * 2 {
            return Err("node timeout must exceed two heartbeat periods".into());
        }
        if self.request_timeout.is_zero() || self.inbound_capacity == 0 || self.max_members == 0 {
            return Err(
                "request timeout, inbound capacity and member bound must be positive".into()
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_never_printed_and_has_a_minimum_length() {
        let s = Secret::new(b"super-secret-value-123".to_vec()).unwrap();
        let settings = Settings::new("c", "n", s, vec!["nats://127.0.0.1:4222".into()]);
        assert!(!format!("{settings:?}").contains("super-secret"));
        assert!(Secret::new(b"short".to_vec()).is_err());
    }

    #[test]
    fn secret_file_is_trimmed_and_must_be_private() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secret");
        std::fs::write(&p, b"  0123456789abcdefXYZ\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = Secret::read_file(&p).unwrap_err();
            assert!(e.contains("chmod 600") && !e.contains("0123456789"), "{e}");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert_eq!(Secret::read_file(&p).unwrap().expose(), b"0123456789abcdefXYZ");
        assert!(Secret::read_file(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn from_config_maps_every_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secret");
        std::fs::write(&p, b"0123456789abcdef0123\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let c = meerkat_config::ClusterConfig {
            enabled: true,
            secret_file: p,
            heartbeat_ms: 500,
            node_timeout_ms: 5000,
            request_timeout_ms: 700,
            inbound_queue: 9,
            max_members: 3,
            ..Default::default()
        };
        let s = Settings::from_config(&c, "node1", "127.0.0.1:5551").unwrap();
        assert_eq!(s.cluster_name, "meerkat");
        assert_eq!(s.node_name, "node1");
        assert_eq!(s.admin_address, "127.0.0.1:5551");
        assert_eq!(s.nats_urls, ["nats://127.0.0.1:4222"]);
        assert_eq!(s.heartbeat, Duration::from_millis(500));
        assert_eq!(s.node_timeout, Duration::from_millis(5000));
        assert_eq!(s.request_timeout, Duration::from_millis(700));
        assert_eq!((s.inbound_capacity, s.max_members), (9, 3));
        assert_eq!(s.secret.expose(), b"0123456789abcdef0123");
    }

    #[test]
    fn validation() {
        let s =
            || Settings::new("c", "n", Secret::new(vec![1; 16]).unwrap(), vec!["nats://x".into()]);
        assert!(s().validate().is_ok());
        assert!(Settings { cluster_name: "a.b".into(), ..s() }.validate().is_err());
        assert!(Settings { nats_urls: vec![], ..s() }.validate().is_err());
        assert!(Settings { node_timeout: Duration::from_millis(1500), ..s() }.validate().is_err());
        assert!(Settings { node_name: String::new(), ..s() }.validate().is_err());
    }
}

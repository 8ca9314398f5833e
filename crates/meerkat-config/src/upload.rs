//! `[modules.http_upload]`: HTTP File Upload (XEP-0363) with files stored on the node's disk
//! and served by its `[[listen.http]]` listener (see `docs/upload.md`).
//!
//! `enabled` defaults to true, but the service (`upload.<host>`) only exists on a node that
//! can serve the files: one with at least one `[[listen.http]]` listener. A node without one
//! offers no upload service and lists none in disco#items, whatever `enabled` says.

use crate::ConfigError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// `[modules.http_upload]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct UploadModule {
    /// Offer the upload service (when the node has an HTTP listener).
    pub enabled: bool,
    /// Domain of the service; `@HOST@` is replaced by each served host.
    pub host: String,
    /// Largest file accepted, in bytes; a larger slot request gets `not-acceptable` with
    /// `<file-too-large/>`, a larger PUT `413` before its body is read.
    pub max_file_bytes: u64,
    /// Bytes one account may have stored at once; a slot beyond it gets `resource-constraint`.
    pub quota_bytes_per_user: u64,
    /// Directory of the stored files; default `<data_dir>/upload`. Relative paths are
    /// relative to `general.data_dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_dir: Option<PathBuf>,
    /// URL prefix clients reach this node's HTTP listener at (`https://files.example.com`),
    /// without the path prefix. Default: derived from the first `[[listen.http]]`
    /// (`http://<ip_address>:<port>`, `https` with `tls = true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_base_url: Option<String>,
    /// Path under which the listener serves uploads (`/upload/<id>/<filename>`).
    pub path_prefix: String,
    /// How long a slot may be used for its PUT, in seconds.
    pub slot_ttl_s: u64,
    /// Files are deleted this many days after upload (fractions allowed); 0 keeps them forever.
    pub expiry_days: f64,
    /// How often expired files are looked for, in seconds.
    pub sweep_interval_s: u64,
    /// File holding the key that signs slot URLs (at least 16 bytes). Unset: the cluster
    /// secret on a cluster member (any node can verify a slot), otherwise a random key made at
    /// start (slots not used before a restart must be requested again).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
}

impl Default for UploadModule {
    fn default() -> Self {
        UploadModule {
            enabled: true,
            host: "upload.@HOST@".into(),
            max_file_bytes: 10 * 1024 * 1024,
            quota_bytes_per_user: 100 * 1024 * 1024,
            store_dir: None,
            public_base_url: None,
            path_prefix: "/upload".into(),
            slot_ttl_s: 300,
            expiry_days: 0.0,
            sweep_interval_s: 3600,
            secret_file: None,
        }
    }
}

impl UploadModule {
    /// The service domain of served host `host`.
    pub fn domain_of(&self, host: &str) -> String {
        self.host.replace("@HOST@", host)
    }

    /// Files older than this many seconds are deleted; `None` when they are kept forever.
    pub fn expiry_s(&self) -> Option<u64> {
        if self.expiry_days > 0.0 {
            // Validated finite and at most MAX_EXPIRY_DAYS: the product fits easily.
            Some(((self.expiry_days * 86_400.0).ceil() as u64).max(1))
        } else {
            None
        }
    }
}

/// Longest expiry accepted (100 years), so the seconds always fit.
pub const MAX_EXPIRY_DAYS: f64 = 36_500.0;

/// Rules of the section.
pub(crate) fn validate(u: &UploadModule, file: &Path) -> Result<(), ConfigError> {
    let bad = |key: &str, why: String| Err(ConfigError::invalid(file, key, why));
    if !u.host.contains("@HOST@") || u.host == "@HOST@" {
        return bad(
            "modules.http_upload.host",
            format!("`{}` must contain @HOST@ (e.g. \"upload.@HOST@\")", u.host),
        );
    }
    if u.max_file_bytes == 0 {
        return bad("modules.http_upload.max_file_bytes", "must be above 0".into());
    }
    if u.quota_bytes_per_user < u.max_file_bytes {
        return bad(
            "modules.http_upload.quota_bytes_per_user",
            format!("must be at least max_file_bytes ({})", u.max_file_bytes),
        );
    }
    if u.store_dir.as_ref().is_some_and(|d| d.as_os_str().is_empty()) {
        return bad("modules.http_upload.store_dir", "must not be empty".into());
    }
    if let Some(url) = &u.public_base_url {
        let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
        let ok = rest.is_some_and(|r| {
            !r.is_empty() && !url.ends_with('/') && !url.contains(['?', '#', ' ', '\'', '"'])
        });
        if !ok {
            return bad(
                "modules.http_upload.public_base_url",
                format!("`{url}` is not an http(s) URL without a trailing slash"),
            );
        }
    }
    let p = &u.path_prefix;
    let segments_ok = p.split('/').skip(1).all(|s| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b))
    });
    if !p.starts_with('/') || p.len() < 2 || !segments_ok {
        return bad(
            "modules.http_upload.path_prefix",
            format!("`{p}` is not an absolute path such as \"/upload\""),
        );
    }
    if u.slot_ttl_s == 0 || u.slot_ttl_s > 86_400 {
        return bad("modules.http_upload.slot_ttl_s", "must be between 1 and 86400".into());
    }
    if !u.expiry_days.is_finite() || !(0.0..=MAX_EXPIRY_DAYS).contains(&u.expiry_days) {
        return bad(
            "modules.http_upload.expiry_days",
            format!("must be between 0 (never) and {MAX_EXPIRY_DAYS}"),
        );
    }
    if u.sweep_interval_s == 0 {
        return bad("modules.http_upload.sweep_interval_s", "must be above 0".into());
    }
    if u.secret_file.as_ref().is_some_and(|d| d.as_os_str().is_empty()) {
        return bad("modules.http_upload.secret_file", "must not be empty".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::parse_str;
    use std::path::Path;

    #[test]
    fn defaults_and_bad_values_name_the_key() {
        let c = parse_str("", Path::new("m.toml")).expect("defaults");
        assert!(c.modules.http_upload.enabled);
        assert_eq!(c.modules.http_upload.domain_of("example.com"), "upload.example.com");
        assert_eq!(c.modules.http_upload.expiry_s(), None);
        for (toml, key) in [
            ("host = \"upload.example.com\"", "host"),
            ("max_file_bytes = 0", "max_file_bytes"),
            ("quota_bytes_per_user = 5", "quota_bytes_per_user"),
            ("public_base_url = \"ftp://x\"", "public_base_url"),
            ("public_base_url = \"http://x/\"", "public_base_url"),
            ("path_prefix = \"upload\"", "path_prefix"),
            ("path_prefix = \"/a//b\"", "path_prefix"),
            ("slot_ttl_s = 0", "slot_ttl_s"),
            ("expiry_days = -1.0", "expiry_days"),
            ("sweep_interval_s = 0", "sweep_interval_s"),
        ] {
            let text = format!("[modules.http_upload]\n{toml}\n");
            let e = parse_str(&text, Path::new("m.toml")).expect_err(key);
            assert!(e.to_string().contains(&format!("modules.http_upload.{key}")), "{key}: {e}");
        }
        let c = parse_str(
            "[modules.http_upload]\nexpiry_days = 0.5\npublic_base_url = \"https://f.example\"\n",
            Path::new("m.toml"),
        )
        .expect("valid");
        assert_eq!(c.modules.http_upload.expiry_s(), Some(43_200));
    }
}

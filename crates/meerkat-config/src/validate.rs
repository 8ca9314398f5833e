//! Rules across fields, checked after parsing.
//!
//! Serde already rejects unknown keys and values of the wrong type; these rules catch values that
//! parse but cannot work (a zero limit, a public admin address, two listeners on one port). The
//! first broken rule is returned, naming its key and the file.
//!
//! Hosts must be written in lower case: upper case is rejected, not folded. JID domainparts
//! compare case-insensitively, and the node compares hosts byte-wise after lower-casing what peers
//! send, so an upper-case host would never match. Rejecting (rather than silently rewriting) keeps
//! the file the single truth about what the node serves.

use crate::{Config, ConfigError};
use std::net::IpAddr;
use std::path::Path;

/// SASL mechanisms the server implements, by IANA name.
pub const KNOWN_SASL_MECHANISMS: &[&str] =
    &["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"];

/// Smallest accepted `limits.max_stanza_bytes`: below this, ordinary presence with capabilities
/// no longer fits.
pub const MIN_STANZA_BYTES: usize = 1024;
/// Largest accepted `limits.max_stanza_bytes`: one such stanza per connection is the worst-case
/// buffer, so 16 MiB times the connection count already bounds memory loosely.
pub const MAX_STANZA_BYTES: usize = 16 * 1024 * 1024;
/// Smallest PBKDF2 iteration count RFC 7677 allows for SCRAM.
pub const MIN_SCRAM_ITERATIONS: u32 = 4096;
/// Largest iteration count: each login costs this many HMACs of CPU, so a huge value turns every
/// login into a denial of service of the node itself.
pub const MAX_SCRAM_ITERATIONS: u32 = 10_000_000;
/// Upper bound of `general.worker_threads`: far beyond any core count, it catches typos.
pub const MAX_WORKER_THREADS: usize = 1024;

/// Checks every rule; returns the first broken one.
pub fn validate(config: &Config, file: &Path) -> Result<(), ConfigError> {
    general(config, file)?;
    listeners(config, file)?;
    tls(config, file)?;
    auth(config, file)?;
    storage(config, file)?;
    limits(config, file)?;
    modules(config, file)?;
    crate::cluster::validate(&config.cluster, file)?;
    Ok(())
}

fn general(config: &Config, file: &Path) -> Result<(), ConfigError> {
    let general = &config.general;
    if general.hosts.is_empty() {
        return Err(ConfigError::invalid(file, "general.hosts", "at least one host is required"));
    }
    for (i, host) in general.hosts.iter().enumerate() {
        let key = format!("general.hosts[{i}]");
        check_domain(host).map_err(|why| {
            ConfigError::invalid(file, &key, format!("`{host}` is not a valid domain: {why}"))
        })?;
        if general.hosts.get(..i).is_some_and(|before| before.contains(host)) {
            return Err(ConfigError::invalid(file, key, format!("host `{host}` is listed twice")));
        }
    }
    if general.node_name.trim().is_empty() {
        return Err(ConfigError::invalid(file, "general.node_name", "must not be empty"));
    }
    if general.data_dir.as_os_str().is_empty() {
        return Err(ConfigError::invalid(file, "general.data_dir", "must not be empty"));
    }
    if general.worker_threads > MAX_WORKER_THREADS {
        return Err(ConfigError::invalid(
            file,
            "general.worker_threads",
            format!("at most {MAX_WORKER_THREADS} (0 means one per CPU core)"),
        ));
    }
    if general.loglevel.trim().is_empty() {
        return Err(ConfigError::invalid(file, "general.loglevel", "must not be empty"));
    }
    Ok(())
}

/// A DNS name in the form XMPP uses as a domainpart: ASCII letters, digits and hyphens in dot
/// separated labels of 1 to 63 characters, at most 253 characters, lower case. Internationalised
/// names must be given in their ASCII (`xn--`) form so that comparisons are byte-wise.
fn check_domain(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("empty".into());
    }
    if host.len() > 253 {
        return Err("longer than 253 characters".into());
    }
    if !host.is_ascii() {
        return Err("write internationalised names in their ASCII form (xn--...)".into());
    }
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(format!("hosts must be lower case (write `{}`)", host.to_ascii_lowercase()));
    }
    for label in host.split('.') {
        if label.is_empty() {
            return Err("empty label (leading, trailing or double dot)".into());
        }
        if label.len() > 63 {
            return Err(format!("label `{label}` is longer than 63 characters"));
        }
        if let Some(c) = label.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-')) {
            return Err(format!("character `{c}` is not allowed"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("label `{label}` starts or ends with `-`"));
        }
    }
    Ok(())
}

/// Two sockets collide when they share a port and either address, or when one of them binds the
/// unspecified address (which on Linux also takes the port on every other address, and `::`
/// takes IPv4 too unless `bindv6only` is set). Port 0 asks the OS for a free port, so it never
/// collides.
fn collides(a: (IpAddr, u16), b: (IpAddr, u16)) -> bool {
    a.1 != 0 && a.1 == b.1 && (a.0 == b.0 || a.0.is_unspecified() || b.0.is_unspecified())
}

fn listeners(config: &Config, file: &Path) -> Result<(), ConfigError> {
    let admin = (config.admin.ip_address, config.admin.port);
    if !config.admin.ip_address.is_loopback() {
        return Err(ConfigError::invalid(
            file,
            "admin.ip_address",
            format!(
                "{} is not a loopback address; the admin API must listen on 127.0.0.1 or ::1",
                config.admin.ip_address
            ),
        ));
    }
    let mut seen: Vec<(String, (IpAddr, u16))> = Vec::new();
    if config.metrics.enabled {
        let metrics = (config.metrics.ip_address, config.metrics.port);
        if collides(metrics, admin) {
            return Err(ConfigError::invalid(
                file,
                "metrics.port",
                format!("{}:{} is also the admin API's address", metrics.0, metrics.1),
            ));
        }
        seen.push(("metrics".into(), metrics));
    }
    for (i, listener) in config.listen.c2s.iter().enumerate() {
        let key = format!("listen.c2s[{i}]");
        if listener.backlog == 0 {
            return Err(ConfigError::invalid(file, format!("{key}.backlog"), "must be above 0"));
        }
        if listener.max_connections == 0 {
            return Err(ConfigError::invalid(
                file,
                format!("{key}.max_connections"),
                "must be above 0",
            ));
        }
        let addr = (listener.ip_address, listener.port);
        if collides(addr, admin) {
            return Err(ConfigError::invalid(
                file,
                format!("{key}.port"),
                format!("{}:{} is also the admin API's address", addr.0, addr.1),
            ));
        }
        if let Some((other, _)) = seen.iter().find(|(_, seen)| collides(*seen, addr)) {
            return Err(ConfigError::invalid(
                file,
                format!("{key}.port"),
                format!("{}:{} is already used by {other}", addr.0, addr.1),
            ));
        }
        seen.push((key, addr));
    }
    for (i, listener) in config.listen.http.iter().enumerate() {
        let key = format!("listen.http[{i}]");
        http_listener(listener, &key, config.limits.max_stanza_bytes, file)?;
        let addr = (listener.ip_address, listener.port);
        if collides(addr, admin) {
            return Err(ConfigError::invalid(
                file,
                format!("{key}.port"),
                format!("{}:{} is also the admin API's address", addr.0, addr.1),
            ));
        }
        if let Some((other, _)) = seen.iter().find(|(_, seen)| collides(*seen, addr)) {
            return Err(ConfigError::invalid(
                file,
                format!("{key}.port"),
                format!("{}:{} is already used by {other}", addr.0, addr.1),
            ));
        }
        seen.push((key, addr));
    }
    Ok(())
}

/// The rules of one `[[listen.http]]` table that do not involve other listeners.
fn http_listener(
    l: &crate::HttpListener,
    key: &str,
    max_stanza_bytes: usize,
    file: &Path,
) -> Result<(), ConfigError> {
    let invalid =
        |field: &str, why: String| ConfigError::invalid(file, format!("{key}.{field}"), why);
    if l.backlog == 0 {
        return Err(invalid("backlog", "must be above 0".into()));
    }
    if l.max_connections == 0 {
        return Err(invalid("max_connections", "must be above 0".into()));
    }
    let path = &l.websocket_path;
    if !path.starts_with('/') || path.len() < 2 || path.contains(['?', '#', ' ']) {
        return Err(invalid(
            "websocket_path",
            format!("`{path}` is not an absolute path such as \"/ws-xmpp\""),
        ));
    }
    if l.max_message_bytes == 0 || l.max_message_bytes > max_stanza_bytes {
        return Err(invalid(
            "max_message_bytes",
            format!("must be between 1 and limits.max_stanza_bytes ({max_stanza_bytes})"),
        ));
    }
    if l.max_frame_bytes == 0 || l.max_frame_bytes > l.max_message_bytes {
        return Err(invalid(
            "max_frame_bytes",
            format!("must be between 1 and max_message_bytes ({})", l.max_message_bytes),
        ));
    }
    bosh(l, max_stanza_bytes, invalid)
}

/// The BOSH keys of one `[[listen.http]]` (XEP-0124 §7).
fn bosh(
    l: &crate::HttpListener,
    max_stanza_bytes: usize,
    invalid: impl Fn(&str, String) -> ConfigError,
) -> Result<(), ConfigError> {
    let path = &l.bosh_path;
    if path.is_empty() {
        return Ok(());
    }
    if !path.starts_with('/') || path.len() < 2 || path.contains(['?', '#', ' ']) {
        return Err(invalid(
            "bosh_path",
            format!("`{path}` is not an absolute path such as \"/http-bind\" (or \"\" to disable)"),
        ));
    }
    if *path == l.websocket_path {
        return Err(invalid("bosh_path", "must differ from websocket_path".into()));
    }
    let secs = |field: &str, v: u64, max: u64| {
        if v == 0 || v > max {
            Err(invalid(field, format!("must be between 1 and {max} seconds")))
        } else {
            Ok(())
        }
    };
    secs("bosh_max_wait_s", l.bosh_max_wait_s, 3600)?;
    secs("bosh_max_inactivity_s", l.bosh_max_inactivity_s, 3600)?;
    secs("bosh_max_pause_s", l.bosh_max_pause_s, 86_400)?;
    secs("bosh_polling_s", l.bosh_polling_s, l.bosh_max_inactivity_s)?;
    if l.bosh_max_hold == 0 || l.bosh_max_hold > 16 {
        return Err(invalid("bosh_max_hold", "must be between 1 and 16".into()));
    }
    if l.bosh_max_requests <= l.bosh_max_hold || l.bosh_max_requests > 17 {
        return Err(invalid(
            "bosh_max_requests",
            format!("must be between bosh_max_hold + 1 ({}) and 17", l.bosh_max_hold + 1),
        ));
    }
    if l.bosh_max_body_bytes < 1024 || l.bosh_max_body_bytes > max_stanza_bytes {
        return Err(invalid(
            "bosh_max_body_bytes",
            format!("must be between 1024 and limits.max_stanza_bytes ({max_stanza_bytes})"),
        ));
    }
    Ok(())
}

fn tls(config: &Config, file: &Path) -> Result<(), ConfigError> {
    match (&config.tls.certfile, &config.tls.keyfile) {
        (Some(_), None) => Err(ConfigError::invalid(
            file,
            "tls.keyfile",
            "missing: set both `certfile` and `keyfile`, or neither for a generated certificate",
        )),
        (None, Some(_)) => Err(ConfigError::invalid(
            file,
            "tls.certfile",
            "missing: set both `certfile` and `keyfile`, or neither for a generated certificate",
        )),
        (Some(cert), Some(key)) => {
            if cert.as_os_str().is_empty() {
                return Err(ConfigError::invalid(file, "tls.certfile", "must not be empty"));
            }
            if key.as_os_str().is_empty() {
                return Err(ConfigError::invalid(file, "tls.keyfile", "must not be empty"));
            }
            Ok(())
        }
        (None, None) => Ok(()),
    }
}

fn auth(config: &Config, file: &Path) -> Result<(), ConfigError> {
    let auth = &config.auth;
    if auth.sasl_mechanisms.is_empty() {
        return Err(ConfigError::invalid(
            file,
            "auth.sasl_mechanisms",
            "at least one mechanism is required",
        ));
    }
    for (i, mechanism) in auth.sasl_mechanisms.iter().enumerate() {
        let key = format!("auth.sasl_mechanisms[{i}]");
        if !KNOWN_SASL_MECHANISMS.contains(&mechanism.as_str()) {
            return Err(ConfigError::invalid(
                file,
                key,
                format!(
                    "unknown mechanism `{mechanism}`, expected one of {}",
                    KNOWN_SASL_MECHANISMS.join(", ")
                ),
            ));
        }
        if auth.sasl_mechanisms.get(..i).is_some_and(|before| before.contains(mechanism)) {
            return Err(ConfigError::invalid(file, key, format!("`{mechanism}` is listed twice")));
        }
    }
    if !(MIN_SCRAM_ITERATIONS..=MAX_SCRAM_ITERATIONS).contains(&auth.scram_iterations) {
        return Err(ConfigError::invalid(
            file,
            "auth.scram_iterations",
            format!(
                "{} is out of range {MIN_SCRAM_ITERATIONS}..={MAX_SCRAM_ITERATIONS} \
                 (RFC 7677 asks for at least 4096)",
                auth.scram_iterations
            ),
        ));
    }
    if auth.max_failures_per_minute == 0 {
        return Err(ConfigError::invalid(
            file,
            "auth.max_failures_per_minute",
            "must be above 0 (0 would refuse every login after any failure)",
        ));
    }
    Ok(())
}

fn storage(config: &Config, file: &Path) -> Result<(), ConfigError> {
    let storage = &config.storage;
    if storage.sqlite_path.as_os_str().is_empty() {
        return Err(ConfigError::invalid(file, "storage.sqlite_path", "must not be empty"));
    }
    check_postgres_url(&storage.postgres_url)
        .map_err(|why| ConfigError::invalid(file, "storage.postgres_url", why))?;
    if storage.postgres_password_file.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
        return Err(ConfigError::invalid(
            file,
            "storage.postgres_password_file",
            "must not be empty (leave the key out for no password)",
        ));
    }
    if !(1..=MAX_POSTGRES_POOL_SIZE).contains(&storage.postgres_pool_size) {
        return Err(ConfigError::invalid(
            file,
            "storage.postgres_pool_size",
            format!("must be between 1 and {MAX_POSTGRES_POOL_SIZE}"),
        ));
    }
    if !(100..=600_000).contains(&storage.postgres_connect_timeout_ms) {
        return Err(ConfigError::invalid(
            file,
            "storage.postgres_connect_timeout_ms",
            "must be between 100 and 600000 (ms)",
        ));
    }
    Ok(())
}

/// Most PostgreSQL connections per node: each costs a server process (several MiB) on the
/// database side, and the server's `max_connections` (100 by default) is shared by every node.
pub const MAX_POSTGRES_POOL_SIZE: u32 = 1000;

/// A `postgres://` URL without a password: the password belongs in `postgres_password_file`,
/// so that the config file can be shown, logged and committed without leaking it.
fn check_postgres_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .ok_or("must start with postgres:// or postgresql://")?;
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    if authority.rsplit_once('@').is_some_and(|(userinfo, _)| userinfo.contains(':')) {
        return Err("must not contain a password: put it in storage.postgres_password_file".into());
    }
    if url.contains("password=") {
        return Err("must not contain a password: put it in storage.postgres_password_file".into());
    }
    Ok(())
}

fn limits(config: &Config, file: &Path) -> Result<(), ConfigError> {
    let limits = &config.limits;
    if !(MIN_STANZA_BYTES..=MAX_STANZA_BYTES).contains(&limits.max_stanza_bytes) {
        return Err(ConfigError::invalid(
            file,
            "limits.max_stanza_bytes",
            format!(
                "{} bytes is out of range {MIN_STANZA_BYTES}..={MAX_STANZA_BYTES} (1 KiB to 16 MiB)",
                limits.max_stanza_bytes
            ),
        ));
    }
    let positive: [(&str, u64); 7] = [
        ("limits.max_xml_depth", limits.max_xml_depth as u64),
        ("limits.max_xml_attributes", limits.max_xml_attributes as u64),
        ("limits.max_xml_name_bytes", limits.max_xml_name_bytes as u64),
        ("limits.negotiation_timeout_ms", limits.negotiation_timeout_ms),
        ("limits.unauthenticated_timeout_ms", limits.unauthenticated_timeout_ms),
        ("limits.session_queue_stanzas", limits.session_queue_stanzas as u64),
        ("limits.max_roster_items", limits.max_roster_items as u64),
    ];
    for (key, value) in positive {
        if value == 0 {
            return Err(ConfigError::invalid(file, key, "must be above 0"));
        }
    }
    if limits.max_xml_name_bytes > limits.max_stanza_bytes {
        return Err(ConfigError::invalid(
            file,
            "limits.max_xml_name_bytes",
            "must not exceed limits.max_stanza_bytes",
        ));
    }
    Ok(())
}

fn modules(config: &Config, file: &Path) -> Result<(), ConfigError> {
    let modules = &config.modules;
    if modules.offline.max_messages == 0 {
        return Err(ConfigError::invalid(
            file,
            "modules.offline.max_messages",
            "must be above 0 (set `enabled = false` to store no offline messages)",
        ));
    }
    if modules.ping.interval_ms > 0 && modules.ping.timeout_ms == 0 {
        return Err(ConfigError::invalid(
            file,
            "modules.ping.timeout_ms",
            "must be above 0 when pings are enabled (interval_ms > 0)",
        ));
    }
    crate::sm_csi::validate(&modules.stream_management, &modules.csi, file)?;
    crate::messaging::validate(&modules.mam, file)?;
    crate::pep::validate(&modules.pep, &modules.caps, file)?;
    crate::upload::validate(&modules.http_upload, file)?;
    crate::pubsub_service::validate(&modules.pubsub_service, file)?;
    crate::muc::validate(&modules.muc, file)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_str;

    /// Parses `text` and returns the key and message of the validation error.
    fn rejected(text: &str) -> (String, String) {
        match parse_str(text, Path::new("meerkat.toml")) {
            Err(ConfigError::Invalid { key, message, file }) => {
                assert_eq!(file, Path::new("meerkat.toml"));
                (key, message)
            }
            other => panic!("expected a validation error for {text:?}, got {other:?}"),
        }
    }

    fn accepted(text: &str) -> Config {
        match parse_str(text, Path::new("meerkat.toml")) {
            Ok(config) => config,
            Err(e) => panic!("expected {text:?} to be valid: {e}"),
        }
    }

    #[test]
    fn defaults_are_valid() {
        validate(&Config::default(), Path::new("default")).expect("defaults valid");
    }

    #[test]
    fn hosts_must_not_be_empty() {
        assert_eq!(rejected("[general]\nhosts = []\n").0, "general.hosts");
    }

    #[test]
    fn hosts_must_be_domains() {
        for bad in ["", "a..b", ".a", "a.", "-a.com", "a-.com", "a_b.com", "a b", "é.com"] {
            let (key, _) = rejected(&format!("[general]\nhosts = [\"ok.com\", \"{bad}\"]\n"));
            assert_eq!(key, "general.hosts[1]", "{bad}");
        }
        let long_label = "a".repeat(64);
        assert_eq!(
            rejected(&format!("[general]\nhosts = [\"{long_label}\"]\n")).0,
            "general.hosts[0]"
        );
        accepted(
            "[general]\nhosts = [\"localhost\", \"xmpp.example-1.com\", \"xn--bcher-kva.de\"]\n",
        );
    }

    #[test]
    fn upper_case_hosts_are_rejected_with_the_lower_case_form() {
        let (key, message) = rejected("[general]\nhosts = [\"Example.COM\"]\n");
        assert_eq!(key, "general.hosts[0]");
        assert!(message.contains("example.com"), "{message}");
    }

    #[test]
    fn duplicate_hosts_are_rejected() {
        assert_eq!(rejected("[general]\nhosts = [\"a.com\", \"a.com\"]\n").0, "general.hosts[1]");
    }

    #[test]
    fn empty_general_strings_are_rejected() {
        assert_eq!(rejected("[general]\nnode_name = \" \"\n").0, "general.node_name");
        assert_eq!(rejected("[general]\ndata_dir = \"\"\n").0, "general.data_dir");
        assert_eq!(rejected("[general]\nloglevel = \"\"\n").0, "general.loglevel");
    }

    #[test]
    fn duplicate_listener_addresses_are_rejected() {
        let (key, message) = rejected(
            "[[listen.c2s]]\nport = 5222\n[[listen.c2s]]\nport = 5223\n[[listen.c2s]]\nport = 5222\n",
        );
        assert_eq!(key, "listen.c2s[2].port");
        assert!(message.contains("listen.c2s[0]"), "{message}");
    }

    #[test]
    fn unspecified_address_collides_with_any_on_the_same_port() {
        let (key, _) = rejected(
            "[[listen.c2s]]\nport = 5222\n[[listen.c2s]]\nip_address = \"0.0.0.0\"\nport = 5222\n",
        );
        assert_eq!(key, "listen.c2s[1].port");
        accepted(
            "[[listen.c2s]]\nport = 5222\n[[listen.c2s]]\nip_address = \"127.0.0.2\"\nport = 5222\n",
        );
    }

    #[test]
    fn port_zero_listeners_never_collide() {
        accepted("[[listen.c2s]]\nport = 0\n[[listen.c2s]]\nport = 0\n[admin]\nport = 0\n");
    }

    #[test]
    fn listener_on_the_admin_port_is_rejected() {
        let (key, message) = rejected("[[listen.c2s]]\nport = 5551\n");
        assert_eq!(key, "listen.c2s[0].port");
        assert!(message.contains("admin"), "{message}");
    }

    #[test]
    fn http_listener_rules() {
        accepted("[[listen.http]]\nport = 5280\n");
        let (key, message) =
            rejected("[[listen.c2s]]\nport = 5222\n[[listen.http]]\nport = 5222\n");
        assert_eq!(key, "listen.http[0].port");
        assert!(message.contains("listen.c2s[0]"), "{message}");
        assert_eq!(rejected("[[listen.http]]\nport = 5551\n").0, "listen.http[0].port");
        assert_eq!(
            rejected("[[listen.http]]\nwebsocket_path = \"ws\"\n").0,
            "listen.http[0].websocket_path"
        );
        assert_eq!(
            rejected("[[listen.http]]\nmax_message_bytes = 70000\n").0,
            "listen.http[0].max_message_bytes"
        );
        accepted(
            "[limits]\nmax_stanza_bytes = 70000\n[[listen.http]]\nmax_message_bytes = 70000\n",
        );
        assert_eq!(
            rejected("[[listen.http]]\nmax_frame_bytes = 0\n").0,
            "listen.http[0].max_frame_bytes"
        );
        assert_eq!(
            rejected("[[listen.http]]\nbosh_path = \"http-bind\"\n").0,
            "listen.http[0].bosh_path"
        );
        assert_eq!(
            rejected("[[listen.http]]\nbosh_max_requests = 1\n").0,
            "listen.http[0].bosh_max_requests"
        );
        assert_eq!(
            rejected("[[listen.http]]\nbosh_max_body_bytes = 100000000\n").0,
            "listen.http[0].bosh_max_body_bytes"
        );
        assert_eq!(
            rejected("[[listen.http]]\nbosh_max_wait_s = 0\n").0,
            "listen.http[0].bosh_max_wait_s"
        );
        assert_eq!(rejected("[[listen.http]]\nbacklog = 0\n").0, "listen.http[0].backlog");
    }

    #[test]
    fn listener_counts_must_be_positive() {
        assert_eq!(rejected("[[listen.c2s]]\nbacklog = 0\n").0, "listen.c2s[0].backlog");
        assert_eq!(
            rejected("[[listen.c2s]]\nmax_connections = 0\n").0,
            "listen.c2s[0].max_connections"
        );
    }

    #[test]
    fn admin_must_be_loopback() {
        let (key, message) = rejected("[admin]\nip_address = \"0.0.0.0\"\n");
        assert_eq!(key, "admin.ip_address");
        assert!(message.contains("loopback"), "{message}");
        accepted("[admin]\nip_address = \"::1\"\n");
    }

    #[test]
    fn stanza_size_must_be_between_1_kib_and_16_mib() {
        assert_eq!(rejected("[limits]\nmax_stanza_bytes = 1023\n").0, "limits.max_stanza_bytes");
        assert_eq!(
            rejected("[limits]\nmax_stanza_bytes = 16777217\n").0,
            "limits.max_stanza_bytes"
        );
        accepted("[limits]\nmax_stanza_bytes = 1024\n");
        accepted("[limits]\nmax_stanza_bytes = 16777216\n");
    }

    #[test]
    fn zero_limits_are_rejected() {
        for key in [
            "max_xml_depth",
            "max_xml_attributes",
            "max_xml_name_bytes",
            "negotiation_timeout_ms",
            "unauthenticated_timeout_ms",
            "session_queue_stanzas",
            "max_roster_items",
        ] {
            assert_eq!(rejected(&format!("[limits]\n{key} = 0\n")).0, format!("limits.{key}"));
        }
    }

    #[test]
    fn negative_limits_are_type_errors_naming_the_key() {
        assert_eq!(rejected("[limits]\nmax_xml_depth = -1\n").0, "limits.max_xml_depth");
    }

    #[test]
    fn mechanisms_must_be_known_and_non_empty() {
        assert_eq!(rejected("[auth]\nsasl_mechanisms = []\n").0, "auth.sasl_mechanisms");
        let (key, message) = rejected("[auth]\nsasl_mechanisms = [\"PLAIN\", \"DIGEST-MD5\"]\n");
        assert_eq!(key, "auth.sasl_mechanisms[1]");
        assert!(message.contains("DIGEST-MD5"), "{message}");
        assert_eq!(
            rejected("[auth]\nsasl_mechanisms = [\"PLAIN\", \"PLAIN\"]\n").0,
            "auth.sasl_mechanisms[1]"
        );
        // Names are case-sensitive, as IANA registers them in upper case.
        assert_eq!(
            rejected("[auth]\nsasl_mechanisms = [\"plain\"]\n").0,
            "auth.sasl_mechanisms[0]"
        );
        accepted("[auth]\nsasl_mechanisms = [\"SCRAM-SHA-1\"]\n");
    }

    #[test]
    fn scram_iterations_must_be_at_least_4096() {
        assert_eq!(rejected("[auth]\nscram_iterations = 4095\n").0, "auth.scram_iterations");
        assert_eq!(rejected("[auth]\nscram_iterations = 4000000000\n").0, "auth.scram_iterations");
        accepted("[auth]\nscram_iterations = 10000\n");
    }

    #[test]
    fn absurd_worker_thread_counts_are_rejected() {
        assert_eq!(rejected("[general]\nworker_threads = 5000\n").0, "general.worker_threads");
    }

    #[test]
    fn zero_failures_per_minute_is_rejected() {
        assert_eq!(
            rejected("[auth]\nmax_failures_per_minute = 0\n").0,
            "auth.max_failures_per_minute"
        );
    }

    #[test]
    fn certfile_and_keyfile_go_together() {
        assert_eq!(rejected("[tls]\ncertfile = \"c.pem\"\n").0, "tls.keyfile");
        assert_eq!(rejected("[tls]\nkeyfile = \"k.pem\"\n").0, "tls.certfile");
        assert_eq!(rejected("[tls]\ncertfile = \"\"\nkeyfile = \"k.pem\"\n").0, "tls.certfile");
        accepted("[tls]\ncertfile = \"c.pem\"\nkeyfile = \"k.pem\"\n");
    }

    #[test]
    fn postgres_settings_are_checked() {
        let cases = [
            ("postgres_url = \"mysql://x/y\"", "storage.postgres_url"),
            ("postgres_url = \"postgres://u:pw@h/db\"", "storage.postgres_url"),
            ("postgres_url = \"postgres://u@h/db?password=pw\"", "storage.postgres_url"),
            ("postgres_password_file = \"\"", "storage.postgres_password_file"),
            ("postgres_pool_size = 0", "storage.postgres_pool_size"),
            ("postgres_pool_size = 1001", "storage.postgres_pool_size"),
            ("postgres_connect_timeout_ms = 99", "storage.postgres_connect_timeout_ms"),
        ];
        for (line, key) in cases {
            let (got, why) = rejected(&format!("[storage]\nbackend = \"postgres\"\n{line}\n"));
            assert_eq!(got, key, "{line}: {why}");
        }
        let ok = "[storage]\nbackend = \"postgres\"\npostgres_url = \"postgresql://m@db:5433/m\"\n\
                  postgres_password_file = \"/run/secrets/pg\"\npostgres_pool_size = 1\n";
        let config = crate::parse_str(ok, Path::new("t.toml")).expect("valid postgres config");
        assert_eq!(config.storage.backend, crate::Backend::Postgres);
    }

    #[test]
    fn empty_sqlite_path_is_rejected() {
        assert_eq!(rejected("[storage]\nsqlite_path = \"\"\n").0, "storage.sqlite_path");
    }

    #[test]
    fn offline_max_messages_must_be_positive() {
        assert_eq!(
            rejected("[modules.offline]\nmax_messages = 0\n").0,
            "modules.offline.max_messages"
        );
    }

    #[test]
    fn ping_timeout_must_be_positive_when_pinging() {
        assert_eq!(rejected("[modules.ping]\ntimeout_ms = 0\n").0, "modules.ping.timeout_ms");
        accepted("[modules.ping]\ninterval_ms = 0\ntimeout_ms = 0\n");
    }

    #[test]
    fn errors_display_file_and_key() {
        let e = parse_str("[modules.offline]\nmax_messages = 0\n", Path::new("/etc/meerkat.toml"))
            .expect_err("invalid");
        assert!(
            e.to_string().starts_with("/etc/meerkat.toml: key `modules.offline.max_messages`: "),
            "{e}"
        );
    }
}

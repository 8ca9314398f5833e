//! Configuration of a Meerkat node: one typed serde tree with defaults in code.
//!
//! # Layout
//! - this file: the tree ([`Config`] and its sections) with every default.
//! - [`load`]: reading a TOML file, with errors that name the file and the key.
//! - [`validate`]: rules across fields, checked after parsing.
//! - `meerkat.example.toml` at the repository root: every key with its default and unit; a test
//!   here checks it stays equal to [`Config::default`], key for key.
//!
//! The tree also derives `Serialize`, so `meerkat print-config` can show the effective
//! configuration and the example test can compare whole trees.
//!
//! The sections follow MongooseIM's `mongooseim.toml` (`general`, `listen`, `auth`, `storage`,
//! `limits`, `modules`) so operators find their way. With no file at all the defaults give a
//! standalone node for `localhost` on 127.0.0.1:5222 with SQLite under `./data`.
#![warn(missing_docs)]

use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::path::PathBuf;

pub mod cluster;
pub mod cluster_state;
pub mod http;
pub mod load;
pub mod messaging;
mod misc_modules;
pub mod muc;
pub mod pep;
pub mod pubsub_service;
pub mod sm_csi;
pub mod upload;
pub mod validate;

pub use cluster::ClusterConfig;
pub use http::HttpListener;
pub use load::{load_file, parse_str, to_toml_string, ConfigError};
pub use messaging::{CarbonsModule, MamDefaultMode, MamModule};
pub use misc_modules::{AdhocModule, BlockingModule, PrivateModule, VcardModule};
pub use muc::{MucModule, MucRoomDefaults};
pub use pep::{CapsModule, PepModule};
pub use pubsub_service::PubsubServiceModule;
pub use sm_csi::{CsiModule, StreamManagementModule};
pub use upload::UploadModule;

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Hosts served, node identity, data directory.
    pub general: General,
    /// Listeners.
    pub listen: Listen,
    /// TLS certificate used by every TLS listener.
    pub tls: Tls,
    /// Authentication.
    pub auth: Auth,
    /// Persistent storage.
    pub storage: StorageConfig,
    /// Ceilings on what peers may send and hold.
    pub limits: Limits,
    /// Per-module sections.
    pub modules: Modules,
    /// Admin HTTP API (used by the `meerkat` admin commands).
    pub admin: Admin,
    /// Prometheus metrics endpoint.
    pub metrics: Metrics,
    /// Clustering over NATS (disabled: standalone node).
    pub cluster: ClusterConfig,
}

/// `[general]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct General {
    /// XMPP domains served by this node.
    pub hosts: Vec<String>,
    /// Node name shown by `status` (and used by clustering later).
    pub node_name: String,
    /// Directory for the database, the generated certificate, the admin token and the pid file.
    /// Relative paths are relative to the working directory.
    pub data_dir: PathBuf,
    /// Log filter (`error`, `warn`, `info`, `debug`, `trace`, or a `tracing` filter string).
    pub loglevel: String,
    /// Runtime threads; 0 means one per CPU core.
    pub worker_threads: usize,
}

impl Default for General {
    fn default() -> Self {
        General {
            hosts: vec!["localhost".into()],
            node_name: "meerkat@localhost".into(),
            data_dir: PathBuf::from("data"),
            loglevel: "info".into(),
            worker_threads: 0,
        }
    }
}

/// `[listen]`: lists of listeners by kind, as `[[listen.c2s]]` and `[[listen.http]]` tables.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Listen {
    /// Client-to-server listeners.
    pub c2s: Vec<C2sListener>,
    /// HTTP listeners (XMPP over WebSocket); none by default.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<HttpListener>,
}

impl Default for Listen {
    fn default() -> Self {
        Listen { c2s: vec![C2sListener::default()], http: Vec::new() }
    }
}

/// How a c2s listener uses TLS.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    /// No TLS offered (tests, or behind a TLS-terminating proxy on loopback).
    None,
    /// STARTTLS offered, not required.
    Starttls,
    /// STARTTLS required before authentication.
    StarttlsRequired,
    /// TLS from the first byte (XEP-0368 direct TLS).
    Tls,
}

/// `[[listen.c2s]]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct C2sListener {
    /// Address to bind.
    pub ip_address: IpAddr,
    /// Port to bind.
    pub port: u16,
    /// TLS use on this listener.
    pub tls_mode: TlsMode,
    /// Listen backlog.
    pub backlog: u32,
    /// Most simultaneous connections on this listener; further ones are refused at accept.
    pub max_connections: usize,
}

impl Default for C2sListener {
    fn default() -> Self {
        C2sListener {
            ip_address: IpAddr::from([127, 0, 0, 1]),
            port: 5222,
            tls_mode: TlsMode::Starttls,
            backlog: 1024,
            max_connections: 100_000,
        }
    }
}

/// `[tls]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Tls {
    /// PEM certificate chain. When absent (with `keyfile`), a self-signed certificate for the
    /// hosts is generated into `data_dir` at first start and reused afterwards.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certfile: Option<PathBuf>,
    /// PEM private key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyfile: Option<PathBuf>,
}

/// `[auth]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Auth {
    /// SASL mechanisms offered, by IANA name, in order of preference. -PLUS variants are only
    /// offered on TLS connections.
    pub sasl_mechanisms: Vec<String>,
    /// PBKDF2 iterations for newly stored SCRAM keys (RFC 7677 asks for at least 4096).
    pub scram_iterations: u32,
    /// Failed logins allowed per source address per minute before further attempts are
    /// refused until the minute passes.
    pub max_failures_per_minute: u32,
}

impl Default for Auth {
    fn default() -> Self {
        Auth {
            sasl_mechanisms: vec![
                "SCRAM-SHA-256-PLUS".into(),
                "SCRAM-SHA-256".into(),
                "SCRAM-SHA-1-PLUS".into(),
                "SCRAM-SHA-1".into(),
                "PLAIN".into(),
            ],
            scram_iterations: 4096,
            max_failures_per_minute: 10,
        }
    }
}

/// Storage backend.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server, shared by the nodes of a cluster.
    Postgres,
}

/// `[storage]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Backend.
    pub backend: Backend,
    /// SQLite database file; relative paths are relative to `general.data_dir`.
    pub sqlite_path: PathBuf,
    /// PostgreSQL connection URL, without a password (`postgres://user@host:port/database`).
    pub postgres_url: String,
    /// File holding the PostgreSQL password (first line); relative paths are relative to
    /// `general.data_dir`. Unset: no password (trust or peer authentication).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postgres_password_file: Option<PathBuf>,
    /// Most connections the node opens to PostgreSQL.
    pub postgres_pool_size: u32,
    /// How long a request waits to connect to PostgreSQL or for a free connection, in ms.
    pub postgres_connect_timeout_ms: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            backend: Backend::Sqlite,
            sqlite_path: PathBuf::from("meerkat.db"),
            postgres_url: "postgres://meerkat@127.0.0.1:5432/meerkat".to_owned(),
            postgres_password_file: None,
            postgres_pool_size: 10,
            postgres_connect_timeout_ms: 5000,
        }
    }
}

/// `[limits]`: every default is finite.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest stanza accepted from a client (`policy-violation` beyond).
    pub max_stanza_bytes: usize,
    /// Deepest XML nesting inside a stanza.
    pub max_xml_depth: usize,
    /// Most attributes on one element.
    pub max_xml_attributes: usize,
    /// Longest element or attribute name.
    pub max_xml_name_bytes: usize,
    /// Time allowed for each negotiation step (stream header, TLS handshake, SASL step, bind).
    pub negotiation_timeout_ms: u64,
    /// Time allowed from connect until authenticated and bound.
    pub unauthenticated_timeout_ms: u64,
    /// Stanzas queued for one session before it is closed as a slow reader.
    pub session_queue_stanzas: usize,
    /// Items in one roster.
    pub max_roster_items: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_stanza_bytes: 65536,
            max_xml_depth: 32,
            max_xml_attributes: 64,
            max_xml_name_bytes: 256,
            negotiation_timeout_ms: 10_000,
            unauthenticated_timeout_ms: 30_000,
            session_queue_stanzas: 1000,
            max_roster_items: 1000,
        }
    }
}

/// `[modules]`: one section per module.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Modules {
    /// XEP-0160 offline messages.
    pub offline: OfflineModule,
    /// XEP-0077 in-band registration.
    pub register: RegisterModule,
    /// XEP-0199 server-initiated pings.
    pub ping: PingModule,
    /// XEP-0092 software version.
    pub version: VersionModule,
    /// RFC 6121 roster.
    pub roster: RosterModule,
    /// XEP-0198 stream management.
    pub stream_management: StreamManagementModule,
    /// XEP-0352 client state indication.
    pub csi: CsiModule,
    /// XEP-0280 message carbons.
    pub carbons: CarbonsModule,
    /// XEP-0313 message archive management.
    pub mam: MamModule,
    /// XEP-0163 personal eventing.
    pub pep: PepModule,
    /// XEP-0115 entity capabilities.
    pub caps: CapsModule,
    /// XEP-0191 blocking command.
    pub blocking: BlockingModule,
    /// XEP-0054 vCard-temp (with XEP-0153 avatar hashes).
    pub vcard: VcardModule,
    /// XEP-0049 private XML storage (XEP-0048 bookmarks).
    pub private: PrivateModule,
    /// XEP-0050 ad-hoc commands (XEP-0133 administration).
    pub adhoc: AdhocModule,
    /// XEP-0363 HTTP File Upload.
    pub http_upload: UploadModule,
    /// XEP-0060 publish-subscribe service.
    pub pubsub_service: PubsubServiceModule,
    /// XEP-0045 multi-user chat.
    pub muc: MucModule,
}

/// `[modules.offline]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OfflineModule {
    /// Store messages for offline users.
    pub enabled: bool,
    /// Messages kept per user; beyond it the sender gets `resource-constraint`.
    pub max_messages: usize,
}

impl Default for OfflineModule {
    fn default() -> Self {
        OfflineModule { enabled: true, max_messages: 100 }
    }
}

/// `[modules.register]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RegisterModule {
    /// Offer in-band registration and password change at all.
    pub enabled: bool,
    /// Source address ranges allowed to register new accounts (MongooseIM's default: loopback).
    pub allowed_ips: Vec<ipnet::IpNet>,
    /// Shortest password accepted.
    pub min_password_len: usize,
}

impl Default for RegisterModule {
    fn default() -> Self {
        RegisterModule {
            enabled: true,
            allowed_ips: vec![
                "127.0.0.0/8".parse().expect("literal"),
                "::1/128".parse().expect("literal"),
            ],
            min_password_len: 1,
        }
    }
}

/// `[modules.ping]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PingModule {
    /// Ping clients that have been silent this long (0 disables server pings).
    pub interval_ms: u64,
    /// Drop the connection when the ping gets no answer (nor any other traffic) in this time.
    pub timeout_ms: u64,
}

impl Default for PingModule {
    fn default() -> Self {
        PingModule { interval_ms: 60_000, timeout_ms: 30_000 }
    }
}

/// `[modules.version]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct VersionModule {
    /// Include the operating system in the reply.
    pub show_os: bool,
}

impl Default for VersionModule {
    fn default() -> Self {
        VersionModule { show_os: true }
    }
}

/// `[modules.roster]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RosterModule {
    /// Offer roster versioning (XEP-0237).
    pub versioning: bool,
}

impl Default for RosterModule {
    fn default() -> Self {
        RosterModule { versioning: true }
    }
}

/// `[admin]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Admin {
    /// Address of the admin HTTP API (loopback only is enforced by validation).
    pub ip_address: IpAddr,
    /// Port of the admin HTTP API.
    pub port: u16,
}

impl Default for Admin {
    fn default() -> Self {
        Admin { ip_address: IpAddr::from([127, 0, 0, 1]), port: 5551 }
    }
}

/// `[metrics]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Metrics {
    /// Serve `GET /metrics` in the Prometheus text format.
    pub enabled: bool,
    /// Address of the metrics endpoint (no authentication: keep it on loopback or a private
    /// network).
    pub ip_address: IpAddr,
    /// Port of the metrics endpoint (MongooseIM's default is 9091 too).
    pub port: u16,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics { enabled: true, ip_address: IpAddr::from([127, 0, 0, 1]), port: 9091 }
    }
}

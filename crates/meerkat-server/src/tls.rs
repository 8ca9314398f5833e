//! TLS for listeners: certificate loading (or a generated self-signed one) and the rustls
//! acceptor, plus the data SCRAM -PLUS channel binding needs.

use anyhow::Context;
use meerkat_config::Config;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// The acceptor shared by every TLS listener and STARTTLS.
pub struct TlsSetup {
    /// rustls acceptor (TLS 1.2 and 1.3).
    pub acceptor: TlsAcceptor,
    /// The same certificate for HTTP listeners, negotiating ALPN `http/1.1` (browsers offer
    /// `h2` first; only HTTP/1.1 is served, where the WebSocket upgrade lives).
    pub http_acceptor: TlsAcceptor,
    /// `tls-server-end-point` binding data (RFC 5929): SHA-256 of the leaf certificate.
    pub server_end_point: Vec<u8>,
}

/// Loads the configured certificate, or generates and keeps a self-signed one for the hosts in
/// `data_dir` (`cert.pem`, `key.pem`) when none is configured.
pub fn setup(config: &Config) -> anyhow::Result<TlsSetup> {
    let (cert_path, key_path) = match (&config.tls.certfile, &config.tls.keyfile) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        _ => ensure_self_signed(&config.general.data_dir, &config.general.hosts)?,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .with_context(|| format!("reading certificate {}", cert_path.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing certificate {}", cert_path.display()))?;
    let leaf =
        certs.first().with_context(|| format!("no certificate in {}", cert_path.display()))?;
    let server_end_point = Sha256::digest(leaf.as_ref()).to_vec();
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .with_context(|| format!("reading private key {}", key_path.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("TLS certificate and key do not match")?;
    // Session tickets would keep per-connection secrets around longer; stateless resumption is
    // not worth it for long-lived XMPP connections.
    tls.send_tls13_tickets = 0;
    let mut http = tls.clone();
    http.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsSetup {
        acceptor: TlsAcceptor::from(Arc::new(tls)),
        http_acceptor: TlsAcceptor::from(Arc::new(http)),
        server_end_point,
    })
}

fn ensure_self_signed(data_dir: &Path, hosts: &[String]) -> anyhow::Result<(PathBuf, PathBuf)> {
    let cert_path = data_dir.join("cert.pem");
    let key_path = data_dir.join("key.pem");
    if cert_path.exists() && key_path.exists() {
        return Ok((cert_path, key_path));
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating data directory {}", data_dir.display()))?;
    let cert = rcgen::generate_simple_self_signed(hosts.to_vec())
        .context("generating a self-signed certificate")?;
    std::fs::write(&cert_path, cert.cert.pem())
        .with_context(|| format!("writing {}", cert_path.display()))?;
    write_private(&key_path, cert.signing_key.serialize_pem().as_bytes())?;
    tracing::warn!(
        what = "self_signed_certificate",
        path = %cert_path.display(),
        "no [tls] certfile configured: generated a self-signed certificate; clients will warn"
    );
    Ok((cert_path, key_path))
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

//! HTTP File Upload (XEP-0363) at `upload.<host>`: the XMPP side. A local account asks for a
//! slot (`<request filename size content-type/>`); the service checks the name, the size
//! against `max_file_bytes` and the account's stored bytes against its quota, and answers with
//! a signed PUT URL and a GET URL on this node's HTTP listener (see [`slot`] for the URL
//! form, `crate::http::upload` for the HTTP side, [`sweep`] for expiry).
//!
//! ```text
//! client --iq get <request/>--> upload.<host>   (runs in the client's task, on its node)
//!        <--iq result <slot><put url/><get url/></slot>
//! client --PUT <put url>--> this node's HTTP listener: verified, streamed to disk
//! anyone --GET <get url>--> this node's HTTP listener
//! ```
//! In a cluster the slot is made on the node holding the client's session, and the URLs name
//! that node's `public_base_url`: the bytes are stored and served there (the storage row
//! says which node holds them), while quotas count the account's files on every node.

pub mod slot;
pub mod sweep;

use crate::addr::Addr;
use crate::modules::iq;
use crate::server::ServerRef;
use meerkat_config::{Config, UploadModule};
use meerkat_proto::error::{ErrorType, StanzaError, StanzaErrorCondition as SEC};
use meerkat_proto::ns;
use meerkat_xml::{Element, Node};
use slot::{Slot, SlotKey};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The XEP-0363 namespace.
pub const NS: &str = "urn:xmpp:http:upload:0";

/// The upload service of this node, shared by the component and the HTTP routes.
#[derive(Debug)]
pub struct Service {
    /// The section, as configured.
    pub config: UploadModule,
    /// Key signing the slots.
    pub key: SlotKey,
    /// `scheme://host:port` the URLs start with.
    pub base_url: String,
    /// Directory of the files (`<id[..2]>/<id>`) and of uploads in progress (`tmp/`).
    pub store_dir: PathBuf,
    /// This node's name, recorded with each file it stores.
    pub node: String,
    /// Ids with a PUT in progress on this node, so a second PUT to the same slot gets `409`
    /// at once instead of racing the first (the storage row settles it across nodes).
    in_progress: Mutex<HashSet<String>>,
    /// Set once the sweeper runs (the routes are built once per HTTP listener).
    sweeper_started: std::sync::atomic::AtomicBool,
}

/// Marks a slot's PUT in progress until dropped.
pub struct InProgress<'a> {
    service: &'a Service,
    id: String,
}

impl Drop for InProgress<'_> {
    fn drop(&mut self) {
        if let Ok(mut set) = self.service.in_progress.lock() {
            set.remove(&self.id);
        }
    }
}

impl Service {
    /// The service the configuration enables, or `None`: disabled, or no HTTP listener to
    /// serve the files.
    pub fn new(config: &Config) -> Option<Service> {
        let u = &config.modules.http_upload;
        let first_http = config.listen.http.first();
        if !u.enabled || first_http.is_none() {
            return None;
        }
        let base_url = match (&u.public_base_url, first_http) {
            (Some(url), _) => url.clone(),
            (None, Some(l)) => {
                let scheme = if l.tls { "https" } else { "http" };
                let host = match l.ip_address {
                    // Not reachable as such: the first served host is the best guess (the
                    // documentation says to set public_base_url when binding every address).
                    ip if ip.is_unspecified() => {
                        config.general.hosts.first().cloned().unwrap_or_default()
                    }
                    std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                    ip => ip.to_string(),
                };
                format!("{scheme}://{host}:{}", l.port)
            }
            (None, None) => return None,
        };
        let data_dir = &config.general.data_dir;
        let store_dir = match &u.store_dir {
            Some(d) => data_dir.join(d),
            None => data_dir.join("upload"),
        };
        Some(Service {
            config: u.clone(),
            key: SlotKey::derive(&signing_secret(config)),
            base_url,
            store_dir,
            node: config.general.node_name.clone(),
            in_progress: Mutex::default(),
            sweeper_started: Default::default(),
        })
    }

    /// Marks `id` in progress; `None` when a PUT to it is already running on this node.
    pub fn begin_put(&self, id: &str) -> Option<InProgress<'_>> {
        let mut set = self.in_progress.lock().ok()?;
        set.insert(id.to_owned()).then(|| InProgress { service: self, id: id.to_owned() })
    }

    /// Where the file with this (validated) id lives.
    pub fn file_path(&self, id: &str) -> PathBuf {
        self.store_dir.join(id.get(..2).unwrap_or("__")).join(id)
    }

    /// Where an upload in progress is written before it is renamed into place.
    pub fn temp_path(&self, id: &str) -> PathBuf {
        self.store_dir.join("tmp").join(format!("{id}.part"))
    }

    /// Starts the expiry sweeper once (from the first HTTP listener's routes).
    pub fn start_sweeper(self: &Arc<Self>, server: &ServerRef) {
        use std::sync::atomic::Ordering;
        if !self.sweeper_started.swap(true, Ordering::AcqRel) {
            server.tasks.spawn(sweep::run(server.clone(), self.clone()));
        }
    }
}

/// The secret slots are signed with: `secret_file`, else the cluster secret on a cluster
/// member (so a slot made on one node verifies on any), else random bytes for this run.
fn signing_secret(config: &Config) -> Vec<u8> {
    let file = config
        .modules
        .http_upload
        .secret_file
        .clone()
        .or_else(|| config.cluster.enabled.then(|| config.cluster.secret_file.clone()));
    if let Some(path) = file {
        match std::fs::read(&path) {
            Ok(raw) if raw.trim_ascii().len() >= 16 => return raw.trim_ascii().to_vec(),
            Ok(_) => tracing::error!(
                what = "upload_secret_too_short",
                file = %path.display(),
                "fewer than 16 bytes: using a random key (slots valid on this node only)"
            ),
            Err(e) => tracing::error!(
                what = "upload_secret_unreadable",
                file = %path.display(),
                error = %e,
                "using a random key (slots valid on this node only)"
            ),
        }
    }
    rand::random::<[u8; 32]>().to_vec()
}

/// Handles a stanza addressed to the upload service.
pub async fn route(server: &ServerRef, host: &str, stanza: Element, to: Addr) {
    if stanza.name != "iq" {
        // Messages get an error (RFC 6120 §8.3.3.1 service-unavailable); presence is ignored.
        if stanza.name == "message" {
            crate::router::bounce(server, &stanza, StanzaError::new(SEC::ServiceUnavailable)).await;
        }
        return;
    }
    if !iq::is_request(&stanza) {
        return;
    }
    let reply = if to.node.is_some() || to.resource.is_some() {
        iq::error(&stanza, StanzaError::new(SEC::ServiceUnavailable))
    } else {
        answer(server, host, &stanza).await
    };
    if let Some(reply) = reply {
        crate::router::route(server, reply).await;
    }
}

async fn answer(server: &ServerRef, host: &str, req: &Element) -> Option<Element> {
    let Some(service) = server.components.upload() else {
        return iq::error(req, StanzaError::new(SEC::ServiceUnavailable));
    };
    let payload = iq::payload(req)?;
    let get = req.attr("type") == Some("get");
    match (payload.name.as_str(), payload.ns.as_str()) {
        ("query", ns::DISCO_INFO) if get && payload.attr("node").is_none() => {
            Some(iq::result(req, Some(disco_info(service))))
        }
        ("query", ns::DISCO_ITEMS) if get && payload.attr("node").is_none() => {
            Some(iq::result(req, Some(Element::new("query", ns::DISCO_ITEMS))))
        }
        ("query", ns::DISCO_INFO | ns::DISCO_ITEMS) if get => {
            iq::error(req, StanzaError::new(SEC::ItemNotFound))
        }
        ("request", NS) if get => match request_slot(server, service, host, req, payload).await {
            Ok(slot) => Some(iq::result(req, Some(slot))),
            Err(e) => Some(e),
        },
        ("request", NS) => iq::error(req, StanzaError::new(SEC::BadRequest)),
        _ => iq::error(req, StanzaError::new(SEC::ServiceUnavailable)),
    }
}

/// disco#info (XEP-0363 §3): the identity, the feature and the size limit (XEP-0128 form).
fn disco_info(service: &Service) -> Element {
    let field = |var: &str, value: &str| {
        let mut f = Element::new("field", ns::DATA_FORMS).with_attr("var", var);
        if var == "FORM_TYPE" {
            f.set_attr("type", "hidden");
        }
        f.with_child(Element::new("value", ns::DATA_FORMS).with_text(value))
    };
    let form = Element::new("x", ns::DATA_FORMS)
        .with_attr("type", "result")
        .with_child(field("FORM_TYPE", NS))
        .with_child(field("max-file-size", &service.config.max_file_bytes.to_string()));
    Element::new("query", ns::DISCO_INFO)
        .with_child(
            Element::new("identity", ns::DISCO_INFO)
                .with_attr("category", "store")
                .with_attr("type", "file")
                .with_attr("name", "HTTP File Upload"),
        )
        .with_child(Element::new("feature", ns::DISCO_INFO).with_attr("var", ns::DISCO_INFO))
        .with_child(Element::new("feature", ns::DISCO_INFO).with_attr("var", NS))
        .with_child(form)
}

/// The slot for a request, or the error reply.
async fn request_slot(
    server: &ServerRef,
    service: &Service,
    host: &str,
    req: &Element,
    request: &Element,
) -> Result<Element, Element> {
    let err = |e: StanzaError| iq::error(req, e).unwrap_or_else(|| req.clone());
    let bad = |why: &str| err(StanzaError::new(SEC::BadRequest).with_text(why));
    // Local accounts of the served hosts only: the quota and the disk are theirs.
    let owner = req.attr("from").and_then(Addr::parse);
    let Some((username, owner_host)) = owner
        .as_ref()
        .and_then(|a| Some((a.node.clone()?, a.domain.clone())))
        .filter(|(_, d)| server.serves(d))
    else {
        return Err(err(
            StanzaError::new(SEC::Forbidden).with_text("only accounts of this server may upload")
        ));
    };
    let filename = request.attr("filename").unwrap_or_default();
    slot::check_filename(filename).map_err(bad)?;
    let size: u64 = match request.attr("size").map(str::parse) {
        Some(Ok(n)) if n > 0 => n,
        _ => return Err(bad("size must be a positive number of bytes")),
    };
    let content_type = request.attr("content-type").unwrap_or_default();
    if !content_type.is_empty() {
        slot::check_content_type(content_type).map_err(bad)?;
    }
    let max = service.config.max_file_bytes;
    if size > max {
        return Err(too_large(req, max));
    }
    let used = match server.storage.upload.used_bytes(&owner_host, &username).await {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(what = "upload_quota_read_failed", error = %e);
            return Err(err(StanzaError::new(SEC::InternalServerError)));
        }
    };
    if used.saturating_add(size) > service.config.quota_bytes_per_user {
        return Err(err(StanzaError::new(SEC::ResourceConstraint)
            .with_type(ErrorType::Wait)
            .with_text(format!(
                "quota exceeded: {used} of {} bytes stored",
                service.config.quota_bytes_per_user
            ))));
    }
    let now_s = chrono::Utc::now().timestamp().max(0) as u64;
    let slot = Slot {
        id: Slot::new_id(),
        filename: filename.to_owned(),
        size_bytes: size,
        content_type: content_type.to_owned(),
        owner: format!("{username}@{owner_host}"),
        expires_s: now_s.saturating_add(service.config.slot_ttl_s),
    };
    let prefix = &service.config.path_prefix;
    tracing::debug!(what = "upload_slot", host, id = %slot.id, size);
    let put = format!("{}{}", service.base_url, slot.put_path(prefix, &service.key));
    let get = format!("{}{}", service.base_url, slot.get_path(prefix));
    Ok(Element::new("slot", NS)
        .with_child(Element::new("put", NS).with_attr("url", put))
        .with_child(Element::new("get", NS).with_attr("url", get)))
}

/// `not-acceptable` with `<file-too-large><max-file-size/></file-too-large>` (XEP-0363 §4.1).
fn too_large(req: &Element, max: u64) -> Element {
    let e = StanzaError::new(SEC::NotAcceptable)
        .with_type(ErrorType::Modify)
        .with_text(format!("file too large: the largest accepted is {max} bytes"));
    let mut reply = iq::error(req, e).unwrap_or_else(|| req.clone());
    let app = Element::new("file-too-large", NS)
        .with_child(Element::new("max-file-size", NS).with_text(max.to_string()));
    for child in reply.children.iter_mut() {
        if let Node::Element(el) = child {
            if el.name == "error" {
                el.children.push(Node::Element(app));
                break;
            }
        }
    }
    reply
}

//! Services that live on subdomains of the served hosts and have JIDs of their own: Multi-User
//! Chat (XEP-0045) at `conference.<host>`, the Publish-Subscribe service (XEP-0060) at
//! `pubsub.<host>` and HTTP File Upload (XEP-0363) at `upload.<host>` (names configurable).
//!
//! The router hands every stanza whose `to` domain is a component's to [`route`]; the server's
//! disco#items lists the components so clients find them (XEP-0030 §4, how Conversations and
//! Converse.js look for a conference service).
//!
//! Each component adds a [`Kind`] variant, builds its domains in [`Components::new`] from its
//! configuration, and takes its stanzas in [`route`].

pub mod muc;
pub mod pubsub;
pub mod upload;

use crate::addr::Addr;
use crate::server::ServerRef;
use meerkat_config::Config;
use meerkat_xml::Element;
use std::collections::HashMap;
use std::sync::Arc;

/// What serves a component domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// HTTP File Upload (XEP-0363), [`upload`].
    Upload,
    /// Publish-Subscribe service (XEP-0060), [`pubsub`].
    Pubsub,
    /// Multi-User Chat (XEP-0045), `[modules.muc]`.
    Muc,
}

/// A component domain: what serves it and the served host it belongs to.
#[derive(Debug, Clone)]
pub struct Component {
    /// The service.
    pub kind: Kind,
    /// The served host (`localhost` for `conference.localhost`): its accounts are the service's
    /// local users.
    pub host: String,
}

/// The component domains of this node, built once from the configuration.
#[derive(Debug, Default)]
pub struct Components {
    by_domain: HashMap<String, Component>,
    /// The upload service, when enabled and the node has an HTTP listener.
    upload: Option<Arc<upload::Service>>,
    /// The pubsub service, when enabled.
    pubsub: Option<Arc<pubsub::Service>>,
    /// The MUC service of each MUC domain.
    muc: HashMap<String, Arc<muc::MucService>>,
}

impl Components {
    /// Builds the component domains the configuration enables, for every served host.
    pub fn new(config: &Config) -> Self {
        let mut by_domain = HashMap::new();
        let upload = upload::Service::new(config).map(Arc::new);
        if upload.is_some() {
            for host in &config.general.hosts {
                let domain = config.modules.http_upload.domain_of(host);
                by_domain.insert(domain, Component { kind: Kind::Upload, host: host.clone() });
            }
        }
        let pubsub = pubsub::Service::new(config).map(Arc::new);
        if pubsub.is_some() {
            for host in &config.general.hosts {
                let domain = config.modules.pubsub_service.domain_of(host);
                by_domain.insert(domain, Component { kind: Kind::Pubsub, host: host.clone() });
            }
        }
        let mut muc = HashMap::new();
        if config.modules.muc.enabled {
            for host in &config.general.hosts {
                let domain = config.modules.muc.host.replace("@HOST@", host).to_lowercase();
                by_domain.insert(domain.clone(), Component { kind: Kind::Muc, host: host.clone() });
                muc.insert(domain.clone(), Arc::new(muc::MucService::new(domain, host.clone())));
            }
        }
        Components { by_domain, upload, pubsub, muc }
    }

    /// The pubsub service, if enabled.
    pub fn pubsub(&self) -> Option<&Arc<pubsub::Service>> {
        self.pubsub.as_ref()
    }

    /// The upload service, if this node offers one.
    pub fn upload(&self) -> Option<&Arc<upload::Service>> {
        self.upload.as_ref()
    }

    /// The MUC service at `domain`, if any.
    pub fn muc(&self, domain: &str) -> Option<Arc<muc::MucService>> {
        self.muc.get(domain).cloned()
    }

    /// The component serving `domain`, if any.
    pub fn get(&self, domain: &str) -> Option<&Component> {
        self.by_domain.get(domain)
    }

    /// The component domains belonging to served host `host`, sorted (stable disco output).
    pub fn of_host(&self, host: &str) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .by_domain
            .iter()
            .filter(|(_, c)| c.host == host)
            .map(|(d, _)| d.as_str())
            .collect();
        v.sort_unstable();
        v
    }
}

/// Handles a stanza addressed to a component domain (or a JID under it).
pub async fn route(server: &ServerRef, component: Component, stanza: Element, to: Addr) {
    match component.kind {
        Kind::Upload => upload::route(server, &component.host, stanza, to).await,
        Kind::Pubsub => pubsub::route(server, stanza, to).await,
        Kind::Muc => {
            if let Some(svc) = server.components.muc(&to.domain) {
                muc::route(server, &svc, stanza, to).await;
            }
        }
    }
}

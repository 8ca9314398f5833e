//! `[modules.pubsub_service]`: the Publish-Subscribe service (XEP-0060) at `pubsub.<host>`
//! (see `docs/pubsub.md`), on the same pubsub core as PEP.

use crate::ConfigError;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// `[modules.pubsub_service]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PubsubServiceModule {
    /// Offer the service.
    pub enabled: bool,
    /// Domain of the service; `@HOST@` is replaced by each served host.
    pub host: String,
    /// Nodes the service may hold; creating more gets `resource-constraint`.
    pub max_nodes: usize,
    /// Most items a node keeps (`pubsub#max_items = max` means this); a higher number in a
    /// configuration gets `not-acceptable`.
    pub max_items_per_node: usize,
    /// Items a new node keeps unless configured otherwise (at most `max_items_per_node`).
    pub default_max_items: usize,
    /// Largest item payload in bytes of XML; larger gets `not-acceptable`/`payload-too-big`.
    pub max_item_bytes: usize,
    /// Subscriptions one node may have; more get `resource-constraint`. Each publication
    /// sends one message per subscription.
    pub max_subscriptions_per_node: usize,
}

impl Default for PubsubServiceModule {
    fn default() -> Self {
        PubsubServiceModule {
            enabled: true,
            host: "pubsub.@HOST@".into(),
            max_nodes: 1000,
            max_items_per_node: 1000,
            default_max_items: 10,
            max_item_bytes: 60_000,
            max_subscriptions_per_node: 10_000,
        }
    }
}

impl PubsubServiceModule {
    /// The service domain of served host `host`.
    pub fn domain_of(&self, host: &str) -> String {
        self.host.replace("@HOST@", host)
    }
}

/// Rules of the section.
pub(crate) fn validate(p: &PubsubServiceModule, file: &Path) -> Result<(), ConfigError> {
    let bad = |key: &str, why: String| Err(ConfigError::invalid(file, key, why));
    if !p.host.contains("@HOST@") || p.host == "@HOST@" {
        return bad(
            "modules.pubsub_service.host",
            format!("`{}` must contain @HOST@ and more (e.g. \"pubsub.@HOST@\")", p.host),
        );
    }
    for (key, v) in [
        ("modules.pubsub_service.max_nodes", p.max_nodes),
        ("modules.pubsub_service.max_items_per_node", p.max_items_per_node),
        ("modules.pubsub_service.max_item_bytes", p.max_item_bytes),
        ("modules.pubsub_service.max_subscriptions_per_node", p.max_subscriptions_per_node),
    ] {
        if v == 0 {
            return bad(key, "must be above 0".into());
        }
    }
    if p.default_max_items == 0 || p.default_max_items > p.max_items_per_node {
        return bad(
            "modules.pubsub_service.default_max_items",
            format!("must be between 1 and max_items_per_node ({})", p.max_items_per_node),
        );
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
        assert_eq!(c.modules.pubsub_service.domain_of("a.example"), "pubsub.a.example");
        for (toml, key) in [
            ("host = \"@HOST@\"", "host"),
            ("max_nodes = 0", "max_nodes"),
            ("max_item_bytes = 0", "max_item_bytes"),
            ("default_max_items = 2000", "default_max_items"),
        ] {
            let text = format!("[modules.pubsub_service]\n{toml}\n");
            let e = parse_str(&text, Path::new("m.toml")).expect_err(key);
            assert!(e.to_string().contains(&format!("modules.pubsub_service.{key}")), "{key}: {e}");
        }
    }
}

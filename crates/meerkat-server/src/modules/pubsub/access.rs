//! Access checks of XEP-0060 §4.5 access models, for item retrieval and notifications.

use super::config::{AccessModel, NodeConfig};
use super::error::PubsubError;
use meerkat_proto::error::StanzaErrorCondition as SEC;

/// How the requesting entity relates to the node owner (for PEP: from the owner's roster).
#[derive(Debug, Clone, Default)]
pub struct Relation {
    /// The requester is the owner (any of the owner's resources).
    pub owner: bool,
    /// The owner's roster gives the requester a `from` or `both` subscription.
    pub subscribed: bool,
    /// Roster groups of the requester in the owner's roster.
    pub groups: Vec<String>,
}

/// May `who` retrieve items of (and be notified about) a node with `config`?
pub fn check(config: &NodeConfig, who: &Relation) -> Result<(), PubsubError> {
    if who.owner {
        return Ok(());
    }
    match config.access_model {
        AccessModel::Open => Ok(()),
        AccessModel::Presence if who.subscribed => Ok(()),
        AccessModel::Presence => {
            Err(PubsubError::app(SEC::NotAuthorized, "presence-subscription-required"))
        }
        AccessModel::Roster
            if who.groups.iter().any(|g| config.roster_groups_allowed.contains(g)) =>
        {
            Ok(())
        }
        AccessModel::Roster => Err(PubsubError::app(SEC::NotAuthorized, "not-in-roster-group")),
        AccessModel::Whitelist => Err(PubsubError::app(SEC::NotAllowed, "closed-node")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(model: AccessModel) -> NodeConfig {
        NodeConfig {
            access_model: model,
            roster_groups_allowed: vec!["friends".into()],
            ..NodeConfig::pep_default()
        }
    }

    #[test]
    fn models() {
        let stranger = Relation::default();
        let contact = Relation { subscribed: true, groups: vec!["work".into()], owner: false };
        let friend = Relation { subscribed: true, groups: vec!["friends".into()], owner: false };
        let owner = Relation { owner: true, ..Relation::default() };
        assert!(check(&node(AccessModel::Open), &stranger).is_ok());
        let e = check(&node(AccessModel::Presence), &stranger).expect_err("presence");
        assert_eq!(
            (e.error.condition, e.app),
            (SEC::NotAuthorized, Some("presence-subscription-required"))
        );
        assert!(check(&node(AccessModel::Presence), &contact).is_ok());
        let e = check(&node(AccessModel::Roster), &contact).expect_err("roster");
        assert_eq!(e.app, Some("not-in-roster-group"));
        assert!(check(&node(AccessModel::Roster), &friend).is_ok());
        let e = check(&node(AccessModel::Whitelist), &friend).expect_err("whitelist");
        assert_eq!((e.error.condition, e.app), (SEC::NotAllowed, Some("closed-node")));
        for m in
            [AccessModel::Open, AccessModel::Presence, AccessModel::Roster, AccessModel::Whitelist]
        {
            assert!(check(&node(m), &owner).is_ok());
        }
    }
}

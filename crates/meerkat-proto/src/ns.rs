//! Namespace constants, named after the protocol that defines them.

/// RFC 6120 client stream default namespace.
pub const CLIENT: &str = "jabber:client";
/// RFC 6120 server stream default namespace.
pub const SERVER: &str = "jabber:server";
/// RFC 6120 stream wrapper namespace.
pub const STREAM: &str = "http://etherx.jabber.org/streams";
/// RFC 6120 §4.9 stream error conditions.
pub const STREAMS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
/// RFC 6120 §8.3 stanza error conditions.
pub const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
/// RFC 6120 §5 STARTTLS.
pub const TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
/// RFC 6120 §6 SASL.
pub const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
/// RFC 6120 §7 resource binding.
pub const BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
/// RFC 3921 legacy session establishment.
pub const SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";
/// RFC 6121 roster.
pub const ROSTER: &str = "jabber:iq:roster";
/// XEP-0237 roster versioning stream feature.
pub const ROSTER_VER: &str = "urn:xmpp:features:rosterver";
/// RFC 6121 pre-approval stream feature.
pub const PRE_APPROVAL: &str = "urn:xmpp:features:pre-approval";
/// XEP-0030 service discovery, info.
pub const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
/// XEP-0030 service discovery, items.
pub const DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
/// XEP-0199 ping.
pub const PING: &str = "urn:xmpp:ping";
/// XEP-0092 software version.
pub const VERSION: &str = "jabber:iq:version";
/// XEP-0202 entity time.
pub const TIME: &str = "urn:xmpp:time";
/// XEP-0012 last activity.
pub const LAST: &str = "jabber:iq:last";
/// XEP-0077 in-band registration.
pub const REGISTER: &str = "jabber:iq:register";
/// XEP-0077 registration stream feature.
pub const REGISTER_FEATURE: &str = "http://jabber.org/features/iq-register";
/// XEP-0203 delayed delivery.
pub const DELAY: &str = "urn:xmpp:delay";
/// XEP-0160 / XEP-0013 offline message feature advertised in disco.
pub const MSGOFFLINE: &str = "msgoffline";
/// XEP-0004 data forms.
pub const DATA_FORMS: &str = "jabber:x:data";
/// XEP-0440 SASL channel-binding type capability.
pub const SASL_CB: &str = "urn:xmpp:sasl-cb:0";
/// XEP-0115 entity capabilities.
pub const CAPS: &str = "http://jabber.org/protocol/caps";
/// XEP-0060 publish-subscribe.
pub const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
/// XEP-0060 publish-subscribe, owner use cases.
pub const PUBSUB_OWNER: &str = "http://jabber.org/protocol/pubsub#owner";
/// XEP-0060 publish-subscribe event notifications.
pub const PUBSUB_EVENT: &str = "http://jabber.org/protocol/pubsub#event";
/// XEP-0060 publish-subscribe application-specific error conditions.
pub const PUBSUB_ERRORS: &str = "http://jabber.org/protocol/pubsub#errors";

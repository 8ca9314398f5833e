//! Table-driven tests: one row per row of RFC 6121 Appendix A.2 (outbound) and A.3 (inbound),
//! plus pre-approval (§3.4), removal (§2.5.2) and a two-server simulation.

use super::*;

/// Parses an RFC 6121 Appendix A state name, with an optional ` (pre-approved)` suffix.
fn st(name: &str) -> State {
    let (name, pre_approved) = match name.strip_suffix(" (pre-approved)") {
        Some(base) => (base, true),
        None => (name, false),
    };
    let (sub, pending) = name.split_once(" + ").unwrap_or((name, ""));
    let sub = match sub {
        "None" => Sub::None,
        "To" => Sub::To,
        "From" => Sub::From,
        "Both" => Sub::Both,
        other => panic!("unknown state {other}"),
    };
    let (pending_out, pending_in) = match pending {
        "" => (false, false),
        "Pending Out" => (true, false),
        "Pending In" => (false, true),
        "Pending Out+In" => (true, true),
        other => panic!("unknown pending {other}"),
    };
    State { sub, pending_out, pending_in, pre_approved }
}

/// (existing state, route?, new state, roster push?)
type OutRow = (&'static str, bool, &'static str, bool);

fn check_outbound(kind: Kind, rows: &[OutRow]) {
    assert_eq!(rows.len(), 9, "every Appendix A state has a row");
    for &(existing, route, new, push) in rows {
        let out = outbound(st(existing), kind);
        assert_eq!(
            (out.forward, out.state, out.push),
            (route, st(new), push),
            "outbound {} in \"{existing}\"",
            kind.as_str()
        );
        assert_eq!(st(existing).to_string(), existing, "Display gives the RFC name");
    }
}

/// (existing state, deliver?, new state, roster push?, auto-reply)
type InRow = (&'static str, bool, &'static str, bool, Option<Kind>);

fn check_inbound(kind: Kind, rows: &[InRow]) {
    assert_eq!(rows.len(), 9, "every Appendix A state has a row");
    for &(existing, deliver, new, push, auto_reply) in rows {
        let inb = inbound(st(existing), kind);
        assert_eq!(
            (inb.deliver, inb.state, inb.push, inb.auto_reply),
            (deliver, st(new), push, auto_reply),
            "inbound {} in \"{existing}\"",
            kind.as_str()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Appendix A.2: the user sends.

#[test]
fn a_2_1_outbound_subscribe() {
    check_outbound(
        Kind::Subscribe,
        &[
            ("None", true, "None + Pending Out", true),
            ("None + Pending Out", true, "None + Pending Out", false),
            ("None + Pending In", true, "None + Pending Out+In", true),
            ("None + Pending Out+In", true, "None + Pending Out+In", false),
            ("To", true, "To", false),
            ("To + Pending In", true, "To + Pending In", false),
            ("From", true, "From + Pending Out", true),
            ("From + Pending Out", true, "From + Pending Out", false),
            ("Both", true, "Both", false),
        ],
    );
}

#[test]
fn a_2_2_outbound_unsubscribe() {
    check_outbound(
        Kind::Unsubscribe,
        &[
            ("None", true, "None", false),
            ("None + Pending Out", true, "None", true),
            ("None + Pending In", true, "None + Pending In", false),
            ("None + Pending Out+In", true, "None + Pending In", true),
            ("To", true, "None", true),
            ("To + Pending In", true, "None + Pending In", true),
            ("From", true, "From", false),
            ("From + Pending Out", true, "From", true),
            ("Both", true, "From", true),
        ],
    );
}

#[test]
fn a_2_3_outbound_subscribed() {
    // Where the table says "no state change" without a pending request (None, None + Pending
    // Out, To), this server supports §3.4, so the stanza becomes a pre-approval: stored and
    // pushed (approved='true'), still not routed.
    check_outbound(
        Kind::Subscribed,
        &[
            ("None", false, "None (pre-approved)", true),
            ("None + Pending Out", false, "None + Pending Out (pre-approved)", true),
            ("None + Pending In", true, "From", true),
            ("None + Pending Out+In", true, "From + Pending Out", true),
            ("To", false, "To (pre-approved)", true),
            ("To + Pending In", true, "Both", true),
            ("From", false, "From", false),
            ("From + Pending Out", false, "From + Pending Out", false),
            ("Both", false, "Both", false),
        ],
    );
}

#[test]
fn a_2_4_outbound_unsubscribed() {
    // Pending In is not part of roster items, so denying a request pushes nothing.
    check_outbound(
        Kind::Unsubscribed,
        &[
            ("None", false, "None", false),
            ("None + Pending Out", false, "None + Pending Out", false),
            ("None + Pending In", true, "None", false),
            ("None + Pending Out+In", true, "None + Pending Out", false),
            ("To", false, "To", false),
            ("To + Pending In", true, "To", false),
            ("From", true, "None", true),
            ("From + Pending Out", true, "None + Pending Out", true),
            ("Both", true, "To", true),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Appendix A.3: the contact sends.

#[test]
fn a_3_1_inbound_subscribe() {
    let auto = Some(Kind::Subscribed);
    check_inbound(
        Kind::Subscribe,
        &[
            ("None", true, "None + Pending In", false, None),
            ("None + Pending Out", true, "None + Pending Out+In", false, None),
            ("None + Pending In", false, "None + Pending In", false, None),
            ("None + Pending Out+In", false, "None + Pending Out+In", false, None),
            ("To", true, "To + Pending In", false, None),
            ("To + Pending In", false, "To + Pending In", false, None),
            ("From", false, "From", false, auto),
            ("From + Pending Out", false, "From + Pending Out", false, auto),
            ("Both", false, "Both", false, auto),
        ],
    );
}

#[test]
fn a_3_2_inbound_unsubscribe() {
    check_inbound(
        Kind::Unsubscribe,
        &[
            ("None", false, "None", false, None),
            ("None + Pending Out", false, "None + Pending Out", false, None),
            ("None + Pending In", true, "None", false, None),
            ("None + Pending Out+In", true, "None + Pending Out", false, None),
            ("To", false, "To", false, None),
            ("To + Pending In", true, "To", false, None),
            ("From", true, "None", true, None),
            ("From + Pending Out", true, "None + Pending Out", true, None),
            ("Both", true, "To", true, None),
        ],
    );
}

#[test]
fn a_3_3_inbound_subscribed() {
    check_inbound(
        Kind::Subscribed,
        &[
            ("None", false, "None", false, None),
            ("None + Pending Out", true, "To", true, None),
            ("None + Pending In", false, "None + Pending In", false, None),
            ("None + Pending Out+In", true, "To + Pending In", true, None),
            ("To", false, "To", false, None),
            ("To + Pending In", false, "To + Pending In", false, None),
            ("From", false, "From", false, None),
            ("From + Pending Out", true, "Both", true, None),
            ("Both", false, "Both", false, None),
        ],
    );
}

#[test]
fn a_3_4_inbound_unsubscribed() {
    check_inbound(
        Kind::Unsubscribed,
        &[
            ("None", false, "None", false, None),
            ("None + Pending Out", true, "None", true, None),
            ("None + Pending In", false, "None + Pending In", false, None),
            ("None + Pending Out+In", true, "None + Pending In", true, None),
            ("To", true, "None", true, None),
            ("To + Pending In", true, "None + Pending In", true, None),
            ("From", false, "From", false, None),
            ("From + Pending Out", true, "From", true, None),
            ("Both", true, "From", true, None),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Pre-approval (§3.4).

#[test]
fn pre_approved_subscribe_is_approved_by_the_server() {
    for (existing, new) in [
        ("None (pre-approved)", "From"),
        ("None + Pending Out (pre-approved)", "From + Pending Out"),
        ("To (pre-approved)", "Both"),
    ] {
        let inb = inbound(st(existing), Kind::Subscribe);
        assert_eq!(
            inb,
            Inbound {
                state: st(new),
                deliver: false,
                push: true,
                auto_reply: Some(Kind::Subscribed),
                presence_to_contact: Some(PresenceToContact::Available),
            },
            "{existing}"
        );
    }
}

#[test]
fn pre_approval_is_cancelled_by_unsubscribed_and_kept_by_subscribe() {
    let out = outbound(st("None (pre-approved)"), Kind::Unsubscribed);
    assert_eq!((out.state, out.forward, out.push), (st("None"), false, true));
    let out = outbound(st("To (pre-approved)"), Kind::Unsubscribed);
    assert_eq!((out.state, out.forward, out.push), (st("To"), false, true));
    // Pre-approving twice changes nothing.
    let out = outbound(st("None (pre-approved)"), Kind::Subscribed);
    assert_eq!((out.state, out.forward, out.push), (st("None (pre-approved)"), false, false));
    // Asking for the contact's presence keeps the pre-approval.
    let out = outbound(st("None (pre-approved)"), Kind::Subscribe);
    assert_eq!(out.state, st("None + Pending Out (pre-approved)"));
    // Answers the contact did not ask for leave it alone.
    let inb = inbound(st("To (pre-approved)"), Kind::Unsubscribe);
    assert_eq!((inb.state, inb.deliver), (st("To (pre-approved)"), false));
}

// ---------------------------------------------------------------------------------------------
// Presence follow-ups, removal, helpers.

#[test]
fn presence_to_contact_follows_the_from_direction() {
    let available = Some(PresenceToContact::Available);
    let unavailable = Some(PresenceToContact::Unavailable);
    assert_eq!(outbound(st("None + Pending In"), Kind::Subscribed).presence_to_contact, available);
    assert_eq!(outbound(st("To + Pending In"), Kind::Subscribed).presence_to_contact, available);
    assert_eq!(outbound(st("Both"), Kind::Unsubscribed).presence_to_contact, unavailable);
    assert_eq!(outbound(st("From"), Kind::Unsubscribed).presence_to_contact, unavailable);
    // Denying a request: the contact never had presence.
    assert_eq!(outbound(st("None + Pending In"), Kind::Unsubscribed).presence_to_contact, None);
    assert_eq!(inbound(st("Both"), Kind::Unsubscribe).presence_to_contact, unavailable);
    assert_eq!(inbound(st("None + Pending In"), Kind::Unsubscribe).presence_to_contact, None);
    assert_eq!(inbound(st("Both"), Kind::Subscribe).presence_to_contact, None);
    assert_eq!(outbound(st("None"), Kind::Subscribe).presence_to_contact, None);
}

#[test]
fn removal_cancels_both_directions() {
    let r = |name| removal(st(name));
    assert_eq!(r("None"), Removal { unsubscribe: false, unsubscribed: false });
    assert_eq!(r("None (pre-approved)"), Removal { unsubscribe: false, unsubscribed: false });
    assert_eq!(r("None + Pending Out"), Removal { unsubscribe: true, unsubscribed: false });
    assert_eq!(r("None + Pending In"), Removal { unsubscribe: false, unsubscribed: true });
    assert_eq!(r("None + Pending Out+In"), Removal { unsubscribe: true, unsubscribed: true });
    assert_eq!(r("To"), Removal { unsubscribe: true, unsubscribed: false });
    assert_eq!(r("To + Pending In"), Removal { unsubscribe: true, unsubscribed: true });
    assert_eq!(r("From"), Removal { unsubscribe: false, unsubscribed: true });
    assert_eq!(r("From + Pending Out"), Removal { unsubscribe: true, unsubscribed: true });
    assert_eq!(r("Both"), Removal { unsubscribe: true, unsubscribed: true });
}

#[test]
fn names_round_trip_and_state_stays_small() {
    for sub in [Sub::None, Sub::To, Sub::From, Sub::Both] {
        assert_eq!(Sub::from_name(sub.as_str()), Some(sub));
    }
    assert_eq!(Sub::from_name("remove"), None);
    for kind in [Kind::Subscribe, Kind::Subscribed, Kind::Unsubscribe, Kind::Unsubscribed] {
        assert_eq!(Kind::from_type(kind.as_str()), Some(kind));
    }
    assert_eq!(Kind::from_type("probe"), None);
    assert!(State::NONE.is_empty() && State::default().is_empty());
    assert!(!st("None (pre-approved)").is_empty());
    assert_eq!(std::mem::size_of::<State>(), 4);
}

// ---------------------------------------------------------------------------------------------
// Invariants and a two-server simulation.

/// Every state the functions can produce from `State::NONE`.
fn valid_states() -> Vec<State> {
    let mut out = Vec::new();
    for sub in [Sub::None, Sub::To, Sub::From, Sub::Both] {
        for bits in 0..8u8 {
            let s = State {
                sub,
                pending_out: bits & 1 != 0,
                pending_in: bits & 2 != 0,
                pre_approved: bits & 4 != 0,
            };
            let contradicts = (s.pending_out && sub.has_to())
                || (s.pending_in && sub.has_from())
                || (s.pre_approved && (sub.has_from() || s.pending_in));
            if !contradicts {
                out.push(s);
            }
        }
    }
    out
}

#[test]
fn valid_states_stay_valid() {
    let valid = valid_states();
    for &s in &valid {
        for kind in [Kind::Subscribe, Kind::Subscribed, Kind::Unsubscribe, Kind::Unsubscribed] {
            let o = outbound(s, kind).state;
            let i = inbound(s, kind).state;
            assert!(valid.contains(&o), "outbound {kind:?} from {s} gave {o}");
            assert!(valid.contains(&i), "inbound {kind:?} from {s} gave {i}");
        }
    }
}

/// B's view of the pair is A's view mirrored (pre-approval is one-sided, so it is left out).
fn mirrored(a: State, b: State) -> bool {
    b.sub.has_to() == a.sub.has_from()
        && b.sub.has_from() == a.sub.has_to()
        && b.pending_out == a.pending_in
        && b.pending_in == a.pending_out
}

/// One side sends `kind`; the stanza and any automatic reply are delivered to the other side.
fn send(from: &mut State, to: &mut State, kind: Kind) {
    let out = outbound(*from, kind);
    *from = out.state;
    if out.forward {
        let inb = inbound(*to, kind);
        *to = inb.state;
        if let Some(reply) = inb.auto_reply {
            *from = inbound(*from, reply).state;
        }
    }
}

#[test]
fn two_servers_stay_in_agreement() {
    let kinds = [Kind::Subscribe, Kind::Subscribed, Kind::Unsubscribe, Kind::Unsubscribed];
    // Every sequence of three stanzas, from either side, starting from nothing.
    for seq in 0..(8u32.pow(3)) {
        let (mut a, mut b) = (State::NONE, State::NONE);
        let mut code = seq;
        for _ in 0..3 {
            let (a_sends, kind) = (code % 2 == 0, kinds[(code / 2 % 4) as usize]);
            code /= 8;
            if a_sends {
                send(&mut a, &mut b, kind);
            } else {
                send(&mut b, &mut a, kind);
            }
            assert!(mirrored(a, b), "sequence {seq}: {a} vs {b}");
        }
    }
}

#[test]
fn story_request_approve_then_mutual() {
    let (mut juliet, mut romeo) = (State::NONE, State::NONE);
    send(&mut romeo, &mut juliet, Kind::Subscribe);
    assert_eq!((romeo, juliet), (st("None + Pending Out"), st("None + Pending In")));
    send(&mut juliet, &mut romeo, Kind::Subscribed);
    assert_eq!((romeo, juliet), (st("To"), st("From")));
    send(&mut juliet, &mut romeo, Kind::Subscribe);
    assert_eq!((romeo, juliet), (st("To + Pending In"), st("From + Pending Out")));
    send(&mut romeo, &mut juliet, Kind::Subscribed);
    assert_eq!((romeo, juliet), (st("Both"), st("Both")));
    send(&mut romeo, &mut juliet, Kind::Unsubscribe);
    assert_eq!((romeo, juliet), (st("From"), st("To")));
}

#[test]
fn story_pre_approval() {
    let (mut juliet, mut romeo) = (State::NONE, State::NONE);
    // Juliet pre-approves Romeo: nothing goes over the wire.
    send(&mut juliet, &mut romeo, Kind::Subscribed);
    assert_eq!((juliet, romeo), (st("None (pre-approved)"), st("None")));
    // Romeo asks; Juliet's server approves on her behalf without bothering her.
    send(&mut romeo, &mut juliet, Kind::Subscribe);
    assert_eq!((juliet, romeo), (st("From"), st("To")));
}

#!/usr/bin/env python3
"""Interop check: two slixmpp clients chat through a Meerkat node.

slixmpp is a client library nobody on the Meerkat team wrote (Debian 12 ships 1.8.3 as
python3-slixmpp). The two accounts must exist already. Steps, each recorded per client:

  1. connect and negotiate STARTTLS (certificate checks off: the node's cert is self-signed),
     authenticate, bind, get the roster, send initial presence;
  2. alice subscribes to bob, bob approves and subscribes back, alice approves, so both
     rosters end with subscription 'both';
  3. each sees the other's available presence;
  4. each sends the other a chat message and receives the other's.

Exits 0 only if every step happened for both clients before the timeout; otherwise prints
the missing steps and exits 1 (2 when slixmpp cannot be imported).
"""

import argparse
import asyncio
import collections
import logging
import ssl
import sys

try:
    import slixmpp
except ImportError as e:  # pragma: no cover - reported by the caller
    print(f"slixmpp is not importable ({e}); install python3-slixmpp", file=sys.stderr)
    sys.exit(2)

STEPS = [
    "tls",
    "session_start",
    "subscribe_received",
    "subscription_both",
    "peer_available",
    "message_received",
]


class Peer(slixmpp.ClientXMPP):
    def __init__(self, name, jid, password, peer_jid, done):
        super().__init__(jid, password)
        self.name = name
        self.peer = slixmpp.JID(peer_jid).bare
        self.done = done
        self.steps = set()
        self.sent_message = False
        self.expected_body = f"hello {name} from {self.other_name()}"
        # No automatic answers: this script drives the subscription handshake itself
        # (in slixmpp, auto_authorize = False would auto-*reject*; None means "ask the app").
        self.roster.auto_authorize = None
        self.roster.auto_subscribe = False
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        self.add_event_handler("tls_success", lambda _: self.step("tls"))
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("presence_subscribe", self.on_subscribe)
        self.add_event_handler("roster_update", self.on_roster)
        self.add_event_handler("presence_subscribed", self.on_roster)
        self.add_event_handler("presence_available", self.on_available)
        self.add_event_handler("message", self.on_message)
        # failed_auth fires for each mechanism that fails (slixmpp then tries the next one);
        # no_auth fires when none is left.
        self.add_event_handler(
            "failed_auth", lambda s: print(f"{self.name}: a SASL attempt failed: {s}", file=sys.stderr)
        )
        self.add_event_handler("no_auth", lambda _: self.fail("authentication failed (no mechanism left)"))
        self.add_event_handler("connection_failed", lambda e: self.fail(f"connection failed: {e}"))

    def other_name(self):
        return "bob" if self.name == "alice" else "alice"

    def fail(self, why):
        print(f"{self.name}: {why}", file=sys.stderr)
        if not self.done.done():
            self.done.set_result(False)

    def step(self, s):
        if s not in self.steps:
            self.steps.add(s)
            print(f"{self.name}: {s}", flush=True)
        self.check_all()

    def check_all(self):
        ready = {"subscription_both", "peer_available"} <= self.steps
        if ready and not self.sent_message:
            self.sent_message = True
            body = f"hello {self.other_name()} from {self.name}"
            self.send_message(mto=self.peer, mbody=body, mtype="chat")
        if all(s in self.steps for s in STEPS) and self.done_cb:
            self.done_cb()

    done_cb = None

    async def on_start(self, _event):
        await self.get_roster()
        self.send_presence()
        self.step("session_start")
        if self.name == "alice":
            self.send_presence(pto=self.peer, ptype="subscribe")

    def on_subscribe(self, pres):
        if pres["from"].bare != self.peer:
            return
        self.step("subscribe_received")
        self.send_presence(pto=self.peer, ptype="subscribed")
        # bob answers alice's request with his own request.
        if self.client_roster[self.peer]["subscription"] in ("none", "from") and not \
                self.client_roster[self.peer]["pending_out"]:
            self.send_presence(pto=self.peer, ptype="subscribe")
        self.on_roster(None)

    def on_roster(self, _event):
        if self.peer in self.client_roster and \
                self.client_roster[self.peer]["subscription"] == "both":
            self.step("subscription_both")

    def on_available(self, pres):
        if pres["from"].bare == self.peer:
            self.step("peer_available")

    def on_message(self, msg):
        if msg["type"] in ("chat", "normal") and msg["from"].bare == self.peer:
            if msg["body"] == self.expected_body:
                self.step("message_received")
            else:
                print(f"{self.name}: unexpected body {msg['body']!r}", file=sys.stderr)


async def run(args):
    loop = asyncio.get_running_loop()
    failed = loop.create_future()
    alice_jid = f"{args.user1}@{args.domain}/interop"
    bob_jid = f"{args.user2}@{args.domain}/interop"
    alice = Peer("alice", alice_jid, args.password1, bob_jid, failed)
    bob = Peer("bob", bob_jid, args.password2, alice_jid, failed)
    all_done = loop.create_future()

    def maybe_done():
        if all(s in c.steps for c in (alice, bob) for s in STEPS) and not all_done.done():
            all_done.set_result(True)

    alice.done_cb = maybe_done
    bob.done_cb = maybe_done
    # user2 may sit on another node of a cluster (--port2).
    for c, port in ((bob, args.port2 or args.port), (alice, args.port)):
        c.connect(address=(args.host, port), force_starttls=True)
    try:
        finished, _ = await asyncio.wait(
            [all_done, failed], timeout=args.timeout, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        ok = all_done.done() and all_done.result()
        for c in (alice, bob):
            missing = [s for s in STEPS if s not in c.steps]
            if missing:
                print(f"{c.name}: missing steps {missing}", file=sys.stderr)
        for c in (alice, bob):
            c.disconnect()
        await asyncio.sleep(0.5)
    return ok


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--port2", type=int, default=None, help="user2's port (default: --port)")
    p.add_argument("--domain", default="localhost")
    p.add_argument("--user1", required=True)
    p.add_argument("--password1", required=True)
    p.add_argument("--user2", required=True)
    p.add_argument("--password2", required=True)
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--debug", action="store_true")
    args = p.parse_args()
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(levelname)-8s %(name)s %(message)s",
    )
    # Keep the last debug lines in memory and show them on failure, so a failed CI run says
    # what was on the wire without flooding the log of a passing one.
    recent = collections.deque(maxlen=300)

    class Keep(logging.Handler):
        def emit(self, record):
            recent.append(f"{record.relativeCreated / 1000:8.3f}s {self.format(record)}")

    keep = Keep(level=logging.DEBUG)
    keep.setFormatter(logging.Formatter("%(name)s %(message)s"))
    logging.getLogger().addHandler(keep)
    logging.getLogger().setLevel(logging.DEBUG)
    for h in logging.getLogger().handlers:
        if h is not keep:
            h.setLevel(logging.DEBUG if args.debug else logging.WARNING)
    print(f"slixmpp {slixmpp.__version__}", flush=True)
    ok = asyncio.run(run(args))
    if not ok:
        print("--- last slixmpp debug lines ---", file=sys.stderr)
        for line in recent:
            print(line[:600], file=sys.stderr)
    print("interop: all steps done" if ok else "interop: FAILED", flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Interop check: slixmpp's carbons (XEP-0280) and MAM (XEP-0313 with XEP-0059) plugins.

slixmpp is a client library nobody on the Meerkat team wrote (Debian 12 ships 1.8.3 as
python3-slixmpp). The two accounts must exist already. Three clients: alice/desk and
alice/phone (both enable carbons through xep_0280) and bob/pc. Steps:

  1. all three connect over STARTTLS, authenticate, bind, send presence; both alice
     resources enable carbons;
  2. bob writes to alice/desk: alice/phone gets a `received` carbon with the same body;
  3. alice/desk writes to bob: alice/phone gets a `sent` carbon with the same body;
  4. bob sends 250 numbered messages to alice; alice/desk pages through her archive with
     xep_0313's RSM iterator (50 per page) filtered on bob, and must see all 250 exactly
     once, in order, over several pages.

Exits 0 only if every step passed before the timeout; otherwise prints what failed and
exits 1 (2 when slixmpp cannot be imported).
"""

import argparse
import asyncio
import logging
import ssl
import sys

try:
    import slixmpp
except ImportError as e:  # pragma: no cover - reported by the caller
    print(f"slixmpp is not importable ({e}); install python3-slixmpp", file=sys.stderr)
    sys.exit(2)

TOTAL = 250
PAGE = 50


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        for p in ("xep_0030", "xep_0059", "xep_0297", "xep_0280", "xep_0313"):
            self.register_plugin(p)
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        loop = asyncio.get_event_loop()
        self.started = loop.create_future()
        self.inbox = asyncio.Queue()
        self.carbons = asyncio.Queue()
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("carbon_received", lambda m: self.carbons.put_nowait(("received", m)))
        self.add_event_handler("carbon_sent", lambda m: self.carbons.put_nowait(("sent", m)))
        self.add_event_handler("no_auth", lambda _: self.fail("authentication failed"))
        self.add_event_handler("connection_failed", lambda e: self.fail(f"connection failed: {e}"))

    def fail(self, why):
        if not self.started.done():
            self.started.set_exception(RuntimeError(f"{self.boundjid}: {why}"))

    async def on_start(self, _event):
        self.send_presence()
        if not self.started.done():
            self.started.set_result(True)

    def on_message(self, msg):
        if msg["type"] in ("chat", "normal") and msg["body"] and not msg["mam_result"]["queryid"]:
            self.inbox.put_nowait(msg)


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print(f"ok: {what}", flush=True)


async def scenario(args):
    domain = args.domain
    desk = Client(f"{args.user1}@{domain}/desk", args.password1)
    phone = Client(f"{args.user1}@{domain}/phone", args.password1)
    bob = Client(f"{args.user2}@{domain}/pc", args.password2)
    clients = (desk, phone, bob)
    for c in clients:
        c.connect(address=(args.host, args.port), force_starttls=True)
    try:
        await asyncio.gather(*(c.started for c in clients))
        print("ok: three sessions started", flush=True)
        for c in (desk, phone):
            r = await c["xep_0280"].enable(timeout=10)
            check(r["type"] == "result", f"{c.boundjid.resource}: carbons enabled")

        # Received carbon.
        bob.send_message(mto=desk.boundjid.full, mbody="carbon received test", mtype="chat")
        m = await asyncio.wait_for(desk.inbox.get(), 10)
        check(m["body"] == "carbon received test", "desk got bob's message")
        kind, c = await asyncio.wait_for(phone.carbons.get(), 10)
        fwd = c["carbon_received"]
        check(kind == "received" and fwd["body"] == "carbon received test"
              and fwd["from"].bare == bob.boundjid.bare, "phone got a received carbon")

        # Sent carbon.
        desk.send_message(mto=bob.boundjid.bare, mbody="carbon sent test", mtype="chat")
        m = await asyncio.wait_for(bob.inbox.get(), 10)
        check(m["body"] == "carbon sent test", "bob got desk's message")
        kind, c = await asyncio.wait_for(phone.carbons.get(), 10)
        fwd = c["carbon_sent"]
        check(kind == "sent" and fwd["body"] == "carbon sent test"
              and fwd["to"].bare == bob.boundjid.bare, "phone got a sent carbon")

        # 250 messages into the archive, then paged out.
        want = [f"mam {i:03d}" for i in range(TOTAL)]
        for body in want:
            bob.send_message(mto=desk.boundjid.bare, mbody=body, mtype="chat")
        got_live = []
        while len(got_live) < TOTAL:
            m = await asyncio.wait_for(desk.inbox.get(), 20)
            if m["body"].startswith("mam "):
                got_live.append(m["body"])
        check(got_live == want, f"desk received all {TOTAL} live")

        bodies, pages = [], 0
        it = desk["xep_0313"].retrieve(with_jid=bob.boundjid.bare, iterator=True,
                                       rsm={"max": PAGE})
        async for page in it:
            pages += 1
            for r in page["mam"]["results"]:
                body = r["mam_result"]["forwarded"]["stanza"]["body"]
                if body.startswith("mam "):
                    bodies.append(body)
        check(len(bodies) == TOTAL, f"MAM returned {len(bodies)} of {TOTAL} messages")
        check(bodies == want, "all retrieved exactly once, in order")
        check(pages >= TOTAL // PAGE, f"over several pages ({pages})")
        return True
    finally:
        for c in clients:
            c.disconnect()
        await asyncio.sleep(0.3)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--domain", default="localhost")
    p.add_argument("--user1", required=True)
    p.add_argument("--password1", required=True)
    p.add_argument("--user2", required=True)
    p.add_argument("--password2", required=True)
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--debug", action="store_true")
    args = p.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.ERROR,
                        format="%(levelname)-8s %(name)s %(message)s")
    print(f"slixmpp {slixmpp.__version__}", flush=True)

    async def bounded():
        return await asyncio.wait_for(scenario(args), args.timeout)

    try:
        ok = asyncio.run(bounded())
    except Exception as e:  # every failure is reported the same way
        print(f"FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        ok = False
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

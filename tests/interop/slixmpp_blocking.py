#!/usr/bin/env python3
"""Interop check: XEP-0191 blocking with slixmpp's xep_0191 plugin against a Meerkat node.

Three slixmpp clients: alice with resources 'one' and 'two', and bob (accounts exist already).
Steps, in order:

  1. all three log in (STARTTLS, SASL, bind, roster, presence); alice/two fetches the
     blocklist (empty), which makes it receive pushes;
  2. alice/one blocks bob; alice/two gets the block push naming bob;
  3. bob's message to alice is not delivered and bob gets a service-unavailable error;
  4. alice's message to bob is refused with not-acceptable and <blocked/>; bob gets nothing;
  5. alice/one unblocks bob; alice/two gets the unblock push;
  6. messages flow again both ways.

Exits 0 when every step passed, 1 otherwise (2 when slixmpp cannot be imported).
"""

import argparse
import asyncio
import ssl
import sys

try:
    import slixmpp
except ImportError as e:  # pragma: no cover - reported by the caller
    print(f"slixmpp is not importable ({e}); install python3-slixmpp", file=sys.stderr)
    sys.exit(2)

BLOCKED_NS = "urn:xmpp:blocking:errors"
QUIET = 1.0


class Client(slixmpp.ClientXMPP):
    def __init__(self, name, jid, password):
        super().__init__(jid, password)
        self.name = name
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0191")
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        self.started = asyncio.get_event_loop().create_future()
        self.messages = asyncio.Queue()
        self.errors = asyncio.Queue()
        self.pushes = asyncio.Queue()
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("message_error", lambda m: self.errors.put_nowait(m))
        self.add_event_handler("blocked", lambda iq: self.pushes.put_nowait(("block", iq)))
        self.add_event_handler("unblocked", lambda iq: self.pushes.put_nowait(("unblock", iq)))
        self.add_event_handler("connection_failed", lambda e: self.fail(f"connection failed: {e}"))
        self.add_event_handler("no_auth", lambda _: self.fail("authentication failed"))

    def fail(self, why):
        if not self.started.done():
            self.started.set_exception(RuntimeError(f"{self.name}: {why}"))

    async def on_start(self, _event):
        await self.get_roster()
        self.send_presence()
        if not self.started.done():
            self.started.set_result(True)

    def on_message(self, msg):
        if msg["type"] in ("chat", "normal"):
            self.messages.put_nowait(msg)


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print(f"ok: {what}", flush=True)


async def nothing(queue, what, wait=QUIET):
    try:
        got = await asyncio.wait_for(queue.get(), wait)
    except asyncio.TimeoutError:
        return
    raise AssertionError(f"unexpected {what}: {got}")


async def get(queue, what, timeout):
    try:
        return await asyncio.wait_for(queue.get(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"timed out waiting for {what}")


async def scenario(args):
    a1 = Client("alice/one", f"{args.user1}@{args.domain}/one", args.password1)
    a2 = Client("alice/two", f"{args.user1}@{args.domain}/two", args.password1)
    b = Client("bob", f"{args.user2}@{args.domain}/phone", args.password2)
    clients = (a1, a2, b)
    for c in clients:
        c.connect(address=(args.host, args.port), force_starttls=True)
    t = args.timeout
    try:
        await asyncio.wait_for(asyncio.gather(*(c.started for c in clients)), t)
        check(True, "all three clients logged in")
        alice, bob = a1.boundjid.bare, b.boundjid.bare

        listed = await a2.plugin["xep_0191"].get_blocked(timeout=t)
        check(len(listed["blocklist"]["items"]) == 0, "alice/two fetched an empty blocklist")

        await a1.plugin["xep_0191"].block(slixmpp.JID(bob), timeout=t)
        kind, push = await get(a2.pushes, "the block push", t)
        items = {str(j) for j in push["block"]["items"]}
        check(kind == "block" and items == {bob}, f"alice/two got the block push for {bob}")

        b.send_message(mto=alice, mbody="blocked?", mtype="chat")
        err = await get(b.errors, "bob's error", t)
        check(err["error"]["condition"] == "service-unavailable",
              "bob's message to alice bounced with service-unavailable")
        await nothing(a1.messages, "message at alice/one")
        await nothing(a2.messages, "message at alice/two", 0.1)
        check(True, "bob's message was not delivered")

        a1.send_message(mto=bob, mbody="to blocked", mtype="chat")
        err = await get(a1.errors, "alice's error", t)
        blocked = err.xml.find(f".//{{{BLOCKED_NS}}}blocked") is not None
        check(err["error"]["condition"] == "not-acceptable" and blocked,
              "alice's message to bob refused with not-acceptable and <blocked/>")
        await nothing(b.messages, "message at bob")
        check(True, "alice's message was not delivered")

        await a1.plugin["xep_0191"].unblock(slixmpp.JID(bob), timeout=t)
        kind, push = await get(a2.pushes, "the unblock push", t)
        check(kind == "unblock", "alice/two got the unblock push")

        b.send_message(mto=alice, mbody="hello again", mtype="chat")
        msg = await get(a1.messages, "bob's message after unblock", t)
        check(msg["body"] == "hello again", "bob's message reaches alice after unblock")
        a1.send_message(mto=bob, mbody="welcome back", mtype="chat")
        msg = await get(b.messages, "alice's message after unblock", t)
        check(msg["body"] == "welcome back", "alice's message reaches bob after unblock")
        return True
    except (AssertionError, RuntimeError, asyncio.TimeoutError) as e:
        print(f"FAILED: {e!r}", file=sys.stderr, flush=True)
        return False
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
    p.add_argument("--timeout", type=float, default=30.0)
    args = p.parse_args()
    print(f"slixmpp {slixmpp.__version__}", flush=True)
    ok = asyncio.get_event_loop().run_until_complete(scenario(args))
    print("interop blocking: all steps done" if ok else "interop blocking: FAILED", flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

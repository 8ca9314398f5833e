#!/usr/bin/env python3
"""Interop check: two slixmpp clients (plugin xep_0045) meet in a Meerkat MUC room and talk.

Steps:

  1. both connect (STARTTLS, certificate checks off);
  2. alice joins a new room with join_muc_wait (status 201: created), fetches the
     configuration form with get_room_config, names the room and submits it
     (set_room_config), which unlocks it;
  3. alice says something; bob joins with maxstanzas=5 and gets it as history;
  4. bob says hello, alice receives it from bob's nick; alice answers, bob receives it;
  5. bob's occupant list holds both nicks.

Exits 0 when all of that happened before the timeout; 1 otherwise; 2 without slixmpp.
"""

import argparse
import asyncio
import logging
import random
import ssl
import string
import sys

try:
    import slixmpp
except ImportError as e:  # pragma: no cover - reported by the caller
    print(f"slixmpp is not importable ({e}); install python3-slixmpp", file=sys.stderr)
    sys.exit(2)


class Client(slixmpp.ClientXMPP):
    def __init__(self, name, jid, password):
        super().__init__(jid, password)
        self.name = name
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        for p in ("xep_0030", "xep_0045", "xep_0004", "xep_0203"):
            self.register_plugin(p)
        self.started = asyncio.get_event_loop().create_future()
        self.messages = asyncio.Queue()
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("groupchat_message", self.on_groupchat)
        self.add_event_handler("connection_failed", lambda e: print(f"{name}: connection failed: {e}", file=sys.stderr))

    async def on_start(self, _event):
        self.send_presence()
        print(f"{self.name}: session_start", flush=True)
        if not self.started.done():
            self.started.set_result(True)

    def on_groupchat(self, msg):
        if msg["body"]:
            self.messages.put_nowait(msg)


async def next_body(client, nick, body, timeout):
    while True:
        msg = await asyncio.wait_for(client.messages.get(), timeout)
        if msg["mucnick"] == nick and msg["body"] == body:
            return msg


async def run(args):
    alice = Client("alice", f"{args.user1}@{args.domain}/interop", args.password1)
    bob = Client("bob", f"{args.user2}@{args.domain}/interop", args.password2)
    suffix = "".join(random.choice(string.ascii_lowercase) for _ in range(8))
    room = slixmpp.JID(f"interop_{suffix}@conference.{args.domain}")
    for c in (alice, bob):
        c.connect(address=(args.host, args.port), force_starttls=True)
    ok = False
    t = args.timeout
    try:
        await asyncio.wait_for(asyncio.gather(alice.started, bob.started), t)
        pres, _subject, _occupants, _history = await alice["xep_0045"].join_muc_wait(room, "Alice", timeout=t)
        codes = sorted(s for s in pres["muc"]["status_codes"])
        print(f"alice: joined {room} as {pres['muc']['affiliation']}/{pres['muc']['role']}, codes {codes}", flush=True)
        form = await alice["xep_0045"].get_room_config(room, timeout=t)
        form.get_fields()["muc#roomconfig_roomname"]["value"] = "Interop room"
        await alice["xep_0045"].set_room_config(room, form, timeout=t)
        print("alice: configured", flush=True)
        alice.send_message(mto=room, mbody="before bob", mtype="groupchat")
        await next_body(alice, "Alice", "before bob", t)
        _pres, _subject, occupants, history = await bob["xep_0045"].join_muc_wait(room, "Bob", maxstanzas=5, timeout=t)
        print(f"bob: joined, {len(occupants)} other occupant(s), history {[m['body'] for m in history]}", flush=True)
        bob.send_message(mto=room, mbody="hello from bob", mtype="groupchat")
        got = await next_body(alice, "Bob", "hello from bob", t)
        print(f"alice: got {got['body']!r} from {got['from']}", flush=True)
        alice.send_message(mto=room, mbody="hello from alice", mtype="groupchat")
        got = await next_body(bob, "Alice", "hello from alice", t)
        print(f"bob: got {got['body']!r} from {got['from']}", flush=True)
        roster = sorted(bob["xep_0045"].get_roster(room))
        print(f"bob: occupants {roster}", flush=True)
        info = await bob["xep_0030"].get_info(jid=room, timeout=t)
        name = info["disco_info"]["identities"]
        print(f"bob: room identities {sorted(name)}", flush=True)
        ok = (
            "201" in [str(c) for c in codes]
            and [m["body"] for m in history] == ["before bob"]
            and roster == ["Alice", "Bob"]
            and any(i[3] == "Interop room" for i in name)
        )
        print(f"result: {ok}", flush=True)
    except asyncio.TimeoutError:
        print("timed out", file=sys.stderr)
    except Exception as e:  # an error from the node, for instance
        print(f"failed: {e!r}", file=sys.stderr)
    finally:
        for c in (alice, bob):
            c.disconnect()
        await asyncio.sleep(0.5)
    return ok


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
    p.add_argument("--debug", action="store_true")
    args = p.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING)
    print(f"slixmpp {slixmpp.__version__}", flush=True)
    sys.exit(0 if asyncio.run(run(args)) else 1)


if __name__ == "__main__":
    main()

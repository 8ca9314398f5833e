#!/usr/bin/env python3
"""Interop check: a slixmpp client publishes a XEP-0084 avatar over PEP to a Meerkat node and
another slixmpp client receives it.

The two accounts must exist and be subscribed to each other already. Plugins: xep_0060,
xep_0163, xep_0115, xep_0084. Steps:

  1. both connect (STARTTLS, certificate checks off), get the roster, send presence; bob's
     xep_0084 registers interest in urn:xmpp:avatar:metadata, so his caps (XEP-0115) carry
     urn:xmpp:avatar:metadata+notify and the node asks for and verifies them;
  2. alice publishes avatar data, then metadata pointing at it;
  3. bob receives the metadata notification, fetches the data node item by id, and checks
     the bytes equal what alice published.

Exits 0 when bob got the exact bytes before the timeout; 1 otherwise; 2 without slixmpp.
"""

import argparse
import asyncio
import hashlib
import logging
import ssl
import sys

try:
    import slixmpp
except ImportError as e:  # pragma: no cover - reported by the caller
    print(f"slixmpp is not importable ({e}); install python3-slixmpp", file=sys.stderr)
    sys.exit(2)

AVATAR = bytes([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) + bytes(range(256)) * 4


class Client(slixmpp.ClientXMPP):
    def __init__(self, name, jid, password):
        super().__init__(jid, password)
        self.name = name
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        for p in ("xep_0030", "xep_0060", "xep_0115", "xep_0163", "xep_0084"):
            self.register_plugin(p)
        self.started = asyncio.get_event_loop().create_future()
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("connection_failed", lambda e: print(f"{name}: connection failed: {e}", file=sys.stderr))

    async def on_start(self, _event):
        await self.get_roster()
        self.send_presence()
        print(f"{self.name}: session_start", flush=True)
        if not self.started.done():
            self.started.set_result(True)


async def run(args):
    loop = asyncio.get_running_loop()
    alice = Client("alice", f"{args.user1}@{args.domain}/interop", args.password1)
    bob = Client("bob", f"{args.user2}@{args.domain}/interop", args.password2)
    got = loop.create_future()

    async def on_metadata(msg):
        item = msg["pubsub_event"]["items"]["item"]
        avatar_id = item["id"]
        print(f"bob: metadata notification for {avatar_id} from {msg['from']}", flush=True)
        iq = await bob["xep_0084"].retrieve_avatar(msg["from"].bare, avatar_id)
        data = iq["pubsub"]["items"]["item"]["avatar_data"]["value"]
        if not got.done():
            got.set_result(data)

    bob.add_event_handler("avatar_metadata_publish", lambda m: asyncio.ensure_future(on_metadata(m)))
    for c in (bob, alice):
        c.connect(address=(args.host, args.port), force_starttls=True)
    ok = False
    try:
        await asyncio.wait_for(asyncio.gather(alice.started, bob.started), args.timeout)
        # bob's caps travel with his presence; give the node a moment to learn them (if it
        # has not, the last item still reaches bob when it does).
        await asyncio.sleep(1.0)
        avatar_id = hashlib.sha1(AVATAR).hexdigest()
        await alice["xep_0084"].publish_avatar(AVATAR)
        print("alice: published data", flush=True)
        await alice["xep_0084"].publish_avatar_metadata(
            items=[{"id": avatar_id, "type": "image/png", "bytes": str(len(AVATAR)), "width": "16", "height": "16"}]
        )
        print("alice: published metadata", flush=True)
        data = await asyncio.wait_for(got, args.timeout)
        ok = data == AVATAR
        print(f"bob: fetched {len(data)} bytes, equal: {ok}", flush=True)
    except asyncio.TimeoutError:
        print("timed out", file=sys.stderr)
    except Exception as e:  # an IQ error from the node, for instance
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

#!/usr/bin/env python3
"""Set-up for the profanity trial (docs/trial-profanity.md): alice and bob subscribe to each
other, exchange 6 messages (archived by the server), and bob publishes a 32x32 PNG avatar over
PEP (XEP-0084), also written to ./bob.png to compare with what the client downloads."""
import asyncio, hashlib, ssl, struct, sys, zlib, base64
import slixmpp

def png(w=32, h=32):
    rows = b"".join(b"\x00" + b"".join(bytes([(x*8)%256, (y*8)%256, 160]) for x in range(w)) for y in range(h))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")

class C(slixmpp.ClientXMPP):
    def __init__(self, jid, pw):
        super().__init__(jid, pw)
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        for p in ("xep_0030", "xep_0060", "xep_0115", "xep_0163", "xep_0084", "xep_0054", "xep_0153"):
            self.register_plugin(p)
        self.ready = asyncio.get_event_loop().create_future()
        self.add_event_handler("session_start", self.start)
        self.got = []
        self.add_event_handler("message", lambda m: self.got.append(m["body"]))
    async def start(self, _):
        await self.get_roster(); self.send_presence(); self.ready.set_result(True)

async def main():
    a = C("alice@localhost/setup", "alicepw"); b = C("bob@localhost/setup", "bobpw")
    for c in (a, b): c.connect(address=("127.0.0.1", 15222), force_starttls=True)
    await asyncio.gather(a.ready, b.ready)
    a.send_presence(pto="bob@localhost", ptype="subscribe")
    await asyncio.sleep(2)
    lines = [("bob", "Hi Alice, did you get the report?"), ("alice", "Yes, reading it now."),
             ("bob", "Great. Page 4 has the numbers."), ("alice", "Looks good, thanks Bob!"),
             ("bob", "Lunch tomorrow?"), ("alice", "Sure, 12:30.")]
    for who, text in lines:
        (b if who == "bob" else a).send_message(mto=("alice" if who == "bob" else "bob") + "@localhost", mbody=text, mtype="chat")
        await asyncio.sleep(0.3)
    data = png()
    await b["xep_0084"].publish_avatar(data)
    await b["xep_0084"].publish_avatar_metadata(items=[{"id": hashlib.sha1(data).hexdigest(), "type": "image/png", "bytes": str(len(data)), "width": "32", "height": "32"}])
    open("bob.png", "wb").write(data)
    print("avatar sha1", hashlib.sha1(data).hexdigest(), len(data), "bytes; alice got", a.got, "bob got", b.got)
    await asyncio.sleep(1)
    for c in (a, b): c.disconnect()
    await asyncio.sleep(0.5)

asyncio.run(main())

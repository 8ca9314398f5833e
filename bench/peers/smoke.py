#!/usr/bin/env python3
"""Quick check of a bench server with raw sockets (stdlib only): in-band registration (XEP-0077),
then a SASL login (SCRAM-SHA-256 and PLAIN, when offered), bind, and a message to oneself.

Usage: bench/peers/smoke.py PORT [USER] [PASSWORD]     (server 127.0.0.1, domain localhost)
"""
import base64, hashlib, hmac, os, re, socket, sys

DOMAIN = "localhost"


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def send(self, text):
        self.s.sendall(text.encode())

    def until(self, pattern):
        """Reads until the buffer matches `pattern`; returns the match and consumes the buffer."""
        rx = re.compile(pattern, re.S)
        while True:
            m = rx.search(self.buf.decode(errors="replace"))
            if m:
                self.buf = b""
                return m
            data = self.s.recv(65536)
            if not data:
                raise RuntimeError("closed; buffer: " + self.buf.decode(errors="replace")[-500:])
            self.buf += data

    def open_stream(self):
        self.send("<?xml version='1.0'?><stream:stream to='%s' xmlns='jabber:client' "
                  "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>" % DOMAIN)
        return self.until(r"<stream:features.*?</stream:features>").group(0)


def register(port, user, password):
    c = Conn(port)
    feats = c.open_stream()
    c.send("<iq type='set' id='reg1'><query xmlns='jabber:iq:register'><username>%s</username>"
           "<password>%s</password></query></iq>" % (user, password))
    m = c.until(r"<iq[^>]*id=['\"]reg1['\"].*?(/>|</iq>)")
    c.s.close()
    ok = "type='result'" in m.group(0) or 'type="result"' in m.group(0)
    conflict = "conflict" in m.group(0)
    return ok or conflict, ("created" if ok else "exists" if conflict else m.group(0)), feats


def scram_sha256(c, user, password):
    nonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = "n=%s,r=%s" % (user, nonce)
    c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>%s</auth>"
           % base64.b64encode(("n,," + first_bare).encode()).decode())
    m = c.until(r"<challenge[^>]*>(.*?)</challenge>|<failure.*?</failure>")
    if not m.group(1):
        raise RuntimeError("SCRAM failed: " + m.group(0))
    server_first = base64.b64decode(m.group(1)).decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored = hashlib.sha256(client_key).digest()
    final_bare = "c=biws,r=%s" % attrs["r"]
    auth_msg = ",".join([first_bare, server_first, final_bare]).encode()
    sig = hmac.new(stored, auth_msg, "sha256").digest()
    proof = bytes(a ^ b for a, b in zip(client_key, sig))
    c.send("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>%s</response>" % base64.b64encode(
        (final_bare + ",p=" + base64.b64encode(proof).decode()).encode()).decode())
    m = c.until(r"<success[^>]*?(/>|>.*?</success>)|<failure.*?</failure>")
    return m.group(0).startswith("<success")


def plain(c, user, password):
    c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>"
           % base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode())
    m = c.until(r"<success[^>]*?(/>|>.*?</success>)|<failure.*?</failure>")
    return m.group(0).startswith("<success")


def login(port, user, password, mech):
    c = Conn(port)
    feats = c.open_stream()
    if mech not in feats:
        return "not offered"
    if not (scram_sha256 if mech == "SCRAM-SHA-256" else plain)(c, user, password):
        return "FAILED"
    c.open_stream()
    c.send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
           "<resource>smoke</resource></bind></iq>")
    jid = c.until(r"<jid>(.*?)</jid>").group(1)
    c.send("<presence/><message to='%s' type='chat'><body>ping-smoke</body></message>" % jid)
    c.until(r"ping-smoke")
    c.send("</stream:stream>")
    c.s.close()
    return "ok (%s, message to self delivered)" % jid


def main():
    port = int(sys.argv[1])
    user = sys.argv[2] if len(sys.argv) > 2 else "smoke1"
    password = sys.argv[3] if len(sys.argv) > 3 else "smokepass"
    ok, what, feats = register(port, user, password)
    mechs = re.findall(r"<mechanism>(.*?)</mechanism>", feats)
    print("port %d: mechanisms offered before login: %s" % (port, " ".join(mechs)))
    print("  register %s: %s" % (user, what))
    results = [ok]
    for mech in ("SCRAM-SHA-256", "PLAIN"):
        r = login(port, user, password, mech)
        print("  login %s: %s" % (mech, r))
        results.append(r.startswith("ok"))
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()

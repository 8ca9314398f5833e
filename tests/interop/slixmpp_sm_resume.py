#!/usr/bin/env python3
"""Interop check: slixmpp resumes a Stream Management session (XEP-0198) after its TCP
connection is cut, and receives every message exactly once, in order.

Driven by crates/meerkat/tests/e2e/interop_sm.rs, which runs a TCP proxy between client A and
the node and cuts it on request. The protocol with the driver is line based:

  script -> driver (stdout): "CUT"       A has enabled SM with resumption and got the first batch
  driver -> script (stdin):  "CUT_DONE"  every proxied connection was dropped (no stream close)

Steps:
  1. A (through the proxy) and B (direct) connect with STARTTLS and log in; A enables SM with
     resumption (slixmpp's xep_0198 plugin does it after bind);
  2. B sends messages 1..N to A's full JID; A receives them (some stay unacknowledged: the
     node asks for acks only every few stanzas);
  3. the driver cuts A's TCP connection; B sends N+1..2N while A is away;
  4. A reconnects through the proxy and resumes (<resume/> -> <resumed/>), never binding anew;
  5. B sends 2N+1..3N; A must have received exactly 1..3N in order.

Exits 0 only if all of that happened before the timeout; otherwise prints what went wrong
and exits 1 (2 when slixmpp cannot be imported).
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


def client(jid, password):
    c = slixmpp.ClientXMPP(jid, password)
    c.ssl_context.check_hostname = False
    c.ssl_context.verify_mode = ssl.CERT_NONE
    c.add_event_handler(
        "failed_auth", lambda s: print(f"{jid}: a SASL attempt failed: {s}", file=sys.stderr)
    )
    return c


def log(*a):
    print(*a, flush=True)


async def wait_for(cond, timeout, what):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def run(args):
    loop = asyncio.get_running_loop()
    a_jid = f"{args.user1}@{args.domain}/sm-interop"
    b_jid = f"{args.user2}@{args.domain}/sender"
    a = client(a_jid, args.password1)
    a.register_plugin("xep_0198")
    b = client(b_jid, args.password2)
    state = {"a_started": 0, "b_started": False, "enabled": None, "resumed": 0,
             "disconnected": 0, "failed": None}
    received = []

    def on_a_start(_):
        state["a_started"] += 1
        a.send_presence()

    def on_b_start(_):
        state["b_started"] = True
        b.send_presence()

    def on_msg(msg):
        if msg["type"] == "chat" and msg["from"].bare == b.boundjid.bare:
            received.append(int(msg["body"]))

    a.add_event_handler("session_start", on_a_start)
    a.add_event_handler("sm_enabled", lambda s: state.__setitem__("enabled", s))
    a.add_event_handler("session_resumed", lambda _: state.__setitem__("resumed", state["resumed"] + 1))
    a.add_event_handler("sm_failed", lambda s: state.__setitem__("failed", str(s)))
    a.add_event_handler("disconnected", lambda _: state.__setitem__("disconnected", state["disconnected"] + 1))
    a.add_event_handler("message", on_msg)
    b.add_event_handler("session_start", on_b_start)

    n = args.count
    a.connect(address=(args.host, args.proxy_port), force_starttls=True)
    b.connect(address=(args.host, args.port), force_starttls=True)
    try:
        await wait_for(lambda: state["a_started"] and state["enabled"] is not None
                       and state["b_started"], args.timeout, "both sessions and <enabled/>")
        enabled = state["enabled"]
        if enabled["resume"] not in (True, "true", "1"):
            raise RuntimeError(f"resumption not granted: {enabled}")
        log(f"A enabled SM: id={enabled['id']} max={enabled['max']}")

        def send_range(lo, hi):
            for i in range(lo, hi + 1):
                b.send_message(mto=a_jid, mbody=str(i), mtype="chat")

        send_range(1, n)
        await wait_for(lambda: len(received) >= n, args.timeout, f"messages 1..{n}")
        log(f"A got 1..{n}; unacked on the node side until A's next ack")

        # The cut: the driver drops the proxied TCP connections, with no stream close.
        log("CUT")
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if line.strip() != "CUT_DONE":
            raise RuntimeError(f"driver said {line!r}")
        await wait_for(lambda: state["disconnected"] >= 1, args.timeout, "A to notice the cut")
        log("A lost its connection")
        send_range(n + 1, 2 * n)
        # Give the node time to route them to the detached session.
        await asyncio.sleep(0.5)

        a.connect(address=(args.host, args.proxy_port), force_starttls=True)
        await wait_for(lambda: state["resumed"] >= 1 or state["failed"], args.timeout,
                       "<resumed/>")
        if state["failed"]:
            raise RuntimeError(f"resumption failed: {state['failed']}")
        log("A resumed")
        send_range(2 * n + 1, 3 * n)
        await wait_for(lambda: len(received) >= 3 * n, args.timeout, f"messages up to {3 * n}")
        await asyncio.sleep(0.5)  # anything duplicated would arrive now
        expected = list(range(1, 3 * n + 1))
        if received != expected:
            raise RuntimeError(f"received {received}, expected {expected}")
        if state["a_started"] != 1:
            raise RuntimeError(f"A started {state['a_started']} sessions; resumption must not bind")
        log(f"A received 1..{3 * n} exactly once, in order")
        return True
    except Exception as e:  # reported to the driver
        print(f"FAILED: {e}; received so far: {received}", file=sys.stderr, flush=True)
        return False
    finally:
        for c in (a, b):
            c.disconnect()
        await asyncio.sleep(0.5)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True, help="the node's c2s port (client B)")
    p.add_argument("--proxy-port", type=int, required=True, help="the cuttable proxy (client A)")
    p.add_argument("--domain", default="localhost")
    p.add_argument("--user1", required=True)
    p.add_argument("--password1", required=True)
    p.add_argument("--user2", required=True)
    p.add_argument("--password2", required=True)
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--debug", action="store_true")
    args = p.parse_args()
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.ERROR,
        format="%(levelname)-8s %(name)s %(message)s",
    )
    log(f"slixmpp {slixmpp.__version__}")
    ok = asyncio.run(run(args))
    log("interop: all steps done" if ok else "interop: FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

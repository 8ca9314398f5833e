#!/usr/bin/env python3
"""Tables of a bench/muc-ws.sh sitting: the median over repeats of every figure, per server.

Usage: bench/muc_ws_summary.py DIR   (reads DIR/<server>-<workload>-r<k>.json and DIR/uptime.log)

Ratios compare medians of the same sitting. A failed or missing run is counted in n_failed and
left out of the medians (never as a zero).
"""
import glob, json, os, re, statistics, sys

SERVERS = ["meerkat", "ejabberd", "prosody"]
NAMES = {"meerkat": "Meerkat", "ejabberd": "ejabberd 23.01", "prosody": "Prosody 0.12"}


def load(d):
    runs = {}
    for p in sorted(glob.glob(os.path.join(d, "*-r*.json"))):
        m = re.match(r"(\w+)-(\w+)-r(\d+)\.json$", os.path.basename(p))
        if m:
            runs.setdefault((m[1], m[2]), []).append(json.load(open(p)))
    return runs


def g(d, *path):
    for k in path:
        if not isinstance(d, dict) or d.get(k) is None:
            return None
        d = d[k]
    return d


# Figures: label, function of one run's summary, unit format, True when higher is better.
def lost_pct(r):
    m = r.get("messages") or {}
    exp = m.get("expected") or m.get("sent")
    return None if not exp else 100.0 * m.get("lost", 0) / exp


def per(a, b, scale=1.0):
    return None if a is None or not b else a * scale / b


def cores(r):
    return per(g(r, "server_usage", "cpu_s_window"), g(r, "messages", "window_s"))


def p99_after_ramp(r):
    """Median of the 1-s p99s from the first second at the peak session count on, over the
    seconds that delivered something: the steady state, without the login ramp's seconds and
    less sensitive than the whole run's p99 to one disturbed second of the shared machine."""
    tl = r.get("timeline") or []
    peak = max((x.get("sessions") or 0 for x in tl), default=0)
    start = next((i for i, x in enumerate(tl) if (x.get("sessions") or 0) >= peak), len(tl))
    vals = [x["p99_ms"] for x in tl[start:] if (x.get("received_per_s") or 0) > 0 and x.get("p99_ms") is not None]
    return statistics.median(vals) if vals else None


MUC = [
    ("sessions logged in", lambda r: g(r, "counters", "logins_ok"), "{:.0f}", None),
    ("login failures (30 s deadline)", lambda r: g(r, "counters", "login_failures"), "{:.0f}", False),
    ("groupchat messages sent", lambda r: g(r, "messages", "sent"), "{:.0f}", None),
    ("deliveries/s in the measured 20 s", lambda r: g(r, "messages", "delivered_per_s"), "{:.0f}", True),
    ("deliveries expected / received", lambda r: "%d / %d" % (g(r, "messages", "expected") or 0, g(r, "messages", "received") or 0), None, None),
    ("lost, % of expected", lost_pct, "{:.3f}", False),
    ("p50 delivery latency, ms", lambda r: g(r, "latency", "p50_ms"), "{:.2f}", False),
    ("p99 delivery latency, ms", lambda r: g(r, "latency", "p99_ms"), "{:.2f}", False),
    ("median 1-s p99 after the ramp, ms", p99_after_ramp, "{:.2f}", False),
    ("server CPU s per 1000 deliveries", lambda r: per(g(r, "server_usage", "cpu_s_window"), g(r, "server_usage", "routed_in_window"), 1000), "{:.3f}", False),
    ("server cores used in the window", cores, "{:.2f}", False),
    ("server RSS peak, MiB", lambda r: per(g(r, "server_usage", "rss_peak_kib"), 1024), "{:.0f}", False),
]

CHAT = [
    ("sessions logged in", lambda r: g(r, "counters", "logins_ok"), "{:.0f}", None),
    ("login failures", lambda r: g(r, "counters", "login_failures"), "{:.0f}", False),
    ("logins/s (500 in flight)", lambda r: r.get("login_rate_per_s"), "{:.0f}", True),
    ("login time p50, ms", lambda r: g(r, "login_latency", "p50_ms"), "{:.1f}", False),
    ("login time p99, ms", lambda r: g(r, "login_latency", "p99_ms"), "{:.1f}", False),
    ("server CPU ms per login", lambda r: g(r, "server_usage", "cpu_ms_per_login"), "{:.3f}", False),
    ("server KiB per session (RSS growth / sessions)", lambda r: g(r, "server_usage", "kib_per_session"), "{:.1f}", False),
    ("messages delivered/s", lambda r: g(r, "messages", "delivered_per_s"), "{:.0f}", True),
    ("lost, % of sent", lost_pct, "{:.3f}", False),
    ("chat p50 latency, ms", lambda r: g(r, "latency", "p50_ms"), "{:.2f}", False),
    ("chat p99 latency, ms", lambda r: g(r, "latency", "p99_ms"), "{:.2f}", False),
    ("median 1-s p99 after the ramp, ms", p99_after_ramp, "{:.2f}", False),
    ("server CPU µs per message", lambda r: g(r, "server_usage", "cpu_us_per_msg"), "{:.1f}", False),
    ("server RSS peak, MiB", lambda r: per(g(r, "server_usage", "rss_peak_kib"), 1024), "{:.0f}", False),
]


def median_of(rs, f):
    vals = [f(r) for r in rs if not r.get("failed")]
    vals = [v for v in vals if v is not None]
    if not vals:
        return None, 0
    if isinstance(vals[0], str):
        return vals[len(vals) // 2], len(vals)  # text cells: the middle repeat
    return statistics.median(vals), len(vals)


def cell(v, n, fmt):
    if v is None:
        return "not run"
    s = v if fmt is None else fmt.format(v)
    return f"{s} (n={n})"


def ratio(mv, peers, better_high):
    peers = [p for p in peers if p is not None]
    if better_high is None or mv is None or not peers or isinstance(mv, str):
        return ""
    best = max(peers) if better_high else min(peers)
    if best == 0 or mv == 0:
        return ""
    x = mv / best if better_high else best / mv
    return f"{x:.2f}x better" if x >= 1 else f"{1 / x:.2f}x worse"


def table(runs, workload, figures, servers):
    out = ["| figure (median of repeats) | " + " | ".join(NAMES[s] for s in servers) + " | Meerkat vs best peer |",
           "|---|" + "---:|" * len(servers) + "---|"]
    failed = {s: sum(1 for r in runs.get((s, workload), []) if r.get("failed")) for s in servers}
    for label, f, fmt, hi in figures:
        meds = {s: median_of(runs.get((s, workload), []), f) for s in servers}
        cells = [cell(meds[s][0], meds[s][1], fmt) for s in servers]
        r = ratio(meds.get("meerkat", (None, 0))[0], [meds[s][0] for s in servers if s != "meerkat"], hi)
        out.append(f"| {label} | " + " | ".join(cells) + f" | {r} |")
    if any(failed.values()):
        out.append("| failed runs (left out) | " + " | ".join(str(failed[s]) for s in servers) + " | |")
    return "\n".join(out)


def ws_vs_tcp(runs, servers):
    out = ["| WebSocket / TCP (ratio of medians) | " + " | ".join(NAMES[s] for s in servers) + " |",
           "|---|" + "---:|" * len(servers)]
    for label, f, fmt, _ in CHAT:
        if label in ("sessions logged in", "login failures", "lost, % of sent", "messages delivered/s"):
            continue
        cells = []
        for s in servers:
            w, _ = median_of(runs.get((s, "ws"), []), f)
            t, _ = median_of(runs.get((s, "tcp"), []), f)
            cells.append(f"{w / t:.2f}" if w is not None and t else "")
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def loads(d):
    p = os.path.join(d, "uptime.log")
    if not os.path.exists(p):
        return ""
    per_server = {}
    for line in open(p):
        m = re.match(r"\S+ (\w+) r\d+ (\w+): .*load average: ([\d.]+)", line)
        if m:
            per_server.setdefault(m[1], []).append(float(m[3]))
    return "1-min load average before each run (min / median / max): " + "; ".join(
        f"{NAMES.get(s, s)} {min(v):.2f} / {statistics.median(v):.2f} / {max(v):.2f}"
        for s, v in per_server.items())


def main():
    d = sys.argv[1]
    runs = load(d)
    servers = [s for s in SERVERS if any(k[0] == s for k in runs)]
    print(f"# Sitting {os.path.basename(os.path.normpath(d))}\n\n{loads(d)}\n")
    for w, title, figs in [("muc10", "MUC, rooms of 10", MUC), ("muc100", "MUC, rooms of 100", MUC),
                           ("muc100fast", "MUC, rooms of 100, higher send rate", MUC),
                           ("ws", "One-to-one chat over WebSocket", CHAT),
                           ("tcp", "The same over TCP", CHAT)]:
        if any(k[1] == w for k in runs):
            print(f"## {title}\n\n{table(runs, w, figs, servers)}\n")
    if any(k[1] == "ws" for k in runs) and any(k[1] == "tcp" for k in runs):
        print(f"## WebSocket against TCP, each server\n\n{ws_vs_tcp(runs, servers)}\n")


if __name__ == "__main__":
    main()

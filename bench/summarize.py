#!/usr/bin/env python3
"""Turns the JSON summaries of bench/compare.sh (SERVER-SCENARIO-rK.json) into the markdown
table of BENCHMARKS.md: the median of the repeats per server, the ratio of Meerkat to the best
peer (ejabberd or Prosody), and the issue-3 targets met or missed. Python 3 standard library only.

Usage: bench/summarize.py bench/results/<date>
"""
import glob
import json
import os
import re
import statistics
import sys

SERVERS = ["meerkat", "ejabberd", "prosody"]
PEERS = ["ejabberd", "prosody"]


def load(directory):
    """{(server, scenario): [summary, ...]} over the repeats, failed runs as {"failed": True}."""
    runs = {}
    for path in sorted(glob.glob(os.path.join(directory, "*-r*.json"))):
        m = re.match(r"(meerkat|ejabberd|prosody)-(.+)-r(\d+)\.json$", os.path.basename(path))
        if not m:
            continue
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            data = {"failed": True}
        runs.setdefault((m.group(1), m.group(2)), []).append(data)
    return runs


def dig(d, *path):
    for p in path:
        if not isinstance(d, dict) or d.get(p) is None:
            return None
        d = d[p]
    return d


def cores(d):
    """Server cores used in the measured window (CPU seconds / window seconds)."""
    cpu = dig(d, "server_usage", "cpu_s_window")
    win = dig(d, "throughput", "measured_s") or dig(d, "messages", "window_s")
    return cpu / win if cpu is not None and win else None


def recv_ratio(d):
    """Received / sent: above 1 when stale messages (stored offline by an earlier scenario and
    delivered at login) were counted; their latencies are then in the percentiles too."""
    sent = dig(d, "messages", "sent")
    recv = dig(d, "messages", "received")
    return recv / sent if sent else None


def lost_pct(d):
    sent = dig(d, "messages", "sent")
    lost = dig(d, "messages", "lost")
    return 100.0 * lost / sent if sent else None


def p99_after_ramp(d):
    """Highest one-second p99 once every session had logged in (the ramp's logins excluded).
    An upper bound on the p99 of the measured window; from the timeline kept in the JSON."""
    tl = d.get("timeline") or []
    peak = max((x.get("sessions") or 0 for x in tl), default=0)
    if not peak:
        return None
    start = next(i for i, x in enumerate(tl) if (x.get("sessions") or 0) >= peak)
    vals = [x.get("p99_ms") for x in tl[start + 1:] if x.get("p99_ms")]
    return max(vals) if vals else None


def top_step_p99(d):
    """p99 of the highest passing top-speed step."""
    steps = [x for x in (dig(d, "top_speed", "steps") or []) if x.get("passed")]
    return dig(steps[-1], "latency", "p99_ms") if steps else None


# (scenario, label, extractor, better: "low"|"high"|None, format)
ROWS = [
    ("memory", "(a) idle sessions held", lambda d: dig(d, "server_usage", "sessions"), None, "{:.0f}"),
    ("memory", "(a) KiB per idle session", lambda d: dig(d, "server_usage", "kib_per_session"), "low", "{:.2f}"),
    ("memory", "(a) server RSS with all sessions, MiB", lambda d: (dig(d, "server_usage", "rss_after_login_kib") or 0) / 1024 or None, "low", "{:.0f}"),
    ("login-scram", "(d) logins/s, SCRAM-SHA-256 (client key cached)", lambda d: d.get("login_rate_per_s"), "high", "{:.0f}"),
    ("login-scram", "(d) server CPU ms per login, SCRAM-SHA-256", lambda d: dig(d, "server_usage", "cpu_ms_per_login"), "low", "{:.3f}"),
    ("login-scram", "(d) login failures, SCRAM-SHA-256", lambda d: dig(d, "counters", "login_failures"), None, "{:.0f}"),
    ("login-plain", "(d) logins/s, PLAIN (server derives the key)", lambda d: d.get("login_rate_per_s"), "high", "{:.0f}"),
    ("login-plain", "(d) server CPU ms per login, PLAIN", lambda d: dig(d, "server_usage", "cpu_ms_per_login"), "low", "{:.3f}"),
    ("login-plain", "(d) login failures, PLAIN", lambda d: dig(d, "counters", "login_failures"), None, "{:.0f}"),
    ("throughput", "(b) throughput, 100 pairs: routed msgs/s", lambda d: dig(d, "throughput", "msgs_per_s"), "high", "{:.0f}"),
    ("throughput", "(b) server CPU µs per routed message", lambda d: dig(d, "server_usage", "cpu_us_per_msg"), "low", "{:.1f}"),
    ("throughput", "(b) server cores used", cores, None, "{:.2f}"),
    ("chat-low", "(c0) chat @ low rate (all servers): delivered msgs/s", lambda d: dig(d, "messages", "delivered_per_s"), "high", "{:.0f}"),
    ("chat-low", "(c0) server CPU µs per routed message", lambda d: dig(d, "server_usage", "cpu_us_per_msg"), "low", "{:.1f}"),
    ("chat-low", "(c0) p50 / p99 time-to-delivery, ms", lambda d: (dig(d, "latency", "p50_ms"), dig(d, "latency", "p99_ms")), "low", "pair"),
    ("chat-low", "(c0) highest 1-s p99 after the ramp, ms", p99_after_ramp, "low", "{:.2f}"),
    ("chat-low", "(c0) lost messages, %", lost_pct, "low", "{:.3f}"),
    ("chat", "(c) chat @ target rate: delivered msgs/s", lambda d: dig(d, "messages", "delivered_per_s"), "high", "{:.0f}"),
    ("chat", "(c) server CPU µs per routed message", lambda d: dig(d, "server_usage", "cpu_us_per_msg"), "low", "{:.1f}"),
    ("chat", "(c) p50 / p99 time-to-delivery, ms", lambda d: (dig(d, "latency", "p50_ms"), dig(d, "latency", "p99_ms")), "low", "pair"),
    ("chat", "(c) highest 1-s p99 after the ramp, ms", p99_after_ramp, "low", "{:.2f}"),
    ("chat", "(c) lost messages, %", lost_pct, "low", "{:.3f}"),
    ("chat", "(c) received / sent (above 1: stale offline messages counted)", recv_ratio, None, "{:.3f}"),
    ("chat-high", "(c') chat @ high rate: delivered msgs/s", lambda d: dig(d, "messages", "delivered_per_s"), "high", "{:.0f}"),
    ("chat-high", "(c') server CPU µs per routed message", lambda d: dig(d, "server_usage", "cpu_us_per_msg"), "low", "{:.1f}"),
    ("chat-high", "(c') p50 / p99 time-to-delivery, ms", lambda d: (dig(d, "latency", "p50_ms"), dig(d, "latency", "p99_ms")), "low", "pair"),
    ("chat-high", "(c') highest 1-s p99 after the ramp, ms", p99_after_ramp, "low", "{:.2f}"),
    ("chat-high", "(c') lost messages, %", lost_pct, "low", "{:.3f}"),
    ("chat-high", "(c') received / sent (above 1: stale offline messages counted)", recv_ratio, None, "{:.3f}"),
    ("seed", "(e) seed pattern: sessions", lambda d: d.get("sessions_peak"), None, "{:.0f}"),
    ("seed", "(e) delivered msgs/s", lambda d: dig(d, "messages", "delivered_per_s"), None, "{:.1f}"),
    ("seed", "(e) p50 / p99 time-to-delivery, ms", lambda d: (dig(d, "latency", "p50_ms"), dig(d, "latency", "p99_ms")), "low", "pair"),
    ("seed", "(e) highest 1-s p99 after the ramp, ms", p99_after_ramp, "low", "{:.2f}"),
    ("seed", "(e) lost messages, %", lost_pct, "low", "{:.3f}"),
    ("seed", "(e) received / sent (above 1: stale offline messages counted)", recv_ratio, None, "{:.3f}"),
    ("seed", "(e) KiB per session (RSS growth / sessions)", lambda d: dig(d, "server_usage", "kib_per_session"), "low", "{:.2f}"),
    ("top-speed", "(f) top speed: most sessions with every step passing", lambda d: dig(d, "top_speed", "top_sessions"), "high", "{:.0f}"),
    ("top-speed", "(f) top speed: msgs/s at that step", lambda d: dig(d, "top_speed", "top_msgs_per_s"), None, "{:.1f}"),
    ("top-speed", "(f) top speed: p99 at the last passing step, ms", top_step_p99, "low", "{:.2f}"),
]


def median_of(values):
    """Median of the repeats; pairs (p50, p99) take the median of each part."""
    vals = [v for v in values if v is not None]
    if not vals:
        return None, 0
    if isinstance(vals[0], tuple):
        parts = list(zip(*vals))
        if any(p is None for part in parts for p in part):
            return None, 0
        return tuple(statistics.median(p) for p in parts), len(vals)
    return statistics.median(vals), len(vals)


def fmt(v, f):
    if v is None:
        return "—"
    if f == "pair":
        return "{:.2f} / {:.2f}".format(*v)
    return f.format(v)


def key_value(v):
    """The number compared across servers (p99 for latency pairs)."""
    return v[1] if isinstance(v, tuple) else v


def ratio_text(mine, best, better):
    if mine is None or best is None or better is None:
        return ""
    mine, best = key_value(mine), key_value(best)
    if not mine or not best:
        return ""
    # >1 means Meerkat is better by that factor.
    factor = best / mine if better == "low" else mine / best
    if factor >= 1:
        return "{:.2f}x better".format(factor)
    return "{:.2f}x worse".format(1 / factor)


def collect(runs):
    table = {}
    for scen, label, fn, better, f in ROWS:
        for server in SERVERS:
            summaries = runs.get((server, scen), [])
            values = []
            failed = 0
            for d in summaries:
                if d.get("failed"):
                    failed += 1
                    continue
                try:
                    values.append(fn(d))
                except (TypeError, ZeroDivisionError):
                    values.append(None)
            table[(label, server)] = median_of(values) + (failed,)
    return table


def best_peer(table, label, better):
    cands = [(table[(label, p)][0], p) for p in PEERS if table[(label, p)][0] is not None]
    if not cands or better is None:
        return None, None
    pick = min if better == "low" else max
    v, p = pick(cands, key=lambda c: key_value(c[0]))
    return v, p


def render_table(runs):
    table = collect(runs)
    out = ["| Scenario / figure (median of repeats) | Meerkat | ejabberd | Prosody | Meerkat vs best peer |",
           "|---|---:|---:|---:|---|"]
    for scen, label, fn, better, f in ROWS:
        if not any((s, scen) in runs for s in SERVERS):
            continue
        cells = []
        for server in SERVERS:
            v, n, failed = table[(label, server)]
            if (server, scen) not in runs:
                cells.append("not run")
                continue
            c = fmt(v, f)
            extra = []
            if n:
                extra.append("n={}".format(n))
            if failed:
                extra.append("{} failed".format(failed))
            cells.append(c + (" ({})".format(", ".join(extra)) if extra else ""))
        bv, bp = best_peer(table, label, better)
        mine = table[(label, "meerkat")][0]
        ratio = ratio_text(mine, bv, better)
        if ratio:
            ratio += " (best peer: {})".format(bp)
        out.append("| {} | {} | {} | {} | {} |".format(label, *cells, ratio))
    return "\n".join(out), table


def targets(runs, table):
    """Issue 3's targets, met or missed, from the medians."""
    def v(label, server):
        x = table.get((label, server), (None,))[0]
        return x

    lines = []
    sessions = v("(a) idle sessions held", "meerkat")
    kib = v("(a) KiB per idle session", "meerkat")
    if kib is not None:
        verdict = "met" if kib <= 4 else "missed by {:.2f} KiB ({:.0f}% over)".format(kib - 4, 100 * (kib - 4) / 4)
        note = "" if sessions and sessions >= 18000 else " (measured at {:.0f} sessions, not 18k)".format(sessions or 0)
        lines.append("- Memory per idle session at 18k sessions <= 4 KiB: Meerkat {:.2f} KiB: **{}**{}".format(kib, verdict, note))
    else:
        lines.append("- Memory per idle session: not measured")

    m = v("(c) server CPU µs per routed message", "meerkat")
    e = v("(c) server CPU µs per routed message", "ejabberd")
    if m is not None and e is not None:
        limit = e / 6
        verdict = "met" if m <= limit else "missed: {:.2f}x the limit".format(m / limit)
        lines.append("- Server CPU per message in chat (c) <= 1/6 of ejabberd's: Meerkat {:.1f} µs, ejabberd {:.1f} µs (limit {:.1f} µs, ratio 1/{:.1f}): **{}**".format(m, e, limit, e / m if m else float("inf"), verdict))
    else:
        lines.append("- Server CPU per message in chat (c): not measured for both Meerkat and ejabberd")

    p = v("(c') p50 / p99 time-to-delivery, ms", "meerkat")
    pr = v("(c') highest 1-s p99 after the ramp, ms", "meerkat")
    lost = v("(c') lost messages, %", "meerkat")
    rate = v("(c') chat @ high rate: delivered msgs/s", "meerkat")
    if p is not None:
        def verdict(x):
            if x is None:
                return "n/a"
            if x <= 5 and not lost:
                return "met"
            return "missed ({:.2f} ms vs 5 ms{})".format(x, ", {:.3f}% lost".format(lost) if lost else "")
        lines.append("- p99 <= 5 ms with no loss at 10,000 msg/s among 10k users (c'): Meerkat delivered {:.0f} msgs/s, lost {}%; p99 over the whole run, ramp included, {:.2f} ms: **{}**; highest 1-s p99 after the ramp {}: **{}**".format(rate or 0, "{:.3f}".format(lost) if lost is not None else "?", p[1], verdict(p[1]), "{:.2f} ms".format(pr) if pr is not None else "n/a", verdict(pr)))
    else:
        lines.append("- p99 in chat (c'): not measured")

    m = v("(b) throughput, 100 pairs: routed msgs/s", "meerkat")
    e = v("(b) throughput, 100 pairs: routed msgs/s", "ejabberd")
    if m is not None and e:
        verdict = "met" if m >= 2 * e else "missed: {:.2f}x ejabberd instead of 2x".format(m / e)
        lines.append("- Throughput (100 pairs) >= 2x ejabberd: Meerkat {:.0f} msgs/s, ejabberd {:.0f} msgs/s ({:.2f}x): **{}**".format(m, e, m / e, verdict))
    else:
        lines.append("- Throughput: not measured for both Meerkat and ejabberd")

    m = v("(d) logins/s, SCRAM-SHA-256 (client key cached)", "meerkat")
    e = v("(d) logins/s, SCRAM-SHA-256 (client key cached)", "ejabberd")
    if m is not None and e:
        verdict = "met" if m >= 3 * e else "missed: {:.2f}x ejabberd instead of 3x".format(m / e)
        lines.append("- SCRAM-SHA-256 logins/s >= 3x ejabberd: Meerkat {:.0f}/s, ejabberd {:.0f}/s ({:.2f}x): **{}**".format(m, e, m / e, verdict))
    else:
        lines.append("- SCRAM-SHA-256 login rate: not measured for both Meerkat and ejabberd")

    p = v("(e) p50 / p99 time-to-delivery, ms", "meerkat")
    pr = v("(e) highest 1-s p99 after the ramp, ms", "meerkat")
    s = v("(e) seed pattern: sessions", "meerkat")
    if p is not None:
        def verdict(x):
            if x is None:
                return "n/a"
            if x >= 10:
                return "missed ({:.2f} ms vs 10 ms)".format(x)
            return "met" if (s or 0) >= 18000 else "under 10 ms, but at {:.0f} sessions, not 18k".format(s or 0)
        lines.append("- Seed pattern at 18k users on one node, p99 < 10 ms (e): Meerkat at {:.0f} sessions; p99 over the whole run, ramp included, {:.2f} ms: **{}**; highest 1-s p99 after the ramp {}: **{}**".format(s or 0, p[1], verdict(p[1]), "{:.2f} ms".format(pr) if pr is not None else "n/a", verdict(pr)))
    else:
        lines.append("- Seed pattern: not measured")
    return "\n".join(lines)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    directory = sys.argv[1]
    runs = load(directory)
    if not runs:
        sys.exit("no SERVER-SCENARIO-rK.json files in " + directory)
    text, table = render_table(runs)
    print(text)
    print()
    print("Targets of issue 3 (Meerkat's medians):")
    print()
    print(targets(runs, table))
    for machine in sorted(glob.glob(os.path.join(directory, "machine*.txt"))):
        print()
        print("`{}`:".format(os.path.basename(machine)))
        print()
        print("```")
        print(open(machine).read().rstrip())
        print("```")


if __name__ == "__main__":
    main()

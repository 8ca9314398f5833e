#!/usr/bin/env bash
# The scaling run of issue 5: Meerkat and ejabberd clusters of 2, 4, 8, ... nodes on this
# machine, 1000 sessions per node, the seed's one message per user per minute, recipients
# random across the cluster (meerkat-load --cluster). Not a test: figures for BENCHMARKS.md.
#
#   bench/cluster/scaling.sh [--servers meerkat,ejabberd] [--nodes 2,4,8,16,32]
#                            [--per-node 1000] [--hold 60s] [--login-rate 500] [--out DIR]
#                            [--no-connect] [--grace 5s]
#
# For each server and cluster size it starts the cluster (scripts/dev-cluster or
# bench/cluster/ejabberd.sh), registers the users, then
#   0. a first login of every user on the fresh nodes (memory per session, in -warm.json; it
#      also fills the load tool's SCRAM key cache, see below);
#   1. `connect`: logs every user in (--login-rate) and holds them 10 s: bytes exchanged between the
#      cluster's processes per login (and logout), login times;
#      (skipped with --no-connect, e.g. for the capacity run of 8 x 17,500 users);
#   2. `chat` with --period 60s for --hold: time-to-delivery percentiles, loss (messages not
#      received within --grace after sending stopped), and each
#      node's RSS and CPU (meerkat-load --server-pid for every node);
# and stops the cluster. "Between the cluster's processes" is measured the same way for both:
# the sum of tcpi_bytes_sent (ss -ti) over loopback connections with one end on a cluster
# port: NATS's client port for Meerkat (every node's only peer), the Erlang distribution ports
# of the ejabberd nodes (their full mesh). Results: DIR/<server>-<n>-{warm,connect,chat}.json and
# DIR/summary.tsv.
#
# MEERKAT_LOAD_SOURCES: the load tool's source addresses (default 127.0.1.1-127.0.1.32).
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/peers/common.sh

SERVERS=meerkat,ejabberd
NODES=2,4,8,16,32
PER_NODE=1000
HOLD=60s
LOGIN_RATE=500
GRACE=5s
CONNECT=1
OUT="bench/results/$(date -u +%Y-%m-%d)-scaling"
while [ $# -gt 0 ]; do
    case "$1" in
        --servers) SERVERS=$2; shift 2 ;;
        --nodes) NODES=$2; shift 2 ;;
        --per-node) PER_NODE=$2; shift 2 ;;
        --hold) HOLD=$2; shift 2 ;;
        --login-rate) LOGIN_RATE=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --no-connect) CONNECT=0; shift ;;
        --grace) GRACE=$2; shift 2 ;;
        *) sed -n '2,26p' "$0" >&2; exit 2 ;;
    esac
done
mkdir -p "$OUT"
LOAD=${MEERKAT_LOAD:-target/release/meerkat-load}
# Many source addresses: from one address, Linux's source-port search makes each connect()
# slow past ~10k connections per server, which stalled the load tool (11% of 140k logins
# timed out in 2026-12-07's capacity run).
SOURCES="--source-ips ${MEERKAT_LOAD_SOURCES:-127.0.1.1-127.0.1.32}"
[ -x "$LOAD" ] || LOAD=$CARGO_TARGET_DIR/release/meerkat-load
[ -x "$LOAD" ] || { echo "no meerkat-load: cargo build --release -p meerkat-load" >&2; exit 1; }
# PostgreSQL and NATS of their own (scripts/dev-services with another directory and ports), so
# a development instance's schema or data does not leak into the figures; stopped at the end.
export MEERKAT_DEV_DIR=${SCALING_DEV_DIR:-/tmp/meerkat-scaling-dev}
export MEERKAT_DEV_PG_PORT=${SCALING_PG_PORT:-15433}
export MEERKAT_DEV_NATS_PORT=${SCALING_NATS_PORT:-14223}
NATS_PORT=$MEERKAT_DEV_NATS_PORT
say() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

# Bytes sent on established loopback TCP connections with an endpoint port in the list
# (comma separated); each connection is seen from both ends, so this is both directions.
# Printed with %.0f: mawk's %d stops at 2^31-1, which the 32 ejabberd nodes' distribution
# links pass during registration (the figure came out 0 on 2026-12-07).
cluster_bytes() {
    local ports=$1
    ss -tinH state established 2>/dev/null | awk -v ports="$ports" '
        BEGIN { n = split(ports, p, ","); for (i = 1; i <= n; i++) want[p[i]] = 1 }
        /^[0-9]/ || /^ *[0-9]+ +[0-9]+ / {
            split($(NF-1), l, ":"); split($NF, r, ":");
            hit = (l[length(l)] in want) || (r[length(r)] in want); next
        }
        hit && match($0, /bytes_sent:[0-9]+/) { s += substr($0, RSTART + 11, RLENGTH - 11); hit = 0 }
        END { printf "%.0f\n", s }'
}

# Distribution (listening) ports of the given beam PIDs, comma separated.
dist_ports() {
    local pids=" $* " c2s=$EJ_C2S_PORTS
    ss -tlnpH 2>/dev/null | awk -v pids="$pids" -v c2s=",$c2s," '
        { if (match($0, /pid=[0-9]+/)) { pid = substr($0, RSTART + 4, RLENGTH - 4)
              split($4, a, ":"); port = a[length(a)]
              if (index(pids, " " pid " ") && !index(c2s, "," port ",") && port != 4369) printf "%s,", port } }' |
        sed 's/,$//'
}

start_cluster() {  # start_cluster SERVER N -> sets SRV, PIDS, PORTS
    local server=$1 n=$2 env
    case "$server" in
    meerkat)
        env=$(MEERKAT_CLUSTER_DIR=/tmp/meerkat-scaling scripts/dev-cluster start "$n")
        eval "$env"
        SRV=$MEERKAT_CLUSTER_SERVERS; PIDS=$MEERKAT_CLUSTER_PIDS; PORTS=$NATS_PORT ;;
    ejabberd)
        env=$(bench/cluster/ejabberd.sh start "$n")
        eval "$env"
        SRV=$servers; PIDS=$pids
        EJ_C2S_PORTS=$(echo "$servers" | sed 's/127\.0\.0\.1://g')
        PORTS=$(dist_ports $PIDS) ;;
    esac
}

stop_cluster() {
    case "$1" in
    meerkat) MEERKAT_CLUSTER_DIR=/tmp/meerkat-scaling scripts/dev-cluster stop; rm -rf /tmp/meerkat-scaling ;;
    ejabberd) bench/cluster/ejabberd.sh stop ;;
    esac
}

CURRENT=""
trap '[ -n "$CURRENT" ] && stop_cluster "$CURRENT"; scripts/dev-services stop >/dev/null 2>&1 || true' EXIT
printf 'server\tnodes\tsessions\tbytes_per_login\tlogin_p99_ms\tchat_login_p99_ms\tp50_ms\tp99_ms\tlost\trss_kib_per_node\tkib_per_session\tcpu_us_per_msg\n' > "$OUT/summary.tsv"
for server in ${SERVERS//,/ }; do
    for n in ${NODES//,/ }; do
        users=$((n * PER_NODE))
        say "$server: $n nodes, $users users"
        CURRENT=$server
        start_cluster "$server" "$n"
        pid_args=$(for p in $PIDS; do printf -- '--server-pid %s ' "$p"; done)
        "$LOAD" --server "$SRV" --cluster --quiet $SOURCES register -n "$users" --concurrency 50 >/dev/null
        # Every user logs in once before the measured phases, filling the load tool's SCRAM key
        # cache: otherwise the tool spends ~1 ms of CPU per login on PBKDF2 on the same two
        # cores as the servers, and the login times would measure it (real clients keep their
        # salted password too, and run on other machines).
        keys="$OUT/$server-$n.keys"
        rm -f "$keys"
        # The nodes are fresh here: this pass's JSON holds the memory per session.
        "$LOAD" --server "$SRV" --cluster --quiet $SOURCES --key-cache "$keys" $pid_args \
            --json-out "$OUT/$server-$n-warm.json" \
            connect -n "$users" --login-rate 2000 --duration 1s >/dev/null
        sleep 5
        b0=$(cluster_bytes "$PORTS")
        if [ "$CONNECT" = 1 ]; then
            "$LOAD" --server "$SRV" --cluster --quiet $SOURCES --key-cache "$keys" $pid_args --json-out "$OUT/$server-$n-connect.json" \
                connect -n "$users" --login-rate "$LOGIN_RATE" --duration 10s >/dev/null
            sleep 2
        fi
        b1=$(cluster_bytes "$PORTS")
        say "cluster ports ${PORTS:-none}: $b0 -> $b1 bytes sent between cluster processes"
        "$LOAD" --server "$SRV" --cluster --quiet $SOURCES --key-cache "$keys" $pid_args --json-out "$OUT/$server-$n-chat.json" \
            chat -n "$users" --login-rate "$LOGIN_RATE" --period 60s --duration "$HOLD" --grace "$GRACE" >/dev/null || true
        stop_cluster "$server"
        CURRENT=""
        rm -f "$keys"
        python3 - "$OUT/$server-$n-chat.json" "$server" "$n" "$users" "$b0" "$b1" "$PORTS" "$OUT/$server-$n-connect.json" >> "$OUT/summary.tsv" <<'PY'
import json, sys
path, server, n, users, b0, b1, ports, connect = sys.argv[1:]
def load(p):
    try:
        return json.load(open(p))
    except OSError:
        return {}
d = load(path)
login_p99 = (load(connect).get("login_latency") or {}).get("p99_ms", "")
chat_login_p99 = (d.get("login_latency") or {}).get("p99_ms", "")
warm = load(path.replace("-chat.json", "-warm.json")).get("server_usage") or {}
lat = d.get("latency") or {}
c = d.get("counters") or {}
u = d.get("server_usage") or {}
lost = max(c.get("sent", 0) - c.get("received", 0), 0)
rss = u.get("rss_after_login_kib") or 0
per_login = (int(b1) - int(b0)) / max(int(users), 1)
print(f"{server}\t{n}\t{users}\t{per_login:.0f}\t{login_p99}\t{chat_login_p99}\t{lat.get('p50_ms', '')}\t{lat.get('p99_ms', '')}\t{lost}\t{int(rss) // max(int(n), 1)}\t{warm.get('kib_per_session', '')}\t{u.get('cpu_us_per_msg', '')}")
PY
        tail -n 1 "$OUT/summary.tsv" >&2
    done
done
column -t "$OUT/summary.tsv" >&2

#!/usr/bin/env bash
# bench/capacity.sh: "capacity adds up". One process may hold 20,000 open files here, so one node
# holds about 19k sessions; this starts NODES standalone Meerkat nodes side by side on 127.0.0.1,
# each with its own accounts, and one meerkat-load run whose worker i logs PER_NODE users in to
# node i and has them follow the seed's pattern (one short timestamped message per user per minute
# to a random online user of the same node). It reports the sessions held together, losses and the
# time-to-delivery percentiles over all nodes, and the nodes' RSS and CPU.
#
# The nodes are not clustered (issue 5 adds that): messages stay within a node, which is the
# routing work the seed's single-node figure measures too.
#
# Usage: bench/capacity.sh [--nodes 8] [--per-node 17500] [--hold 60s] [--login-rate 2000]
#                          [--out FILE.json] [--keep]
#   --keep   leave the nodes running at the end (stop them with bench/capacity.sh --stop)
#   --stop   stop nodes left running by --keep, and exit
# Environment: CARGO_TARGET_DIR (release binaries of meerkat and meerkat-load; default
# /work/target-bench), CAPACITY_DIR (node data, kept between runs so accounts are registered
# once; default /tmp/meerkat-capacity). Ports: c2s 7301.., admin 7401.., metrics 7501...
set -euo pipefail
: "${CARGO_TARGET_DIR:=/work/target-bench}"
: "${CAPACITY_DIR:=/tmp/meerkat-capacity}"
MEERKAT="$CARGO_TARGET_DIR/release/meerkat"
LOAD="$CARGO_TARGET_DIR/release/meerkat-load"
NODES=8
PER_NODE=17500
HOLD=60s
RATE=2000
OUT=""
KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
        --nodes) NODES=$2; shift 2 ;;
        --per-node) PER_NODE=$2; shift 2 ;;
        --hold) HOLD=$2; shift 2 ;;
        --login-rate) RATE=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        --stop) for p in "$CAPACITY_DIR"/node*/server.pid; do
                    [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null || true
                done; exit 0 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ -x "$MEERKAT" ] && [ -x "$LOAD" ] || {
    echo "build first: CARGO_TARGET_DIR=$CARGO_TARGET_DIR cargo build --release -p meerkat -p meerkat-load" >&2
    exit 1
}
[ "$PER_NODE" -le 19000 ] || { echo "--per-node above 19000 does not fit the 20000 open-file cap" >&2; exit 2; }
TOTAL=$((NODES * PER_NODE))
: "${OUT:=$CAPACITY_DIR/capacity-${NODES}x${PER_NODE}.json}"
mkdir -p "$CAPACITY_DIR"
say() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

PIDS=()
SERVERS=()
stop_all() {
    [ "$KEEP" = 1 ] && return 0
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    done
}
trap stop_all EXIT

for i in $(seq 1 "$NODES"); do
    dir="$CAPACITY_DIR/node$i"
    port=$((7300 + i))
    mkdir -p "$dir"
    cat > "$dir/meerkat.toml" <<EOF
# Written by bench/capacity.sh: the defaults except ports, data dir and log level.
[general]
hosts = ["localhost"]
data_dir = "$dir/data"
node_name = "capacity$i"
loglevel = "warn"

[[listen.c2s]]
ip_address = "127.0.0.1"
port = $port
tls_mode = "starttls"
backlog = 1024

[admin]
port = $((7400 + i))

[metrics]
port = $((7500 + i))
EOF
    (ulimit -n 20000; exec setsid "$MEERKAT" --config "$dir/meerkat.toml" live \
        >>"$dir/meerkat.log" 2>&1 </dev/null) &
    PIDS+=($!)
    echo "$!" > "$dir/server.pid"
    SERVERS+=("127.0.0.1:$port")
done
for i in $(seq 1 "$NODES"); do
    port=$((7300 + i))
    for _ in $(seq 1 300); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
done
say "$NODES nodes up: ${SERVERS[*]} (pids ${PIDS[*]})"

# Accounts: node i holds users (i-1)*PER_NODE+1 .. i*PER_NODE, registered in-band once.
regs=()
for i in $(seq 1 "$NODES"); do
    mark="$CAPACITY_DIR/node$i/registered-$PER_NODE"
    [ -f "$mark" ] && continue
    ( "$LOAD" --server "127.0.0.1:$((7300 + i))" --quiet register \
        --first $(( (i - 1) * PER_NODE + 1 )) -n "$PER_NODE" --concurrency 50 >/dev/null \
        && touch "$mark" ) &
    regs+=($!)
done
if [ "${#regs[@]}" -gt 0 ]; then
    say "registering $PER_NODE users on each of ${#regs[@]} nodes"
    for p in "${regs[@]}"; do wait "$p"; done
fi

list=$(IFS=,; echo "${SERVERS[*]}")
pid_args=()
for pid in "${PIDS[@]}"; do pid_args+=(--server-pid "$pid"); done
common=(--server "$list" --source-ips 127.0.0.1-127.0.0.80 --auth scram-sha256
        --key-cache "$CAPACITY_DIR/scram-keys" --workers "$NODES" --quiet)
if [ ! -f "$CAPACITY_DIR/keys-$TOTAL" ]; then
    # The first login of each user derives its SCRAM key on the client (PBKDF2); cache them all
    # so the measured run's logins cost the client nothing but the proof.
    say "filling the client key cache ($TOTAL logins)"
    "$LOAD" "${common[@]}" connect -n "$TOTAL" --login-rate "$RATE" --duration 1s >/dev/null
    touch "$CAPACITY_DIR/keys-$TOTAL"
    sleep 5
fi

say "seed pattern: $TOTAL users on $NODES nodes, one message per user per 60 s, held $HOLD"
"$LOAD" "${common[@]}" "${pid_args[@]}" --json-out "$OUT" \
    chat -n "$TOTAL" --login-rate "$RATE" --period 60s --duration "$HOLD" --grace 5s
say "summary: $OUT"

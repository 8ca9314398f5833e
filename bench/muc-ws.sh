#!/usr/bin/env bash
# bench/muc-ws.sh: issue 6's benchmarks, group chat fan-out (XEP-0045) and XMPP over WebSocket
# (RFC 7395), for Meerkat, ejabberd and Prosody with meerkat-load. Servers are interleaved
# (meerkat, ejabberd, prosody, then the next repeat) so that a disturbance of the shared machine
# hits every server alike, and every workload runs on a freshly started server so that its RSS
# is not inflated by what an earlier workload left in the allocator.
#
# Usage: flock -o /tmp/meerkat-bench.lock bench/muc-ws.sh [options]
#   (-o: the lock's descriptor must not be inherited by the daemonised servers, which would
#   otherwise keep holding the lock after the sitting)
#   --repeats K        repeats (default 3)
#   --servers LIST     default "meerkat ejabberd prosody"
#   --only LIST        workloads, comma separated, from muc10,muc100,muc100fast,ws,tcp
#                      (default all)
#   --muc-users N      users of the MUC runs (default 1000)
#   --muc-period DUR   each user sends one groupchat message per DUR (default 30s)
#   --muc-fast-period DUR  the same in rooms of 100 at a higher rate, to find where a server
#                      stops keeping up (workload muc100fast; default 10s)
#   --ws-users N       sessions of the WebSocket and TCP chat runs (default 2000)
#   --ws-rate R        aggregate one-to-one messages/s of those runs (default 500)
#   --out DIR          default bench/results/<date>-muc-ws
# Environment: CARGO_TARGET_DIR (binaries in its release/), BENCH_RUN_DIR (default
# /tmp/meerkat-bench). Only 127.0.0.1 is used.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/peers/common.sh"

REPEATS=3
SERVERS="meerkat ejabberd prosody"
ONLY="muc10,muc100,muc100fast,ws,tcp"
MUC_USERS=1000
MUC_PERIOD=30s
MUC_FAST_PERIOD=10s
WS_USERS=2000
WS_RATE=500
OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --repeats) REPEATS=$2; shift 2 ;;
        --servers) SERVERS=$2; shift 2 ;;
        --only) ONLY=$2; shift 2 ;;
        --muc-users) MUC_USERS=$2; shift 2 ;;
        --muc-period) MUC_PERIOD=$2; shift 2 ;;
        --muc-fast-period) MUC_FAST_PERIOD=$2; shift 2 ;;
        --ws-users) WS_USERS=$2; shift 2 ;;
        --ws-rate) WS_RATE=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
want() { [[ ",$ONLY," == *",$1,"* ]]; }

: "${OUT:=$BENCH_DIR/results/$(date -u +%Y-%m-%d)-muc-ws}"
mkdir -p "$OUT" "$BENCH_RUN_DIR"
LOAD="$CARGO_TARGET_DIR/release/meerkat-load"
[ -x "$LOAD" ] && [ -x "$MEERKAT_BIN" ] || { echo "missing $LOAD or $MEERKAT_BIN" >&2; exit 1; }
LOG="$OUT/sitting.log"
LOADS="$OUT/uptime.log"
say() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$LOG" >&2; }
say "muc-ws.sh started: repeats=$REPEATS servers='$SERVERS' only=$ONLY muc_users=$MUC_USERS muc_period=$MUC_PERIOD muc_fast_period=$MUC_FAST_PERIOD ws_users=$WS_USERS ws_rate=$WS_RATE"
{
    echo "date_utc: $(date -u +%FT%TZ)"
    echo "commit: $(git -C "$REPO_DIR" rev-parse --short HEAD)"
    echo "meerkat: $MEERKAT_BIN ($(stat -c %y "$MEERKAT_BIN"))"
    echo "meerkat-load: $LOAD ($(stat -c %y "$LOAD"))"
    echo "nproc: $(nproc); cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
    echo "ejabberd: $(dpkg-query -W -f '${Version}' ejabberd); erlang: $(dpkg-query -W -f '${Version}' erlang-base)"
    echo "prosody: $(dpkg-query -W -f '${Version}' prosody)"
} > "$OUT/machine.txt"

# Enough accounts for every workload; registered once per server (accounts persist in the run
# directory across restarts).
NREG=$MUC_USERS
[ "$WS_USERS" -gt "$NREG" ] && NREG=$WS_USERS
SRC="127.0.0.1-127.0.0.40"
# SCRAM client keys cached per user and salt, so the tool's PBKDF2 does not slow the logins.
KEYS="$BENCH_RUN_DIR/scram-keys-mucws"

STARTED=""
cleanup() { [ -n "$STARTED" ] && "$PEERS_DIR/stop.sh" "$STARTED" >>"$LOG" 2>&1 || true; }
trap cleanup EXIT

start() {
    pid=$("$PEERS_DIR/start.sh" "$1" 2>>"$LOG")
    STARTED=$1
    sleep 2
}
stop() {
    "$PEERS_DIR/stop.sh" "$1" >>"$LOG" 2>&1 || say "stopping $1 failed"
    STARTED=""
}

# Only the fields the tables need, plus the per-second timeline (for later plots).
shrink() {
    python3 - "$1" <<'PY'
import json, sys
p = sys.argv[1]
d = json.load(open(p))
d["timeline"] = [
    {"t_s": x.get("t_s"), "sessions": x.get("sessions"), "received_per_s": x.get("received_per_s"),
     "p99_ms": (x.get("latency") or {}).get("p99_ms"), "server": x.get("server")}
    for x in d.get("timeline") or []
]
json.dump(d, open(p, "w"), separators=(",", ":"))
PY
}

# run NAME SERVER REPEAT ADDR TIMEOUT_S ARGS...: one meerkat-load run on the server started last.
run() {
    local scen=$1 server=$2 rep=$3 addr=$4 limit=$5; shift 5
    local json="$OUT/$server-$scen-r$rep.json"
    echo "$(date -u +%FT%TZ) $server r$rep $scen: $(uptime)" >> "$LOADS"
    say "$server r$rep $scen: meerkat-load --server $addr $*"
    if timeout --kill-after=10 "$limit" "$LOAD" --server "$addr" --server-pid "$pid" \
        --source-ips "$SRC" --quiet --json-out "$json" "$@" >>"$LOG" 2>&1; then
        shrink "$json"
    else
        say "$server r$rep $scen FAILED (exit $?); see $LOG"
        echo "{\"scenario\":\"$scen\",\"failed\":true}" > "$json"
    fi
}

for rep in $(seq 1 "$REPEATS"); do
    for server in $SERVERS; do
        tcp="127.0.0.1:$(port_of "$server")"
        ws="127.0.0.1:$(ws_port_of "$server")"
        wspath=$(ws_path_of "$server")
        say "== $server, repeat $rep"
        if [ "$rep" = 1 ]; then
            # Accounts, and every user logged in once so that the key cache holds its keys.
            start "$server"
            timeout 900 "$LOAD" --server "$tcp" --quiet register -n "$NREG" --concurrency 50 \
                >>"$LOG" 2>&1 || say "$server registration failed"
            timeout 600 "$LOAD" --server "$tcp" --quiet --source-ips "$SRC" --auth scram-sha256 \
                --key-cache "$KEYS" connect -n "$NREG" --login-rate 1000 --duration 1s \
                >>"$LOG" 2>&1 || say "$server key-cache warm-up failed"
            stop "$server"
        fi
        # MUC fan-out: the same per-user send rate in rooms of 10 and of 100, so deliveries grow
        # with the room; joins ask for no history.
        for w in muc10 muc100 muc100fast; do
            want "$w" || continue
            size=${w#muc}; size=${size%fast}
            period=$MUC_PERIOD; [ "$w" = muc100fast ] && period=$MUC_FAST_PERIOD
            start "$server"
            run "$w" "$server" "$rep" "$tcp" 600 --auth scram-sha256 --key-cache "$KEYS" \
                muc -n "$MUC_USERS" --room-size "$size" --login-rate 500 --period "$period" \
                --duration 20s --grace 5s
            stop "$server"
        done
        # One-to-one chat over WebSocket, then the same over TCP: logins as fast as the server
        # takes them (500 in flight), so the ramp gives the login rate and the RSS growth per
        # session, then a fixed message rate for latency and CPU per message.
        for transport in ws tcp; do
            want "$transport" || continue
            start "$server"
            if [ "$transport" = ws ]; then
                addr=$ws; extra=(--websocket "$wspath")
            else
                addr=$tcp; extra=()
            fi
            run "$transport" "$server" "$rep" "$addr" 600 "${extra[@]}" --auth scram-sha256 --key-cache "$KEYS" \
                --max-pending-logins 500 chat -n "$WS_USERS" --login-rate 100000 \
                --msg-rate "$WS_RATE" --duration 20s --grace 5s
            stop "$server"
        done
    done
done

say "summarising"
python3 "$BENCH_DIR/muc_ws_summary.py" "$OUT" | tee "$OUT/results.md"
say "done: $OUT"

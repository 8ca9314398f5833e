#!/usr/bin/env bash
# Login CPU of an N-node cluster, split by process: nodes, PostgreSQL, NATS and the load tool
# (BENCHMARKS.md, "Issue 5, afternoon of 2026-12-07"). Starts PostgreSQL and NATS of its own
# (scripts/dev-services on other ports) and N nodes (scripts/dev-cluster), registers USERS
# users, logs each in once (fills the load tool's SCRAM key cache), then measures one
# `meerkat-load connect` run at RATE logins/s: CPU ticks (1/100 s) of nats-server, every
# postgres process and the nodes from /proc, and the load tool's own time. Stops what it started.
#
#   N=8 USERS=16000 RATE=500 [PERF=1] bench/cluster/login-cpu.sh
#   MEERKAT_BIN, LOADBIN: the binaries (default target/release/meerkat, meerkat-load)
# Ports used: PostgreSQL 15434, NATS 14224, nodes on 127.0.0.2.. (as scripts/dev-cluster).
# "postgres" counts every process of the postgres user: run it with no other PostgreSQL busy.
set -euo pipefail
cd "$(dirname "$0")/../.."
export MEERKAT_DEV_DIR=/tmp/login-cpu-dev MEERKAT_DEV_PG_PORT=15434 MEERKAT_DEV_NATS_PORT=14224
export MEERKAT_CLUSTER_DIR=/tmp/login-cpu-cluster MEERKAT_BIN=${MEERKAT_BIN:-target/release/meerkat}
N=${N:-8}; USERS=${USERS:-16000}
scripts/dev-services start >/dev/null
eval "$(scripts/dev-cluster start $N 2>/dev/null)"
SRV=$MEERKAT_CLUSTER_SERVERS
pid_args=$(for p in $MEERKAT_CLUSTER_PIDS; do printf -- '--server-pid %s ' "$p"; done)
L=${LOADBIN:-target/release/meerkat-load}
$L --server "$SRV" --cluster --quiet register -n $USERS --concurrency 50 >/dev/null
$L --server "$SRV" --cluster --quiet --key-cache /tmp/login-cpu.keys connect -n $USERS --login-rate 2000 --duration 1s >/dev/null
sleep 5
cpu() { for p in "$@"; do awk '{print $14+$15}' /proc/$p/stat 2>/dev/null || echo 0; done | paste -sd+ | bc; }
NATS=$(pgrep -f "nats-server.*14224" | head -1); PG=$(pgrep -u postgres -d' ' postgres)
n0=$(cpu $NATS); p0=$(cpu $PG); m0=$(cpu $MEERKAT_CLUSTER_PIDS); t0=$(date +%s.%N)
if [ "${PERF:-0}" = 1 ]; then perf record -a -g -o /tmp/login-cpu.perf.data -- sleep 20 >/dev/null 2>&1 & fi
/usr/bin/time -f "loadtool %U user %S sys" $L --server "$SRV" --cluster --quiet --key-cache /tmp/login-cpu.keys $pid_args --json-out /tmp/login-cpu.json connect -n $USERS --login-rate ${RATE:-500} --duration 2s >/dev/null
t1=$(date +%s.%N); n1=$(cpu $NATS); p1=$(cpu $PG); m1=$(cpu $MEERKAT_CLUSTER_PIDS)
wait || true
echo "window $(echo "$t1-$t0"|bc) s; CPU ticks: nats $((n1-n0)) pg $((p1-p0)) nodes $((m1-m0))"
python3 -c "
import json;d=json.load(open('/tmp/login-cpu.json'));print(d['login_rate_per_s'], d['login_latency'], d['server_usage']['cpu_ms_per_login'])"
scripts/dev-cluster stop >/dev/null 2>&1; scripts/dev-services stop >/dev/null 2>&1; rm -rf /tmp/login-cpu-cluster /tmp/login-cpu.keys

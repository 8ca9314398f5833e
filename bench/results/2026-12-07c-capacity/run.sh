#!/usr/bin/env bash
# 140,000 sessions on 8 clustered nodes under the seed's pattern, ramp 500 logins/s, node logs kept (why logins fail).
set -euo pipefail
cd /work/main
export MEERKAT_DEV_DIR=/tmp/meerkat-scaling-dev MEERKAT_DEV_PG_PORT=15433 MEERKAT_DEV_NATS_PORT=14223
export MEERKAT_CLUSTER_DIR=/tmp/meerkat-scaling
OUT=bench/results/2026-12-07c-capacity/repro
mkdir -p $OUT
scripts/dev-services start >/dev/null
eval "$(scripts/dev-cluster start 8)"
SRV=$MEERKAT_CLUSTER_SERVERS
pid_args=$(for p in $MEERKAT_CLUSTER_PIDS; do printf -- '--server-pid %s ' "$p"; done)
L=target/release/meerkat-load
K=/tmp/cap140.keys
echo "[$(date -u +%T)] first pass" >&2
$L --server "$SRV" --cluster --quiet --key-cache $K $pid_args --json-out $OUT/meerkat-8-warm.json \
    connect -n 140000 --login-rate 2000 --duration 1s >/dev/null
sleep 10
echo "[$(date -u +%T)] chat" >&2
$L --server "$SRV" --cluster --quiet --key-cache $K $pid_args --json-out $OUT/meerkat-8-chat.json \
    chat -n 140000 --login-rate 500 --period 60s --duration 180s >/dev/null || true
echo "[$(date -u +%T)] done" >&2
for k in 1 2 3 4 5 6 7 8; do cp /tmp/meerkat-scaling/node$k/data/*.log $OUT/node$k.log 2>/dev/null || true; done
scripts/dev-cluster stop >/dev/null 2>&1 || true
scripts/dev-services stop >/dev/null 2>&1 || true
rm -f $K

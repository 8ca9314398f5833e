#!/usr/bin/env bash
# 140,000 sessions on 8 clustered nodes under the seed's pattern, slower ramp (250 logins/s).
set -euo pipefail
cd /work/main
export MEERKAT_DEV_DIR=/tmp/meerkat-scaling-dev MEERKAT_DEV_PG_PORT=15433 MEERKAT_DEV_NATS_PORT=14223
export MEERKAT_CLUSTER_DIR=/tmp/meerkat-scaling
OUT=bench/results/2026-12-07b-scaling/capacity-8x17500-ramp250
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
    chat -n 140000 --login-rate 250 --period 60s --duration 180s >/dev/null || true
echo "[$(date -u +%T)] done" >&2
scripts/dev-cluster stop >/dev/null 2>&1 || true
scripts/dev-services stop >/dev/null 2>&1 || true
rm -rf /tmp/meerkat-scaling $K

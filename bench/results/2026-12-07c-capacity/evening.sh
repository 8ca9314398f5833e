#!/usr/bin/env bash
# The evening's issue-5 runs, one after the other on a quiet machine (binaries of 81c029f):
# 140,000 sessions on 8 nodes with the chat ramp at 250 logins/s, 32 Meerkat nodes, 32 ejabberd nodes.
cd /work/main
export MEERKAT_BIN=/tmp/meerkat-glibc
echo "== capacity $(date -u +%T)"
bench/cluster/scaling.sh --servers meerkat --nodes 8 --per-node 17500 --hold 180s --login-rate 250 --no-connect \
    --out bench/results/2026-12-07c-capacity/capacity-8x17500-ramp250 > bench/results/2026-12-07c-capacity/capacity-8x17500-ramp250.log 2>&1
echo "== meerkat 32 $(date -u +%T)"
bench/cluster/scaling.sh --servers meerkat --nodes 32 --hold 120s --out bench/results/2026-12-07c-capacity/meerkat-32 > bench/results/2026-12-07c-capacity/meerkat-32.log 2>&1
echo "== ejabberd 32 $(date -u +%T)"
bench/cluster/scaling.sh --servers ejabberd --nodes 32 --hold 120s --out bench/results/2026-12-07c-capacity/ejabberd-32 > bench/results/2026-12-07c-capacity/ejabberd-32.log 2>&1
echo "== done $(date -u +%T)"

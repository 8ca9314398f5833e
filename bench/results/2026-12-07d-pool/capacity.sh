#!/usr/bin/env bash
# 140,000 sessions on 8 nodes under the seed's pattern after the pool change, as the evening's
# capacity-8x17500-ramp250 run but with a 30-s grace (were the 43 unreceived messages late?)
# and the dev cluster's default of one runtime thread per node on this 2-core machine.
cd /work/main
export MEERKAT_BIN=${MEERKAT_BIN:-/tmp/meerkat-49c23c2}
OUT=bench/results/2026-12-07d-pool
bench/cluster/scaling.sh --servers meerkat --nodes 8 --per-node 17500 --hold 180s --login-rate 250 --no-connect --grace 30s \
    --out $OUT/capacity-8x17500 > $OUT/capacity-8x17500.log 2>&1

#!/usr/bin/env bash
# The scaling run with the dev cluster's default runtime threads (cores divided among the nodes:
# one per node here), after the pool change.
cd /work/main
export MEERKAT_BIN=${MEERKAT_BIN:-/tmp/meerkat-49c23c2}
OUT=bench/results/2026-12-07d-pool
bench/cluster/scaling.sh --servers meerkat --nodes 2,8,32 --hold 120s --out $OUT/meerkat-split-threads > $OUT/meerkat-split-threads.log 2>&1

#!/usr/bin/env bash
# The scaling run after the PostgreSQL pool change (49c23c2): default runtime threads, then 32
# nodes again with one thread per node; CPU per process group sampled every 2 s meanwhile.
cd /work/main
export MEERKAT_BIN=/tmp/meerkat-49c23c2
OUT=bench/results/2026-12-07d-pool
python3 /work/notes/cpusample.py 2 > /tmp/pool-cpu-default.tsv &
S=$!
bench/cluster/scaling.sh --servers meerkat --nodes 2,8,32 --hold 120s --out $OUT/meerkat-2-8-32 > $OUT/meerkat-2-8-32.log 2>&1
kill $S
python3 /work/notes/cpusample.py 2 > /tmp/pool-cpu-1thread.tsv &
S=$!
TOKIO_WORKER_THREADS=1 bench/cluster/scaling.sh --servers meerkat --nodes 32 --hold 120s --out $OUT/meerkat-32-1thread > $OUT/meerkat-32-1thread.log 2>&1
kill $S

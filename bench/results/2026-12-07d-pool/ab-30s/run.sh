#!/usr/bin/env bash
# Before/after the PostgreSQL pool change, 32 nodes, one runtime thread per node, 30-s hold
# (18:52-18:58 and 19:10-19:16 UTC). MEERKAT_BIN: before = build of d562d33, after = the same with
# test_before_acquire(false) (first form of 49c23c2). CPU per process group every 2 s
# (cpusample.py; in "after" the renamed binary counts under "other").
cd /work/main
export TOKIO_WORKER_THREADS=1 MEERKAT_BIN=${MEERKAT_BIN:?build to measure}
python3 bench/results/2026-12-07d-pool/cpusample.py 2 > cpu.tsv &
S=$!
bench/cluster/scaling.sh --servers meerkat --nodes 32 --hold 30s --out out > log 2>&1
kill $S

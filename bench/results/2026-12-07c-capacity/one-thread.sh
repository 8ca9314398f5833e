#!/usr/bin/env bash
# Meerkat at 32 nodes with one runtime thread per node (TOKIO_WORKER_THREADS=1, which is what
# general.worker_threads = 1 sets), otherwise as meerkat-32. Binaries of 81c029f (glibc).
cd /work/main
export MEERKAT_BIN=/tmp/meerkat-glibc TOKIO_WORKER_THREADS=1
bench/cluster/scaling.sh --servers meerkat --nodes 32 --hold 120s --out bench/results/2026-12-07c-capacity/meerkat-32-1thread

#!/usr/bin/env bash
# Repeat of run.sh's glibc and mimalloc variants (default runtime threads), alternated.
cd /work/main
for v in mimalloc glibc; do
  echo "== $v (repeat) $(date -u +%T)"
  N=32 USERS=32000 RATE=500 MEERKAT_BIN=/tmp/meerkat-$v bench/cluster/login-cpu.sh 2>&1 | tail -3
done

#!/usr/bin/env bash
# 32 nodes, 32,000 logins at 500/s: glibc malloc vs mimalloc vs one runtime thread per node.
cd /work/main
for v in glibc mimalloc glibc-1thread mimalloc-1thread; do
  bin=/tmp/meerkat-${v%-1thread}
  if [ "${v#*-}" = 1thread ]; then export TOKIO_WORKER_THREADS=1; else unset TOKIO_WORKER_THREADS; fi
  echo "== $v $(date -u +%T)"
  N=32 USERS=32000 RATE=500 MEERKAT_BIN=$bin bench/cluster/login-cpu.sh 2>&1 | tail -3
done

#!/usr/bin/env bash
# After evening.sh (whose ejabberd run failed on the @WSPORT@ placeholder, fixed in
# bench/cluster/ejabberd.sh): ejabberd at 32 nodes, then Meerkat at 32 nodes with one runtime
# thread per node (TOKIO_WORKER_THREADS=1, what general.worker_threads = 1 sets), then a repeat
# of Meerkat at 32 nodes with the defaults. Binaries of 81c029f (glibc). The last two were
# stopped before they measured anything (end of the session): only the ejabberd run is reported.
cd /work/main
export MEERKAT_BIN=/tmp/meerkat-glibc
D=bench/results/2026-12-07c-capacity
echo "== ejabberd 32 $(date -u +%T)"
bench/cluster/scaling.sh --servers ejabberd --nodes 32 --hold 120s --out $D/ejabberd-32 > $D/ejabberd-32.log 2>&1
echo "== meerkat 32, 1 thread per node $(date -u +%T)"
TOKIO_WORKER_THREADS=1 bench/cluster/scaling.sh --servers meerkat --nodes 32 --hold 120s --out $D/meerkat-32-1thread > $D/meerkat-32-1thread.log 2>&1
echo "== meerkat 32, repeat $(date -u +%T)"
bench/cluster/scaling.sh --servers meerkat --nodes 32 --hold 120s --out $D/meerkat-32-repeat > $D/meerkat-32-repeat.log 2>&1
echo "== done $(date -u +%T)"

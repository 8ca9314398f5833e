#!/usr/bin/env bash
# ejabberd's cluster bytes per login at 32 nodes, after fixing the sampling (mawk's %d capped
# the sums at 2^31-1): 250 users per node instead of 1,000 to fit the sitting (registration
# of 32,000 users on 32 nodes takes ~11 minutes); only the bytes-per-login figure is used
# (a CI run shared the machine during its registration).
cd /work/main
OUT=bench/results/2026-12-07d-pool
bench/cluster/scaling.sh --servers ejabberd --nodes 32 --per-node 250 --hold 30s --out $OUT/ejabberd-32-bytes > $OUT/ejabberd-32-bytes.log 2>&1

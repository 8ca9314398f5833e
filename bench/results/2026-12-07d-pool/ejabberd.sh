#!/usr/bin/env bash
# ejabberd 23.01 at 32 nodes with the nodes sharing the cores as Meerkat's now do
# (bench/cluster/ejabberd.sh: +S 1:1 and no scheduler busy-waiting on 2 cores), and the
# cluster-port sampling logged (the evening's bytes-per-login figure came out 0).
cd /work/main
OUT=bench/results/2026-12-07d-pool
bench/cluster/scaling.sh --servers ejabberd --nodes 32 --hold 120s --out $OUT/ejabberd-32 > $OUT/ejabberd-32.log 2>&1

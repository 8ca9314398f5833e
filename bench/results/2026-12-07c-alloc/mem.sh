#!/usr/bin/env bash
# Standalone node, 18,000 idle authenticated sessions: memory per session and CPU per login
# with glibc malloc and with mimalloc, alternated, REPEATS times each.
# Binaries: /tmp/meerkat-glibc and /tmp/meerkat-mimalloc (same commit, allocator only);
# BUILDS names other /tmp/meerkat-* binaries to compare, RUN_DIR another scratch directory.
set -euo pipefail
cd /work/main
L=target/release/meerkat-load
R=${RUN_DIR:-/tmp/alloc-mem}; rm -rf $R; mkdir -p $R
sed -e "s#@RUN@#$R#; s#@PORT@#5299#; s#@WSPORT@#5298#; s#@HOST@#localhost#" bench/peers/meerkat.toml > $R/meerkat.toml
/tmp/meerkat-glibc --config $R/meerkat.toml start >/dev/null
/tmp/meerkat-glibc --config $R/meerkat.toml started >/dev/null
$L --server 127.0.0.1:5299 --quiet register -n 18000 --concurrency 50 >/dev/null
$L --server 127.0.0.1:5299 --quiet --key-cache $R/keys connect -n 18000 --login-rate 3000 --duration 1s >/dev/null
/tmp/meerkat-glibc --config $R/meerkat.toml stop >/dev/null
for i in $(seq 1 ${REPEATS:-2}); do
  for a in ${BUILDS:-glibc mimalloc}; do
    /tmp/meerkat-$a --config $R/meerkat.toml start >/dev/null
    /tmp/meerkat-$a --config $R/meerkat.toml started >/dev/null
    pid=$(cat $R/data/meerkat.pid)
    $L --server 127.0.0.1:5299 --quiet --key-cache $R/keys --server-pid $pid --json-out $R/$a-$i.json \
        connect -n 18000 --login-rate 2000 --duration 5s >/dev/null
    /tmp/meerkat-$a --config $R/meerkat.toml stop >/dev/null
    python3 -c "
import json;d=json.load(open('$R/$a-$i.json'));u=d['server_usage']
print('$a', $i, 'KiB/session %.2f' % u['kib_per_session'], 'cpu ms/login %.3f' % u['cpu_ms_per_login'], 'login p99', d['login_latency']['p99_ms'])"
  done
done

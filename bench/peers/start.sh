#!/usr/bin/env bash
# Usage: bench/peers/start.sh meerkat|ejabberd|prosody
# Starts one server for the benchmarks on 127.0.0.1 (meerkat 5222, ejabberd 5322, prosody 5422,
# domain localhost; XMPP over WebSocket on 5280, 5380, 5480, see common.sh) with its data and
# logs under $BENCH_RUN_DIR/<name> (default /tmp/meerkat-bench), an open-file limit of $NOFILE
# (20000), waits until both ports answer and prints the PID that holds the sessions (for
# meerkat-load --server-pid) on stdout.
# Installs the Debian package (ejabberd, prosody) first when it is missing (as root), and stops
# the system-wide instance the package may have started. Set BENCH_FRESH=1 to wipe the run
# directory (accounts included) before starting.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

name=${1:-}
port=$(port_of "$name") || { echo "usage: $0 meerkat|ejabberd|prosody" >&2; exit 2; }
run="$BENCH_RUN_DIR/$name"

if port_open "$port"; then
    echo "127.0.0.1:$port is already in use; stop whatever listens there first" >&2
    exit 1
fi
[ "${BENCH_FRESH:-0}" = 1 ] && rm -rf "$run"
mkdir -p "$run/log"

wsport=$(ws_port_of "$name")
fill() { sed -e "s|@RUN@|$run|g" -e "s|@PORT@|$port|g" -e "s|@WSPORT@|$wsport|g" "$1" > "$2"; }

case "$name" in
meerkat)
    if [ ! -x "$MEERKAT_BIN" ]; then
        echo "no $MEERKAT_BIN: build it with CARGO_TARGET_DIR=$CARGO_TARGET_DIR cargo build --release -p meerkat" >&2
        exit 1
    fi
    mkdir -p "$run/data"
    fill "$PEERS_DIR/meerkat.toml" "$run/meerkat.toml"
    (
        ulimit -n "$NOFILE"
        cd "$run"
        exec setsid "$MEERKAT_BIN" --config "$run/meerkat.toml" live \
            >>"$run/log/meerkat.log" 2>&1 </dev/null
    ) &
    echo $! > "$run/server.pid"
    ;;
ejabberd)
    ensure_pkg ejabberd ejabberdctl
    stop_system_instance ejabberd
    mkdir -p "$run/etc/modules.d" "$run/spool"
    fill "$PEERS_DIR/ejabberd.yml" "$run/etc/ejabberd.yml"
    fill "$PEERS_DIR/ejabberdctl.cfg" "$run/etc/ejabberdctl.cfg"
    cp /etc/ejabberd/inetrc "$run/etc/inetrc"
    chown -R ejabberd:ejabberd "$run"
    chmod 700 "$run/spool"
    # `start` detaches (erl -detached); the beam.smp process keeps our limit, set by
    # ejabberdctl_bench before setpriv.
    ejabberdctl_bench start >>"$run/log/ctl.log" 2>&1
    ;;
prosody)
    ensure_pkg prosody prosody
    stop_system_instance prosody
    mkdir -p "$run/data"
    fill "$PEERS_DIR/prosody.cfg.lua" "$run/prosody.cfg.lua"
    chown -R prosody:prosody "$run"
    # Run as the prosody user (Prosody refuses root), with the limit raised first: setpriv
    # keeps it, unlike su. -D daemonises and writes the pid file.
    (
        ulimit -n "$NOFILE"
        cd "$run"
        exec setpriv --reuid=prosody --regid=prosody --init-groups \
            prosody --config "$run/prosody.cfg.lua" -D >>"$run/log/start.log" 2>&1 </dev/null
    )
    ;;
esac

if ! wait_port "$port" 90 || ! wait_port "$wsport" 30; then
    echo "$name did not open 127.0.0.1:$port and :$wsport; logs in $run/log" >&2
    tail -n 20 "$run"/log/* >&2 || true
    exit 1
fi
pid=""
for _ in $(seq 1 50); do
    pid=$(server_pid "$name" || true)
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && break
    sleep 0.2
done
if [ -z "$pid" ]; then
    echo "$name answers on $port but its pid was not found" >&2
    exit 1
fi
limit=$(awk '/Max open files/ {print $4}' "/proc/$pid/limits")
echo "$name listening on 127.0.0.1:$port, pid $pid, open-file limit $limit" >&2
echo "$pid"

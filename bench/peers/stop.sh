#!/usr/bin/env bash
# Usage: bench/peers/stop.sh meerkat|ejabberd|prosody
# Stops the server started by bench/peers/start.sh (never the system-wide instance): cleanly
# first, then SIGTERM, then SIGKILL of that one pid; waits until its port is closed.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

name=${1:-}
port=$(port_of "$name") || { echo "usage: $0 meerkat|ejabberd|prosody" >&2; exit 2; }
run="$BENCH_RUN_DIR/$name"
pid=$(server_pid "$name" 2>/dev/null || true)

gone() { [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; }

case "$name" in
meerkat)
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
    ;;
ejabberd)
    if [ -d "$run/spool" ]; then
        ejabberdctl_bench stop >>"$run/log/ctl.log" 2>&1 || true
        ejabberdctl_bench stopped >>"$run/log/ctl.log" 2>&1 || true
    fi
    ;;
prosody)
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
    ;;
esac

for _ in $(seq 1 150); do gone && break; sleep 0.2; done
if ! gone; then
    echo "$name (pid $pid) still running after 30 s; SIGTERM/SIGKILL" >&2
    kill -TERM "$pid" 2>/dev/null; sleep 2
    gone || kill -KILL "$pid" 2>/dev/null
fi
wait_port_closed "$port" 30 || { echo "127.0.0.1:$port still open" >&2; exit 1; }
[ "$name" = meerkat ] && rm -f "$run/server.pid"
echo "$name stopped" >&2

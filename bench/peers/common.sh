# Shared settings of bench/peers/start.sh, stop.sh and bench/compare.sh (sourced, not run).
# Everything listens on 127.0.0.1 only and keeps its data and logs under $BENCH_RUN_DIR/<name>,
# never in the system-wide instances' directories (/var/lib/ejabberd, /var/lib/prosody, ...).

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
PEERS_DIR="$BENCH_DIR/peers"
# /tmp rather than bench/run: the ejabberd and prosody users must be able to write there.
: "${BENCH_RUN_DIR:=/tmp/meerkat-bench}"
: "${CARGO_TARGET_DIR:=/work/target-bench}"
: "${MEERKAT_BIN:=$CARGO_TARGET_DIR/release/meerkat}"
: "${NOFILE:=20000}"

MEERKAT_PORT=${MEERKAT_PORT:-5222}
EJABBERD_PORT=${EJABBERD_PORT:-5322}
PROSODY_PORT=${PROSODY_PORT:-5422}
# XMPP over WebSocket (RFC 7395) on each server's HTTP port, at the path its config names.
MEERKAT_WS_PORT=${MEERKAT_WS_PORT:-5280}
EJABBERD_WS_PORT=${EJABBERD_WS_PORT:-5380}
PROSODY_WS_PORT=${PROSODY_WS_PORT:-5480}
# Erlang node name of the bench ejabberd (distinct from Debian's ejabberd@localhost).
EJABBERD_NODE=${EJABBERD_NODE:-benchejabberd@localhost}

port_of() {
    case "$1" in
        meerkat) echo "$MEERKAT_PORT" ;;
        ejabberd) echo "$EJABBERD_PORT" ;;
        prosody) echo "$PROSODY_PORT" ;;
        *) echo "unknown server '$1' (meerkat|ejabberd|prosody)" >&2; return 2 ;;
    esac
}

ws_port_of() {
    case "$1" in
        meerkat) echo "$MEERKAT_WS_PORT" ;;
        ejabberd) echo "$EJABBERD_WS_PORT" ;;
        prosody) echo "$PROSODY_WS_PORT" ;;
        *) return 2 ;;
    esac
}

ws_path_of() {
    case "$1" in
        meerkat) echo /ws-xmpp ;;
        ejabberd) echo /ws ;;
        prosody) echo /xmpp-websocket ;;
        *) return 2 ;;
    esac
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Waits up to $2 seconds (default 60) for 127.0.0.1:$1 to accept connections.
wait_port() {
    local port=$1 limit=${2:-60} i=0
    while ! port_open "$port"; do
        i=$((i + 1))
        if [ "$i" -gt $((limit * 5)) ]; then
            echo "timed out waiting for 127.0.0.1:$port" >&2
            return 1
        fi
        sleep 0.2
    done
}

# Waits up to $2 seconds for 127.0.0.1:$1 to stop accepting connections.
wait_port_closed() {
    local port=$1 limit=${2:-30} i=0
    while port_open "$port"; do
        i=$((i + 1))
        [ "$i" -gt $((limit * 5)) ] && return 1
        sleep 0.2
    done
}

# Installs a Debian package when its binary is missing (needs root).
ensure_pkg() {
    local pkg=$1 bin=$2
    command -v "$bin" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "$pkg is not installed; run as root or: apt-get install -y $pkg" >&2
        return 1
    fi
    echo "installing $pkg from Debian..." >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg" >&2
}

# Stops the system-wide instance the Debian package may have started (its postinst uses the
# init script when there is no systemd). Our own instances use other node names, pid files and
# directories, so they are left alone.
stop_system_instance() {
    case "$1" in
        ejabberd)
            if pgrep -f -- "beam.* -s?name ejabberd@" >/dev/null 2>&1; then
                echo "stopping the system ejabberd instance" >&2
                service ejabberd stop >&2 2>&1 || true
                # Still there (no init script)? End exactly the pids of that node.
                for pid in $(pgrep -f -- "beam.* -s?name ejabberd@"); do kill "$pid" || true; done
            fi
            ;;
        prosody)
            if [ -f /run/prosody/prosody.pid ] && kill -0 "$(cat /run/prosody/prosody.pid)" 2>/dev/null; then
                echo "stopping the system prosody instance" >&2
                service prosody stop >&2 2>&1 || kill "$(cat /run/prosody/prosody.pid)" || true
            fi
            ;;
    esac
}

# Runs ejabberdctl as the ejabberd user with our config dir, spool, logs and node name, with the
# open-file limit raised first. setpriv keeps the limit; ejabberdctl's own `su` (used when
# root runs it) would reset it to the PAM default of 1024.
ejabberdctl_bench() {
    local run="$BENCH_RUN_DIR/ejabberd"
    (
        ulimit -n "$NOFILE"
        cd "$run/spool"
        HOME="$run/spool" exec setpriv --reuid=ejabberd --regid=ejabberd --init-groups \
            /usr/sbin/ejabberdctl --config-dir "$run/etc" --spool "$run/spool" --logs "$run/log" \
            --node "$EJABBERD_NODE" "$@"
    )
}

# PID of the process holding the server's sessions (for meerkat-load --server-pid).
server_pid() {
    case "$1" in
        meerkat) cat "$BENCH_RUN_DIR/meerkat/server.pid" 2>/dev/null ;;
        ejabberd) pgrep -f -- "beam.*${EJABBERD_NODE}" | head -n1 ;;
        prosody) cat "$BENCH_RUN_DIR/prosody/prosody.pid" 2>/dev/null ;;
    esac
}
